"""Which items a request is scored on, and what kind of suggestion each one is.

Without explicit candidates a request is scored on what relates to its anchors (the item on the page and the
cart): upgrades one tier up the product ladder, complements from the catalogue and from co-purchase statistics,
and, when `other` suggestions are allowed, items of the same category. Only when there is nothing to relate to (no anchor, or a catalogue without any of
these links) does it fall back to every item the model knows. Scoring a few dozen related items instead of the
whole catalogue is also what keeps a request cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurec.schema import N_RESERVED_IDS
from neurec.serving import rules_business as rb
from neurec.serving.catalog import Catalog
from neurec.serving.copurchase import CoPurchase

_LINK_COLUMNS = ("product_line", "complement_of", "category")


@dataclass(frozen=True)
class Anchors:
    """What the customer is looking at: the page's item (-1: none or not in the item table) and the cart."""

    main: int
    rows: np.ndarray  # main (when known) then the cart items the table holds, unique

    @property
    def empty(self) -> bool:
        return self.rows.size == 0


class CandidateSource:
    def __init__(self, catalog: Catalog, copurchase: CoPurchase | None, upsell_band: tuple[float, float] | None,
                 similar: bool = True, upsell_tiers: int = 1):
        """`similar`: also offer same-category items. Only worth it when `other` suggestions are allowed: a
        similar item that is an upsell or a cross-sell is found by the ladder or the complement links anyway."""
        self.catalog = catalog
        self.copurchase = copurchase
        self.upsell_band = upsell_band
        self.upsell_tiers = upsell_tiers  # how many tiers up the ladder an upgrade may go
        self.similar = similar
        self.has_links = copurchase is not None or any(c in catalog.columns for c in _LINK_COLUMNS)
        self.known_rows = np.flatnonzero(catalog.model_idx >= N_RESERVED_IDS)  # the model can score these

    def anchors(self, anchor_id: str | None, cart: list[str]) -> Anchors:
        cat = self.catalog
        main = cat.row_of.get(anchor_id, -1) if anchor_id is not None else -1
        rows = cat.rows(([anchor_id] if anchor_id is not None else []) + cart)
        rows = rows[rows >= 0]
        _, first = np.unique(rows, return_index=True)
        return Anchors(main, rows[np.sort(first)])

    def generate(self, anchors: Anchors) -> np.ndarray:
        """Candidate rows: the anchors themselves, then upgrades, complements, co-purchase partners and same-category
        items (when `similar`); deduplicated (first kept), without items the model cannot score.

        The anchors are listed so that the rules drop them by name (`in_cart`, `is_anchor`): with `explain`, a
        shop sees why the item in the cart is not suggested rather than wondering whether it was considered.
        """
        if anchors.empty or not self.has_links:
            return self.known_rows
        cat, parts = self.catalog, [anchors.rows]
        for a in anchors.rows.tolist():
            if self.upsell_band is not None and int(cat.line[a]) in cat.by_line:
                ladder = cat.by_line[int(cat.line[a])]
                parts.append(ladder[self._upsell(ladder, a)])
            parts.append(cat.by_complement.get(int(cat.line[a]), np.empty(0, np.int64)))
        if self.copurchase is not None:
            parts.append(self.copurchase.partners_of(anchors.rows))
        if self.similar:
            parts += [cat.by_category.get(int(cat.category[a]), np.empty(0, np.int64)) for a in anchors.rows.tolist()]
        rows = np.concatenate(parts)
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
        return rows[cat.model_idx[rows] >= N_RESERVED_IDS]

    def classify(self, rows: np.ndarray, anchors: Anchors, upgrade_of: np.ndarray | None = None) -> np.ndarray:
        """KINDS code per candidate row (-1 rows: not in the item table, so `other`). `upgrade_of`: what `upgraded`
        returns for these rows, when the caller has it already."""
        cat = self.catalog
        inside = rows >= 0
        safe = np.where(inside, rows, 0)
        upsell = (self.upgraded(rows, anchors) if upgrade_of is None else upgrade_of) >= 0
        partners = self.copurchase.partners_of(anchors.rows) if self.copurchase is not None else np.empty(0, np.int64)
        cross = rb.cross_sell_mask(cat.complement_of[safe], safe, cat.line[anchors.rows], partners)
        return rb.kind_codes(upsell & inside, cross & inside)

    def upgraded(self, rows: np.ndarray, anchors: Anchors) -> np.ndarray:
        """Per candidate row, the anchor row it is the upgrade of, -1 when it is no upsell (the first anchor that
        it upgrades, page item before cart). An accepted upgrade replaces that item: what it adds to the order, and
        what the checkout cap and the slot cost weigh, is the difference between the two."""
        ref = np.full(rows.shape, -1, dtype=np.int64)
        safe = np.where(rows >= 0, rows, 0)
        for a in anchors.rows.tolist():
            ref[self._upsell(safe, a) & (rows >= 0) & (ref < 0)] = a
        return ref

    def _upsell(self, rows: np.ndarray, anchor: int) -> np.ndarray:
        cat = self.catalog
        if self.upsell_band is None or cat.complement_of[anchor] >= 0:
            return np.zeros(rows.shape, dtype=bool)  # an accessory has no "better version" on its ladder
        return rb.upsell_mask(
            cat.line[rows], cat.tier[rows], cat.price[rows], cat.complement_of[rows] >= 0,
            int(cat.line[anchor]), float(cat.tier[anchor]), float(cat.price[anchor]), self.upsell_band,
            self.upsell_tiers,
        )
