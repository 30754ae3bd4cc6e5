"""Read one table from a CSV, Parquet or JSON-lines file into pandas, with errors a person can act on.

CSV goes through pyarrow (multi-threaded: millions of rows in a few seconds); the C engine is the fallback
when pyarrow's type inference trips on a column that changes type half-way, and it is what names the line
of a malformed row. A last line cut off mid-row (an export that died, a `head -c`) is found from the tail
bytes alone and handled by the `truncated_row` policy, so the file is parsed once.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from neurec.data.errors import DataError
from neurec.data.filecheck import FORMATS, check_file, drop_repeated_headers  # noqa: F401  (check_file: readers import it from here)

log = logging.getLogger(__name__)

TRUNCATED_ROW = "truncated_row"
_PEEK_BYTES = 1 << 16  # a first or last line longer than this is not checked for truncation
_JSON_BLOCK = 1 << 24  # pyarrow's JSON reader needs each line to fit in one block (OTTO sessions run to ~50 kB)


@dataclass(frozen=True)
class CsvOptions:
    sep: str = ","
    header: bool = True
    names: tuple[str, ...] | None = None  # column names; required when header is False
    encoding: str = "utf-8"  # the file's text encoding (latin-1, cp1252, ...)


def csv_options(options: dict | None, path: Path) -> CsvOptions:
    """`data.csv` as typed options. Without a `sep`, .tsv means tab and a first line with tabs but no commas too."""
    options = dict(options or {})
    unknown = set(options) - {"sep", "header", "names", "encoding"}
    if unknown:
        raise DataError(f"data.csv: unknown option(s) {sorted(unknown)}; use sep, header, names, encoding")
    encoding = str(options.get("encoding") or "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"data.csv.encoding={encoding!r}: unknown encoding; e.g. utf-8, latin-1, cp1252") from None
    sep = options.get("sep")
    if sep is None:
        first = first_line(path)
        sep = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
    names = options.get("names")
    header = bool(options.get("header", True))
    if not header and not names:
        raise DataError(f"{path}: data.csv.header=false needs data.csv.names (the column names, in file order)")
    return CsvOptions(sep=sep, header=header, names=tuple(str(n) for n in names) if names else None, encoding=encoding)


def detect_format(path: Path) -> str:
    if path.suffix.lower() in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        raise DataError(f"{path}: a compressed file; decompress it first (neurec reads plain CSV, JSON lines or Parquet)")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use one of {sorted(set(FORMATS))} or set data.format")
    return fmt


def first_line(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(_PEEK_BYTES)
    return head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")


def split_fields(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


@dataclass(frozen=True)
class Cut:
    """A last line without its newline that the parser must not see."""

    offset: int  # where the line starts: the parser reads the bytes before it
    text: str


def _last_line(path: Path) -> tuple[int, str] | None:
    """Start and text of the last line when the file does not end with a newline (else None), from the tail only."""
    size = path.stat().st_size
    start = max(0, size - _PEEK_BYTES)
    with path.open("rb") as f:
        f.seek(start)
        tail = f.read()
    if tail.endswith(b"\n"):
        return None
    newline = tail.rfind(b"\n")
    if newline < 0 and start > 0:
        return None  # a last line over 64 kB: leave it to the parser
    return start + newline + 1, tail[newline + 1 :].decode("utf-8", errors="replace")


def find_cut(path: Path, fmt: str, opts: CsvOptions | None = None) -> Cut | None:
    """The cut-off last line: CSV with fewer fields than the header (or an open quote), JSON that doesn't parse."""
    last = _last_line(path)
    if last is None or not last[1].strip():
        return None
    offset, text = last
    if fmt == "jsonl":
        try:
            json.loads(text)
        except ValueError:
            return Cut(offset, text)
        return None
    if offset == 0 and opts.header:
        return None  # the only line is the header: "no rows" is reported later
    expected = len(opts.names) if opts.names else len(split_fields(first_line(path), opts.sep))
    if text.count('"') % 2 or len(split_fields(text, opts.sep)) < expected:
        return Cut(offset, text)
    return None


class _Prefix(io.RawIOBase):
    """The first `limit` bytes of a file, so that a parser never sees a cut-off last line."""

    def __init__(self, path: Path, limit: int):
        self._file = path.open("rb")
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._file.readinto(memoryview(buffer)[: min(len(buffer), self._left)])
        self._left -= n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


@contextmanager
def open_source(path: Path, cut: Cut | None):
    """The path itself (parsers map it fastest), or a reader that stops before the cut line."""
    if cut is None:
        yield path
        return
    with io.BufferedReader(_Prefix(path, cut.offset), buffer_size=1 << 20) as reader:
        yield reader


def apply_cut(cut: Cut | None, policy: str, line: int, path: Path, dropped: dict[str, int]) -> None:
    """Drop the cut line (count it, warn with its line number) or refuse the file, as `policy` says."""
    if cut is None:
        return
    shown = cut.text if len(cut.text) <= 80 else cut.text[:77] + "..."
    if policy == "error":
        raise DataError(
            f"{path}: line {line} is cut off (no newline at the end, incomplete row): {shown!r}. "
            f"Set data.policies.{TRUNCATED_ROW}=drop to skip it."
        )
    if policy != "drop":
        raise DataError(f"data.policies.{TRUNCATED_ROW}={policy!r}: use drop or error")
    log.warning("%s: line %d is cut off (no newline at the end, incomplete row): dropped %r", path, line, shown)
    dropped[TRUNCATED_ROW] = dropped.get(TRUNCATED_ROW, 0) + 1


def _parse_csv(source, opts: CsvOptions, engine: str) -> pd.DataFrame:
    kwargs = {"sep": opts.sep, "header": 0 if opts.header else None, "names": list(opts.names) if opts.names else None,
              "encoding": opts.encoding}
    if engine == "c":
        kwargs["low_memory"] = False  # one dtype per column, not one per chunk
        kwargs["encoding_errors"] = "replace"  # bytes that are not text become U+FFFD: validation names the rows
    return pd.read_csv(source, engine=engine, **kwargs)


def read_csv(path: Path, opts: CsvOptions, policy: str, dropped: dict[str, int]) -> pd.DataFrame:
    cut = find_cut(path, "csv", opts)
    try:
        with open_source(path, cut) as source:
            frame = _parse_csv(source, opts, "pyarrow")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowInvalid) as arrow_error:
        try:  # the C engine reads columns of mixed type, and names the line of a malformed row
            with open_source(path, cut) as source:
                frame = _parse_csv(source, opts, "c")
        except (pd.errors.ParserError, ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot be read as CSV: {first_error_line(exc)}") from None
        log.info("%s: read with the C engine (pyarrow: %s)", path, first_error_line(arrow_error))
    except UnicodeDecodeError:  # cells that are not UTF-8 arrive as bytes; only the header fails like this
        raise DataError(_not_utf8(path, opts)) from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as CSV: {first_error_line(exc)}") from None
    if opts.header and any("\ufffd" in str(c) for c in frame.columns):  # the C engine replaced them: same refusal
        raise DataError(_not_utf8(path, opts))
    # After parsing, for the line number: the rows read, the header, then the cut line (blank lines aside).
    apply_cut(cut, policy, len(frame) + int(opts.header) + 1, path, dropped)
    return frame


def _not_utf8(path: Path, opts: CsvOptions) -> str:
    """Column names must be text: a header that is not names every line of the file as wrong, so it is refused."""
    with path.open("rb") as f:
        header = f.read(_PEEK_BYTES).split(b"\n", 1)[0]
    try:
        header.decode(opts.encoding)
    except UnicodeDecodeError as exc:
        shown = header.decode(opts.encoding, errors="replace")[:200]
        where = f"the header line {shown!r} is not {opts.encoding} text (byte 0x{header[exc.start]:02x})"
    else:
        where = f"the file is not {opts.encoding} text"
    return f"{path}: {where}. Convert the file (e.g. iconv -f latin1 -t utf-8) or, if it is Latin-1, set +data.csv.encoding=latin-1"


def _arrow_json(path: Path, cut: Cut | None) -> pa.Table:
    with open_source(path, cut) as source:
        return _invalid_text_as_bytes(pa_json.read_json(source, read_options=pa_json.ReadOptions(block_size=_JSON_BLOCK)))


def _invalid_text_as_bytes(table: pa.Table) -> pa.Table:
    """pyarrow's JSON reader lets bytes that are not UTF-8 into string columns, where any later string operation
    fails. Such a column goes on as bytes, which validation decodes and names (the bad_text problem)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            try:
                table.column(i).validate(full=True)
            except pa.ArrowInvalid:
                table = table.set_column(i, f.name, table.column(i).cast(pa.binary() if pa.types.is_string(f.type) else pa.large_binary()))
    return table


def read_jsonl_table(path: Path, policy: str, dropped: dict[str, int]) -> pa.Table:
    """JSON lines as an Arrow table; nested values stay nested (OTTO flattens them column-wise)."""
    cut = find_cut(path, "jsonl")
    try:
        table = _arrow_json(path, cut)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot be read as JSON lines: {first_error_line(exc)}") from None
    apply_cut(cut, policy, table.num_rows + 1, path, dropped)
    return table


def read_jsonl(path: Path, policy: str, dropped: dict[str, int]) -> pd.DataFrame:
    cut = find_cut(path, "jsonl")
    try:
        frame = _arrow_json(path, cut).to_pandas()
    except OSError as exc:  # unreadable after check_file looked (permissions changed, a network mount went away)
        raise DataError(f"{path}: cannot be read as JSON lines: {first_error_line(exc)}") from None
    except pa.ArrowInvalid:
        try:  # pandas' own reader takes a field whose type changes between lines, which pyarrow refuses
            with open_source(path, cut) as source:
                frame = pd.read_json(source, lines=True, dtype=False, encoding_errors="replace")
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot be read as JSON lines: {first_error_line(exc)}") from None
    apply_cut(cut, policy, len(frame) + 1, path, dropped)
    return frame


def read_raw(path: str | Path, fmt: str | None = None, csv: dict | None = None, policy: str = "drop",
             header_policy: str = "drop") -> tuple[pd.DataFrame, dict[str, int]]:
    """One table as in the file, and the rows dropped while reading by problem name.

    `policy`: for a cut-off last line (truncated_row); `header_policy`: for the header line repeated mid-file."""
    path = check_file(path)
    fmt = fmt or detect_format(path)
    dropped: dict[str, int] = {}
    if fmt == "csv":
        opts = csv_options(csv, path)
        frame = read_csv(path, opts, policy, dropped)
        if opts.header:
            frame = drop_repeated_headers(frame, path, header_policy, dropped)
    elif fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot be read as Parquet: {first_error_line(exc)}") from None
    elif fmt == "jsonl":
        frame = read_jsonl(path, policy, dropped)
    else:
        raise DataError(f"{path}: unknown format {fmt!r}; use csv, parquet or jsonl (or data=otto / data=retailrocket)")
    if frame.empty:
        has_header = fmt == "csv" and len(frame.columns) > 0
        raise DataError(f"{path}: the file has {'a header but ' if has_header else ''}no rows")
    return frame, dropped


def read_table(path: str | Path, fmt: str | None = None, columns: dict[str, str] | None = None, csv: dict | None = None) -> pd.DataFrame:
    """Read one table and rename the user's columns to neurec's (`columns` maps theirs to ours)."""
    frame, _ = read_raw(path, fmt, csv)
    return frame.rename(columns=dict(columns)) if columns else frame


def first_error_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
