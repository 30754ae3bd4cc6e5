"""Counting baselines: what a shop gets without a neural model, scored against all items like the model is.

Each baseline fits on the training period only (a `TrainView`) and scores left-padded histories, the same
(B, L) arrays the model sees, so the evaluation ranks every method on identical targets and candidates.
Popularity, "frequently bought together" and "buy again" live here; the collaborative-filtering ones (item kNN,
ALS) live in `baselines_cf`. numpy / pandas / scipy only: no torch, so reports can run them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurec.cooccurrence import basket_pairs, binary_matrix  # binary_matrix: re-exported to the other baselines
from neurec.history_summary import SUMMARY_FIELDS, TYPE_WEIGHTS
from neurec.schema import N_RESERVED_IDS, SESSION_ID, USER_ID, EventType

ITEM_IDX = "item_idx"
TS = "ts"
DAY_S = 86_400.0


@dataclass(frozen=True)
class TrainView:
    """What a baseline may learn from: the training period only."""

    events: pd.DataFrame  # user_id, session_id, item_id, event_type (int8), ts, item_idx; sorted by user, ts
    decisions: pd.DataFrame  # purchase decisions: user_id, session_id, item_idx, ts
    n_items: int  # model id space incl. reserved ids (len(vocab))
    end_ts: float  # end of the training period


class Baseline(Protocol):
    name: str

    def fit(self, view: TrainView) -> "Baseline": ...

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        """items, types: (B, L) left-padded model ids / event types (0 = padding); returns (B, n_items) float64,
        higher = more likely bought next. Columns 0 and 1 (reserved ids) carry no meaning."""
        ...


# ---------------------------------------------------------------------------------------------- shared helpers


def decision_counts(view: TrainView, since: float | None = None) -> np.ndarray:
    """(n_items,) purchase decisions per model id, optionally only those at or after `since`."""
    item = np.asarray(view.decisions[ITEM_IDX], dtype=np.int64)
    keep = item >= N_RESERVED_IDS  # OOV lumps many rare items together: it is no candidate
    if since is not None:
        keep &= np.asarray(view.decisions[TS], dtype=np.float64) >= since
    return np.bincount(item[keep], minlength=view.n_items).astype(np.float64)


def tie_break(popularity: np.ndarray, scale: float) -> np.ndarray:
    """A popularity term strictly below `scale`: added to main scores whose distinct values lie at least `scale`
    apart, it orders only ties (and empty histories) and never overturns the main score."""
    return scale * popularity / (popularity.max(initial=0.0) + 1.0)


def distinct_history(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct known items of each history as flat arrays (row, item, recency), sorted by row then recency;
    recency 0 is the item seen last (histories are left-padded, so the last column is the newest)."""
    items = np.asarray(items, dtype=np.int64)
    rows, pos = np.nonzero(items >= N_RESERVED_IDS)  # padding and unknown items carry no signal
    item, age = items[rows, pos], items.shape[1] - 1 - pos
    order = np.lexsort((age, item, rows))  # each (row, item) group starts with its newest occurrence
    rows, item, age = rows[order], item[order], age[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (item[1:] != item[:-1])
    rows, item, age = rows[first], item[first], age[first]
    order = np.lexsort((age, rows))
    rows, item = rows[order], item[order]
    recency = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    return rows, item, recency


def gather_rows(m: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of the given rows of `m`, flat: (which requested row, column, value).

    For max-aggregation, which a sparse product (always a sum) cannot do."""
    starts = m.indptr[rows]
    lengths = m.indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = starts[owner] + offset
    return owner, m.indices[idx], m.data[idx]


def _check_fitted(value: object, name: str) -> None:
    if value is None:
        raise RuntimeError(f"baseline {name!r}: call fit() before score()")


# ---------------------------------------------------------------------------------------------- the baselines


@dataclass
class PopularityRecent:
    """Best sellers of the last `window_days` of training; all-time sales break ties. Same list for everyone."""

    window_days: float = 14.0
    name: ClassVar[str] = "popularity_recent"

    def __post_init__(self) -> None:
        self._scores: np.ndarray | None = None

    def fit(self, view: TrainView) -> "PopularityRecent":
        recent = decision_counts(view, since=view.end_ts - self.window_days * DAY_S)
        # Recent counts are integers, so a tie term below 1 orders only items the window cannot tell apart.
        self._scores = recent + tie_break(decision_counts(view), 1.0)
        return self

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        _check_fitted(self._scores, self.name)
        return np.repeat(self._scores[None, :], len(items), axis=0)


@dataclass
class FrequentlyBoughtTogether:
    """Shop-style "bought together": lift between items bought in one basket, best anchor in the history wins.

    lift(a -> b) = P(a, b) / (P(a) P(b)) over baskets, for pairs seen together in >= `min_support` baskets.
    Lift is symmetric; a pair with lift < 1 is still kept (the brief keeps pairs by support only)."""

    min_support: int = 2
    basket: str = "session"  # "session": one visit's purchases; "user": everything a customer bought in training
    name: ClassVar[str] = "fbt"

    def __post_init__(self) -> None:
        if self.basket not in ("session", "user"):
            raise ValueError(f"fbt basket={self.basket!r}: use 'session' or 'user'")
        self._lift: sp.csr_matrix | None = None
        self._tie = np.zeros(0)

    def fit(self, view: TrainView) -> "FrequentlyBoughtTogether":
        d = view.decisions
        item = np.asarray(d[ITEM_IDX], dtype=np.int64)
        keep = item >= N_RESERVED_IDS
        keys = [USER_ID, SESSION_ID] if self.basket == "session" else [USER_ID]
        basket = d.loc[keep, keys].groupby(keys, sort=False, observed=True).ngroup().to_numpy()
        pairs = basket_pairs(basket, item[keep], view.n_items)
        pairs = pairs.keep(pairs.both >= self.min_support)
        lift = pairs.lift()
        self._lift = sp.csr_matrix((lift, (pairs.a, pairs.b)), shape=(view.n_items, view.n_items))
        # Every score is 0 or one stored lift value, so a tie term below half their smallest gap is exact.
        levels = np.unique(np.concatenate([[0.0], lift]))
        gap = float(np.diff(levels).min()) if len(levels) > 1 else 1.0
        self._tie = tie_break(decision_counts(view), 0.5 * gap)
        return self

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        _check_fitted(self._lift, self.name)
        rows, hist, _ = distinct_history(items)
        owner, cand, lift = gather_rows(self._lift, hist)
        n = self._lift.shape[1]
        out = np.zeros((len(items), n))
        # Best anchor, not the sum: one strong match is enough. Flat indices take ufunc.at's fast path (~10x).
        np.maximum.at(out.reshape(-1), rows[owner] * n + cand, lift)
        out += self._tie
        return out


@dataclass
class RepeatPurchase:
    """"Buy again": how often the customer bought the item within the history; popularity orders the rest."""

    name: ClassVar[str] = "repeat"

    def __post_init__(self) -> None:
        self._tie: np.ndarray | None = None

    def fit(self, view: TrainView) -> "RepeatPurchase":
        self._tie = tie_break(decision_counts(view), 1.0)  # repeat counts are integers
        return self

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        _check_fitted(self._tie, self.name)
        items = np.asarray(items, dtype=np.int64)
        bought = (np.asarray(types) == EventType.PURCHASE) & (items >= N_RESERVED_IDS)
        rows, pos = np.nonzero(bought)
        n = len(self._tie)
        out = np.zeros((len(items), n))
        np.add.at(out.reshape(-1), rows * n + items[rows, pos], 1.0)  # flat indices: ufunc.at's fast path
        out += self._tie
        return out


@dataclass
class OwnEvents:
    """"What this customer was into": their own events over the whole-history summary, weighted by type (view 1,
    cart 2, purchase 4, as `history_summary.TYPE_WEIGHTS`), popularity after. With `decayed`, each event's weight
    halves every 30 days (the summary's month-long decayed count), so last week's views outrank last year's buys.

    Reads the summary (`sum_items`, `sum_feats`), not the newest-L window: the counting rule that beats window-only
    models on repeat-heavy shops is the one that sees the whole history."""

    name: ClassVar[str] = "own_events"
    decayed: ClassVar[bool] = False
    reads_summary: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._tie: np.ndarray | None = None

    def fit(self, view: TrainView) -> "OwnEvents":
        # Weighted counts are at least 1 apart; decayed weights can be tiny, so their tie term is far smaller.
        self._tie = tie_break(decision_counts(view), 1e-6 if self.decayed else 1.0)
        return self

    def score_summary(self, sum_items: np.ndarray, sum_feats: np.ndarray) -> np.ndarray:
        _check_fitted(self._tie, self.name)
        sum_items = np.asarray(sum_items, dtype=np.int64)
        if self.decayed:
            weight = sum_feats[..., SUMMARY_FIELDS.index("decayed_30d")].astype(np.float64)
        else:
            weight = sum_feats[..., :3].astype(np.float64) @ TYPE_WEIGHTS[1:]  # n_view, n_cart, n_purchase
        rows, slots = np.nonzero(sum_items >= N_RESERVED_IDS)
        n = len(self._tie)
        out = np.zeros((len(sum_items), n))
        np.add.at(out.reshape(-1), rows * n + sum_items[rows, slots], weight[rows, slots])
        return out + self._tie


@dataclass
class OwnRecent(OwnEvents):
    """`OwnEvents` decayed: each event's weight halves every 30 days."""

    name: ClassVar[str] = "own_recent"
    decayed: ClassVar[bool] = True


# ---------------------------------------------------------------------------------------------- the set


def make_baselines(cfg: dict | None = None) -> list[Baseline]:
    """All nine baselines, unfitted. `cfg` maps a baseline's name to keyword overrides, e.g.
    {"popularity_recent": {"window_days": 7}, "als": {"factors": 32}}; unknown names or keys raise ValueError."""
    # Imported here: baselines_cf imports the helpers above, so a module-level import would be circular.
    from neurec.models.baselines_cf import ALSBaseline, ItemKNN
    from neurec.models.baselines_neighbours import OwnNeighbours
    from neurec.models.baselines_session import SessionKNN

    classes = (PopularityRecent, FrequentlyBoughtTogether, ItemKNN, RepeatPurchase, ALSBaseline, OwnNeighbours, SessionKNN)
    by_name = {c.name: c for c in (*classes, OwnEvents, OwnRecent)}
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(by_name))
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {sorted(by_name)}")
    out = []
    for name, cls in by_name.items():
        params = dict(cfg.get(name) or {})
        allowed = {f.name for f in fields(cls)}
        bad = sorted(set(params) - allowed)
        if bad:
            raise ValueError(f"baseline {name!r}: unknown parameter(s) {bad}; known: {sorted(allowed)}")
        out.append(cls(**params))
    return out
