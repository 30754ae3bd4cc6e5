"""Training objectives. They wrap the model; the exported graph never contains a loss or a sampler."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neurec.schema import N_RESERVED_IDS


def sample_negatives(target: torch.Tensor, n_items: int, n_negatives: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) -> (B, n_negatives) uniform over real items; a draw that hits the target is redrawn once, then shifted."""
    neg = torch.randint(N_RESERVED_IDS, n_items, (target.shape[0], n_negatives), generator=generator)
    clash = neg == target[:, None]
    if clash.any():
        neg[clash] = torch.randint(N_RESERVED_IDS, n_items, (int(clash.sum()),), generator=generator)
        clash = neg == target[:, None]
        neg[clash] = N_RESERVED_IDS + (neg[clash] - N_RESERVED_IDS + 1) % (n_items - N_RESERVED_IDS)
    return neg


def catalogue_loss(logits: torch.Tensor, target: torch.Tensor, negatives_end: int) -> torch.Tensor:
    """Cross-entropy of the bought item against every trained item: logits (B, n_items) from score_all.

    Against the whole catalogue the ranking signal has no sampling noise and every popular item competes, which
    beats BCE with a few sampled negatives for sequence recommenders by a wide margin in published comparisons.
    Reserved ids and catalogue-only items (ids >= negatives_end, never seen in training) are no competitors.
    """
    logits = logits[:, :negatives_end].clone()
    logits[:, :N_RESERVED_IDS] = float("-inf")
    return F.cross_entropy(logits, target)


def candidate_loss(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """logits (B, 1 + n_neg) with the positive in column 0.

    bce: each candidate an independent buy / no-buy, so sigmoid(logit) reads as a probability.
    softmax: the positive against its negatives, a sharper ranking signal.
    """
    if kind == "bce":
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(logits, labels)
    if kind == "softmax":
        return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
    raise ValueError(f"unknown loss {kind!r}; use bce or softmax")
