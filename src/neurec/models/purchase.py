"""The purchase-probability model: P(customer buys candidate c next | recent events).

`forward` is exactly what is exported to ONNX: tensors in, logits out, no loss, no sampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from neurec.models.components import Block, HistoryEmbedding, causal_padding_mask
from neurec.schema import N_EVENT_TYPES, N_GAP_BUCKETS, PAD_ID


@dataclass(frozen=True)
class PurchaseModelConfig:
    n_items: int  # embedding table size, reserved ids included (len(ItemVocab))
    max_history: int = 50
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    n_event_types: int = N_EVENT_TYPES
    n_gap_buckets: int = N_GAP_BUCKETS


class PurchaseModel(nn.Module):
    def __init__(self, cfg: PurchaseModelConfig):
        super().__init__()
        self.cfg = cfg
        # One table for history items and candidates: what a customer looked at and what they buy share a space.
        self.item_emb = nn.Embedding(cfg.n_items, cfg.dim, padding_idx=PAD_ID)
        self.item_bias = nn.Embedding(cfg.n_items, 1)
        self.embed = HistoryEmbedding(self.item_emb, cfg.n_event_types, cfg.n_gap_buckets, cfg.max_history, cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        # "Already in the history" term: a learned weight per event type and per recency for each time the
        # candidate itself occurs in the history. Shops' strongest signal (people buy what they just looked at)
        # is hard for a single dot product to express when several items were viewed; this says it directly.
        self.match_type = nn.Embedding(cfg.n_event_types, 1)
        self.match_recency = nn.Embedding(cfg.max_history, 1)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        for table in (self.item_bias, self.match_type, self.match_recency):
            nn.init.zeros_(table.weight)

    def encode(self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor) -> torch.Tensor:
        """(B, L) x 3 -> (B, D): the state after the newest event (histories are left-padded)."""
        mask = causal_padding_mask(hist_types != 0)  # (B, 1, L, L)
        x = self.embed(hist_items, hist_types, hist_gaps)  # (B, L, D)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x[:, -1, :])  # (B, D)

    def match_weights(self, hist_types: torch.Tensor) -> torch.Tensor:
        """(B, L) weight of each history position in the "already in the history" term; 0 at padding."""
        length = hist_types.shape[1]
        back = (length - 1) - torch.arange(length, device=hist_types.device)  # (L,) 0 = newest
        w = self.match_type(hist_types).squeeze(-1) + self.match_recency(back).squeeze(-1)[None, :]  # (B, L)
        return w * (hist_types != 0)

    def forward(
        self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        cand = self.item_emb(candidates)  # (B, C, D)
        hit = (candidates[:, :, None] == hist_items[:, None, :]).to(user.dtype)  # (B, C, L)
        match = (hit * self.match_weights(hist_types)[:, None, :]).sum(-1)  # (B, C)
        return (cand * user[:, None, :]).sum(-1) + self.item_bias(candidates).squeeze(-1) + match  # (B, C)

    def score_all(self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor) -> torch.Tensor:
        """(B, n_items) logits against the whole catalogue, for evaluation; same numbers as forward.

        The history term is a scatter-add here instead of forward's (B, C, L) comparison, which would not fit
        in memory for a whole catalogue.
        """
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        logits = user @ self.item_emb.weight.T + self.item_bias.weight.T  # (B, N)
        return logits.scatter_add(1, hist_items, self.match_weights(hist_types))

    def checkpoint(self, **extra: object) -> dict:
        return {"model_config": asdict(self.cfg), "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> "PurchaseModel":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        model = cls(PurchaseModelConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model
