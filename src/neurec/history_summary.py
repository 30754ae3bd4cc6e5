"""The whole-history summary: what a customer did with each item they ever touched, as of one moment.

The sequence encoder reads the newest `model.max_history` events; most of a regular customer's history is older
than that (a grocery customer's median is about 160 events), and "buy it again" lives there. The summary keeps,
for the `size` items touched most recently over the newest SUMMARY_EVENTS events, the raw counts and ages the
model turns into repeat features in its graph. One function computes it for training (each decision, as of its
time) and for serving (each request, as of its `now`), so both feed the model the same numbers.

numpy only: `neurec.serving` imports this module.
"""

from __future__ import annotations

import numpy as np

from neurec.schema import N_RESERVED_IDS, EventType

# Columns of `feats`, in order. Raw values: the model takes logs and ratios in its graph.
SUMMARY_FIELDS = ("n_view", "n_cart", "n_purchase", "age_s", "purchase_age_s", "decayed_1d", "decayed_30d")
N_SUMMARY_FIELDS = len(SUMMARY_FIELDS)
NEVER = -1.0  # purchase_age_s of an item never bought (and of padding slots)
# A purchase says more about intent than a cart, a cart more than a view: the weights of the decayed counts.
TYPE_WEIGHTS = np.array([0.0, 1.0, 2.0, 4.0])  # indexed by EventType (PAD, VIEW, ADD_TO_CART, PURCHASE)
HALF_LIVES_DAYS = (1.0, 30.0)  # "this visit" and "this month"
# The most events one summary reads: a request carries at most this many (serving.request), so training reads
# no more either and the two agree on long histories.
SUMMARY_EVENTS = 1000
DAY_S = 86_400.0


def empty_summary(size: int) -> tuple[np.ndarray, np.ndarray]:
    feats = np.zeros((size, N_SUMMARY_FIELDS), dtype=np.float32)
    feats[:, SUMMARY_FIELDS.index("purchase_age_s")] = NEVER
    return np.zeros(size, dtype=np.int64), feats


def summarize_history(item_idx: np.ndarray, types: np.ndarray, ts: np.ndarray, now: float,
                      size: int) -> tuple[np.ndarray, np.ndarray]:
    """One history (model ids, EventType values, unix seconds; any order) as of `now` -> (size,) item ids, most
    recently touched first, 0-padded, and their (size, N_SUMMARY_FIELDS) float32 features.

    Reserved ids (padding, out-of-vocabulary) are left out: OOV lumps many rare items into one id, so "touched
    OOV before" says nothing about any candidate. Events after `now` count as at `now` (clock skew in logs).
    """
    item_idx = np.asarray(item_idx, dtype=np.int64)[-SUMMARY_EVENTS:]
    types = np.asarray(types, dtype=np.int64)[-SUMMARY_EVENTS:]
    ts = np.asarray(ts, dtype=np.float64)[-SUMMARY_EVENTS:]
    out_items, out = empty_summary(size)
    keep = item_idx >= N_RESERVED_IDS
    if not keep.any() or size == 0:
        return out_items, out
    item_idx, types, age = item_idx[keep], types[keep], np.maximum(now - ts[keep], 0.0)
    uniq, inv = np.unique(item_idx, return_inverse=True)
    n = len(uniq)
    counts = [np.bincount(inv[types == t], minlength=n) for t in (EventType.VIEW, EventType.ADD_TO_CART, EventType.PURCHASE)]
    last_age = np.full(n, np.inf)
    np.minimum.at(last_age, inv, age)
    bought = types == EventType.PURCHASE
    buy_age = np.full(n, np.inf)
    np.minimum.at(buy_age, inv[bought], age[bought])
    weight = TYPE_WEIGHTS[types]
    decayed = [np.bincount(inv, weight * 0.5 ** (age / (h * DAY_S)), minlength=n) for h in HALF_LIVES_DAYS]
    # Most recent first; ties (one timestamp for a whole invoice) by id, so the order never depends on the input's.
    top = np.lexsort((uniq, last_age))[:size]
    k = len(top)
    out_items[:k] = uniq[top]
    cols = [*counts, last_age, np.where(np.isfinite(buy_age), buy_age, NEVER), *decayed]
    out[:k] = np.stack([c[top] for c in cols], axis=1).astype(np.float32)
    return out_items, out


def summaries_before(item_idx: np.ndarray, types: np.ndarray, ts: np.ndarray, starts: np.ndarray,
                     positions: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The summary of every event before each position (its customer's only), as of that event's time:
    (N, size) item ids and (N, size, N_SUMMARY_FIELDS) features. Training's side of `summarize_history`."""
    items = np.zeros((len(positions), size), dtype=np.int64)
    feats = np.zeros((len(positions), size, N_SUMMARY_FIELDS), dtype=np.float32)
    for row, pos in enumerate(np.asarray(positions, dtype=np.int64)):
        lo = max(int(starts[pos]), int(pos) - SUMMARY_EVENTS)
        items[row], feats[row] = summarize_history(item_idx[lo:pos], types[lo:pos], ts[lo:pos], float(ts[pos]), size)
    return items, feats


def stack_summaries(summaries: list[tuple[np.ndarray, np.ndarray]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-request summaries -> (B, size) and (B, size, F), for one model call."""
    if not summaries:
        items, feats = empty_summary(size)
        return items[None], feats[None]
    return np.stack([s[0] for s in summaries]), np.stack([s[1] for s in summaries])
