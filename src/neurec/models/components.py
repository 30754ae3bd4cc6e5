"""Building blocks of the sequence model. torch only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def causal_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """(B, L) bool of real events -> (B, 1, L, L) bool, True where query i may attend to key j.

    One merged mask instead of a causal mask plus a key-padding mask: with left padding the separate masks leave
    padded query rows with no key at all, which gives NaN in eval and in ONNX. Letting every position attend to
    itself keeps those rows finite; they are never read.
    """
    length = valid.shape[1]
    idx = torch.arange(length, device=valid.device)
    causal = idx[None, :] <= idx[:, None]  # (L, L): key j at or before query i
    allowed = causal[None, :, :] & valid[:, None, :]  # (B, L, L)
    allowed = allowed | torch.eye(length, dtype=torch.bool, device=valid.device)[None, :, :]
    return allowed[:, None, :, :]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim ({dim}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, L, D) -> (B, L, D), or (B, 1, D) for the newest position alone with `last_only`."""
        b, length, dim = x.shape
        heads = (self.n_heads, dim // self.n_heads)
        if last_only:  # keys and values from every position, the query from the newest only: 1/L of the work
            q = F.linear(x[:, -1:], self.qkv.weight[:dim], self.qkv.bias[:dim]).reshape(b, 1, 1, *heads)
            kv = F.linear(x, self.qkv.weight[dim:], self.qkv.bias[dim:]).reshape(b, length, 2, *heads)
            q = q.permute(2, 0, 3, 1, 4)[0]  # (B, H, 1, D/H)
            k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, D/H) each
            mask = mask[:, :, -1:, :]
        else:
            qkv = self.qkv(x).reshape(b, length, 3, *heads)  # (B, L, 3, H, D/H)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, D/H) each
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, q.shape[2], dim))


class Block(nn.Module):
    """Pre-norm transformer block: stable without warm-up at the small sizes used here."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, n_heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """`last_only`: the newest position's output alone, (B, 1, D). The model reads nothing else from its last
        block, and the newest query is 1/L of the attention and feed-forward work: about a third of a step."""
        y = self.attn(self.norm1(x), mask, last_only)
        x = (x[:, -1:] if last_only else x) + self.drop(y)
        return x + self.ff(self.norm2(x))


class HistoryEmbedding(nn.Module):
    """Item vector + event type + time-gap bucket + position counted back from the newest event.

    Counting positions from the end means the newest event has the same position whatever the padding, so a
    model trained on windows of 50 scores a 3-event history the same way at serving time.
    """

    def __init__(self, dim: int, n_event_types: int, n_gap_buckets: int, max_history: int, dropout: float):
        super().__init__()
        self.type_emb = nn.Embedding(n_event_types, dim, padding_idx=0)
        self.gap_emb = nn.Embedding(n_gap_buckets, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_history, dim)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, item_vecs: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        x = item_vecs + self.type_emb(types) + self.gap_emb(gaps) + self.pos_emb(positions_back(types))[None]  # (B, L, D)
        return self.drop(self.norm(x))


def positions_back(types: torch.Tensor) -> torch.Tensor:
    """(B, L) -> (L,): 0 for the newest (last) position, L - 1 for the oldest."""
    length = types.shape[1]
    return (length - 1) - torch.arange(length, device=types.device)


class HistoryMatch(nn.Module):
    """"The candidate shares a value with something in the history": a learned weight per event type and recency
    for each history event whose value (the item itself, its category, its product line...) equals the
    candidate's. People mostly buy what they just looked at, or something next to it; a single dot product
    struggles to say "any of these several things", this says it directly.

    Scores go through a per-value table (scatter over history positions, then gather per candidate) instead of
    a (B, C, L) comparison, so scoring a whole catalogue stays O(B x values).
    """

    def __init__(self, n_event_types: int, max_history: int, prior: float = 0.0, decay: float = 1.0):
        super().__init__()
        self.by_type = nn.Embedding(n_event_types, 1)
        self.by_recency = nn.Embedding(max_history, 1)
        # Start from "a match makes a purchase more likely" (prior > 0) rather than from indifference: with a
        # few hundred purchases there is too little signal to discover it from zero. The recency part starts so
        # that an event `p` steps back weighs prior * decay**p, the counting rules' decay (additive offsets, so
        # types learned apart later keep one shared recency curve).
        nn.init.constant_(self.by_type.weight, prior)
        with torch.no_grad():
            self.by_recency.weight.copy_(prior * (decay ** torch.arange(max_history, dtype=torch.float32)[:, None] - 1.0))

    def forward(self, hist_values: torch.Tensor, hist_types: torch.Tensor, cand_values: torch.Tensor, n_values: int) -> torch.Tensor:
        """hist_values (B, L), cand_values (B, C) ids with 0 = unknown -> (B, C) scores."""
        return gather_sums(hist_values, self.weights(hist_types), cand_values, n_values)

    def weights(self, hist_types: torch.Tensor) -> torch.Tensor:
        """(B, L) the learned weight of each history event (by type and recency), 0 on padding."""
        w = self.by_type(hist_types).squeeze(-1) + self.by_recency(positions_back(hist_types)).squeeze(-1)[None, :]
        return w * (hist_types != 0)


class NeighbourMatch(HistoryMatch):
    """"The candidate is a close neighbour of something in the history": each history event spreads its learned
    weight (by type and recency, as in `HistoryMatch`) over its item's nearest items, times their cosine
    similarity from the training period's co-occurrence table (`neurec.cooccurrence.item_neighbours`).

    What item-kNN and session-kNN do by counting, and what a sequence encoder trained on a few hundred thousand
    clicks learns only slowly: on click data those rules hit more unseen next items than the encoder alone. The
    model learns how much to trust it per event type and recency instead of a fixed decay.
    """

    def forward(self, hist_types: torch.Tensor, nbr_ids: torch.Tensor, nbr_sim: torch.Tensor, cand_items: torch.Tensor,
                n_items: int) -> torch.Tensor:
        """hist_types (B, L), each history item's neighbours nbr_ids / nbr_sim (B, L, K), cand_items (B, C) -> (B, C)."""
        w = self.weights(hist_types)[..., None] * nbr_sim  # (B, L, K)
        return gather_sums(nbr_ids.flatten(1), w.flatten(1), cand_items, n_items)


def gather_sums(values: torch.Tensor, weights: torch.Tensor, cand_values: torch.Tensor, n_values: int) -> torch.Tensor:
    """Sum the (B, M) weights per value id into a (B, n_values) table and read it at the (B, C) candidates' values;
    0 (unknown, padding) never matches."""
    table = torch.zeros(values.shape[0], n_values, dtype=weights.dtype, device=weights.device)  # (B, V)
    table = table.scatter_add(1, values, weights)
    return table.gather(1, cand_values) * (cand_values != 0)
