"""Read a shop's raw event file, in whichever layout it comes, under neurec's column names; values stay raw.

`read_events` is the adapter step of the data pipeline: it reads CSV, Parquet, JSON lines, OTTO sessions or
the RetailRocket tables, renames columns with `data.columns`, adds `data.constants`, and checks that the file
fits the chosen preset. Event names, timestamps and ids are left as the file has them: validation parses them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.load import TRUNCATED_ROW, CsvOptions, check_file, csv_options, detect_format, first_line, read_jsonl_table, read_raw, split_fields
from neurec.data.retailrocket import read_retailrocket
from neurec.schema import EVENT_TYPE, ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)

FORMAT_NAMES = ("csv", "parquet", "jsonl", "otto", "retailrocket")
REQUIRED = (ITEM_ID, EVENT_TYPE, TIMESTAMP)  # user and session ids may be absent: prepare falls back / sessionises

# Column signatures of the sources the presets read, to name the preset that a misread file fits.
_SIGNATURES = (
    ("rees46", {"event_time", "product_id", "user_session"}, "a REES46 (Open CDP) export"),
    ("retailrocket", {"visitorid", "itemid", "event"}, "RetailRocket events.csv"),
    ("yoochoose", {"SessionId", "ItemId", "Time"}, "YOOCHOOSE clicks"),
    ("otto", {"session", "events"}, "OTTO sessions"),
    ("files", {USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP}, "neurec's own column names"),
)
_TAOBAO_BEHAVIOURS = {"pv", "buy", "cart", "fav"}


@dataclass(frozen=True)
class RawTables:
    events: pd.DataFrame  # neurec's column names where the source has them; values as in the file
    catalog: pd.DataFrame | None  # item_id + catalog columns when the format ships item data, else None
    dropped: dict[str, int] = field(default_factory=dict)  # rows dropped while reading, by problem name
    source: str = ""  # a name for messages: the events file


def read_events(cfg: DataConfig) -> RawTables:
    fmt = event_format(cfg)
    policy = str(cfg.policies.get(TRUNCATED_ROW, "drop"))
    if fmt == "retailrocket":
        frame, catalog, dropped = read_retailrocket(cfg, policy)
    else:
        path = check_file(_events_path(cfg))
        catalog, dropped = None, {}
        if fmt == "otto":
            frame = read_otto(path, policy, dropped)
        else:
            if fmt == "csv":
                check_layout(path, csv_options(cfg.csv, path), cfg)
            frame, dropped = read_raw(path, fmt, cfg.csv, policy, header_policy=str(cfg.policies.get("repeated_header", "drop")))
    events = to_neurec_columns(frame, cfg, str(cfg.events_path))
    return RawTables(events=events, catalog=catalog, dropped=dropped, source=str(cfg.events_path))


def _events_path(cfg: DataConfig) -> str:
    if not cfg.events_path:
        raise DataError(f"data.events_path is not set: give the events file, e.g. data={cfg.name} data.events_path=events.csv")
    return str(cfg.events_path)


def event_format(cfg: DataConfig) -> str:
    if cfg.format is None:
        return detect_format(check_file(_events_path(cfg)))
    if cfg.format not in FORMAT_NAMES:
        raise DataError(f"{cfg.events_path}: unknown format data.format={cfg.format!r}; use one of {list(FORMAT_NAMES)}")
    return cfg.format


def to_neurec_columns(frame: pd.DataFrame, cfg: DataConfig, source: str) -> pd.DataFrame:
    """Rename with data.columns, add data.constants, and refuse a file that lacks what every event needs."""
    found = [str(c) for c in frame.columns]
    mapping = {str(k): str(v) for k, v in cfg.columns.items()}
    renamed = [mapping.get(c, c) for c in found]
    doubled = sorted({c for c in renamed if renamed.count(c) > 1})
    if doubled:
        sources = {c: [f for f, r in zip(found, renamed) if r == c] for c in doubled}
        raise DataError(f"{source}: several file columns would become one: {sources}; map only one of each with data.columns")
    frame = frame.set_axis(renamed, axis=1)
    for column, value in cfg.constants.items():
        if column in frame.columns:
            raise DataError(f"{source}: data.constants.{column} is set, but the file already has a {column} column; drop one")
        frame[column] = value
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        inverse = {v: k for k, v in mapping.items()}
        wanted = [inverse.get(c, c) for c in REQUIRED if c not in cfg.constants]
        raise DataError(
            f"{source}: does not look like data={cfg.name}: missing column(s) {missing} after renaming; "
            f"expected file columns {wanted}, found {found}. {suggest(found, cfg.name)}"
        )
    return frame


def suggest(columns: list[str], preset: str) -> str:
    """Which preset or mapping would read a file whose columns (or first line) are `columns`."""
    names = set(columns)
    for name, signature, what in _SIGNATURES:
        if signature <= names and name != preset:
            return f"The columns look like {what}: use data={name}."
    if len(columns) == 5 and columns[3] in _TAOBAO_BEHAVIOURS and all(_is_number(c) for c in columns[:3] + columns[4:]):
        return "The first line looks like a Taobao UserBehavior row, not a header: use data=taobao (no header)."
    if sum(_is_number(c) for c in columns) * 2 > len(columns):
        return "The first line looks like data, not a header: set data.csv.header=false and data.csv.names=[...]."
    return "Map the file's columns to neurec's with data.columns, e.g. data.columns.<their name>=item_id."


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_layout(path: Path, opts: CsvOptions, cfg: DataConfig) -> None:
    """Before parsing: data.csv.names must match the field count, and a headerless preset must not meet a header."""
    fields = split_fields(first_line(path), opts.sep)
    if opts.names and len(fields) != len(opts.names):
        raise DataError(
            f"{path}: the first line has {len(fields)} field(s) {fields[:10]} but data.csv.names lists "
            f"{len(opts.names)} {list(opts.names)}. {suggest(fields, cfg.name)}"
        )
    known = {c.lower() for c in (opts.names or ())} | {c.lower() for sig in _SIGNATURES for c in sig[1]}
    if not opts.header and any(f.strip().lower() in known for f in fields):
        raise DataError(
            f"{path}: the first line looks like a header {fields[:10]} but data.csv.header=false. "
            f"Set data.csv.header=true. {suggest(fields, cfg.name)}"
        )


def read_otto(path: Path, policy: str, dropped: dict[str, int]) -> pd.DataFrame:
    """OTTO's one-session-per-line JSON, flattened column-wise: one row per event, the session as the customer."""
    table = read_jsonl_table(path, policy, dropped)
    fields = _otto_event_fields(table.schema)
    if "session" not in table.column_names or not {"aid", "ts", "type"} <= fields:
        raise DataError(
            f"{path}: does not look like data=otto: expected lines like "
            '{"session": 1, "events": [{"aid": 2, "ts": 1659304800025, "type": "clicks"}]}; '
            f"found fields {table.column_names}{' with events of ' + str(sorted(fields)) if fields else ''}. "
            f"{suggest(table.column_names, 'otto')}"
        )
    parts = [_flatten_sessions(batch) for batch in table.to_batches()]
    return pa.concat_tables(parts).to_pandas() if parts else pd.DataFrame(columns=[SESSION_ID, USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE])


def _otto_event_fields(schema: pa.Schema) -> set[str]:
    """The keys of the objects in `events` (empty when it is missing or not a list of objects)."""
    if "events" not in schema.names:
        return set()
    kind = schema.field("events").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_struct(kind.value_type):
        return set()
    return {kind.value_type.field(i).name for i in range(kind.value_type.num_fields)}


def _flatten_sessions(batch: pa.RecordBatch) -> pa.Table:
    events = batch.column("events")
    parents = pc.list_parent_indices(events)  # (n_events,) the session row of each event
    values = pc.list_flatten(events)
    session = pc.take(batch.column("session"), parents)
    return pa.table(
        {
            SESSION_ID: session,
            USER_ID: session,  # OTTO sessions are anonymous: each session is its own customer
            ITEM_ID: pc.struct_field(values, "aid"),
            TIMESTAMP: pc.struct_field(values, "ts"),
            EVENT_TYPE: pc.struct_field(values, "type"),
        }
    )
