"""The purchase-probability model: P(customer buys candidate c next | recent events, whole-history summary).

`forward` is exactly what is exported to ONNX: tensors in, logits out, no loss, no sampling. Item side features
(category, product line, price bucket...) live in a buffer indexed by model id, so the exported graph carries them
and serving passes nothing but ids.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neurec.models.components import Block, HistoryEmbedding, HistoryMatch, NeighbourMatch, causal_padding_mask
from neurec.models.summary_match import SlotScore, scatter_gather, slot_features
from neurec.schema import FLOAT_INPUTS, HISTORY_INPUTS, N_EVENT_TYPES, N_GAP_BUCKETS, N_RESERVED_IDS, PAD_ID, USER_ID

log = logging.getLogger(__name__)


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
    match_decay: float = 1.0  # initial factor per step back in the window of that weight (1: none), then learned
    summary_size: int = 32  # items of the whole-history summary (neurec.history_summary)
    use_summary: bool = True  # False: the summary is fed but ignored (the window-only model, for comparison)
    summary_hidden: int = 32
    summary_prior: float = 1.0  # initial weight of log(1 + the month's decayed own-event weight), then learned
    neighbours: int = 20  # nearest items per item in the co-occurrence table the model reads; 0: none
    neighbour_prior: float = 1.0  # initial weight per event type of "the candidate is a neighbour of it", then learned
    neighbour_decay: float = 1.0  # initial factor per step back of that weight, as match_decay
    embedding_std: float = 0.05  # initial spread of item and side embeddings; 0: the dot product starts at nothing
    attr_prior: float = 0.0  # initial weight per event type of each `match_pairs` agreement (category...), then learned
    popularity_prior: float = 0.0  # initial item bias per unit of log(1 + the item's training events), then learned


def model_inputs(batch: dict, device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """A training or evaluation batch's history arrays as tensors, in the graph's input order (HISTORY_INPUTS: the
    batch carries them under the graph's own names)."""
    return [torch.as_tensor(batch[k], dtype=torch.float32 if k in FLOAT_INPUTS else torch.long, device=device)
            for k in HISTORY_INPUTS]


class PurchaseModel(nn.Module):
    """The model that `configs/model/sasrec.yaml` names with `_target_`. A second architecture is another class
    with the same three class attributes, `from_data`, `forward`, `score_all`, `checkpoint` and `from_checkpoint`
    (subclassing this one and replacing `encode` is the short way), named by its own config file."""

    config_class = PurchaseModelConfig
    # Fields the data decides (vocabulary, catalogue, event encoding), never the config.
    config_derived = ("n_items", "side_names", "side_sizes", "match_pairs", "n_event_types", "n_gap_buckets")
    # Config keys that `from_data` turns into fields: catalogue columns, and which of them must match.
    config_extra = {"side_features": list[str], "match": list[list[str]]}

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
        self.item_match = HistoryMatch(cfg.n_event_types, cfg.max_history, cfg.match_prior, cfg.match_decay)
        # Attribute matches start at attr_prior (default 0: neutral), with the item match's recency decay: "same
        # category" is a much weaker hint than "the same item", though on sparse shops the only one reaching new items.
        self.attr_match = nn.ModuleList(HistoryMatch(cfg.n_event_types, cfg.max_history, cfg.attr_prior, cfg.match_decay)
                                        for _ in cfg.match_pairs)
        # Whole-history repeat scores: the item itself, then each attribute pair; the pairs start neutral.
        self.summary_item = SlotScore(cfg.summary_hidden, cfg.summary_prior)
        self.summary_attr = nn.ModuleList(SlotScore(cfg.summary_hidden, 0.0) for _ in cfg.match_pairs)
        # The repeat/explore gate: how much this customer's state says "buys again" vs "buys something new".
        # Starts at 1 (zero weights, 2 * sigmoid(0)) so the repeat prior is used as given until training says more.
        self.repeat_gate = nn.Linear(cfg.dim, 1)
        nn.init.zeros_(self.repeat_gate.weight)
        nn.init.zeros_(self.repeat_gate.bias)
        self.register_buffer("item_interval", torch.zeros(cfg.n_items))  # median re-buy days, 0 = unknown
        # Item-to-item neighbours from the training period (ids, cosine), filled by `from_data`; all 0 = none.
        self.register_buffer("nbr_ids", torch.zeros(cfg.n_items, cfg.neighbours, dtype=torch.long))
        self.register_buffer("nbr_sim", torch.zeros(cfg.n_items, cfg.neighbours))
        # The same per fold of customers, each built without that fold, for training only (`forward`'s `folds`):
        # not saved, not exported; `from_data` fills them.
        self.register_buffer("nbr_fold_ids", torch.zeros(0, cfg.n_items, cfg.neighbours, dtype=torch.long), persistent=False)
        self.register_buffer("nbr_fold_sim", torch.zeros(0, cfg.n_items, cfg.neighbours), persistent=False)
        self.nbr_match = NeighbourMatch(cfg.n_event_types, cfg.max_history, cfg.neighbour_prior, cfg.neighbour_decay)
        # With embedding_std 0 the untrained model is exactly its counting terms (match, neighbours, summary): a
        # random dot product at init is noise on top of them that training first has to undo.
        nn.init.normal_(self.item_emb.weight, std=cfg.embedding_std)
        nn.init.zeros_(self.item_bias.weight)
        for table in self.side_emb:
            nn.init.normal_(table.weight, std=cfg.embedding_std)

    @classmethod
    def from_data(cls, model_cfg: dict, data) -> "PurchaseModel":
        """The model for this data (a `neurec.data.prepare.PreparedData`): the item table sized by the vocabulary,
        the side features the catalogue actually has, re-buy intervals from the training period."""
        from neurec.data.item_features import build_item_features  # training-side helpers, imported when building
        from neurec.cooccurrence import customer_folds, item_neighbours, out_of_fold_neighbours
        from neurec.export.copurchase import repurchase_days

        kwargs = dict(model_cfg)
        wanted = list(kwargs.pop("side_features", []))
        match = [tuple(pair) for pair in kwargs.pop("match", [])]
        features = build_item_features(data.catalog, data.vocab, wanted)
        have = features.names
        pairs = tuple((have.index(c), have.index(h)) for c, h in match if c in have and h in have)
        missing = [n for n in wanted if n not in have]
        if missing:
            log.warning("side features not in the catalogue, left out: %s", missing)
        model = cls(cls.config_class(n_items=len(data.vocab), side_names=have, side_sizes=features.sizes,
                                     match_pairs=pairs, **kwargs))
        model.set_item_attributes(torch.as_tensor(features.ids))
        train = data.events["ts"].to_numpy() < data.boundaries.valid_start
        train_items = data.item_idx[train]
        model.set_item_intervals(torch.as_tensor(repurchase_days(data.events[train], data.vocab)))
        if model.cfg.popularity_prior:
            counts = np.bincount(train_items, minlength=len(data.vocab))
            model.set_item_popularity(torch.as_tensor(counts))
        if model.cfg.neighbours:
            # Over customers and every event type, as the item-kNN baseline: "touched by the same people".
            users, items = data.events[USER_ID].to_numpy()[train], train_items
            ids, sim = item_neighbours(users, items, len(data.vocab), model.cfg.neighbours)
            fold_ids, fold_sim = out_of_fold_neighbours(users, items, customer_folds(users), len(data.vocab), model.cfg.neighbours)
            model.set_item_neighbours(torch.as_tensor(ids), torch.as_tensor(sim), torch.as_tensor(fold_ids), torch.as_tensor(fold_sim))
        return model

    def set_item_attributes(self, ids: torch.Tensor) -> None:
        """(n_side, n_items) side feature ids per model item, from the catalogue."""
        self.item_attr.copy_(torch.as_tensor(ids, dtype=torch.long))

    def set_item_intervals(self, days: torch.Tensor) -> None:
        """(n_items,) median days between one customer's re-buys of each item, from training; 0 = unknown."""
        self.item_interval.copy_(torch.as_tensor(days, dtype=torch.float32))

    def set_item_popularity(self, counts: torch.Tensor) -> None:
        """(n_items,) training-period events per model item -> the initial item bias, popularity_prior x log(1 +
        count): among candidates the counting terms leave tied, the one more customers touched comes first."""
        with torch.no_grad():
            bias = self.cfg.popularity_prior * torch.log1p(torch.as_tensor(counts, dtype=torch.float32))
            bias[:N_RESERVED_IDS] = 0.0
            self.item_bias.weight.copy_(bias[:, None])

    def set_item_neighbours(self, ids: torch.Tensor, sim: torch.Tensor, fold_ids: torch.Tensor | None = None,
                            fold_sim: torch.Tensor | None = None) -> None:
        """(n_items, K) nearest item ids per model item and their similarity (id 0 with 0 fills unused slots); and
        optionally the out-of-fold tables (F, n_items, K) that training reads instead."""
        self.nbr_ids.copy_(torch.as_tensor(ids, dtype=torch.long))
        self.nbr_sim.copy_(torch.as_tensor(sim, dtype=torch.float32))
        if fold_ids is not None:
            self.nbr_fold_ids = torch.as_tensor(fold_ids, dtype=torch.long, device=self.nbr_ids.device)
            self.nbr_fold_sim = torch.as_tensor(fold_sim, dtype=torch.float32, device=self.nbr_ids.device)

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
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only=i == last)  # earlier blocks feed every position to the last one's keys
        return self.norm(x[:, -1, :])  # (B, D)

    def _match(self, hist_items: torch.Tensor, hist_types: torch.Tensor, cands: torch.Tensor,
               folds: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C) sum of the history-match terms: the item itself, then each (candidate, history) feature pair,
        then the neighbours (from each row's out-of-fold table when `folds` is given and the tables are built)."""
        score = self.item_match(hist_items, hist_types, cands, self.cfg.n_items)
        for (cf, hf), match in zip(self.cfg.match_pairs, self.attr_match):
            n_values = max(self.cfg.side_sizes[cf], self.cfg.side_sizes[hf])
            score = score + match(self.item_attr[hf][hist_items], hist_types, self.item_attr[cf][cands], n_values)
        if self.cfg.neighbours:
            if folds is not None and self.nbr_fold_ids.shape[0]:
                ids, sim = self.nbr_fold_ids[folds[:, None], hist_items], self.nbr_fold_sim[folds[:, None], hist_items]
            else:
                ids, sim = self.nbr_ids[hist_items], self.nbr_sim[hist_items]  # (B, L, K)
            score = score + self.nbr_match(hist_types, ids, sim, cands, self.cfg.n_items)
        return score

    def _repeat(self, user: torch.Tensor, sum_items: torch.Tensor, sum_feats: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """(B, C) whole-history repeat score, scaled by the customer's repeat/explore gate."""
        if not self.cfg.use_summary:
            return torch.zeros(cands.shape, dtype=user.dtype, device=user.device)
        x = slot_features(sum_feats, self.item_interval[sum_items])  # (B, K, N)
        score = scatter_gather(sum_items, self.summary_item(x), cands, self.cfg.n_items)
        for (cf, hf), slot in zip(self.cfg.match_pairs, self.summary_attr):
            n_values = max(self.cfg.side_sizes[cf], self.cfg.side_sizes[hf])
            slot_values = self.item_attr[hf][sum_items] * (sum_items != 0)
            score = score + scatter_gather(slot_values, slot(x), self.item_attr[cf][cands], n_values)
        gate = 2.0 * torch.sigmoid(self.repeat_gate(user))  # (B, 1)
        return gate * score

    def forward(
        self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor,
        sum_items: torch.Tensor, sum_feats: torch.Tensor, candidates: torch.Tensor, folds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`folds` (B,): the rows' customer folds, in training only (see `_match`); the exported graph has none."""
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        cand = self.item_vectors(candidates)  # (B, C, D)
        dot = (cand * user[:, None, :]).sum(-1)  # (B, C)
        return (dot + self.item_bias(candidates).squeeze(-1) + self._match(hist_items, hist_types, candidates, folds)
                + self._repeat(user, sum_items, sum_feats, candidates))

    def score_all(self, hist_items: torch.Tensor, hist_types: torch.Tensor, hist_gaps: torch.Tensor,
                  sum_items: torch.Tensor, sum_feats: torch.Tensor, folds: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_items) logits against the whole catalogue; the same numbers as forward."""
        user = self.encode(hist_items, hist_types, hist_gaps)  # (B, D)
        all_ids = torch.arange(self.cfg.n_items, device=hist_items.device)
        logits = user @ self.item_vectors(all_ids).T + self.item_bias.weight.T  # (B, N)
        cands = all_ids[None, :].expand(hist_items.shape[0], -1)  # (B, N)
        return logits + self._match(hist_items, hist_types, cands, folds) + self._repeat(user, sum_items, sum_feats, cands)

    def checkpoint(self, **extra: object) -> dict:
        cls = type(self)  # recorded so that neurec.models.build.load_model rebuilds the same architecture
        return {"model_class": f"{cls.__module__}.{cls.__qualname__}", "model_config": asdict(self.cfg),
                "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> "PurchaseModel":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        cfg = dict(ckpt["model_config"])
        for key in ("side_names", "side_sizes"):
            cfg[key] = tuple(cfg.get(key, ()))
        cfg["match_pairs"] = tuple(tuple(p) for p in cfg.get("match_pairs", ()))
        model = cls(cls.config_class(**cfg))
        model.load_state_dict(ckpt["state_dict"])
        return model
