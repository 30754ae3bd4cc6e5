"""Collaborative-filtering baselines: item-to-item cosine kNN and implicit-feedback ALS.

Both learn from every event type of the training period (views included), unlike the purchase-only counts in
`baselines`, and both score any history, so new customers are ranked the same way as known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurec.models.baselines import (
    ITEM_IDX,
    TrainView,
    _check_fitted,
    binary_matrix,
    decision_counts,
    distinct_history,
    tie_break,
)
from neurec.cooccurrence import cosine_top_k
from neurec.schema import EVENT_TYPE, N_RESERVED_IDS, USER_ID

# Float scores have no smallest gap to stay under; this is far below any similarity difference that matters.
FLOAT_TIE_SCALE = 1e-9


def _user_item_pairs(view: TrainView) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(user code, item, event type) of every training event on a known item, and the number of users."""
    ev = view.events
    item = np.asarray(ev[ITEM_IDX], dtype=np.int64)
    users, uniques = pd.factorize(ev[USER_ID], sort=False)
    keep = item >= N_RESERVED_IDS
    return users[keep].astype(np.int64), item[keep], np.asarray(ev[EVENT_TYPE], dtype=np.int64)[keep], len(uniques)


@dataclass
class ItemKNN:
    """score(c) = sum over distinct history items h of decay^(recency of h) * cosine(h, c), over h's k neighbours."""

    k: int = 100
    decay: float = 0.9  # the newest distinct item weighs 1, the one before 0.9, ...: recent intent matters more
    name: ClassVar[str] = "item_knn"

    def __post_init__(self) -> None:
        self._sim: sp.csr_matrix | None = None
        self._tie = np.zeros(0)

    def fit(self, view: TrainView) -> "ItemKNN":
        users, items, _, n_users = _user_item_pairs(view)
        x = binary_matrix(users, items, (n_users, view.n_items))
        self._sim = cosine_top_k(x, self.k)
        self._tie = tie_break(decision_counts(view), FLOAT_TIE_SCALE)
        return self

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        _check_fitted(self._sim, self.name)
        rows, hist, recency = distinct_history(items)
        n = self._sim.shape[0]
        w = sp.csr_matrix((self.decay ** recency.astype(np.float64), (rows, hist)), shape=(len(items), n))
        out = (w @ self._sim).toarray()  # (B, n_items)
        out += self._tie
        return out


@dataclass
class ALSBaseline:
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) via the `implicit` package.

    Confidence c_ui = 1 + alpha * w_ui, w_ui the summed event weights (view 1, cart 3, purchase 5) of a customer
    on an item: a purchase says far more than a glance, and repeated interest adds up. alpha 10 puts one view at
    11x the weight of an unobserved cell, a purchase at 51x. At scoring time the customer vector is solved in
    closed form from the history alone, so customers unseen in training are served too."""

    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 10.0
    event_weights: tuple[float, float, float] = (1.0, 3.0, 5.0)  # view, add_to_cart, purchase
    seed: int = 0
    # Deterministic with any thread count: each customer (item) row is solved on its own from the other side's
    # factors, so thread scheduling cannot change a result (a test fits twice and compares). 0 = all cores.
    num_threads: int = 0
    name: ClassVar[str] = "als"

    def __post_init__(self) -> None:
        self._y: np.ndarray | None = None  # (n_items, F) item factors; reserved / never-seen items are zero
        self._gram = np.zeros((0, 0))  # (F, F) YᵀY + λI, shared by every customer
        self._tie = np.zeros(0)

    def _weights(self, types: np.ndarray) -> np.ndarray:
        table = np.array([0.0, *self.event_weights])  # index = event type; padding weighs nothing
        return table[np.asarray(types, dtype=np.int64)]

    def fit(self, view: TrainView) -> "ALSBaseline":
        import threadpoolctl
        from implicit.cpu.als import AlternatingLeastSquares

        users, items, types, n_users = _user_item_pairs(view)
        conf = sp.csr_matrix((self._weights(types), (users, items)), shape=(n_users, view.n_items))
        conf.sum_duplicates()  # summed event weights per (customer, item)
        conf.data = 1.0 + self.alpha * conf.data  # implicit reads the stored value as the full confidence c_ui
        # A multi-threaded BLAS under implicit's own threads is slow and makes implicit warn; limit it here only.
        with threadpoolctl.threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=1.0, iterations=self.iterations,
                num_threads=self.num_threads, random_state=self.seed,
            )
            model.fit(conf.astype(np.float32), show_progress=False)
        y = np.asarray(model.item_factors, dtype=np.float64)
        seen = np.asarray(conf.getnnz(axis=0)) > 0
        y[~seen] = 0.0  # items without interactions keep random init noise: they must not score
        self._y = y
        self._gram = y.T @ y + self.regularization * np.eye(y.shape[1])
        self._tie = tie_break(decision_counts(view), FLOAT_TIE_SCALE)
        return self

    def user_vectors(self, items: np.ndarray, types: np.ndarray) -> np.ndarray:
        """(B, F) customer vectors: u = (YᵀY + λI + Yᵀ(C−I)Y)⁻¹ YᵀCp with p = 1 on the history's items."""
        _check_fitted(self._y, self.name)
        items = np.asarray(items, dtype=np.int64)
        y, n = self._y, self._y.shape[0]
        known = items >= N_RESERVED_IDS
        extra = self.alpha * self._weights(types) * known  # (B, L): c - 1, accumulated per position
        yh = y[np.where(known, items, 0)]  # (B, L, F); y[0] is zero, so padding adds nothing
        a = self._gram[None] + np.matmul((yh * extra[..., None]).transpose(0, 2, 1), yh)  # (B, F, F)
        # b = Σ_i c_i y_i = Σ_distinct y_i + Σ_positions (c - 1) y: the "1" counts each distinct item once.
        rows, hist, _ = distinct_history(items)
        distinct = sp.csr_matrix((np.ones(len(rows)), (rows, hist)), shape=(len(items), n))
        b = np.asarray(distinct @ y) + np.einsum("bl,blf->bf", extra, yh)  # (B, F)
        return np.linalg.solve(a, b[..., None])[..., 0]

    def score(self, items: np.ndarray, types: np.ndarray, ts_last: np.ndarray | None = None) -> np.ndarray:
        u = self.user_vectors(items, types)
        out = u @ self._y.T  # (B, n_items)
        out += self._tie  # an empty history gives u = 0: popularity then orders everything
        return out
