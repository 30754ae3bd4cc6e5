"""Values that parse but are not believable: text that was not UTF-8, ids of absurd length, timestamps outside a
plausible range. Each is a named problem with a policy (neurec.data.validate.DEFAULT_POLICIES); these functions
only find the rows and say what is wrong with them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from neurec.data.errors import DataError

REPLACEMENT = "\ufffd"  # what a decoder puts where bytes were not UTF-8
_DAY = 86400.0
_MS_LOOKING = 1e11  # unix seconds beyond this are past the year 5000: the numbers are milliseconds


def decode_text(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Text columns as str, and the rows with a cell that was not UTF-8, with the columns they are in.

    pyarrow hands a CSV column with undecodable bytes over as `bytes`; its JSON reader and the C engine put U+FFFD
    in their place. Either way the cell keeps U+FFFD for the bytes, and the row is flagged, never passed on as-is.
    """
    bad = pd.Series(False, index=frame.index)
    where: list[str] = []
    decoded = {}
    for c in columns:
        col = frame[c]
        if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("bytes", "mixed"):
            col = col.map(lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v)
            decoded[c] = col
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            continue
        hit = col.astype("string").str.contains(REPLACEMENT, regex=False).fillna(False).astype(bool)
        if hit.any():
            bad |= hit
            where.append(c)
    return (frame.assign(**decoded) if decoded else frame), bad, where


def long_ids(ids: dict[str, pd.Series], max_len: int) -> tuple[pd.Series, list[str]]:
    """Rows with an id longer than `max_len` characters (a field that swallowed a line, a pasted blob)."""
    if max_len <= 0:
        raise DataError(f"data.max_id_length={max_len}: must be a positive number of characters")
    hits = {c: v.str.len().gt(max_len).fillna(False).astype(bool) for c, v in ids.items()}
    bad = pd.concat(hits.values(), axis=1).any(axis=1) if hits else pd.Series(dtype=bool)
    return bad, [c for c, h in hits.items() if h.any()]


def _seconds(value: str | None, key: str) -> float | None:
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        raise DataError(f"data.{key}={value!r}: not a date; use ISO-8601, e.g. 2000-01-01") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return float((stamp - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1))


def stamp(seconds: float) -> str:
    """A unix time for a message or the summary; never raises, whatever the number."""
    try:
        return pd.Timestamp(float(seconds), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return f"{seconds:.6g} s"


def timestamp_bounds(cfg) -> tuple[float, float]:
    """data.min_timestamp .. data.max_timestamp (default: a day after now) in unix seconds."""
    lo = _seconds(cfg.min_timestamp, "min_timestamp")
    hi = _seconds(cfg.max_timestamp, "max_timestamp")
    return (-np.inf if lo is None else lo), (time.time() + _DAY if hi is None else hi)


def bounds_text(lo: float, hi: float) -> str:
    return f"outside {stamp(lo) if np.isfinite(lo) else '-'} .. {stamp(hi)} (data.min_timestamp, data.max_timestamp)"


def bulk_limits(q1: float, q99: float, factor: float) -> tuple[float, float]:
    """How far from the bulk of the data (its 1st to 99th percentile) a timestamp may lie."""
    span = max(q99 - q1, _DAY)
    return q1 - factor * span, q99 + factor * span


def bulk_text(q1: float, q99: float, factor: float) -> str:
    return (f", or more than {factor:g} x the span of the bulk of the data ({stamp(q1)} .. {stamp(q99)}) away "
            "from it (data.timestamp_outlier_factor)")


def unit_hint(median_bad: float, unit: str) -> str:
    """Implausible times that look like the other unit: say so."""
    if unit == "s" and median_bad > _MS_LOOKING:
        return "The numbers look like milliseconds: set data.timestamp_unit=ms."
    if unit == "ms" and 0 < median_bad < 1e8:  # before 1973: seconds read as ms
        return "The numbers look like seconds: set data.timestamp_unit=s."
    return ""


def implausible_timestamps(ts: pd.Series, cfg) -> tuple[pd.Series, str, str]:
    """Rows whose time is before data.min_timestamp, after data.max_timestamp (default: a day after now), or so far
    from the bulk of the data that they would stretch the time split; with what was checked and a hint."""
    lo, hi = timestamp_bounds(cfg)
    bad = ts.notna() & ((ts < lo) | (ts > hi))
    what = bounds_text(lo, hi)
    factor = cfg.timestamp_outlier_factor
    inside = ts[ts.notna() & ~bad]
    if factor and len(inside) >= 2:
        q1, q99 = np.quantile(inside.to_numpy(), [0.01, 0.99])
        low, high = bulk_limits(q1, q99, factor)
        far = ts.notna() & ~bad & ((ts < low) | (ts > high))
        if far.any():
            bad |= far
            what += bulk_text(q1, q99, factor)
    hint = unit_hint(ts[bad].median(), cfg.timestamp_unit) if bad.any() else ""
    return bad, f"an implausible timestamp ({what})", hint
