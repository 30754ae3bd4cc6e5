"""Event files of any size, written block by block so that none is ever held in memory whole.

Simulating 200 M events at once needs far more memory than the files it is meant to test, so one block of the
shop is simulated (about `block_events` rows) and written again and again, each copy with its own customers and
sessions: the ids are shifted by a whole block's id range per copy. Items, prices and timestamps are the
simulator's, so every copy shares one catalogue and one 90-day period; the file is time-ordered within a copy,
not across copies. Memory stays at about two blocks (the block and the copy being written).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from neurec.data.simulate import SimulatorConfig, simulate
from neurec.schema import SESSION_ID, TIMESTAMP, USER_ID

EVENTS_PER_CUSTOMER = 37.0  # the simulator's default shop makes about this many events per customer


def write_tiled_events(n_events: int, path: Path, fmt: str = "parquet", seed: int = 1, block_events: int = 1_000_000) -> dict:
    """Writes exactly `n_events` events to `path` (fmt parquet or csv); returns rows, customers, copies, bytes, seconds.

    The last copy is truncated to the rows still wanted. A block is time-ordered, so that copy is its shop cut
    off at some moment: its last customers simply stop early, as in any extract of a live log.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}; use parquet or csv")
    t0 = time.perf_counter()
    events = simulate(SimulatorConfig(n_customers=max(50, round(block_events / EVENTS_PER_CUSTOMER)), seed=seed)).events
    with warnings.catch_warnings():
        # pyarrow 25 reads a tz-aware column through Series.values, which pandas 3.1 deprecates; the values are right.
        warnings.filterwarnings("ignore", "Series.values returning an ndarray", Warning)
        block = pa.Table.from_pandas(events, preserve_index=False)  # with pandas' metadata: dtypes read back as made
    del events
    if fmt == "csv":
        # As pandas' to_csv writes it (whole seconds, "+00:00"), converted once: copies only change their ids.
        ts = pc.strftime(block[TIMESTAMP].cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%d %H:%M:%S+00:00")
        block = block.set_column(block.schema.get_field_index(TIMESTAMP), TIMESTAMP, ts)
    # Per-copy shift of each id column: its range in the block, so copies never share a customer or session.
    # User ids start at 1_000_001 and session ids at 50_000_001; they could only meet past ~1.8 G events.
    stride = {c: pc.max(block[c]).as_py() - pc.min(block[c]).as_py() + 1 for c in (USER_ID, SESSION_ID)}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, block.schema)
    else:
        sink = open(path, "wb")
        sink.write((",".join(block.column_names) + "\n").encode())  # unquoted, like pandas (CSVWriter quotes it)
        writer = pa_csv.CSVWriter(sink, block.schema, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    rows = customers = copies = 0
    try:
        while rows < n_events:
            part = block.slice(0, n_events - rows)
            for c, step in stride.items():
                shifted = pc.add(part[c], pa.scalar(copies * step, part.schema.field(c).type))
                part = part.set_column(part.schema.get_field_index(c), c, shifted)
            if fmt == "parquet":
                writer.write_table(part, row_group_size=part.num_rows)  # one row group per copy, ~block_events rows
            else:
                writer.write_table(part)
            rows += part.num_rows
            customers += pc.count_distinct(part[USER_ID]).as_py()
            copies += 1
    finally:
        writer.close()
        if fmt == "csv":
            sink.close()
    return {"rows": rows, "customers": customers, "copies": copies, "bytes": path.stat().st_size,
            "seconds": time.perf_counter() - t0}  # fmt: skip
