"""Evaluate the model and the baselines on one period with the same decisions and the same candidates (all items)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel
from neurec.schema import ITEM_ID, N_RESERVED_IDS, USER_ID
from neurec.train.calibration import (
    FIT_TOP_K,
    Calibration,
    expected_calibration_error,
    fit_calibration_map,
    reliability,
    sample_pairs,
    top_k_pairs,
)
from neurec.train.metrics import log_loss, ranking_metrics, target_ranks
from neurec.vocab import ItemVocab

ScoreFn = Callable[[int, dict[str, np.ndarray]], np.ndarray]  # (first row, batch of histories) -> (B, n_items)
N_CAL_NEGATIVES = 200  # sampled "not bought" items per decision for fitting and scoring probabilities


def model_score_fn(model: PurchaseModel, device: str = "cpu") -> ScoreFn:
    def score(offset: int, batch: dict[str, np.ndarray]) -> np.ndarray:
        tensors = [torch.as_tensor(batch[k], dtype=torch.long, device=device) for k in ("items", "types", "gaps")]
        with torch.inference_mode():
            return model.score_all(*tensors).double().cpu().numpy()

    return score


def scored_batches(score: ScoreFn, ex: ExampleSet, batch_size: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for offset, batch in ex.batches(batch_size):
        yield score(offset, batch), batch["target"]


def rank_all(score: ScoreFn, ex: ExampleSet) -> tuple[np.ndarray, np.ndarray]:
    """Each decision's rank of the bought item, and its top 10 items (for coverage)."""
    ranks, tops = [], []
    for scores, target in scored_batches(score, ex):
        ranks.append(target_ranks(scores, target))
        tops.append(np.argpartition(-scores[:, N_RESERVED_IDS:], 9, axis=1)[:, :10] + N_RESERVED_IDS if scores.shape[1] > N_RESERVED_IDS + 10 else np.zeros((len(target), 0), dtype=np.int64))
    return np.concatenate(ranks), np.concatenate(tops)


def evaluate_scores(score: ScoreFn, ex: ExampleSet, n_items: int) -> tuple[dict[str, float], np.ndarray]:
    """Ranking metrics against all items and catalogue coverage@10; also the per-decision ranks."""
    ranks, tops = rank_all(score, ex)
    out = ranking_metrics(ranks, n_items - N_RESERVED_IDS)
    out["coverage_at_10"] = float(len(np.unique(tops)) / max(n_items - N_RESERVED_IDS, 1))
    return out, ranks


def fit_calibration(model: PurchaseModel, valid: ExampleSet, device: str = "cpu") -> Calibration:
    """The calibration map from each validation decision's top items (see neurec.train.calibration)."""
    parts = [top_k_pairs(scores, target, FIT_TOP_K) for scores, target in scored_batches(model_score_fn(model, device), valid)]
    x, y = (np.concatenate(p) for p in zip(*parts))
    return fit_calibration_map(x, y)


def probability_metrics(model: PurchaseModel, ex: ExampleSet, cal: Calibration, device: str = "cpu", seed: int = 1) -> tuple[dict[str, float], dict]:
    """Log-loss over all items (weighted sample) and ECE on each decision's top 10, with calibrated probabilities."""
    rng = np.random.default_rng(seed)
    ll_parts, top_p, top_y = [], [], []
    for scores, target in scored_batches(model_score_fn(model, device), ex):
        ll_parts.append(sample_pairs(scores, target, N_CAL_NEGATIVES, rng))
        x, bought = top_k_pairs(scores, target, 10)
        top_p.append(cal.apply(x))
        top_y.append(bought)
    x, y, w = (np.concatenate(p) for p in zip(*ll_parts))
    ll = log_loss(cal.apply(x), y, w)
    prob, label = np.concatenate(top_p), np.concatenate(top_y)
    metrics = {"logloss": ll, "ece": expected_calibration_error(prob, label)}
    if prob.size:
        metrics.update(mean_p_top10=float(prob.mean()), hit_rate_top10=float(label.mean()))
    return metrics, reliability(prob, label)


def evaluate_model(model: PurchaseModel, ex: ExampleSet, device: str = "cpu") -> dict[str, float]:
    """Ranking metrics plus the uncalibrated log-loss on the bought item and sampled others (for per-epoch logs)."""
    was_training = model.training
    model.eval()
    metrics, _ = evaluate_scores(model_score_fn(model, device), ex, model.cfg.n_items)
    rng = np.random.default_rng(0)
    parts = [sample_pairs(s, t, 100, rng) for s, t in scored_batches(model_score_fn(model, device), ex)]
    x, y, _ = (np.concatenate(p) for p in zip(*parts))
    metrics["logloss_raw"] = log_loss(1.0 / (1.0 + np.exp(-x)), y)
    model.train(was_training)
    return metrics


def popularity_score_fn(counts: np.ndarray) -> ScoreFn:
    scores = counts.astype(np.float64)
    return lambda offset, batch: np.broadcast_to(scores, (batch["target"].shape[0], scores.shape[0]))


def oracle_score_fn(propensity: pd.DataFrame, ex: ExampleSet, vocab: ItemVocab) -> ScoreFn:
    """The simulator's true purchase probabilities at each decision, over the model's items, as a scorer."""
    keys = pd.DataFrame({USER_ID: ex.targets.user, "ts": ex.targets.purchase_ts, "row": np.arange(len(ex))})
    joined = keys.merge(propensity, on=[USER_ID, "ts"], how="inner")
    col = vocab.encode(joined[ITEM_ID].to_numpy())
    dense = np.zeros((len(ex), len(vocab)), dtype=np.float64)
    ok = col >= N_RESERVED_IDS  # items the model cannot rank are out of the candidate set for everyone
    dense[joined["row"].to_numpy()[ok], col[ok]] = joined["prob"].to_numpy()[ok]
    return lambda offset, batch: dense[offset : offset + batch["target"].shape[0]]
