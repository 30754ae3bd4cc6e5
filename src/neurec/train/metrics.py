"""Ranking and probability metrics in numpy, against the whole catalogue (no sampled negatives)."""

from __future__ import annotations

import numpy as np

from neurec.schema import N_RESERVED_IDS


def target_ranks(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target among all real items; ties count half, so a constant scorer is not lucky.

    scores: (N, n_items) with reserved ids in the first columns (ignored); target: (N,) model ids. A target the
    model cannot know (reserved id: unseen in training) gets rank inf, a miss for every method alike.
    """
    real = scores[:, N_RESERVED_IDS:]
    known = target >= N_RESERVED_IDS
    t = np.where(known, target - N_RESERVED_IDS, 0)
    s_t = real[np.arange(len(t)), t][:, None]  # (N, 1)
    greater = (real > s_t).sum(axis=1)
    ties = (real == s_t).sum(axis=1) - 1
    ranks = 1.0 + greater + 0.5 * ties
    return np.where(known, ranks, np.inf)


def ranking_metrics(ranks: np.ndarray, n_items: int, ks: tuple[int, ...] = (5, 10, 20)) -> dict[str, float]:
    """HR@K, NDCG@K (one relevant item, so IDCG = 1), MRR@K and the all-items AUC from target ranks."""
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks <= k
        out[f"hr_at_{k}"] = float(hit.mean())
        out[f"ndcg_at_{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean())
        out[f"mrr_at_{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean())
    # AUC of one positive against every other item: the share of items ranked below it. Unknown targets score 0.5.
    finite = np.isfinite(ranks)
    auc = np.where(finite, 1.0 - (np.where(finite, ranks, 1.0) - 1.0) / max(n_items - 1, 1), 0.5)
    out["auc"] = float(auc.mean())
    return out


def standard_errors(ranks: np.ndarray, ks: tuple[int, ...] = (10,)) -> dict[str, float]:
    """One standard error of HR@K, NDCG@K and MRR@K (`<name>_se`), and the number of decisions they average.

    Each metric is a mean over decisions, so its standard error is the per-decision spread over sqrt(n): on 50
    decisions an NDCG@10 of 0.30 is ±0.06, wide enough that many method gaps in a report are noise. Kept apart
    from `ranking_metrics`, whose names are the metrics early stopping may monitor."""
    n = len(ranks)
    out: dict[str, float] = {"decisions": float(n)}
    for k in ks:
        hit = ranks <= k
        per_decision = {"hr": hit.astype(np.float64), "ndcg": np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0),
                        "mrr": np.where(hit, 1.0 / ranks, 0.0)}
        for name, values in per_decision.items():
            out[f"{name}_at_{k}_se"] = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return out


def log_loss(prob: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None, eps: float = 1e-7) -> float:
    """Mean binary log-loss; `weight` lets a sampled negative stand for the many it represents."""
    p = np.clip(np.asarray(prob, dtype=np.float64), eps, 1.0 - eps)
    y = np.asarray(label, dtype=np.float64)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=np.float64)
    if p.size == 0 or w.sum() <= 0:  # no decision on a known item (e.g. a tiny sample): undefined, not a warning
        return float("nan")
    return float(-(w * (y * np.log(p) + (1.0 - y) * np.log(1.0 - p))).sum() / w.sum())
