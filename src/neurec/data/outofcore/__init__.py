"""Out-of-core preparation: the same shards as `neurec.data.prepare`, with memory bounded by settings, not by the
data. Rows are cleaned in chunks (read), the whole-table steps run in DuckDB on disk (stage), and customers are
encoded partition by partition (encode), on this machine or on a distributed engine (spark).
"""
