"""Repeat and explore, measured apart: next-basket studies find that a method's average hides whether it wins by
re-finding what the customer already had (repeat) or by finding something new (explore).

"The customer's own items" are those of the decision's whole-history summary (the `model.summary_size` items
touched most recently over the newest 1,000 events) and of its newest-L window: what the model and the
own-history baselines can see. For each method: the share of decisions whose bought item is one of them, HR@10
on those (repeat) and on the rest (explore), and the shares of top-10 slots and of hits that are own items.
"""

from __future__ import annotations

import numpy as np

from neurec.schema import N_RESERVED_IDS


def own_items_mask(batch: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """(B, M) whether each of `ids` (B, M) is among the row's own items (summary or window; reserved ids never)."""
    own = np.concatenate([batch["sum_items"], batch["hist_items"]], axis=1)  # (B, K + L)
    own = np.where(own >= N_RESERVED_IDS, own, -1)
    return (ids[:, :, None] == own[:, None, :]).any(axis=2)


class RepeatExplore:
    """Collects, batch by batch, what `result` reports; `top` is each row's top-10 model ids."""

    def __init__(self) -> None:
        self.n = self.repeat = self.hits_repeat = self.hits_explore = self.slots = self.own_slots = 0

    def __call__(self, batch: dict[str, np.ndarray], top: np.ndarray, hit: np.ndarray) -> None:
        target = np.asarray(batch["target"])
        is_repeat = own_items_mask(batch, target[:, None])[:, 0]
        self.n += len(target)
        self.repeat += int(is_repeat.sum())
        self.hits_repeat += int((hit & is_repeat).sum())
        self.hits_explore += int((hit & ~is_repeat).sum())
        self.slots += top.size
        self.own_slots += int(own_items_mask(batch, top).sum())

    def result(self) -> dict[str, float]:
        hits = self.hits_repeat + self.hits_explore
        explore = self.n - self.repeat
        return {
            "repeat_target_share": self.repeat / self.n if self.n else float("nan"),
            "repeat_hr_at_10": self.hits_repeat / self.repeat if self.repeat else float("nan"),
            "explore_hr_at_10": self.hits_explore / explore if explore else float("nan"),
            "repeat_slot_share": self.own_slots / self.slots if self.slots else float("nan"),
            "repeat_hit_share": self.hits_repeat / hits if hits else float("nan"),
        }
