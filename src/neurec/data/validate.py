"""Check a raw event or catalog table and turn it into neurec's canonical form, or say exactly what is wrong.

Canonical events: user_id, session_id, item_id (str); event_type (int8 EventType); ts (float64 unix seconds);
price (float64, only when the source has it). Sorted by user, time and file order.
"""

from __future__ import annotations

import pandas as pd

from neurec.data.errors import DataError, examples
from neurec.schema import (
    CATALOG_OPTIONAL,
    EVENT_REQUIRED,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    SESSION_ID,
    TIMESTAMP,
    USER_ID,
    EventType,
)

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def ids_as_str(values: pd.Series) -> pd.Series:
    """Ids as strings with one spelling: a float column of whole numbers (CSV ints with gaps) loses its '.0'."""
    if pd.api.types.is_float_dtype(values) and values.dropna().mod(1).eq(0).all():
        values = values.astype("Int64")
    return values.astype("string").astype(str)


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; found {list(frame.columns)}. "
            "Rename them in the file or map them with data.columns (e.g. data.columns.visitorid=user_id)."
        )


def _check_ids(frame: pd.DataFrame, source: str) -> None:
    for col in (USER_ID, SESSION_ID, ITEM_ID):
        bad = frame[col].isna() | frame[col].astype("string").str.strip().eq("")
        if bad.any():
            raise DataError(f"{source}: {int(bad.sum())} row(s) with an empty or NaN {col}: {examples(frame, bad)}")


def parse_event_types(raw: pd.Series, source: str, event_map: dict[str, str] | None = None) -> pd.Series:
    labels = raw.astype("string").str.strip()
    if event_map:
        labels = labels.replace({str(k): str(v) for k, v in event_map.items()})
    codes = {e.label: int(e) for e in EventType if e is not EventType.PAD}
    mapped = labels.map(codes)
    unknown = mapped.isna()
    if unknown.any():
        counts = labels[unknown].value_counts(dropna=False).head(10)
        listing = ", ".join(f"{k!r}: {v}" for k, v in counts.items())
        hint = " ".join(f"data.event_map.{k}=<one of {'|'.join(codes)}>" for k in counts.index[:3])
        raise DataError(
            f"{source}: {int(unknown.sum())} row(s) with an unknown {EVENT_TYPE} ({listing}); "
            f"expected {list(codes)}. Map them, e.g. {hint}"
        )
    return mapped.astype("int8")


def parse_timestamps(raw: pd.Series, source: str, unit: str = "s") -> pd.Series:
    """To float unix seconds. Numbers are read in `unit` (s or ms); strings as ISO-8601, naive ones as UTC."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw if getattr(raw.dt, "tz", None) is not None else raw.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(raw):
        parsed = pd.to_datetime(raw, unit=unit, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        frame = pd.DataFrame({TIMESTAMP: raw})
        raise DataError(
            f"{source}: {int(bad.sum())} row(s) with an unparsable {TIMESTAMP}: {examples(frame, bad)}. "
            "Use ISO-8601 (2026-03-01T10:00:00Z) or unix time (set data.timestamp_unit to s or ms)."
        )
    return (parsed - _EPOCH) / pd.Timedelta(seconds=1)


def validate_events(
    frame: pd.DataFrame, source: str, event_map: dict[str, str] | None = None, timestamp_unit: str = "s"
) -> pd.DataFrame:
    """Raise DataError naming the first problem found; return the canonical event table."""
    _require_columns(frame, EVENT_REQUIRED, source)
    _check_ids(frame, source)
    out = pd.DataFrame(
        {
            USER_ID: ids_as_str(frame[USER_ID]),
            SESSION_ID: ids_as_str(frame[SESSION_ID]),
            ITEM_ID: ids_as_str(frame[ITEM_ID]),
            EVENT_TYPE: parse_event_types(frame[EVENT_TYPE], source, event_map),
            "ts": parse_timestamps(frame[TIMESTAMP], source, timestamp_unit),
        }
    )
    if PRICE in frame.columns:
        price = pd.to_numeric(frame[PRICE], errors="coerce").astype("float64")
        bad = price.notna() & (price <= 0)
        if bad.any():
            raise DataError(f"{source}: {int(bad.sum())} row(s) with a zero or negative {PRICE}: {examples(frame, bad)}")
        out[PRICE] = price
    out["_row"] = range(len(out))
    out = out.sort_values([USER_ID, "ts", "_row"], kind="stable").drop(columns="_row").reset_index(drop=True)
    return out


def validate_catalog(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Keep the catalog columns neurec knows; item ids unique; numeric columns numeric and finite."""
    _require_columns(frame, (ITEM_ID,), source)
    keep = [ITEM_ID] + [c for c in CATALOG_OPTIONAL if c in frame.columns]
    out = frame[keep].copy()
    out[ITEM_ID] = ids_as_str(out[ITEM_ID])
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
