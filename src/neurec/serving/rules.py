"""Business rules as pure functions over numpy arrays: reason codes, the generic filters and the score blend.

Nothing here does I/O or knows about requests: the scorer feeds arrays in and reads masks and scores out, so each
rule can be tested on a hand-written table. The upsell/cross-sell rules live in `rules_business`, the validated
rules.json configuration in `rules_config`.
"""

from __future__ import annotations

import math

import numpy as np

from neurec.schema import N_RESERVED_IDS
from neurec.serving.rules_config import RulesConfig, effective_rules  # noqa: F401  (re-exported for callers)

# Hard-drop reason codes, in the order the rules run; a candidate is reported under the first rule that drops it.
UNKNOWN_ITEM = "unknown_item"
OUT_OF_STOCK = "out_of_stock"
IN_CART = "in_cart"
DECLINED = "declined"
ALREADY_BOUGHT = "already_bought"
IS_ANCHOR = "is_anchor"  # the item the customer is looking at is no suggestion for itself
OVER_PRICE_CAP = "over_price_cap"
NOT_UPSELL_OR_CROSS_SELL = "not_upsell_or_cross_sell"
BELOW_THRESHOLD = "below_threshold"
BELOW_SLOT_COST = "below_slot_cost"  # its expected value does not pay for the place it takes (rules slot_cost)
CATEGORY_CAP = "category_cap"
REASONS = (UNKNOWN_ITEM, OUT_OF_STOCK, IN_CART, DECLINED, ALREADY_BOUGHT, IS_ANCHOR, OVER_PRICE_CAP,
           NOT_UPSELL_OR_CROSS_SELL, BELOW_THRESHOLD, BELOW_SLOT_COST, CATEGORY_CAP)
KEPT = 0  # reason code 0 means "not dropped"; REASONS[i] has code i + 1

# Soft rules move a kept item's score; each sets one bit of the item's reason mask (SOFT_REASONS[i] is bit i).
PLACEMENT_PREFERENCE = "placement_preference"
LOW_STOCK = "low_stock"
STRATEGIC = "strategic"
CLOSES_FREE_SHIPPING_GAP = "closes_free_shipping_gap"
REPLENISHMENT = "replenishment"  # bought before, but a consumable that is due again
SHOWN_BEFORE = "shown_before"  # offered earlier in the visit and not taken: demoted so fresh items get the slot
# Appended, never reordered: a reason's bit is part of what callers may have stored.
SOFT_REASONS = (PLACEMENT_PREFERENCE, LOW_STOCK, STRATEGIC, CLOSES_FREE_SHIPPING_GAP, REPLENISHMENT, SHOWN_BEFORE)


def reason_bit(reason: str) -> int:
    return 1 << SOFT_REASONS.index(reason)


def soft_reasons(bits: int) -> list[str]:
    """The soft-rule names set in one item's reason mask, in SOFT_REASONS order."""
    return [name for i, name in enumerate(SOFT_REASONS) if bits >> i & 1]


def record_drops(codes: np.ndarray, keep: np.ndarray, reason: str) -> np.ndarray:
    """New reason codes: `reason` for candidates still kept that fail `keep`; earlier reasons stay."""
    out = codes.copy()
    out[(codes == KEPT) & ~np.asarray(keep, dtype=bool)] = REASONS.index(reason) + 1
    return out


def member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """np.isin for the shapes a request has: many candidates against a handful of cart, declined or anchor ids.

    np.isin sorts both sides on every call; against a pool of a few ids a broadcast comparison is several times
    faster, and the per-request rules make five such calls. Large pools still go to np.isin.
    """
    values, pool = np.asarray(values), np.asarray(pool).ravel()
    if pool.size == 0:
        return np.zeros(values.shape, dtype=bool)
    if pool.size <= _SMALL_POOL:
        return (values[..., None] == pool).any(axis=-1)
    return np.isin(values, pool)


_SMALL_POOL = 32


def drop_unknown(model_idx: np.ndarray) -> np.ndarray:
    """Keep mask: the model can only score items it has an embedding for."""
    return np.asarray(model_idx) >= N_RESERVED_IDS


def drop_out_of_stock(stock: np.ndarray) -> np.ndarray:
    """Keep mask: stock > 0. Unknown stock (NaN) is kept; only a known empty shelf drops an item."""
    stock = np.asarray(stock, dtype=np.float64)
    return ~(stock <= 0)


def drop_in_cart(candidates: np.ndarray, cart: np.ndarray) -> np.ndarray:
    """Keep mask: candidates not already in the cart (any comparable ids: item-table rows or raw ids)."""
    return ~member(candidates, cart)


def drop_below(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Keep mask: probability at or above the threshold."""
    return np.asarray(prob) >= threshold


def pays_for_slot(prob: np.ndarray, value: np.ndarray, stake: float | None, slot_cost: float) -> np.ndarray:
    """Keep mask: p x the item's value (price or margin) at least slot_cost x the value at stake (the decision the
    suggestion may cost). An item of unknown value, or a request with no stake, is kept: never judged on an
    invented number."""
    value = np.asarray(value, dtype=np.float64)
    if stake is None or not math.isfinite(stake):
        return np.ones(value.shape, dtype=bool)
    return ~(np.asarray(prob, dtype=np.float64) * value < slot_cost * stake)  # NaN compares False: kept


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
