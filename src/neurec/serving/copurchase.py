"""copurchase.json: bought-together partners and re-buy intervals, read into item-table rows for the scorer.

The export writes it (`neurec.export.copurchase`) from the training period only. The file is optional: bundles
from before it existed still load, and candidate generation then uses the catalogue's complement links alone.

Layout (keys are raw item ids):
    {"format": 1, "basket": "session", "min_support": 2, "min_lift": 1.0, "top_n": 20, "n_baskets": 812,
     "item_baskets": {"100001": 35, ...},                                  # baskets holding each item
     "partners": {"100001": {"item_id": [...], "lift": [...], "support": [...]}, ...},   # best lift first
     "replenish_days": {"100301": 21.0, ...}, "replenish_intervals": {"100301": 7, ...}}  # median, count
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

COPURCHASE_FILE = "copurchase.json"
COPURCHASE_FORMAT = 1


@dataclass(frozen=True)
class CoPurchase:
    partners: dict[int, np.ndarray]  # item-table row -> partner rows, best lift first
    replenish_days: np.ndarray  # (n_rows,) median days between repeat purchases; NaN where unknown

    def partners_of(self, rows: np.ndarray) -> np.ndarray:
        """Union of the partners of these rows, in first-seen order."""
        found = [self.partners[r] for r in np.asarray(rows).tolist() if r in self.partners]
        if not found:
            return np.empty(0, dtype=np.int64)
        joined = np.concatenate(found)
        _, first = np.unique(joined, return_index=True)
        return joined[np.sort(first)]


def parse_copurchase(raw: Any, row_of: dict[str, int], n_rows: int) -> CoPurchase:
    """Validate the parsed file; ValueError names the offending key. Ids not in the item table are skipped: the
    catalogue may have retired them, and a partner the scorer cannot describe cannot be suggested anyway."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("format") != COPURCHASE_FORMAT:
        raise ValueError(f"format {raw.get('format')!r} is not supported (this neurec reads {COPURCHASE_FORMAT})")
    partners_raw = raw.get("partners", {})
    if not isinstance(partners_raw, dict):
        raise ValueError("partners: expected an object of item id -> partner columns")
    partners: dict[int, np.ndarray] = {}
    for item, cols in partners_raw.items():
        ids = _partner_ids(cols, f"partners.{item}")
        row = row_of.get(item)
        rows = np.array([row_of[p] for p in ids if p in row_of], dtype=np.int64)
        if row is not None and rows.size:
            partners[row] = rows
    replenish = np.full(n_rows, np.nan)
    days_raw = raw.get("replenish_days", {})
    if not isinstance(days_raw, dict):
        raise ValueError("replenish_days: expected an object of item id -> days")
    for item, days in days_raw.items():
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) or days <= 0:
            raise ValueError(f"replenish_days.{item}: expected a positive number of days, got {days!r}")
        if item in row_of:
            replenish[row_of[item]] = float(days)
    return CoPurchase(partners, replenish)


def _partner_ids(cols: Any, where: str) -> list[str]:
    if not isinstance(cols, dict) or not all(isinstance(cols.get(k), list) for k in ("item_id", "lift", "support")):
        raise ValueError(f"{where}: expected an object with item_id, lift and support lists")
    ids, lift, support = cols["item_id"], cols["lift"], cols["support"]
    if not len(ids) == len(lift) == len(support):
        raise ValueError(f"{where}: item_id, lift and support differ in length")
    if not all(isinstance(p, str) and p for p in ids):
        raise ValueError(f"{where}.item_id: expected non-empty strings")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in lift):
        raise ValueError(f"{where}.lift: expected positive numbers")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in support):
        raise ValueError(f"{where}.support: expected integers >= 1")
    return ids
