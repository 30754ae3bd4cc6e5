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

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        qkv = self.qkv(x).reshape(b, length, 3, self.n_heads, dim // self.n_heads)  # (B, L, 3, H, D/H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, D/H) each
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, length, dim))  # (B, L, D)


class Block(nn.Module):
    """Pre-norm transformer block: stable without warm-up at the small sizes used here."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, n_heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.ff(self.norm2(x))


class HistoryEmbedding(nn.Module):
    """Item + event type + time-gap bucket + position counted back from the newest event.

    Counting positions from the end means the newest event has the same position whatever the padding, so a
    model trained on windows of 50 scores a 3-event history the same way at serving time.
    """

    def __init__(self, item_emb: nn.Embedding, n_event_types: int, n_gap_buckets: int, max_history: int, dropout: float):
        super().__init__()
        dim = item_emb.embedding_dim
        self.item_emb = item_emb
        self.type_emb = nn.Embedding(n_event_types, dim, padding_idx=0)
        self.gap_emb = nn.Embedding(n_gap_buckets, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_history, dim)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, items: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        length = items.shape[1]
        back = (length - 1) - torch.arange(length, device=items.device)  # (L,) 0 = newest
        x = self.item_emb(items) + self.type_emb(types) + self.gap_emb(gaps) + self.pos_emb(back)[None]  # (B, L, D)
        return self.drop(self.norm(x))
