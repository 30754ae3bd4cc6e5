"""Read event and catalog tables from CSV, Parquet or JSON-lines files into pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from neurec.data.errors import DataError

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use one of {sorted(set(FORMATS))}")
    return fmt


def read_table(path: str | Path, fmt: str | None = None, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read one table and rename the user's columns to neurec's (`columns` maps theirs to ours)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    fmt = fmt or detect_format(path)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, sep=None if path.suffix.lower() in (".txt", ".tsv") else ",", engine="python" if path.suffix.lower() in (".txt", ".tsv") else "c")
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True)
        else:
            raise DataError(f"{path}: unknown format {fmt!r}; use csv, parquet or jsonl")
    except DataError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as {fmt}: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    if columns:
        frame = frame.rename(columns=dict(columns))
    return frame
