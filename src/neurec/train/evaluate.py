"""Evaluate the model and the baselines on one period with the same targets and the same candidates (all items)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel
from neurec.schema import ITEM_ID, N_RESERVED_IDS, USER_ID
from neurec.train.metrics import log_loss, ranking_metrics, sigmoid, target_ranks
from neurec.vocab import ItemVocab

ScoreFn = Callable[[int, int], np.ndarray]  # rows [lo, hi) -> (hi - lo, n_items) scores


def rank_in_batches(score_fn: ScoreFn, target: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    ranks = [target_ranks(score_fn(lo, min(lo + batch_size, len(target))), target[lo : lo + batch_size]) for lo in range(0, len(target), batch_size)]
    return np.concatenate(ranks) if ranks else np.zeros(0)


def evaluate_model(model: PurchaseModel, ex: ExampleSet, device: str = "cpu", n_negatives: int = 100, seed: int = 0) -> dict[str, float]:
    """Ranking metrics against all items, plus log-loss of sigmoid(logit) on the bought item and n random others."""
    was_training = model.training
    model.eval()
    n_items = model.cfg.n_items
    rng = np.random.default_rng(seed)
    ranks, probs, labels = [], [], []
    for _, arrays in ex.batches(1024):
        tensors = [torch.as_tensor(arrays[k], dtype=torch.long, device=device) for k in ("items", "types", "gaps")]
        with torch.inference_mode():
            logits = model.score_all(*tensors).float().cpu().numpy()
        target = arrays["target"].astype(np.int64)
        ranks.append(target_ranks(logits, target))
        known = np.flatnonzero(target >= N_RESERVED_IDS)
        neg = rng.integers(N_RESERVED_IDS, n_items, size=(len(known), n_negatives))
        probs += [sigmoid(logits[known, target[known]]), sigmoid(logits[known[:, None], neg]).ravel()]
        labels += [np.ones(len(known)), (neg == target[known][:, None]).astype(float).ravel()]
    model.train(was_training)
    out = ranking_metrics(np.concatenate(ranks), n_items - N_RESERVED_IDS)
    out["logloss"] = log_loss(np.concatenate(probs), np.concatenate(labels))
    return out


def evaluate_popularity(counts: np.ndarray, ex: ExampleSet) -> dict[str, float]:
    """Rank every customer's candidates by how often each item was bought in the training period."""
    scores = counts.astype(np.float64)
    ranks = rank_in_batches(lambda lo, hi: np.broadcast_to(scores, (hi - lo, scores.shape[0])), ex.target)
    return ranking_metrics(ranks, scores.shape[0] - N_RESERVED_IDS)


def oracle_matrix(propensity: pd.DataFrame, ex: ExampleSet, vocab: ItemVocab) -> np.ndarray:
    """(N, n_items) of the simulator's true purchase probabilities at each decision, over the model's items."""
    keys = pd.DataFrame({USER_ID: ex.targets.user, "ts": ex.targets.purchase_ts, "row": np.arange(len(ex))})
    joined = keys.merge(propensity, on=[USER_ID, "ts"], how="inner")
    col = vocab.encode(joined[ITEM_ID].to_numpy())
    dense = np.zeros((len(ex), len(vocab)), dtype=np.float64)
    ok = col >= N_RESERVED_IDS  # items the model cannot rank are out of the candidate set for everyone
    dense[joined["row"].to_numpy()[ok], col[ok]] = joined["prob"].to_numpy()[ok]
    return dense


def evaluate_oracle(propensity: pd.DataFrame, ex: ExampleSet, vocab: ItemVocab) -> dict[str, float]:
    dense = oracle_matrix(propensity, ex, vocab)
    ranks = rank_in_batches(lambda lo, hi: dense[lo:hi], ex.target)
    return ranking_metrics(ranks, len(vocab) - N_RESERVED_IDS)
