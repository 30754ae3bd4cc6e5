"""Training objectives. They wrap the model; the exported graph never contains a loss or a sampler."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurec.schema import MODEL_INPUTS, N_RESERVED_IDS


def sample_negatives(target: torch.Tensor, n_items: int, n_negatives: int, generator: torch.Generator,
                     global_rows: int | None = None, row_offset: int = 0) -> torch.Tensor:
    """(B,) -> (B, n_negatives) uniform over real items, drawn where the generator lives (the GPU when training
    there: no host round trip per step).

    Under DDP every rank draws the whole global batch's (global_rows, n) and keeps its own rows, so each example
    gets the negatives it would get in a single process. A draw that hits the target is shifted to the next item
    rather than redrawn: a fixed number of draws keeps every rank's generator in step.
    """
    rows = global_rows or target.shape[0]
    neg = torch.randint(N_RESERVED_IDS, n_items, (rows, n_negatives), generator=generator, device=generator.device)
    neg = neg[row_offset : row_offset + target.shape[0]].to(target.device)
    shifted = N_RESERVED_IDS + (neg - N_RESERVED_IDS + 1) % (n_items - N_RESERVED_IDS)
    return torch.where(neg == target[:, None], shifted, neg)


EXTRA_NEGATIVES = ("history", "batch")


def extra_negatives(kinds: tuple[str, ...], target: torch.Tensor, sum_items: torch.Tensor, n_batch: int) -> torch.Tensor:
    """(B, E) further negatives beside the uniform ones, 0 (padding) where a slot has none to give.

    history: the customer's own summary items. Uniform draws almost never hit them, so without these the model
    is never told which of a customer's own items they will not take again, the choice the repeat part decides.
    batch: the other rows' targets (the next `n_batch` rows, cyclically), popular items in proportion to their
    sales; uniform draws under-sample exactly the items that crowd the top of a ranking over the whole catalogue.
    A slot holding the row's own target is blanked: it is not a negative.
    """
    parts = []
    for kind in kinds:
        if kind == "history":
            parts.append(sum_items)
        elif kind == "batch":
            shifts = range(1, min(n_batch, target.shape[0] - 1) + 1)
            parts.append(torch.stack([target.roll(s) for s in shifts], dim=1) if shifts else target[:, None][:, :0])
        else:
            raise ValueError(f"unknown extra negatives {kind!r}; choose from {', '.join(EXTRA_NEGATIVES)}")
    neg = torch.cat(parts, dim=1)
    return torch.where((neg < N_RESERVED_IDS) | (neg == target[:, None]), torch.zeros_like(neg), neg)


def catalogue_loss(logits: torch.Tensor, target: torch.Tensor, negatives_end: int) -> torch.Tensor:
    """Cross-entropy of the bought item against every trained item: logits (B, n_items) from score_all.

    Against the whole catalogue the ranking signal has no sampling noise and every popular item competes, which
    beats BCE with a few sampled negatives for sequence recommenders by a wide margin in published comparisons.
    Reserved ids and catalogue-only items (ids >= negatives_end, never seen in training) are no competitors.
    """
    logits = logits[:, :negatives_end].clone()
    logits[:, :N_RESERVED_IDS] = float("-inf")
    return F.cross_entropy(logits, target)


def candidate_loss(logits: torch.Tensor, kind: str, valid: torch.Tensor | None = None) -> torch.Tensor:
    """logits (B, 1 + n_neg) with the positive in column 0; `valid` (B, 1 + n_neg) bool marks the columns that
    count (None: all), for negatives that some rows lack.

    bce: each candidate an independent buy / no-buy, so sigmoid(logit) reads as a probability.
    softmax: the positive against its negatives, a sharper ranking signal.
    """
    if kind == "bce":
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        if valid is None:
            return F.binary_cross_entropy_with_logits(logits, labels)
        loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return (loss * valid).sum() / valid.sum()
    if kind == "softmax":
        if valid is not None:
            logits = logits.masked_fill(~valid, float("-inf"))
        return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
    raise ValueError(f"unknown loss {kind!r}; use bce or softmax")


class Objective(nn.Module):
    """The training loss as a module around the model, so DistributedDataParallel and torch.compile wrap one
    forward that covers both objectives (full softmax goes through score_all, which DDP would not see)."""

    def __init__(self, model: nn.Module, kind: str, negatives_end: int, extra: tuple[str, ...] = (), n_batch: int = 0):
        super().__init__()
        self.model, self.kind, self.negatives_end = model, kind, negatives_end
        self.extra, self.n_batch = tuple(extra), n_batch

    def forward(self, inputs: list[torch.Tensor], target: torch.Tensor, negatives: torch.Tensor | None,
                folds: torch.Tensor | None = None) -> torch.Tensor:
        """`folds`: the rows' customer folds, for the model's out-of-fold neighbour tables."""
        if self.kind == "full_softmax":
            return catalogue_loss(self.model.score_all(*inputs, folds=folds), target, self.negatives_end)
        candidates = torch.cat([target[:, None], negatives], dim=1)  # (B, 1 + n_neg), positive first
        valid = None
        if self.extra:
            more = extra_negatives(self.extra, target, inputs[MODEL_INPUTS.index("sum_items")], self.n_batch)
            candidates = torch.cat([candidates, torch.where(more == 0, target[:, None], more)], dim=1)
            valid = torch.cat([torch.ones_like(negatives[:, :1], dtype=torch.bool).expand(-1, 1 + negatives.shape[1]), more != 0], dim=1)
        return candidate_loss(self.model(*inputs, candidates, folds=folds), self.kind, valid)
