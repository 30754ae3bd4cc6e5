"""Business rules as pure functions over numpy arrays, plus the validated rules.json configuration.

Nothing here does I/O or knows about requests: the scorer feeds arrays in and reads masks and scores out, so each
rule can be tested on a hand-written table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from neurec.schema import N_RESERVED_IDS

# Reason codes, in the order the rules run; a candidate is reported under the first rule that drops it.
UNKNOWN_ITEM = "unknown_item"
OUT_OF_STOCK = "out_of_stock"
IN_CART = "in_cart"
BELOW_THRESHOLD = "below_threshold"
REASONS = (UNKNOWN_ITEM, OUT_OF_STOCK, IN_CART, BELOW_THRESHOLD)
KEPT = 0  # reason code 0 means "not dropped"; REASONS[i] has code i + 1


@dataclass(frozen=True)
class RulesConfig:
    """rules.json. Missing keys take these defaults so that older bundles stay readable as keys are added."""

    top_k: int = 4
    min_probability: float = 0.0
    margin_weight: float = 0.0
    drop_out_of_stock: bool = True
    drop_in_cart: bool = True

    @classmethod
    def from_dict(cls, data: Any) -> "RulesConfig":
        """Validate a parsed rules.json; raises ValueError naming the offending key."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                # A typo ("min_probabilty") must not silently fall back to a default.
                raise ValueError(f"unknown key {key!r}; expected some of {', '.join(known)}")
        values: dict[str, Any] = {}
        for key in ("drop_out_of_stock", "drop_in_cart"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise ValueError(f"{key}: expected true or false, got {data[key]!r}")
                values[key] = data[key]
        if "top_k" in data:
            k = data["top_k"]
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"top_k: expected an integer >= 1, got {k!r}")
            values["top_k"] = k
        if "min_probability" in data:
            values["min_probability"] = _number(data, "min_probability", 0.0, 1.0, high_inclusive=False)
        if "margin_weight" in data:
            values["margin_weight"] = _number(data, "margin_weight", 0.0, 1.0, high_inclusive=True)
        return cls(**values)


def _number(data: dict, key: str, low: float, high: float, high_inclusive: bool) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if value < low or value > high or (value == high and not high_inclusive):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{key}: {value!r} is outside [{low:g}, {high:g}{bracket}")
    return float(value)


def effective_rules(
    cfg: RulesConfig, has_stock: bool, has_margin: bool, margin_ref: float | None
) -> tuple[RulesConfig, list[str]]:
    """Switch off the rules whose data the item table lacks, with one message per rule switched off."""
    notes: list[str] = []
    if cfg.drop_out_of_stock and not has_stock:
        notes.append("items.json has no stock column: the out-of-stock rule is off")
        cfg = replace(cfg, drop_out_of_stock=False)
    if cfg.margin_weight > 0 and not has_margin:
        notes.append("items.json has no margin column: margin_weight is treated as 0 (rank by probability)")
        cfg = replace(cfg, margin_weight=0.0)
    elif cfg.margin_weight > 0 and margin_ref is None:
        notes.append("no in-stock item has a positive mean margin: margin_weight is treated as 0")
        cfg = replace(cfg, margin_weight=0.0)
    return cfg, notes


def record_drops(codes: np.ndarray, keep: np.ndarray, reason: str) -> np.ndarray:
    """New reason codes: `reason` for candidates still kept that fail `keep`; earlier reasons stay."""
    out = codes.copy()
    out[(codes == KEPT) & ~np.asarray(keep, dtype=bool)] = REASONS.index(reason) + 1
    return out


def drop_unknown(model_idx: np.ndarray) -> np.ndarray:
    """Keep mask: the model can only score items it has an embedding for."""
    return np.asarray(model_idx) >= N_RESERVED_IDS


def drop_out_of_stock(stock: np.ndarray) -> np.ndarray:
    """Keep mask: stock > 0. Unknown stock (NaN) is kept; only a known empty shelf drops an item."""
    stock = np.asarray(stock, dtype=np.float64)
    return ~(stock <= 0)


def drop_in_cart(candidates: np.ndarray, cart: np.ndarray) -> np.ndarray:
    """Keep mask: candidates not already in the cart (any comparable ids: item-table rows or raw ids)."""
    return ~np.isin(np.asarray(candidates), np.asarray(cart))


def drop_below(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Keep mask: probability at or above the threshold."""
    return np.asarray(prob) >= threshold


def margin_reference(margin: np.ndarray, stock: np.ndarray | None = None) -> float | None:
    """Mean margin of the in-stock items (all items without stock data); None when not a positive number.

    Dividing by it keeps the blended score on the probability scale: an item of average margin scores its
    probability whatever the weight.
    """
    margin = np.asarray(margin, dtype=np.float64)
    usable = np.isfinite(margin)
    if stock is not None:
        usable &= np.asarray(stock, dtype=np.float64) > 0
    if not usable.any():
        return None
    ref = float(margin[usable].mean())
    return ref if math.isfinite(ref) and ref > 0 else None


def margin_factor(margin: np.ndarray, weight: float, margin_ref: float | None) -> np.ndarray:
    """(1 - w) + w * margin / margin_ref per item. An item without margin data (NaN) gets 1: ranked by probability."""
    margin = np.asarray(margin, dtype=np.float64)
    if weight == 0 or margin_ref is None:
        return np.ones(margin.shape, dtype=np.float64)
    factor = (1.0 - weight) + weight * margin / margin_ref
    return np.where(np.isfinite(factor), factor, 1.0)


def blend_score(prob: np.ndarray, margin: np.ndarray, weight: float, margin_ref: float | None) -> np.ndarray:
    """score = prob * ((1 - w) + w * margin / margin_ref)."""
    return np.asarray(prob, dtype=np.float64) * margin_factor(margin, weight, margin_ref)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best k scores: score descending, ties in input order; fewer when fewer exist."""
    neg = -np.asarray(scores, dtype=np.float64)
    k = max(int(k), 0)
    if k < neg.size:
        # Partition first: a full sort of every item dominated requests over the whole catalog. All positions
        # tied with the k-th score are kept so the stable sort below still breaks ties by input order.
        kth = np.partition(neg, k - 1)[k - 1] if k else -np.inf
        sel = np.flatnonzero(neg <= kth)
        return sel[np.argsort(neg[sel], kind="stable")][:k]
    return np.argsort(neg, kind="stable")[:k]
