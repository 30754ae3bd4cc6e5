"""Read an events file in chunks under neurec's column names, with each row numbered as in the file.

CSV goes through pyarrow's streaming reader with the options the in-memory path gives pyarrow, so a column
gets the type the in-memory path would give it (inferred from the first block). A file whose column changes
type further down is refused with the column named: a chunked reader cannot go back and re-read it as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.formats import check_layout, event_format, to_neurec_columns
from neurec.data.load import (
    TRUNCATED_ROW,
    apply_cut,
    check_file,
    csv_options,
    drop_repeated_headers,
    find_cut,
    first_error_line,
    open_source,
)


def raw_chunks(cfg: DataConfig, chunk_rows: int, dropped: dict[str, int]) -> Iterator[pd.DataFrame]:
    """Chunks of raw events (neurec column names, values as in the file), indexed by data row (0 = first)."""
    if cfg.source != "files":
        raise DataError(f"data.source={cfg.source!r}: out-of-core preparation reads files (data.source=files)")
    fmt = event_format(cfg)
    if fmt not in ("csv", "parquet"):
        raise DataError(f"{cfg.events_path}: out-of-core preparation reads CSV or Parquet, not {fmt}; convert the file "
                        "(e.g. with DuckDB or pandas) or prepare it in memory")
    path = check_file(cfg.events_path)
    batches = _csv_batches(path, cfg, chunk_rows, dropped) if fmt == "csv" else _parquet_batches(path, chunk_rows)
    offset, seen = 0, False
    for frame in batches:
        n = len(frame)
        frame.index = pd.RangeIndex(offset, offset + n)
        offset += n
        if fmt == "csv" and csv_options(cfg.csv, path).header:
            frame = drop_repeated_headers(frame, path, str(cfg.policies.get("repeated_header", "drop")), dropped)
        if len(frame):
            seen = True
            yield to_neurec_columns(frame, cfg, str(path))
    if not seen:
        raise DataError(f"{path}: the file has no rows")


def estimated_rows(cfg: DataConfig) -> int:
    """About how many rows the events file holds, before reading it: exact for Parquet (its footer), from the
    mean length of the first lines for CSV. Sizes the buckets of the whole-table steps."""
    path = check_file(cfg.events_path)
    if event_format(cfg) == "parquet":
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: cannot be read as Parquet: {first_error_line(exc)}") from None
    with path.open("rb") as f:
        head = f.read(1 << 20)
    lines = max(1, head.count(b"\n"))
    return int(path.stat().st_size / (len(head) / lines)) + 1


def _parquet_batches(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        reader = pq.ParquetFile(path, pre_buffer=False)  # pre-buffered reads stay cached: 13 MB more per 1 M rows
        for batch in reader.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot be read as Parquet: {first_error_line(exc)}") from None


def _csv_batches(path: Path, cfg: DataConfig, chunk_rows: int, dropped: dict[str, int]) -> Iterator[pd.DataFrame]:
    opts = csv_options(cfg.csv, path)
    check_layout(path, opts, cfg)
    cut = find_cut(path, "csv", opts)
    read = pa_csv.ReadOptions(encoding=opts.encoding, column_names=list(opts.names) if opts.names and not opts.header else None)
    parse = pa_csv.ParseOptions(delimiter=opts.sep)
    rows = pending_rows = 0  # rows yielded; rows read and not yet yielded
    pending: list[pa.RecordBatch] = []
    with open_source(path, cut) as source:
        try:
            reader = pa_csv.open_csv(source, read_options=read, parse_options=parse)
            names = list(opts.names) if opts.names and opts.header else None
            for batch in reader:
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= chunk_rows:
                    frame = _frame(pending, names)
                    rows += len(frame)
                    pending, pending_rows = [], 0
                    yield frame
            if pending:
                frame = _frame(pending, names)
                rows += len(frame)
                yield frame
        except pa.ArrowInvalid as exc:
            raise DataError(f"{path}: cannot be read in chunks after data row {rows + pending_rows:,}: {first_error_line(exc)}. A column "
                            "whose values change type part-way (numbers, then text or bytes that are not UTF-8) cannot be "
                            "streamed: fix those rows, or prepare the file in memory (neurec-train reads it whole)") from None
        except (UnicodeDecodeError, OSError) as exc:
            raise DataError(f"{path}: cannot be read as CSV: {first_error_line(exc)}") from None
    apply_cut(cut, str(cfg.policies.get(TRUNCATED_ROW, "drop")), rows + int(opts.header) + 1, path, dropped)


def _frame(batches: list[pa.RecordBatch], names: list[str] | None) -> pd.DataFrame:
    frame = pa.Table.from_batches(batches).to_pandas()
    return frame.set_axis(names, axis=1) if names else frame

