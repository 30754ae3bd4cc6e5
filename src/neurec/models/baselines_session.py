"""Session kNN: the training visits most like the current one, and what they held.

The neighbourhood method that session-based studies (Ludewig et al., 2021) find level with recurrent and attention
models on click data. The current visit is the newest events of the history back to the last pause longer than
about half an hour; its distinct items are weighted linearly by recency (the newest 1, the oldest 1/n: where the
visitor is now matters most). A training visit is one (customer, session) of the training period, as a set of
items. Similarity is cosine between the weighted visit and the visit set; an item's score is the summed similarity
of the `k` nearest training visits that hold it, so items of the current visit score too, as a re-click would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from neurec.cooccurrence import top_k_per_row
from neurec.features import bucket_of_gap
from neurec.models.baselines import ITEM_IDX, TrainView, _check_fitted, binary_matrix, decision_counts, distinct_history, tie_break
from neurec.models.baselines_cf import FLOAT_TIE_SCALE
from neurec.schema import N_RESERVED_IDS, SESSION_ID, USER_ID

VISIT_PAUSE_S = 1800.0
# The first gap bucket wholly above half an hour (gaps of 34 minutes and more): a new visit starts at that event.
NEW_VISIT_BUCKET = int(bucket_of_gap(np.array([VISIT_PAUSE_S]))[0]) + 1


def current_visit(items: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """(B, L) left-padded ids and gap buckets -> the ids with everything before the current visit set to 0."""
    items, gaps = np.asarray(items, dtype=np.int64), np.asarray(gaps, dtype=np.int64)
    pos = np.arange(items.shape[1])
    starts = np.where(gaps >= NEW_VISIT_BUCKET, pos, -1).max(axis=1, initial=-1)  # the last event after a pause
    return np.where(pos[None, :] >= starts[:, None], items, 0)


@dataclass
class SessionKNN:
    k: int = 100
    name: ClassVar[str] = "session_knn"
    reads_visit: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"session_knn: k must be >= 1, got {self.k}")
        self._visits: sp.csr_matrix | None = None
        self._norm = np.zeros(0)
        self._tie = np.zeros(0)

    def fit(self, view: TrainView) -> "SessionKNN":
        ev = view.events
        item = np.asarray(ev[ITEM_IDX], dtype=np.int64)
        keep = item >= N_RESERVED_IDS
        visit = ev.loc[keep, [USER_ID, SESSION_ID]].groupby([USER_ID, SESSION_ID], sort=False, observed=True).ngroup().to_numpy()
        n_visits = int(visit.max()) + 1 if len(visit) else 0
        self._visits = binary_matrix(visit, item[keep], (n_visits, view.n_items))
        self._norm = np.sqrt(np.asarray(self._visits.sum(axis=1)).ravel())  # binary rows: sqrt(items held)
        self._tie = tie_break(decision_counts(view), FLOAT_TIE_SCALE)
        return self

    def score_visit(self, items: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        _check_fitted(self._visits, self.name)
        rows, item, recency = distinct_history(current_visit(items, gaps))
        n_distinct = np.bincount(rows, minlength=len(items))
        weight = (n_distinct[rows] - recency) / n_distinct[rows]  # newest 1, oldest 1/n
        n = self._visits.shape[1]
        q = sp.csr_matrix((weight, (rows, item)), shape=(len(items), n))
        q_norm = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel())
        sim = (q @ self._visits.T).tocoo()  # (B, training visits) weighted overlap
        sim.data = sim.data / (q_norm[sim.row] * self._norm[sim.col])
        near = top_k_per_row(sim, self.k).tocsr()
        return (near @ self._visits).toarray() + self._tie
