"""Temporal split and the prediction targets: which events are purchase decisions, and what came before them.

A target is the moment a customer decides to buy an item: the add-to-cart that led to a purchase in the same
session (or the purchase itself when no cart event preceded it). Its history is every earlier event of that
customer. Cutting at the cart event, not at the purchase, keeps "carted X, then bought X" out of the task:
that is not a recommendation, and at serving time the rules drop items already in the cart anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.data.errors import DataError
from neurec.features import bucket_of_gap
from neurec.schema import EVENT_TYPE, GAP_FIRST, GAP_PAD, ITEM_ID, SESSION_ID, USER_ID, EventType


@dataclass(frozen=True)
class Boundaries:
    """Events with ts < valid_start train; valid_start <= ts < test_start validate; the rest test."""

    start: float
    valid_start: float
    test_start: float
    end: float


def time_boundaries(ts: np.ndarray, valid_frac: float, test_frac: float, by: str = "time") -> Boundaries:
    """Cut points in time at fractions of the time range (by="time": each period a stretch of calendar) or of the
    events (by="events": for traffic so uneven that a calendar share holds almost no events). Either way every
    training event comes before every validation event, which comes before every test event."""
    if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
        raise DataError(f"valid_frac ({valid_frac}) and test_frac ({test_frac}) must be in (0, 1) with sum < 1")
    start, end = float(np.min(ts)), float(np.max(ts))
    if end <= start:
        raise DataError("all events share one timestamp: a temporal split needs a stretch of time")
    if by == "events":
        valid_start, test_start = np.quantile(ts, [1.0 - valid_frac - test_frac, 1.0 - test_frac])
        return Boundaries(start, float(valid_start), float(test_start), end)
    if by != "time":
        raise DataError(f"data.split_by={by!r}: use 'time' or 'events'")
    span = end - start
    test_start = end - test_frac * span
    return Boundaries(start, test_start - valid_frac * span, test_start, end)


@dataclass(frozen=True)
class Targets:
    """One row per purchase decision, as positions into the canonical (user, time)-sorted event table."""

    position: np.ndarray  # (N,) row of the decision event
    item: np.ndarray  # (N,) raw item id (str) that was bought
    ts: np.ndarray  # (N,) decision time, unix seconds
    purchase_ts: np.ndarray  # (N,) time of the purchase event (joins the simulator's propensity table)
    user: np.ndarray  # (N,) raw user id

    def select(self, mask: np.ndarray) -> "Targets":
        return Targets(self.position[mask], self.item[mask], self.ts[mask], self.purchase_ts[mask], self.user[mask])

    def __len__(self) -> int:
        return int(self.position.shape[0])


def find_targets(events: pd.DataFrame) -> Targets:
    """Purchases, each moved back to the first add-to-cart of the same item in the same session."""
    keys = [USER_ID, SESSION_ID, ITEM_ID]
    # Positions by numpy, not by index alignment: assigning a Series to an empty frame would adopt its index.
    is_cart = (events[EVENT_TYPE] == EventType.ADD_TO_CART).to_numpy()
    is_buy = (events[EVENT_TYPE] == EventType.PURCHASE).to_numpy()
    carts = events.loc[is_cart, keys].assign(cart_pos=np.flatnonzero(is_cart))
    first_cart = carts.groupby(keys, sort=False, observed=True)["cart_pos"].min().reset_index()
    buys = events.loc[is_buy, keys + ["ts"]].assign(buy_pos=np.flatnonzero(is_buy))
    buys = buys.merge(first_cart, on=keys, how="left")
    use_cart = buys["cart_pos"].notna() & (buys["cart_pos"] < buys["buy_pos"])
    position = np.where(use_cart, buys["cart_pos"].fillna(-1), buys["buy_pos"]).astype(np.int64)
    # Buying one item twice in a session is one decision.
    _, first = np.unique(position, return_index=True)
    first = np.sort(first)
    ts_all = events["ts"].to_numpy()
    return Targets(
        position=position[first],
        item=buys[ITEM_ID].to_numpy()[first],
        ts=ts_all[position[first]],
        purchase_ts=buys["ts"].to_numpy()[first],
        user=buys[USER_ID].to_numpy()[first],
    )


def find_next_targets(events: pd.DataFrame) -> Targets:
    """Every event after a customer's first: the next-item task, for click-only data with no purchases."""
    starts = user_starts(events)
    position = np.flatnonzero(np.arange(len(events)) > starts)
    ts = events["ts"].to_numpy()[position]
    return Targets(position, events[ITEM_ID].to_numpy()[position], ts, ts, events[USER_ID].to_numpy()[position])


def boundaries_from_dates(ts: np.ndarray, valid_start: str, test_start: str) -> Boundaries:
    """Split at given dates (ISO strings, UTC) instead of fractions of the time range."""
    try:
        v, t = (pd.Timestamp(x).tz_localize("UTC") if pd.Timestamp(x).tzinfo is None else pd.Timestamp(x) for x in (valid_start, test_start))
    except ValueError as exc:
        raise DataError(f"data.valid_start / data.test_start: not a date ({exc})") from None
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    v_s, t_s = ((x - epoch) / pd.Timedelta(seconds=1) for x in (v, t))
    start, end = float(np.min(ts)), float(np.max(ts))
    if not start < v_s < t_s <= end:
        lo, hi = (pd.Timestamp(x, unit="s", tz="UTC").isoformat() for x in (start, end))
        raise DataError(f"data.valid_start ({valid_start}) and data.test_start ({test_start}) must fall in order inside the data's range {lo} .. {hi}")
    return Boundaries(start, v_s, t_s, end)


def user_starts(events: pd.DataFrame) -> np.ndarray:
    """For each row, the row where its user's events begin (events are sorted by user)."""
    users = events[USER_ID].to_numpy()
    new_user = np.ones(len(users), dtype=bool)
    new_user[1:] = users[1:] != users[:-1]
    return np.maximum.accumulate(np.where(new_user, np.arange(len(users)), 0))


def histories_before(
    item_idx: np.ndarray, types: np.ndarray, ts: np.ndarray, starts: np.ndarray, positions: np.ndarray, max_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `max_len` events before each position, left-padded: (N, L) items, types and gap buckets.

    Vectorised equivalent of `features.encode_history` + `pad_histories` (a test holds them equal).
    """
    offsets = np.arange(-max_len, 0)
    idx = positions[:, None] + offsets[None, :]  # (N, L)
    valid = idx >= starts[positions][:, None]
    idx = np.where(valid, idx, 0)
    items = np.where(valid, item_idx[idx], 0)
    ev = np.where(valid, types[idx], EventType.PAD).astype(np.int64)
    t = ts[idx]
    gaps = np.full(idx.shape, GAP_PAD, dtype=np.int64)
    gaps[valid] = GAP_FIRST
    both = valid[:, 1:] & valid[:, :-1]
    gaps[:, 1:][both] = bucket_of_gap((t[:, 1:] - t[:, :-1])[both])
    return items.astype(np.int64), ev, gaps
