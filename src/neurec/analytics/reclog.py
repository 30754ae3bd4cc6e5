"""The recommendation log: shop events plus the recommendations shown, so programme metrics and A/B tests can be
computed from a shop's own logs.

One row per event (CSV, Parquet or JSON-lines):

    column       required   meaning
    user_id      yes        customer
    session_id   yes        visit; an order is the purchases of one session
    item_id      yes        product
    event_type   yes        view | add_to_cart | purchase | impression | click | decline
    timestamp    yes        ISO-8601 (naive = UTC) or unix seconds
    price        no         unit price paid, on purchase rows (revenue metrics are NaN without it); one row = one unit
    margin       no         unit margin (price less unit cost, same currency; negative for a loss leader), on
                            purchase rows: margin per order and per visitor in the A/B kit (absent without it)
    variant      no         the customer's A/B variant; one row of a customer is enough, the others inherit it
    request_id   rec rows   the recommendation request that produced the impression or click
    placement    rec rows   where it was shown: product_page, cart, checkout, email, ...
    rank         rec rows   position in the list, 1 = first
    offer_kind   rec rows   upsell (a better version of what's considered) | cross_sell (a complement)

"rec rows" are impression, click and decline rows: each needs those four columns filled. The training schema's
EventType (view, add_to_cart, purchase) is untouched: this log has its own, larger vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurec.data.errors import DataError, examples
from neurec.data.validate import ids_as_str, parse_timestamps

EVENTS = ("view", "add_to_cart", "purchase", "impression", "click", "decline")
REC_EVENTS = ("impression", "click", "decline")
OFFER_KINDS = ("upsell", "cross_sell")
REQUIRED = ("user_id", "session_id", "item_id", "event_type", "timestamp")
REC_COLUMNS = ("request_id", "placement", "rank", "offer_kind")
NO_VARIANT = "(none)"  # the variant of customers without one: all of them when the log has no variant column


def read_reclog(path: str | Path, timestamp_unit: str = "s") -> pd.DataFrame:
    """Read and validate a recommendation log file; raises DataError naming the first problem."""
    from neurec.data.load import read_table  # pyarrow's readers, with the project's errors for bad files

    return validate_reclog(read_table(path), str(path), timestamp_unit)


def validate_reclog(frame: pd.DataFrame, source: str = "recommendation log", timestamp_unit: str = "s") -> pd.DataFrame:
    """Canonical log: the columns above plus `ts` (float unix seconds) and `visit` (int, one per user+session),
    sorted by time. Every problem stops with its column, count and example rows: metrics from a half-valid log
    would be wrong without anyone noticing."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(frame.columns)}. Required: {list(REQUIRED)}")
    frame = frame.reset_index(drop=True)
    _check_filled(frame, REQUIRED, frame.index == frame.index, source, "every row")
    out = pd.DataFrame({c: ids_as_str(frame[c]).astype(str) for c in ("user_id", "session_id", "item_id")})
    out["event_type"] = _event_types(frame, source)
    out["ts"] = _timestamps(frame, source, timestamp_unit)
    out["price"] = _prices(frame, out["event_type"], source)
    out["margin"] = _margins(frame, out["event_type"], source)
    out["variant"] = _variants(frame, out["user_id"], source)
    out = pd.concat([out, _rec_columns(frame, out["event_type"], source)], axis=1)
    out["visit"] = out.groupby(["user_id", "session_id"], sort=False).ngroup().astype(np.int64)
    order = np.lexsort((np.arange(len(out)), out["ts"].to_numpy()))  # by time, file order among equal times
    return out.iloc[order].reset_index(drop=True)


def _check_filled(frame: pd.DataFrame, columns, rows: np.ndarray, source: str, which: str) -> None:
    for col in columns:
        values = frame[col]
        empty = values.isna() | values.astype("string").str.strip().eq("")
        bad = pd.Series(np.asarray(rows), index=frame.index) & empty.fillna(True)
        if bad.any():
            raise DataError(f"{source}: {int(bad.sum())} row(s) with an empty {col!r} (needed on {which}): {examples(frame, bad)}")


def _event_types(frame: pd.DataFrame, source: str) -> pd.Series:
    labels = frame["event_type"].astype("string").str.strip().str.lower()
    unknown = ~labels.isin(EVENTS)
    if unknown.any():
        counts = labels[unknown].value_counts().head(5).to_dict()
        raise DataError(f"{source}: {int(unknown.sum())} row(s) with an unknown event_type {counts}; expected one of "
                        f"{list(EVENTS)}: {examples(frame, unknown)}")
    return pd.Series(pd.Categorical(labels.astype(str), categories=EVENTS), index=frame.index)


def _timestamps(frame: pd.DataFrame, source: str, unit: str) -> pd.Series:
    ts = parse_timestamps(frame["timestamp"], unit)
    bad = ts.isna()
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) with an unparsable timestamp (use ISO-8601 or unix seconds): "
                        f"{examples(frame, bad)}")
    return ts.astype("float64")


def _prices(frame: pd.DataFrame, events: pd.Series, source: str) -> pd.Series:
    if "price" not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    price = pd.to_numeric(frame["price"], errors="coerce").astype("float64")
    bad = (events == "purchase") & ~(price > 0)  # NaN compares False: a missing price is caught too
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} purchase row(s) without a positive price (revenue and AOV need it on "
                        f"every purchase; drop the price column to skip revenue metrics): {examples(frame, bad)}")
    return price


def _margins(frame: pd.DataFrame, events: pd.Series, source: str) -> pd.Series:
    """Unit margin, optional like price (NaN throughout without the column). With the column, every purchase row
    needs a finite number: a profit figure that silently skipped the rows it could not read would be wrong."""
    if "margin" not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    margin = pd.to_numeric(frame["margin"], errors="coerce").astype("float64")  # text becomes NaN and is caught below
    bad = (events == "purchase") & ~np.isfinite(margin)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} purchase row(s) with a missing, non-numeric or infinite margin "
                        f"(margin per order and per visitor need a number on every purchase, negative allowed; drop the "
                        f"margin column to skip margin metrics): {examples(frame, bad)}")
    return margin


def _variants(frame: pd.DataFrame, users: pd.Series, source: str) -> pd.Series:
    """Each customer's one variant, spread to all their rows. A customer in two variants is an assignment bug."""
    if "variant" not in frame.columns:
        return pd.Series(NO_VARIANT, index=frame.index)
    given = frame["variant"].astype("string").str.strip().replace("", pd.NA)
    pairs = pd.DataFrame({"user_id": users, "variant": given}).dropna().drop_duplicates()
    multi = pairs["user_id"].duplicated(keep=False)
    if multi.any():
        shown = pairs[multi].groupby("user_id")["variant"].agg(lambda v: sorted(v)).head(3).to_dict()
        raise DataError(f"{source}: {int(pairs.loc[multi, 'user_id'].nunique())} customer(s) appear in more than one "
                        f"variant, e.g. {shown}; assignment must be stable per customer")
    per_user = pairs.set_index("user_id")["variant"]
    return users.map(per_user).fillna(NO_VARIANT).astype(str)


def _rec_columns(frame: pd.DataFrame, events: pd.Series, source: str) -> pd.DataFrame:
    rec = events.isin(REC_EVENTS).to_numpy()
    missing = [c for c in REC_COLUMNS if c not in frame.columns]
    if missing and rec.any():
        raise DataError(f"{source}: {int(rec.sum())} impression/click/decline row(s) but no column(s) {missing}; "
                        f"recommendation rows need {list(REC_COLUMNS)}")
    if not rec.any() and missing:
        return pd.DataFrame({c: pd.Series(pd.NA, index=frame.index, dtype="string") for c in REC_COLUMNS}).assign(rank=np.nan)
    _check_filled(frame, REC_COLUMNS, rec, source, "impression, click and decline rows")
    kind = frame["offer_kind"].astype("string").str.strip().str.lower().str.replace("-", "_")
    bad = pd.Series(rec, index=frame.index) & ~kind.isin(OFFER_KINDS).fillna(False)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) with an offer_kind other than {list(OFFER_KINDS)}: "
                        f"{examples(frame, bad)}")
    rank = pd.to_numeric(frame["rank"], errors="coerce")
    bad = pd.Series(rec, index=frame.index) & ~((rank >= 1) & (rank % 1 == 0)).fillna(False)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) with a rank that is not a whole number >= 1: {examples(frame, bad)}")
    return pd.DataFrame({
        "request_id": frame["request_id"].astype("string").str.strip(),
        "placement": frame["placement"].astype("string").str.strip(),
        "rank": rank.astype("float64"),
        "offer_kind": kind,
    })
