"""Personal frequency plus neighbours, TIFU-KNN style (Hu et al., SIGIR 2020): the counting rule that next-basket
studies find hard to beat, because next baskets are mostly repeats.

A customer's vector is their own events over the whole history, weighted by type (view 1, cart 2, purchase 4) and
halved every 30 days; the score of an item is alpha x that (normalised) plus (1 - alpha) x the cosine-weighted
mean vector of the `k` most similar training customers, so it also proposes what look-alike customers buy.
Training customers are summarised as of the end of the training period; a decision's customer from its
whole-history summary, the same numbers the model and `own_recent` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurec.cooccurrence import top_k_per_row
from neurec.history_summary import DAY_S, SUMMARY_FIELDS, TYPE_WEIGHTS
from neurec.models.baselines import ITEM_IDX, TrainView, _check_fitted, decision_counts, tie_break
from neurec.models.baselines_cf import FLOAT_TIE_SCALE
from neurec.schema import EVENT_TYPE, N_RESERVED_IDS, USER_ID

HALF_LIFE_DAYS = 30.0  # the summary's decayed_30d: the same rhythm for the customers and their neighbours


def _normalise(m: sp.csr_matrix) -> sp.csr_matrix:
    norm = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ m


@dataclass
class OwnNeighbours:
    k: int = 50
    alpha: float = 0.7  # weight of the customer's own history; the rest goes to the neighbours
    name: ClassVar[str] = "tifu_knn"
    reads_summary: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0 or self.k < 1:
            raise ValueError(f"tifu_knn: alpha must be in [0, 1] and k >= 1, got alpha={self.alpha}, k={self.k}")
        self._users: sp.csr_matrix | None = None
        self._tie = np.zeros(0)

    def fit(self, view: TrainView) -> "OwnNeighbours":
        ev = view.events
        item = np.asarray(ev[ITEM_IDX], dtype=np.int64)
        keep = item >= N_RESERVED_IDS
        users, _ = pd.factorize(ev[USER_ID].to_numpy()[keep], sort=False)
        age = np.maximum(view.end_ts - np.asarray(ev["ts"], dtype=np.float64)[keep], 0.0)
        weight = TYPE_WEIGHTS[np.asarray(ev[EVENT_TYPE], dtype=np.int64)[keep]] * 0.5 ** (age / (HALF_LIFE_DAYS * DAY_S))
        m = sp.csr_matrix((weight, (users, item[keep])), shape=(int(users.max(initial=-1)) + 1, view.n_items))
        m.sum_duplicates()
        self._users = _normalise(m)
        self._tie = tie_break(decision_counts(view), FLOAT_TIE_SCALE)
        return self

    def score_summary(self, sum_items: np.ndarray, sum_feats: np.ndarray) -> np.ndarray:
        _check_fitted(self._users, self.name)
        sum_items = np.asarray(sum_items, dtype=np.int64)
        rows, slots = np.nonzero(sum_items >= N_RESERVED_IDS)
        weight = sum_feats[..., SUMMARY_FIELDS.index("decayed_30d")].astype(np.float64)[rows, slots]
        n = self._users.shape[1]
        own = _normalise(sp.csr_matrix((weight, (rows, sum_items[rows, slots])), shape=(len(sum_items), n)))
        sim = top_k_per_row((own @ self._users.T).tocoo(), self.k).tocsr()  # (B, users), k best per row
        total = np.asarray(sim.sum(axis=1)).ravel()
        neighbours = sp.diags(1.0 / np.where(total > 0, total, 1.0)) @ (sim @ self._users)  # cosine-weighted mean
        out = (self.alpha * own + (1.0 - self.alpha) * neighbours).toarray()
        return out + self._tie
