"""Metrics by segment: new vs returning customers, cold vs warm items. An average can hide where a model fails."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurec.data.examples import ExampleSet
from neurec.schema import EVENT_TYPE, ITEM_ID, N_RESERVED_IDS, USER_ID, EventType
from neurec.train.metrics import ranking_metrics
from neurec.vocab import ItemVocab

COLD_ITEM_EVENTS = 10  # an item with fewer training-period events than this is "cold"


def segment_masks(events: pd.DataFrame, train_end: float, vocab: ItemVocab, ex: ExampleSet) -> dict[str, np.ndarray]:
    """Boolean masks over the decisions of `ex`.

    customer_new: no purchase before this decision (a first order); item_cold: the bought item had fewer than
    COLD_ITEM_EVENTS events in the training period (never-seen items included).
    """
    bought = (events[EVENT_TYPE] == EventType.PURCHASE).to_numpy().astype(np.int64)
    before = events.assign(_b=bought).groupby(USER_ID, sort=False)["_b"].cumsum().to_numpy() - bought
    new = before[ex.targets.position] == 0
    train_idx = vocab.encode(events.loc[events["ts"] < train_end, ITEM_ID].to_numpy())
    counts = np.bincount(train_idx, minlength=len(vocab))
    cold = (ex.target < N_RESERVED_IDS) | (counts[ex.target] < COLD_ITEM_EVENTS)
    return {"customer_new": new, "customer_returning": ~new, "item_cold": cold, "item_warm": ~cold}


def segment_metrics(ranks: np.ndarray, masks: dict[str, np.ndarray], n_items: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, mask in masks.items():
        out[f"{name}_count"] = float(mask.sum())
        if mask.any():
            m = ranking_metrics(ranks[mask], n_items - N_RESERVED_IDS, ks=(10,))
            out[f"{name}_ndcg_at_10"] = m["ndcg_at_10"]
            out[f"{name}_hr_at_10"] = m["hr_at_10"]
    return out
