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
    (N, size) item ids and (N, size, N_SUMMARY_FIELDS) features. Training's side of `summarize_history`.

    Vectorised over decisions (a Python loop per decision was most of the encoding time), with the same
    arithmetic in the same order: every float sum adds a customer's events oldest first, as `summarize_history`
    does, so the two agree bit for bit (tests/test_history_summary.py holds them to it)."""
    positions = np.asarray(positions, dtype=np.int64)
    _, empty = empty_summary(size)
    items = np.zeros((len(positions), size), dtype=np.int64)
    feats = np.broadcast_to(empty, (len(positions), size, N_SUMMARY_FIELDS)).copy()
    if len(positions) == 0 or size == 0:
        return items, feats
    item_idx, types, ts = np.asarray(item_idx, dtype=np.int64), np.asarray(types, dtype=np.int64), np.asarray(ts, dtype=np.float64)
    lo = np.maximum(np.asarray(starts)[positions], positions - SUMMARY_EVENTS)
    lengths = positions - lo
    ends = np.cumsum(lengths)
    first = 0
    while first < len(positions):  # blocks of decisions whose windows hold at most _PAIRS events together
        base = ends[first - 1] if first else 0
        last = max(first + 1, int(np.searchsorted(ends, base + _PAIRS, side="right")))
        _summarize_block(item_idx, types, ts, positions, lo, lengths, first, last, items, feats)
        first = last
    return items, feats


_PAIRS = 4_000_000  # (decision, earlier event) pairs in one block: about 200 MB of temporaries


def _summarize_block(item_idx, types, ts, positions, lo, lengths, first, last, items, feats) -> None:
    size = items.shape[1]
    rows = np.repeat(np.arange(first, last), lengths[first:last])
    if len(rows) == 0:
        return
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lengths[first:last]) - lengths[first:last], lengths[first:last])
    events = lo[rows] + within  # each decision's window, oldest first
    keep = item_idx[events] >= N_RESERVED_IDS
    rows, events = rows[keep], events[keep]
    if len(rows) == 0:
        return
    it, ty = item_idx[events], types[events]
    age = np.maximum(ts[positions[rows]] - ts[events], 0.0)
    span = int(it.max()) + 1
    keys = rows * span + it
    perm = np.argsort(keys, kind="stable")  # grouped by (decision, item), events oldest first within a group
    sorted_keys = keys[perm]
    head = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])  # where each group starts
    groups = sorted_keys[head]
    n = len(groups)
    inv = np.empty(len(keys), dtype=np.int64)
    inv[perm] = np.cumsum(np.r_[False, sorted_keys[1:] != sorted_keys[:-1]])
    counts = [np.bincount(inv[ty == t], minlength=n) for t in (EventType.VIEW, EventType.ADD_TO_CART, EventType.PURCHASE)]
    last_age = np.minimum.reduceat(age[perm], head)
    bought = ty == EventType.PURCHASE
    buy_age = np.minimum.reduceat(np.where(bought, age, np.inf)[perm], head)
    weight = TYPE_WEIGHTS[ty]
    decayed = [np.bincount(inv, weight * 0.5 ** (age / (h * DAY_S)), minlength=n) for h in HALF_LIVES_DAYS]
    group_row, group_item = groups // span, groups % span
    order = np.lexsort((group_item, last_age, group_row))  # per decision: most recent first, ties by id
    sorted_rows = group_row[order]
    rank = np.arange(n) - np.searchsorted(sorted_rows, sorted_rows, side="left")
    top = order[rank < size]
    r, k = group_row[top], rank[rank < size]
    items[r, k] = group_item[top]
    cols = [*counts, last_age, np.where(np.isfinite(buy_age), buy_age, NEVER), *decayed]
    feats[r, k] = np.stack([c[top] for c in cols], axis=1).astype(np.float32)


def stack_summaries(summaries: list[tuple[np.ndarray, np.ndarray]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-request summaries -> (B, size) and (B, size, F), for one model call."""
    if not summaries:
        items, feats = empty_summary(size)
        return items[None], feats[None]
    return np.stack([s[0] for s in summaries]), np.stack([s[1] for s in summaries])
