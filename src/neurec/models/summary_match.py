"""Repeat scores from the whole-history summary: how much having touched an item (or its category, its product
line...) before, this often, this long ago, says about buying a candidate now. torch only.

Each summary slot (an item the customer touched, with raw counts and ages from `neurec.history_summary`) becomes a
small feature vector: log counts by event type, log days since the last touch and the last purchase, log decayed
weights, and, where the item has a typical re-buy interval, how far the customer is through it (replenishment:
toilet paper bought 25 days ago with a 30-day rhythm is due, bought yesterday it is not). A small MLP turns it
into one score per slot, scattered onto the slot's item (or attribute value) and gathered per candidate, so
scoring the whole catalogue stays O(B x items) as in `HistoryMatch`.
"""

from __future__ import annotations

import torch
from torch import nn

from neurec.history_summary import HALF_LIVES_DAYS, N_SUMMARY_FIELDS, SUMMARY_FIELDS
from neurec.models.components import gather_sums

DAY_S = 86_400.0
N_SLOT_FEATURES = N_SUMMARY_FIELDS + 3  # + bought-ever flag, replenishment ratio, interval-known flag
_COL = {name: i for i, name in enumerate(SUMMARY_FIELDS)}


def slot_features(feats: torch.Tensor, interval_days: torch.Tensor) -> torch.Tensor:
    """(B, K, F) raw summary, (B, K) the slot item's median re-buy interval in days (0: unknown) -> (B, K, N)."""
    n = torch.log1p(feats[..., :3])  # views, carts, purchases
    age = torch.log1p(feats[..., _COL["age_s"]] / DAY_S)
    buy_age_s = feats[..., _COL["purchase_age_s"]]
    bought = (buy_age_s >= 0).to(feats.dtype)
    buy_age = torch.log1p(buy_age_s.clamp(min=0) / DAY_S) * bought
    decayed = torch.log1p(feats[..., [_COL[f"decayed_{int(h)}d"] for h in HALF_LIVES_DAYS]])
    known = (interval_days > 0).to(feats.dtype) * bought
    # log(days since purchase / interval): 0 when due, negative before, positive after.
    due = (torch.log1p(buy_age_s.clamp(min=0) / DAY_S) - torch.log1p(interval_days)) * known
    return torch.cat([n, age[..., None], buy_age[..., None], decayed, bought[..., None], due[..., None], known[..., None]], -1)


class SlotScore(nn.Module):
    """Slot features -> one score, as a linear prior plus an MLP correction.

    The linear part starts at `prior` x log(1 + decayed weight over the month): "what the customer was into
    lately" is the counting rule that a model should start from rather than rediscover on a few hundred
    purchases. The MLP starts at zero and learns the rest (due-again, one-off buys, views that were rejected).
    """

    def __init__(self, hidden: int, prior: float):
        super().__init__()
        self.linear = nn.Linear(N_SLOT_FEATURES, 1)
        self.mlp = nn.Sequential(nn.Linear(N_SLOT_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        with torch.no_grad():
            self.linear.weight[0, 3 + 2 + len(HALF_LIVES_DAYS) - 1] = prior  # log1p(decayed_30d)
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.linear(x) + self.mlp(x)).squeeze(-1)  # (B, K)


def scatter_gather(slot_values: torch.Tensor, slot_scores: torch.Tensor, cand_values: torch.Tensor, n_values: int) -> torch.Tensor:
    """Sum the (B, K) slot scores per value id (0 = unknown, never matches) and read them at the (B, C)
    candidates' values -> (B, C)."""
    return gather_sums(slot_values, slot_scores * (slot_values != 0), cand_values, n_values)
