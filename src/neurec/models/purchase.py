"""The purchase-probability model: P(customer buys candidate c next | recent events).

`forward` is exactly what is exported to ONNX: tensors in, logits out, no loss, no sampling. Item side features
(category, product line, price bucket...) live in a buffer indexed by model id, so the exported graph carries them
and serving passes nothing but ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from neurec.models.components import Block, HistoryEmbedding, HistoryMatch, causal_padding_mask
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
    side_names: tuple[str, ...] = ()  # item side features, in the order of the item_attr buffer's rows
    side_sizes: tuple[int, ...] = ()  # values per side feature, 0 (unknown) included
    match_pairs: tuple[tuple[int, int], ...] = ()  # (candidate feature, history feature) rows that must agree
    match_prior: float = 0.0  # initial weight per event type of "the candidate itself is in the history" (then learned)


class PurchaseModel(nn.Module):
    def __init__(self, cfg: PurchaseModelConfig):
        super().__init__()
        self.cfg = cfg
        # One table for history items and candidates: what a customer looked at and what they buy share a space.
        self.item_emb = nn.Embedding(cfg.n_items, cfg.dim, padding_idx=PAD_ID)
        self.item_bias = nn.Embedding(cfg.n_items, 1)
        self.side_emb = nn.ModuleList(nn.Embedding(size, cfg.dim, padding_idx=0) for size in cfg.side_sizes)
        self.register_buffer("item_attr", torch.zeros(len(cfg.side_sizes), cfg.n_items, dtype=torch.long))
        self.embed = HistoryEmbedding(cfg.dim, cfg.n_event_types, cfg.n_gap_buckets, cfg.max_history, cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.item_match = HistoryMatch(cfg.n_event_types, cfg.max_history, cfg.match_prior)
        # Attribute matches start neutral: "same category" is a much weaker hint than "the same item".
        self.attr_match = nn.ModuleList(HistoryMatch(cfg.n_event_types, cfg.max_history) for _ in cfg.match_pairs)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        nn.init.zeros_(self.item_bias.weight)
        for table in self.side_emb:
            nn.init.normal_(table.weight, std=0.05)

    def set_item_attributes(self, ids: torch.Tensor) -> None:
        """(n_side, n_items) side feature ids per model item, from the catalogue."""
        self.item_attr.copy_(torch.as_tensor(ids, dtype=torch.long))

    def item_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """(...) model ids -> (..., D): the item's own embedding plus its side features'."""
        vec = self.item_emb(ids)
        for f, table in enumerate(self.side_emb):
            vec = vec + table(self.item_attr[f][ids])
        return vec

    def encode(self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor) -> torch.Tensor:
        """(B, L) x 3 -> (B, D): the state after the newest event (histories are left-padded)."""
        mask = causal_padding_mask(hist_types != 0)  # (B, 1, L, L)
        x = self.embed(self.item_vectors(hist_items), hist_types, hist_gaps)  # (B, L, D)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x[:, -1, :])  # (B, D)

    def _match(self, hist_items: torch.Tensor, hist_types: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """(B, C) sum of the history-match terms: the item itself, then each (candidate, history) feature pair."""
        score = self.item_match(hist_items, hist_types, cands, self.cfg.n_items)
        for (cf, hf), match in zip(self.cfg.match_pairs, self.attr_match):
            n_values = max(self.cfg.side_sizes[cf], self.cfg.side_sizes[hf])
            score = score + match(self.item_attr[hf][hist_items], hist_types, self.item_attr[cf][cands], n_values)
        return score

    def forward(
        self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        cand = self.item_vectors(candidates)  # (B, C, D)
        dot = (cand * user[:, None, :]).sum(-1)  # (B, C)
        return dot + self.item_bias(candidates).squeeze(-1) + self._match(hist_items, hist_types, candidates)

    def score_all(self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor) -> torch.Tensor:
        """(B, n_items) logits against the whole catalogue, for evaluation; the same numbers as forward."""
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        all_ids = torch.arange(self.cfg.n_items, device=hist_items.device)
        logits = user @ self.item_vectors(all_ids).T + self.item_bias.weight.T  # (B, N)
        cands = all_ids[None, :].expand(hist_items.shape[0], -1)  # (B, N)
        return logits + self._match(hist_items, hist_types, cands)

    def checkpoint(self, **extra: object) -> dict:
        return {"model_config": asdict(self.cfg), "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> "PurchaseModel":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        cfg = dict(ckpt["model_config"])
        for key in ("side_names", "side_sizes"):
            cfg[key] = tuple(cfg.get(key, ()))
        cfg["match_pairs"] = tuple(tuple(p) for p in cfg.get("match_pairs", ()))
        model = cls(PurchaseModelConfig(**cfg))
        model.load_state_dict(ckpt["state_dict"])
        return model
