"""Evaluate the model and the baselines on one period with the same decisions and the same candidates (all items)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel, model_inputs
from neurec.schema import ITEM_ID, N_RESERVED_IDS, USER_ID
from neurec.train import distributed as dist
from neurec.train.calibration import (
    FIT_TOP_K,
    Calibration,
    expected_calibration_error,
    fit_calibration_map,
    reliability,
    sample_pairs,
    top_k_pairs,
)
from neurec.train.metrics import log_loss, ranking_metrics, standard_errors, target_ranks
from neurec.train.repeat_explore import RepeatExplore
from neurec.vocab import ItemVocab

ScoreFn = Callable[[int, dict[str, np.ndarray]], np.ndarray]  # (first row, batch of histories) -> (B, n_items)
N_CAL_NEGATIVES = 200  # sampled "not bought" items per decision for fitting and scoring probabilities


def model_score_fn(model: PurchaseModel, device: str = "cpu") -> ScoreFn:
    def score(offset: int, batch: dict[str, np.ndarray]) -> np.ndarray:
        tensors = model_inputs(batch, device)
        with torch.inference_mode():
            return model.score_all(*tensors).double().cpu().numpy()

    return score


def scored_batches(score: ScoreFn, ex: ExampleSet, batch_size: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for scores, batch in scored_batches_with_inputs(score, ex, batch_size):
        yield scores, batch["target"]


def scored_batches_with_inputs(score: ScoreFn, ex: ExampleSet, batch_size: int = 1024) -> Iterator[tuple[np.ndarray, dict]]:
    for offset, batch in ex.batches(batch_size):
        yield score(offset, batch), batch


def top_items(scores: np.ndarray, k: int = 10) -> np.ndarray:
    """(B, k) model ids of each row's k best real items, unordered."""
    real = scores[:, N_RESERVED_IDS:]
    k = min(k, real.shape[1])
    return np.argpartition(-real, k - 1, axis=1)[:, :k] + N_RESERVED_IDS


def evaluate_scores(
    score: ScoreFn, ex: ExampleSet, n_items: int, on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Ranking metrics against all items and catalogue coverage@10, in one pass over the decisions; also the
    per-decision ranks. `on_batch(scores, target)` sees every batch, so other metrics need no second pass.

    Under torchrun each rank scores every W-th batch and the per-decision results are gathered, so every rank
    computes the same metrics over all decisions (early stopping must agree); `on_batch` sees this rank's part.
    """
    world = dist.current()
    parts = {}
    repeat = RepeatExplore()
    for offset, batch in ex.batches(1024, world.rank, world.world):
        scores, target = score(offset, batch), batch["target"]
        ranks = target_ranks(scores, target)
        parts[offset] = (ranks, top_items(scores, 10))
        repeat(batch, parts[offset][1], ranks <= 10)
        if on_batch is not None:
            on_batch(scores, target)
    if world.active:
        gathered = dist.gather((parts, vars(repeat)))
        parts = {o: p for rank_parts, _ in gathered for o, p in rank_parts.items()}
        for name in vars(repeat):
            setattr(repeat, name, sum(counts[name] for _, counts in gathered))
    order = sorted(parts)  # file order, whichever rank scored a batch
    all_ranks = np.concatenate([parts[o][0] for o in order])
    tops = np.concatenate([parts[o][1] for o in order])
    out = {**ranking_metrics(all_ranks, n_items - N_RESERVED_IDS), **standard_errors(all_ranks), **repeat.result()}
    out["coverage_at_10"] = float(len(np.unique(tops)) / max(n_items - N_RESERVED_IDS, 1))
    return out, all_ranks


def fit_calibration(model: PurchaseModel, valid: ExampleSet, device: str = "cpu") -> Calibration:
    """The calibration map from each validation decision's top items (see neurec.train.calibration)."""
    parts = [top_k_pairs(scores, target, FIT_TOP_K) for scores, target in scored_batches(model_score_fn(model, device), valid)]
    x, y = (np.concatenate(p) for p in zip(*parts))
    return fit_calibration_map(x, y)


class ExpectedBCE:
    """The training objective on another period: BCE of the bought item against `n_negatives` uniform negatives,
    in expectation over the draw, so it is computed exactly from the scores against every item:

        (softplus(-s_target) + n x mean over the other real items of softplus(s_j)) / (1 + n)

    per decision, averaged. The same quantity the training loss estimates with its sampled negatives, so the
    two curves share one scale (`valid_loss` beside `train_loss`)."""

    def __init__(self, n_negatives: int):
        self.n = n_negatives
        self.parts: list[np.ndarray] = []

    def __call__(self, scores: np.ndarray, target: np.ndarray) -> None:
        for lo in range(0, len(target), 256):  # softplus of a (rows, items) block: bounded memory
            s, t = scores[lo : lo + 256, N_RESERVED_IDS:], target[lo : lo + 256] - N_RESERVED_IDS
            rows = np.arange(len(t))
            pos = s[rows, t]
            neg = (np.logaddexp(0.0, s).sum(axis=1) - np.logaddexp(0.0, pos)) / max(s.shape[1] - 1, 1)
            self.parts.append((np.logaddexp(0.0, -pos) + self.n * neg) / (1 + self.n))

    def result(self) -> float:
        parts = sum(dist.gather(self.parts), [])
        return float(np.concatenate(parts).mean()) if parts else float("nan")


class ProbabilityMetrics:
    """Collects, batch by batch, log-loss over all items (weighted sample) and ECE on each decision's top 10."""

    def __init__(self, cal: Calibration, seed: int = 1):
        self.cal, self.rng = cal, np.random.default_rng(seed)
        self.pairs: list[tuple[np.ndarray, ...]] = []
        self.top_p: list[np.ndarray] = []
        self.top_y: list[np.ndarray] = []

    def __call__(self, scores: np.ndarray, target: np.ndarray) -> None:
        self.pairs.append(sample_pairs(scores, target, N_CAL_NEGATIVES, self.rng))
        x, bought = top_k_pairs(scores, target, 10)
        self.top_p.append(self.cal.apply(x))
        self.top_y.append(bought)

    def result(self) -> tuple[dict[str, float], dict]:
        # Under torchrun each rank saw its own batches: gather them all (a no-op in one process).
        pairs, top_p, top_y = (sum(parts, []) for parts in zip(*dist.gather((self.pairs, self.top_p, self.top_y))))
        x, y, w = (np.concatenate(p) for p in zip(*pairs))
        prob, label = np.concatenate(top_p), np.concatenate(top_y)
        metrics = {"logloss": log_loss(self.cal.apply(x), y, w), "ece": expected_calibration_error(prob, label)}
        if prob.size:
            metrics.update(mean_p_top10=float(prob.mean()), hit_rate_top10=float(label.mean()))
        return metrics, reliability(prob, label)


def evaluate_model(model: PurchaseModel, ex: ExampleSet, device: str = "cpu", cal: Calibration | None = None,
                   loss_negatives: int | None = None) -> tuple[dict[str, float], dict, np.ndarray]:
    """Ranking and probability metrics of the model in one pass: (metrics, reliability table, ranks).

    Without `cal` the probabilities are the raw sigmoid (per-epoch logs, before calibration exists). With
    `loss_negatives`, also `loss`: the BCE training objective with that many negatives, in expectation.
    """
    was_training = model.training
    model.eval()
    probs = ProbabilityMetrics(cal or Calibration())
    bce = ExpectedBCE(loss_negatives) if loss_negatives else None

    def collect(scores: np.ndarray, target: np.ndarray) -> None:
        probs(scores, target)
        if bce is not None:
            bce(scores, target)

    metrics, ranks = evaluate_scores(model_score_fn(model, device), ex, model.cfg.n_items, on_batch=collect)
    prob_metrics, table = probs.result()
    if bce is not None:
        metrics["loss"] = bce.result()
    model.train(was_training)
    return {**metrics, **prob_metrics}, table, ranks


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
