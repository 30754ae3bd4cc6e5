"""DuckDB against Polars' streaming engine on the global step of out-of-core data preparation (issue 17).

    .venv/bin/python scripts/bench_engines.py                          # 5 M and 50 M events
    .venv/bin/python scripts/bench_engines.py --events 1000000 --json bench_engines.json

Polars is not one of neurec's dependencies: `.venv/bin/pip install polars` first to measure it.

The events file is tiled Parquet (`neurec.data.tiled`), made in a temp folder under /tmp and deleted after. The
step, the same for both engines, reading that file:
  (a) keep the first, in file order, of exact duplicates on (user_id, session_id, item_id, event_type, timestamp);
  (b) sort by user_id, timestamp, file row number and write the result to Parquet (zstd);
  (c) count events per item_id and per user_id in that result, each written to Parquet.
Each (size, engine) runs in a fresh process with 2 threads (DuckDB also gets memory_limit=2GB and a spill
folder; Polars has no memory limit to set). Peak RSS is sampled every 20 ms in the child; the parent kills a
child above --max-rss-gb and reports it. Both engines' outputs are then compared: row count, the first and last
1000 rows of the sorted file, and the per-item counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_proc import PeakRss, run_child  # noqa: E402

KEYS = ["user_id", "session_id", "item_id", "event_type", "timestamp"]
COLUMNS = [*KEYS, "price"]
THREADS = 2


def run_duckdb(src: str, work: Path) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit='2GB'; SET threads={THREADS}; SET temp_directory='{work / 'spill'}'")
    con.execute("SET preserve_insertion_order=false")  # ORDER BY still orders the COPY; the rest need no order
    # One group-by does (a): the keys are the group, the first row in file order is the one with the least row number.
    rows = con.execute(f"""
        COPY (
            SELECT {', '.join(COLUMNS)} FROM (
                SELECT {', '.join(KEYS)}, arg_min(price, file_row_number) AS price, min(file_row_number) AS rn
                FROM read_parquet('{src}', file_row_number = true) GROUP BY ALL)
            ORDER BY user_id, timestamp, rn
        ) TO '{work / 'sorted.parquet'}' (FORMAT parquet, COMPRESSION zstd)""").fetchone()[0]
    for col in ("item_id", "user_id"):
        con.execute(f"""COPY (SELECT {col}, count(*) AS n FROM read_parquet('{work / 'sorted.parquet'}')
                        GROUP BY {col} ORDER BY {col}) TO '{work / f'{col}.parquet'}' (FORMAT parquet)""")
    return rows


def run_polars(src: str, work: Path) -> int:
    import polars as pl

    events = pl.scan_parquet(src, row_index_name="rn")
    first = events.group_by(KEYS).agg(pl.col("price").min_by("rn"), pl.col("rn").min())  # (a), as for DuckDB
    first.sort(["user_id", "timestamp", "rn"]).select(COLUMNS).sink_parquet(work / "sorted.parquet", engine="streaming")
    out = pl.scan_parquet(work / "sorted.parquet")
    for col in ("item_id", "user_id"):
        out.group_by(col).agg(pl.len().alias("n")).sort(col).sink_parquet(work / f"{col}.parquet", engine="streaming")
    return out.select(pl.len()).collect(engine="streaming").item()


def child(engine: str, src: str, work: str) -> dict:
    """In this process: the step with one engine, timed, with its peak RSS."""
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    with PeakRss() as peak:
        t0 = time.perf_counter()
        rows = {"duckdb": run_duckdb, "polars": run_polars}[engine](src, work_dir)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak.peak, "rows_out": rows}


def edges(path: Path, k: int = 1000):
    """First and last k rows of a Parquet file, read a row group at a time, in one schema for both engines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)

    def take(groups):
        parts, got = [], 0
        for g in groups:
            if got >= k:
                break
            parts.append(pf.read_row_group(g))
            got += parts[-1].num_rows
        return parts

    schema = pa.schema([("user_id", pa.int64()), ("session_id", pa.int64()), ("item_id", pa.int64()),
                        ("event_type", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")), ("price", pa.float64())])  # fmt: skip
    head = pa.concat_tables(take(range(pf.num_row_groups))).slice(0, k)
    tail = pa.concat_tables(take(reversed(range(pf.num_row_groups)))[::-1])
    return head.select(COLUMNS).cast(schema), tail.slice(max(0, tail.num_rows - k)).select(COLUMNS).cast(schema)


def compare(work: Path) -> str:
    import pyarrow.parquet as pq

    a, b = work / "duckdb", work / "polars"
    if pq.ParquetFile(a / "sorted.parquet").metadata.num_rows != pq.ParquetFile(b / "sorted.parquet").metadata.num_rows:
        return "row counts differ"
    if not all(x.equals(y) for x, y in zip(edges(a / "sorted.parquet"), edges(b / "sorted.parquet"))):
        return "first/last 1000 rows differ"
    items = [pq.read_table(p / "item_id.parquet").to_pandas().astype("int64") for p in (a, b)]
    users = [pq.read_table(p / "user_id.parquet").to_pandas().astype("int64") for p in (a, b)]
    if not items[0].equals(items[1]):
        return "item counts differ"
    if not users[0].equals(users[1]):
        return "user counts differ"
    return "agree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[5_000_000, 50_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "polars"], choices=["duckdb", "polars"])
    parser.add_argument("--max-rss-gb", type=float, default=8.0, help="kill a child above this RSS")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.make:
        from neurec.data.tiled import write_tiled_events

        print(json.dumps(write_tiled_events(int(args.make[0]), Path(args.make[1]))))
        return

    load_before, results, checks = os.getloadavg(), [], {}
    env = {**os.environ, "POLARS_MAX_THREADS": str(THREADS)}
    for n in args.events:
        with tempfile.TemporaryDirectory(prefix="bench_engines-", dir="/tmp") as tmp:
            work, src = Path(tmp), Path(tmp) / "events.parquet"
            made = run_child(__file__, ["--make", str(n), str(src)], work / "make.log", args.max_rss_gb * 1024)
            print(f"{n:,} events: {made}", file=sys.stderr)
            if made["status"] != "ok":
                results += [{"events": n, "engine": e, "status": "no input: " + made["status"]} for e in args.engines]
                continue
            for engine in args.engines:
                row = run_child(__file__, ["--child", engine, str(src), str(work / engine)], work / f"{engine}.log", args.max_rss_gb * 1024, env)
                results.append({"events": n, "engine": engine, "input_mb": made["bytes"] / 2**20, **row})
                print(results[-1], file=sys.stderr)
            if all(r["status"] == "ok" for r in results if r["events"] == n) and len(args.engines) == 2:
                checks[n] = compare(work)
    load_after = os.getloadavg()

    print(f"| {'events':>11} | {'engine':<7} | {'seconds':>8} | {'peak RSS MB':>11} | {'rows out':>11} | status |")
    print(f"|{'-' * 13}|{'-' * 9}|{'-' * 10}|{'-' * 13}|{'-' * 13}|--------|")
    for r in results:
        secs = f"{r['seconds']:.1f}" if "seconds" in r else "-"
        rss = f"{r['peak_rss_mb']:,.0f}" if "peak_rss_mb" in r else "-"
        rows = f"{r['rows_out']:,}" if "rows_out" in r else "-"
        print(f"| {r['events']:>11,} | {r['engine']:<7} | {secs:>8} | {rss:>11} | {rows:>11} | {r['status']} |")
    for n, verdict in checks.items():
        print(f"{n:,} events: outputs {verdict}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"results": results, "outputs": {str(n): v for n, v in checks.items()}, "threads": THREADS,
                  "load_before": load_before, "load_after": load_after}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
