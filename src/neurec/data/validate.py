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
from neurec.data.filecheck import numbers_again
from neurec.data.plausible import decode_text, implausible_timestamps, long_ids
from neurec.schema import (
    CATALOG_OPTIONAL,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    SESSION_ID,
    TIMESTAMP,
    USER_ID,
    EventType,
)

log = logging.getLogger(__name__)
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
EVENT_COLUMNS = (USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, PRICE)

DEFAULT_POLICIES = {
    "missing_id": "drop",  # NaN or empty user, session or item id: the row can't be placed
    "unknown_event": "error",  # an unmapped event name might be a purchase; a person must decide
    "bad_timestamp": "drop",  # unparsable
    "implausible_timestamp": "drop",  # before data.min_timestamp, in the future, or far from the bulk of the data
    "bad_price": "fix",  # zero, negative, infinite or unparsable price -> unknown price; the event itself is fine
    "duplicate": "drop",  # exact duplicate events (double logging)
    "truncated_row": "drop",  # a cut last line (handled while reading)
    "repeated_header": "drop",  # the header line again, mid-file (concatenated exports; handled while reading)
    "bad_text": "drop",  # a text cell that is not UTF-8; fix keeps it with U+FFFD for the bad bytes
    "long_id": "drop",  # an id longer than data.max_id_length
    "bad_catalog_value": "fix",  # catalog number non-numeric, infinite or negative (price: not > 0) -> unknown
    "uncatalogued_item": "fix",  # event items the catalog lacks: fix adds them with unknown attributes
    "too_few_decisions": "error",  # a period below data.min_train_decisions / data.min_eval_decisions
    "not_a_sale": "drop",  # an order line with a zero, negative or unparsable quantity: a return or cancellation
}
ALLOWED = {
    "missing_id": {"error", "drop"},
    "unknown_event": {"error", "drop"},
    "bad_timestamp": {"error", "drop"},
    "implausible_timestamp": {"error", "drop"},
    "bad_price": {"error", "drop", "fix"},
    "duplicate": {"error", "drop", "keep"},
    "truncated_row": {"error", "drop"},
    "repeated_header": {"error", "drop"},
    "bad_text": {"error", "drop", "fix"},
    "long_id": {"error", "drop"},
    "bad_catalog_value": {"error", "drop", "fix"},
    "uncatalogued_item": {"error", "drop", "fix"},
    "too_few_decisions": {"error", "warn"},
    "not_a_sale": {"error", "drop", "keep"},
}


@dataclass
class CleaningReport:
    """What validation dropped or fixed, by problem; logged with the run and printed by `neurec-data summary`."""

    dropped: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # problems let through by a `warn` policy: printed loudly

    def problems(self) -> list[str]:
        """Every problem met, by name, with its count: what `neurec-data summary` lists."""
        out = [f"{k}: {v:,} dropped" for k, v in self.dropped.items()] + [f"{k}: {v:,} fixed" for k, v in self.fixed.items()]
        counted = {*self.dropped, *self.fixed}
        return out + [name for w in self.warnings if (name := w.split(":", 1)[0]) not in counted]

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


class Cleaner:
    """Applies one policy per problem to a frame, keeping the report and the max-bad-fraction guard."""

    def __init__(self, source: str, policies: dict[str, str], max_bad_fraction: float, total: int | None, report: CleaningReport,
                 prefix: str = ""):
        self.source, self.policies, self.max_bad, self.total, self.report = source, policies, max_bad_fraction, total, report
        self.prefix = prefix  # on report keys: the catalog's problems are counted apart from the events'

    def apply(self, frame: pd.DataFrame, bad: pd.Series, problem: str, what: str, hint: str = "", guard_fix: bool = False) -> pd.DataFrame:
        """Rows flagged `bad` under the problem's policy: error, keep, drop (counted), or fix (counted; the caller
        repairs). `guard_fix`: fixing too many rows is refused too (a whole column wrong is not a few bad cells)."""
        n = int(bad.sum())
        action = self.policies[problem]
        if n == 0 or action == "keep":
            return frame
        message = f"{self.source}: {n} row(s) with {what}: {examples(frame, bad)}"
        hint = f" {hint}" if hint else ""
        if action == "error":
            raise DataError(refusal(message, problem, hint))
        # total None: the rows come in chunks and the caller holds the whole file to the limit (too_many_dropped).
        if self.total is not None and n > self.max_bad * self.total and (action == "drop" or guard_fix):
            raise DataError(too_many(message, n, self.total, self.max_bad, hint))
        counts = self.report.fixed if action == "fix" else self.report.dropped
        key = problem if self.prefix.rstrip("_") in problem else self.prefix + problem  # no catalog_bad_catalog_value
        counts[key] = counts.get(key, 0) + n
        log.warning("%s (%s: %s)", message, key, "fixed" if action == "fix" else "dropped")
        return frame if action == "fix" else frame.loc[~bad]


def refusal(message: str, problem: str, hint: str = "") -> str:
    """The message of a problem whose policy is error, with the policy that would let the rows through."""
    other = "drop" if "drop" in ALLOWED[problem] else "fix"
    return f"{message}.{hint} (data.policies.{problem}={other} {'skips' if other == 'drop' else 'repairs'} them)"


def too_many(message: str, n: int, total: int, max_bad: float, hint: str = "") -> str:
    return (f"{message}; that is {100.0 * n / total:.1f}% of the rows, more than data.max_bad_fraction "
            f"({100 * max_bad:.0f}%): is this the right data preset?{hint}")


def too_many_dropped(report: CleaningReport, total: int, max_bad: float, source: str) -> None:
    """The max-bad-fraction guard over a whole file cleaned in chunks: no problem may drop more than its share."""
    for problem, n in report.dropped.items():
        # Lines dropped while reading (a cut last line, headers repeated by concatenation) are not held to it in
        # memory either: they are no events.
        if problem in ALLOWED and problem not in ("truncated_row", "repeated_header") and n > max_bad * total:
            raise DataError(too_many(f"{source}: {n:,} row(s) dropped for {problem}", n, total, max_bad))


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


def check_text(frame: pd.DataFrame, columns: list[str], clean: Cleaner) -> pd.DataFrame:
    """Cells that were not UTF-8, under the bad_text policy (fix keeps them, with U+FFFD for the bad bytes)."""
    frame, bad, where = decode_text(frame, columns)
    hint = "Convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8) or, for CSV, set +data.csv.encoding=latin-1."
    return clean.apply(frame, bad, "bad_text", f"text that is not UTF-8 in {where} (bad bytes shown as U+FFFD)", hint)


def check_ids(frame: pd.DataFrame, id_cols: list[str], max_len: int, clean: Cleaner) -> pd.DataFrame:
    """Ids as stripped strings; empty or NaN ones and over-long ones under their policies."""
    ids = {c: ids_as_str(frame[c]) for c in id_cols}
    missing = pd.concat([v.isna() | v.eq("") for v in ids.values()], axis=1).any(axis=1)
    frame = clean.apply(frame.assign(**ids), missing, "missing_id", f"an empty or NaN id ({', '.join(id_cols)})")
    long, where = long_ids({c: frame[c] for c in id_cols}, max_len)
    what = f"an id longer than data.max_id_length={max_len} characters in {where}"
    return clean.apply(frame, long, "long_id", what, "Is a column misread (a quote left open, the wrong separator)?")


def header_rows(frame: pd.DataFrame, candidates: pd.Series, names: set[str]) -> pd.Series:
    """Rows (among `candidates`) that are a header line read as data: at least half their cells, and two or more,
    are column names. A headerless file with a header mid-file, or a header in another column order, which the
    reader's exact repeated-header check does not catch."""
    names = {n.strip().lower() for n in names}
    rows = frame.loc[candidates]
    hits = pd.concat([rows[c].astype("string").str.strip().str.lower().isin(names) for c in rows.columns], axis=1).sum(axis=1)
    found = (hits >= max(2, (len(rows.columns) + 1) // 2))
    return found.reindex(frame.index, fill_value=False).astype(bool)


def _event_codes(frame: pd.DataFrame, cfg, clean: Cleaner) -> pd.DataFrame:
    event_map = cfg.event_map
    labels = frame[EVENT_TYPE].astype("string").str.strip()
    unmapped = ~labels.isin([str(k) for k in event_map]) & ~labels.isin([e.label for e in EventType])
    if unmapped.any():  # a header line is no event to map: it goes by the repeated_header policy
        names = {*map(str, frame.columns), *map(str, cfg.columns), *map(str, (cfg.csv or {}).get("names") or ())}
        header = header_rows(frame, unmapped, names)
        what = "a header line read as data (its cells are column names), mid-file"
        frame = clean.apply(frame, header, "repeated_header", what, "Files concatenated with their headers?")
        if header.any():
            frame = numbers_again(frame, [TIMESTAMP, PRICE])  # ids are text already (check_ids)
        labels = labels.loc[frame.index]
    if event_map:
        labels = labels.replace({str(k): str(v) for k, v in event_map.items()})
    mapped_drop = labels == "drop"
    if mapped_drop.any():
        kinds = frame.loc[mapped_drop, EVENT_TYPE].astype("string").value_counts().to_dict()
        clean.report.notes.append(f"dropped by data.event_map: {kinds}")
        clean.report.dropped["mapped_to_drop"] = clean.report.dropped.get("mapped_to_drop", 0) + int(mapped_drop.sum())
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


def sessionize(frame: pd.DataFrame, gap_minutes: float) -> pd.Series:
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
    clean = Cleaner(source, resolve_policies(cfg.policies), cfg.max_bad_fraction, len(frame), report)
    frame, ts = clean_rows(frame, source, cfg, clean)
    odd, what, hint = implausible_timestamps(ts, cfg)
    frame = clean.apply(frame, odd, "implausible_timestamp", what, hint)
    frame = frame.assign(ts=ts.loc[frame.index])
    if PRICE in frame.columns:
        frame = _prices(frame, clean)
    out = frame[canonical_columns(frame.columns)]
    key = duplicate_key(out.columns)
    out = clean.apply(out, out.duplicated(subset=key, keep="first"), "duplicate", "an exact duplicate of an earlier event")
    out = out.assign(_row=np.arange(len(out))).sort_values([USER_ID, "ts", "_row"], kind="stable").drop(columns="_row")
    if SESSION_ID not in out.columns:
        out.insert(1, SESSION_ID, sessionize(out, cfg.session_gap_minutes))
        report.notes.append(sessions_note(cfg))
    out = _min_user_events(out, cfg.min_user_events, report)
    if out.empty:
        raise DataError(f"{source}: no events left after cleaning ({report.metrics()})")
    return out.reset_index(drop=True), report


def clean_rows(frame: pd.DataFrame, source: str, cfg, clean: Cleaner) -> tuple[pd.DataFrame, pd.Series]:
    """The checks that look at one row at a time, up to parsed timestamps: the frame and its unix seconds.

    Everything after (plausibility against the bulk of the data, duplicates, order, sessions) needs the whole
    table; out-of-core preparation (neurec.data.outofcore) runs this part chunk by chunk and the rest in a database.
    """
    _require_columns(frame, source)
    if USER_ID not in frame.columns:  # anonymous sessions (YOOCHOOSE, OTTO): each session is its own customer
        frame = frame.assign(**{USER_ID: frame[SESSION_ID]})
        if NO_USER_NOTE not in clean.report.notes:
            clean.report.notes.append(NO_USER_NOTE)
    frame = check_text(frame, [c for c in (*EVENT_COLUMNS, *CATALOG_OPTIONAL) if c in frame.columns], clean)
    frame = check_ids(frame, [c for c in (USER_ID, SESSION_ID, ITEM_ID) if c in frame.columns], cfg.max_id_length, clean)
    frame = _event_codes(frame, cfg, clean)
    frame = _sales_only(frame, cfg, clean)
    ts = parse_timestamps(frame[TIMESTAMP], cfg.timestamp_unit)
    hint = "Use ISO-8601 (2026-03-01T10:00:00Z) or unix time with data.timestamp_unit=s|ms."
    frame = clean.apply(frame, ts.isna(), "bad_timestamp", f"an unparsable {TIMESTAMP}", hint)
    return frame, ts.loc[frame.index]


NO_USER_NOTE = "no user_id: each session is treated as its own customer"


def canonical_columns(columns) -> list[str]:
    """The columns canonical events keep, in order (price and catalogue columns when the source has them)."""
    keep = dict.fromkeys([USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, "ts", PRICE, *CATALOG_OPTIONAL])  # ordered, unique
    return [c for c in keep if c in columns]


def duplicate_key(columns) -> list[str]:
    """What makes two events the same event (double logging): everything but the price and catalogue columns."""
    return [c for c in (USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, "ts") if c in columns]


def sessions_note(cfg) -> str:
    return f"no session_id: sessions cut at {cfg.session_gap_minutes:g} minutes of inactivity"


def _prices(frame: pd.DataFrame, clean: Cleaner) -> pd.DataFrame:
    price = pd.to_numeric(frame[PRICE], errors="coerce").astype("float64")
    good = np.isfinite(price) & (price > 0)
    bad = frame[PRICE].notna() & ~good  # a given price that is zero, negative, infinite or not a number
    frame = clean.apply(frame, bad, "bad_price", f"a zero, negative, infinite or unparsable {PRICE}")
    empty = int(frame[PRICE].isna().sum())
    if empty:  # not a problem (a price may be unlogged), but what the price rules and features will miss
        clean.report.notes.append(f"event prices unknown (empty or NaN) in {empty:,} of {len(frame):,} events")
    return frame.assign(**{PRICE: price.loc[frame.index].where(good.loc[frame.index])})


def _sales_only(frame: pd.DataFrame, cfg, clean: Cleaner) -> pd.DataFrame:
    """Order lines that sell nothing, and items the config excludes (postage, fees, vouchers).

    Invoice exports list returns and cancellations as lines with a negative quantity: they are no purchase
    decision, and counted as one they would teach the model that a return is a repeat buy. Excluded items are
    lines that are no product (a shop's postage line sits in most baskets and would top every ranking)."""
    if QUANTITY in frame.columns:
        quantity = pd.to_numeric(frame[QUANTITY], errors="coerce")
        bad = ~(quantity > 0)
        frame = clean.apply(frame, bad, "not_a_sale", f"a {QUANTITY} that is zero, negative or not a number "
                            "(a return, a cancellation or an adjustment)")
        frame = frame.drop(columns=QUANTITY)
    excluded = [str(i) for i in (cfg.exclude_items or ())]
    if excluded:
        hit = frame[ITEM_ID].isin(excluded)
        if hit.any():
            counts = frame.loc[hit, ITEM_ID].value_counts().head(5).to_dict()
            clean.report.notes.append(f"dropped by data.exclude_items: {int(hit.sum()):,} rows, e.g. {counts}")
            clean.report.dropped["excluded_item"] = clean.report.dropped.get("excluded_item", 0) + int(hit.sum())
            frame = frame.loc[~hit]
    return frame


def _min_user_events(events: pd.DataFrame, minimum: int, report: CleaningReport) -> pd.DataFrame:
    if minimum <= 1:
        return events
    counts = events.groupby(USER_ID, sort=False)[USER_ID].transform("size")
    few = counts < minimum
    if few.any():
        report.dropped["user_below_min_events"] = int(few.sum())
    return events.loc[~few]
