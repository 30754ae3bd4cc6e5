"""Before and right after parsing: is the path a file neurec can read at all, and did the parser take a repeated
header line for data? Each answer names the path and what is wrong, never an OS traceback."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pandas as pd

from neurec.data.errors import DataError

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}

_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip"}


def check_file(path: str | Path) -> Path:
    """A regular, readable, non-empty, uncompressed file, or a DataError naming the path and what is wrong."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in FORMATS)[:5] if os.access(path, os.R_OK) else []
        raise DataError(f"{path}: is a directory, not a file; give the file itself{f' (it holds {inside})' if inside else ''}")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is not a regular file (a pipe, socket or device); give a file on disk")
    if info.st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except PermissionError:
        raise DataError(f"{path}: permission denied: the file cannot be read (check its permissions)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    magic = head[:8]
    if len(head) == info.st_size and not head.strip():
        raise DataError(f"{path}: the file holds only blank lines or spaces: no header, no rows")
    kind = next((k for m, k in _COMPRESSED.items() if magic.startswith(m)), None)
    if kind is not None and path.suffix.lower() not in (".parquet", ".pq"):
        raise DataError(f"{path}: is {kind}-compressed; decompress it first (neurec reads plain CSV, JSON lines or Parquet)")
    return path


def drop_repeated_headers(frame: pd.DataFrame, path: Path, policy: str, dropped: dict[str, int]) -> pd.DataFrame:
    """Rows that repeat the header (files concatenated with their headers): dropped and counted, or refused.

    Such a row turns every numeric column into text; once it is gone, those columns are numbers again, as the
    parser would have read them."""
    if frame.empty or len(frame.columns) == 0:
        return frame
    first = str(frame.columns[0])
    candidates = frame[(_text(frame.iloc[:, 0]) == first).fillna(False).astype(bool)]
    if candidates.empty:
        return frame
    same = pd.concat([_text(candidates[c]) == str(c) for c in frame.columns], axis=1).all(axis=1)
    rows = same[same.fillna(False).astype(bool)].index
    if len(rows) == 0:
        return frame
    lines = [int(i) + 2 for i in rows[:5]]  # 1-based, after the header
    if policy == "error":
        raise DataError(f"{path}: the header line is repeated {len(rows)} time(s) mid-file (line(s) {lines}); "
                        "set data.policies.repeated_header=drop to skip those lines")
    if policy != "drop":
        raise DataError(f"data.policies.repeated_header={policy!r}: use drop or error")
    log.warning("%s: the header line is repeated %d time(s) mid-file (line(s) %s): dropped", path, len(rows), lines)
    dropped["repeated_header"] = dropped.get("repeated_header", 0) + len(rows)
    return numbers_again(frame.drop(index=rows))


def numbers_again(frame: pd.DataFrame, columns: list | None = None) -> pd.DataFrame:
    """Text columns (of `columns`, default all) that hold only numbers, as numbers: what the parser would have
    made of them without the header row that made them text."""
    out = {}
    for c in frame.columns if columns is None else [c for c in columns if c in frame.columns]:
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]):
            numbers = pd.to_numeric(_text(frame[c]), errors="coerce")
            if numbers.notna().sum() == frame[c].notna().sum():
                out[c] = numbers
    return frame.assign(**out) if out else frame


def _text(column: pd.Series) -> pd.Series:
    """A column as stripped text for comparing with the header. pyarrow hands a column with bytes that are not
    UTF-8 over as `bytes`, which `astype("string")` refuses; such cells are compared decoded (validation names them)."""
    if column.dtype == object:
        column = column.map(lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v)
    return column.astype("string").str.strip()
