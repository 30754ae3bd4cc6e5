"""Check a raw event table and turn it into neurec's canonical form, or say exactly what is wrong.

Canonical events: user_id, session_id, item_id (str); event_type (int8 EventType); ts (float64 unix seconds);
price (float64, only when the source has it). Sorted by user, time and file order.

Each problem has a policy: `error` stops with a message naming the problem, the count and example rows;
`drop` removes the rows and counts them; `fix` repairs them where the repair is unambiguous.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurec.data.errors import DataError, examples
from neurec.schema import CATALOG_OPTIONAL, EVENT_TYPE, ITEM_ID, PRICE, SESSION_ID, TIMESTAMP, USER_ID, EventType

log = logging.getLogger(__name__)
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")

DEFAULT_POLICIES = {
    "missing_id": "drop",  # NaN or empty user, session or item id: the row can't be placed
    "unknown_event": "error",  # an unmapped event name might be a purchase; a person must decide
    "bad_timestamp": "drop",
    "bad_price": "fix",  # zero, negative or unparsable price -> unknown price; the event itself is fine
    "duplicate": "drop",  # exact duplicate events (double logging)
    "truncated_row": "drop",  # a cut last line (handled while reading)
}
ALLOWED = {
    "missing_id": {"error", "drop"},
    "unknown_event": {"error", "drop"},
    "bad_timestamp": {"error", "drop"},
    "bad_price": {"error", "drop", "fix"},
    "duplicate": {"error", "drop", "keep"},
    "truncated_row": {"error", "drop"},
}


@dataclass
class CleaningReport:
    """What validation dropped or fixed, by problem; logged with the run and printed by `neurec-data summary`."""

    dropped: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, int]:
        return {**{f"dropped_{k}": v for k, v in self.dropped.items()}, **{f"fixed_{k}": v for k, v in self.fixed.items()}}


def resolve_policies(policies: dict | None) -> dict[str, str]:
    out = dict(DEFAULT_POLICIES)
    for problem, action in (policies or {}).items():
        if problem not in ALLOWED:
            raise DataError(f"data.policies.{problem}: unknown problem; expected one of {sorted(ALLOWED)}")
        if action not in ALLOWED[problem]:
            raise DataError(f"data.policies.{problem}={action!r}: expected one of {sorted(ALLOWED[problem])}")
        out[problem] = action
    return out


class _Cleaner:
    """Applies one policy per problem to a frame, keeping the report and the max-bad-fraction guard."""

    def __init__(self, source: str, policies: dict[str, str], max_bad_fraction: float, total: int, report: CleaningReport):
        self.source, self.policies, self.max_bad, self.total, self.report = source, policies, max_bad_fraction, total, report

    def apply(self, frame: pd.DataFrame, bad: pd.Series, problem: str, what: str, hint: str = "") -> pd.DataFrame:
        """Rows flagged `bad` under the problem's policy: error, keep, or drop (counted)."""
        n = int(bad.sum())
        action = self.policies[problem]
        if n == 0 or action in ("keep", "fix"):
            return frame
        message = f"{self.source}: {n} row(s) with {what}: {examples(frame, bad)}"
        hint = f" {hint}" if hint else ""
        if action == "error":
            raise DataError(f"{message}.{hint} (data.policies.{problem}=drop skips them)")
        if n > self.max_bad * self.total:
            raise DataError(
                f"{message}; that is {100.0 * n / self.total:.1f}% of the rows, more than data.max_bad_fraction "
                f"({100 * self.max_bad:.0f}%): is this the right data preset?{hint}"
            )
        self.report.dropped[problem] = self.report.dropped.get(problem, 0) + n
        log.warning("%s (dropped)", message)
        return frame.loc[~bad]


def ids_as_str(values: pd.Series) -> pd.Series:
    """Ids as strings with one spelling: a float column of whole numbers (CSV ints with gaps) loses its '.0'."""
    if pd.api.types.is_float_dtype(values) and values.dropna().mod(1).eq(0).all():
        values = values.astype("Int64")
    return values.astype("string").str.strip()


def parse_timestamps(raw: pd.Series, unit: str = "s") -> pd.Series:
    """To float unix seconds, NaN where unparsable. Numbers in `unit`; strings ISO-8601, naive ones as UTC."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw if getattr(raw.dt, "tz", None) is not None else raw.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(raw):
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        return values / 1000.0 if unit == "ms" else values.where(np.isfinite(values))
    else:
        text = raw.astype("string").str.strip().str.replace(r"\s*UTC$", "", regex=True)
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        retry = parsed.isna() & text.notna()
        if retry.any():  # the fast ISO path failed on some rows: give them the slow, lenient parser
            parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return (parsed - _EPOCH) / pd.Timedelta(seconds=1)


def _require_columns(frame: pd.DataFrame, source: str) -> None:
    needed = [ITEM_ID, EVENT_TYPE, TIMESTAMP]
    missing = [c for c in needed if c not in frame.columns]
    if USER_ID not in frame.columns and SESSION_ID not in frame.columns:
        missing.append(f"{USER_ID} or {SESSION_ID}")
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; found {list(frame.columns)}. Rename them in the file, map them "
            "with data.columns (e.g. +data.columns.visitorid=user_id), or pick the matching preset (data=rees46, "
            "data=taobao, data=yoochoose, data=otto, data=retailrocket)."
        )


def _event_codes(frame: pd.DataFrame, event_map: dict, clean: _Cleaner) -> pd.DataFrame:
    labels = frame[EVENT_TYPE].astype("string").str.strip()
    if event_map:
        labels = labels.replace({str(k): str(v) for k, v in event_map.items()})
    mapped_drop = labels == "drop"
    if mapped_drop.any():
        kinds = frame.loc[mapped_drop, EVENT_TYPE].astype("string").value_counts().to_dict()
        clean.report.notes.append(f"dropped by data.event_map: {kinds}")
        clean.report.dropped["mapped_to_drop"] = int(mapped_drop.sum())
        frame, labels = frame.loc[~mapped_drop], labels[~mapped_drop]
    codes = labels.map({e.label: int(e) for e in EventType if e is not EventType.PAD})
    unknown = codes.isna()
    if unknown.any():
        counts = labels[unknown].value_counts(dropna=False).head(10)
        listing = ", ".join(f"{k!r}: {v}" for k, v in counts.items())
        fix = " ".join(f"+data.event_map.{k}=<view|add_to_cart|purchase|drop>" for k in counts.index[:3])
        what = f"an unknown {EVENT_TYPE} ({listing}); expected {EventType.names()}"
        frame = clean.apply(frame.assign(**{EVENT_TYPE: labels}), unknown, "unknown_event", what, f"Map them, e.g. {fix}")
        codes = codes.loc[frame.index]
    return frame.assign(**{EVENT_TYPE: codes.astype("int8")})


def _sessionize(frame: pd.DataFrame, gap_minutes: float) -> pd.Series:
    """Sessions by inactivity: a new one when the customer changes or is idle longer than the gap."""
    users = frame[USER_ID].to_numpy()
    ts = frame["ts"].to_numpy()
    new = np.ones(len(frame), dtype=bool)
    new[1:] = (users[1:] != users[:-1]) | (np.diff(ts) > gap_minutes * 60.0)
    return pd.Series(np.cumsum(new), index=frame.index).astype("string")


def validate_events(frame: pd.DataFrame, source: str, cfg, report: CleaningReport | None = None) -> tuple[pd.DataFrame, CleaningReport]:
    """Raw events (neurec column names, raw values) -> canonical events and what was dropped or fixed.

    `cfg` is a DataConfig (event_map, timestamp_unit, policies, max_bad_fraction, session_gap_minutes,
    min_user_events).
    """
    report = report or CleaningReport()
    clean = _Cleaner(source, resolve_policies(cfg.policies), cfg.max_bad_fraction, len(frame), report)
    _require_columns(frame, source)
    if USER_ID not in frame.columns:  # anonymous sessions (YOOCHOOSE, OTTO): each session is its own customer
        frame = frame.assign(**{USER_ID: frame[SESSION_ID]})
        report.notes.append("no user_id: each session is treated as its own customer")
    id_cols = [c for c in (USER_ID, SESSION_ID, ITEM_ID) if c in frame.columns]
    ids = {c: ids_as_str(frame[c]) for c in id_cols}
    missing = pd.concat([v.isna() | v.eq("") for v in ids.values()], axis=1).any(axis=1)
    frame = clean.apply(frame.assign(**ids), missing, "missing_id", f"an empty or NaN id ({', '.join(id_cols)})")
    frame = _event_codes(frame, cfg.event_map, clean)
    ts = parse_timestamps(frame[TIMESTAMP], cfg.timestamp_unit)
    hint = "Use ISO-8601 (2026-03-01T10:00:00Z) or unix time with data.timestamp_unit=s|ms."
    frame = clean.apply(frame, ts.isna(), "bad_timestamp", f"an unparsable {TIMESTAMP}", hint)
    frame = frame.assign(ts=ts.loc[frame.index])
    if PRICE in frame.columns:
        frame = _prices(frame, clean)
    keep = dict.fromkeys([USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, "ts", PRICE, *CATALOG_OPTIONAL])  # ordered, unique
    out = frame[[c for c in keep if c in frame.columns]]
    key = [c for c in (USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, "ts") if c in out.columns]
    out = clean.apply(out, out.duplicated(subset=key, keep="first"), "duplicate", "an exact duplicate of an earlier event")
    out = out.assign(_row=np.arange(len(out))).sort_values([USER_ID, "ts", "_row"], kind="stable").drop(columns="_row")
    if SESSION_ID not in out.columns:
        out.insert(1, SESSION_ID, _sessionize(out, cfg.session_gap_minutes))
        report.notes.append(f"no session_id: sessions cut at {cfg.session_gap_minutes:g} minutes of inactivity")
    out = _min_user_events(out, cfg.min_user_events, report)
    if out.empty:
        raise DataError(f"{source}: no events left after cleaning ({report.metrics()})")
    return out.reset_index(drop=True), report


def _prices(frame: pd.DataFrame, clean: _Cleaner) -> pd.DataFrame:
    price = pd.to_numeric(frame[PRICE], errors="coerce").astype("float64")
    bad = frame[PRICE].notna() & ~(price > 0)  # a given price that is zero, negative or not a number
    if bad.any() and clean.policies["bad_price"] == "fix":
        clean.report.fixed["bad_price"] = int(bad.sum())
        log.warning("%s: %d zero, negative or unparsable price(s) set to unknown", clean.source, int(bad.sum()))
    frame = clean.apply(frame, bad, "bad_price", f"a zero, negative or unparsable {PRICE}")
    return frame.assign(**{PRICE: price.loc[frame.index].where(lambda p: p > 0)})


def _min_user_events(events: pd.DataFrame, minimum: int, report: CleaningReport) -> pd.DataFrame:
    if minimum <= 1:
        return events
    counts = events.groupby(USER_ID, sort=False)[USER_ID].transform("size")
    few = counts < minimum
    if few.any():
        report.dropped["user_below_min_events"] = int(few.sum())
    return events.loc[~few]


def validate_catalog(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Keep the catalog columns neurec knows; item ids unique; numeric columns numeric and finite."""
    if ITEM_ID not in frame.columns:
        raise DataError(f"{source}: missing column {ITEM_ID!r}; found {list(frame.columns)}")
    keep = [ITEM_ID] + [c for c in CATALOG_OPTIONAL if c in frame.columns]
    out = frame[keep].copy()
    out[ITEM_ID] = ids_as_str(out[ITEM_ID]).astype(str)
    dup = out[ITEM_ID].duplicated(keep=False)
    if dup.any():
        raise DataError(f"{source}: {int(dup.sum())} row(s) share an {ITEM_ID}: {examples(frame, dup)}")
    for col in ("price", "margin", "stock", "tier"):
        if col in out.columns:
            values = pd.to_numeric(out[col], errors="coerce")
            bad = values.isna() & out[col].notna()
            if bad.any():
                raise DataError(f"{source}: {int(bad.sum())} row(s) with a non-numeric {col}: {examples(frame, bad)}")
            out[col] = values.astype("float64")
    return out.reset_index(drop=True)
