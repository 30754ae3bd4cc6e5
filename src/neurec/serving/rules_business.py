"""Upsell / cross-sell business rules as pure functions over numpy arrays (one entry per candidate).

String attributes arrive as integer codes (-1 = missing), so that "same product line" is an integer compare; the
scorer's Catalog does that encoding once at load. Unknown numbers are NaN and never satisfy a condition: a rule
does not act on a value the catalogue does not have.
"""

from __future__ import annotations

import numpy as np

from neurec.serving.rules import member, top_k
from neurec.serving.rules_config import CROSS_SELL, KINDS, OTHER, UPSELL

KIND_OTHER, KIND_UPSELL, KIND_CROSS_SELL = (KINDS.index(k) for k in (OTHER, UPSELL, CROSS_SELL))
DAY_S = 86_400.0
_EPS = 1e-9  # price ratios like 130 / 100 must not miss a band edge by a rounding error


def upsell_mask(
    line: np.ndarray, tier: np.ndarray, price: np.ndarray, is_complement: np.ndarray,
    anchor_line: int, anchor_tier: float, anchor_price: float, band: tuple[float, float], steps: int = 1,
) -> np.ndarray:
    """The better version of the anchor: its product line, 1 to `steps` tiers up, price within band x its price.

    Accessories often carry their machine's product line too, so complements are never upsells, and an
    accessory anchor has no upsell.
    """
    n = np.asarray(line).shape[0]
    if anchor_line < 0 or not (np.isfinite(anchor_tier) and np.isfinite(anchor_price) and anchor_price > 0):
        return np.zeros(n, dtype=bool)
    ratio = np.asarray(price, dtype=np.float64) / anchor_price
    low, high = band
    with np.errstate(invalid="ignore"):  # NaN prices compare False, which is the point
        in_band = (ratio >= low - _EPS) & (ratio <= high + _EPS)
    up = np.asarray(tier, dtype=np.float64) - anchor_tier
    with np.errstate(invalid="ignore"):
        ladder = (up >= 1) & (up <= steps)
    return (np.asarray(line) == anchor_line) & ladder & in_band & ~is_complement


def added_value(values: np.ndarray, rows: np.ndarray, upgrade_of: np.ndarray) -> np.ndarray:
    """What taking each candidate adds to the order, in `values` (per item-table row: prices or margins): its own
    value, or for an upgrade (`upgrade_of`: the row it replaces, -1 for other kinds) its value less the replaced
    item's. NaN where either is unknown, and for rows -1 (not in the item table)."""
    own = np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)
    replaced = np.where(upgrade_of >= 0, values[np.maximum(upgrade_of, 0)], 0.0)
    return own - replaced


def cross_sell_mask(
    complement_of: np.ndarray, rows: np.ndarray, anchor_lines: np.ndarray, partner_rows: np.ndarray
) -> np.ndarray:
    """What completes the anchor or the cart: the catalogue says it complements one of their product lines, or
    the co-purchase statistics list it as a partner of one of them."""
    lines = np.asarray(anchor_lines)
    by_catalog = member(complement_of, lines[lines >= 0])
    return by_catalog | member(rows, partner_rows)


def kind_codes(upsell: np.ndarray, cross_sell: np.ndarray) -> np.ndarray:
    """KINDS code per candidate; an item that is both (rare) counts as upsell, the stronger claim."""
    return np.where(upsell, KIND_UPSELL, np.where(cross_sell, KIND_CROSS_SELL, KIND_OTHER)).astype(np.int8)


def drop_other(kinds: np.ndarray, allow_other: bool) -> np.ndarray:
    """Keep mask: upsells and cross-sells, and everything else only when the rules allow `other`."""
    kinds = np.asarray(kinds)
    return np.ones(kinds.shape, dtype=bool) if allow_other else kinds != KIND_OTHER


def replenishment_due(last_bought_ts: np.ndarray, interval_days: np.ndarray, now: float | None) -> np.ndarray:
    """Days since the last purchase >= the item's re-buy interval. Never bought (NaN) or no `now`: not due."""
    last = np.asarray(last_bought_ts, dtype=np.float64)
    if now is None:
        return np.zeros(last.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return (now - last) / DAY_S >= np.asarray(interval_days, dtype=np.float64)


def drop_already_bought(
    last_bought_ts: np.ndarray, consumable: np.ndarray, interval_days: np.ndarray, now: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask, and the mask of kept items that are back because they are due: bought items go, except
    consumables whose re-buy interval has passed."""
    bought = np.isfinite(np.asarray(last_bought_ts, dtype=np.float64))
    due = bought & np.asarray(consumable, dtype=bool) & replenishment_due(last_bought_ts, interval_days, now)
    return ~bought | due, due


def drop_over_price_cap(price: np.ndarray, cap: float) -> np.ndarray:
    """Keep mask: price <= cap. An unknown price (NaN) is kept: only a known price over the cap drops an item."""
    price = np.asarray(price, dtype=np.float64)
    return ~(price > cap)


def low_stock_mask(stock: np.ndarray, threshold: float) -> np.ndarray:
    """Stock known and at or below the threshold."""
    stock = np.asarray(stock, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return stock <= threshold


def closes_free_shipping_gap(price: np.ndarray, cart_value: float | None, threshold: float) -> np.ndarray:
    """Items whose price lifts the cart to the free-shipping threshold; none once it is reached or unknown."""
    price = np.asarray(price, dtype=np.float64)
    if cart_value is None or cart_value >= threshold:
        return np.zeros(price.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return price >= threshold - cart_value


def boost(mask: np.ndarray, factor: float) -> np.ndarray:
    """Multiplicative score factor: `factor` where the mask holds, 1 elsewhere."""
    return np.where(np.asarray(mask, dtype=bool), factor, 1.0)


def top_k_capped(scores: np.ndarray, category: np.ndarray, k: int, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Best k positions with at most `cap` per category (-1 = unknown category, never capped), and the positions
    skipped for the cap on the way. Greedy in score order, ties by input order."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    if cap is None:
        return top_k(scores, k), np.empty(0, dtype=np.int64)
    m = min(n, max(4 * k, 64))
    while True:
        # A growing prefix of the ranking: the whole sort is only paid for when one category floods the top.
        order = top_k(scores, m)
        cats = np.asarray(category)[order]
        ok = (cats < 0) | (occurrence(cats) < cap)
        enough = ok.sum() >= k
        if enough or m == n:
            # Skipped items ranked below the last chosen one would not have been shown anyway: not capped.
            cut = (np.flatnonzero(ok)[k - 1] + 1 if k > 0 else 0) if enough else len(order)
            return order[ok][:k], order[:cut][~ok[:cut]]
        m = min(n, 4 * m)


def occurrence(codes: np.ndarray) -> np.ndarray:
    """For each element, how many equal codes came before it: [5, 3, 5, 5] -> [0, 0, 1, 2]."""
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1] if codes.size else np.empty(0, int)
    run = np.diff(np.r_[starts, codes.size])
    out = np.empty(codes.size, dtype=np.int64)
    out[order] = np.arange(codes.size) - np.repeat(starts, run)
    return out
