"""The business rules applied to one request's candidates, before the model call.

Everything the rules decide without a probability is decided here: hard drops (so dropped items are never
scored), the kind of each candidate, and its score multiplier with the soft reasons behind it. What depends on
the item alone (stock, margin, strategic flag, re-buy interval) is computed once per bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurec.serving import rules
from neurec.serving import rules_business as rb
from neurec.serving.candidates import Anchors, CandidateSource
from neurec.serving.catalog import Catalog
from neurec.serving.copurchase import CoPurchase
from neurec.serving.rules_config import KINDS, RulesConfig


@dataclass(frozen=True)
class Context:
    """One request as the rules see it, with its defaults resolved."""

    placement: str
    anchor_id: str | None  # the resolved anchor (the request's, else the newest history item), echoed back
    anchors: Anchors
    # Item-table rows: an id the table lacks cannot match a candidate that survives the unknown-item rule anyway.
    cart_rows: np.ndarray
    declined_rows: np.ndarray
    shown_rows: np.ndarray
    last_bought: dict[int, float]  # row -> newest purchase timestamp in the history
    cart_value: float | None  # None: unknown, so the free-shipping rule stays out of it
    now: float | None


@dataclass(frozen=True)
class Verdict:
    codes: np.ndarray  # (N,) int8 hard-drop reason, rules.KEPT while the candidate survives
    kinds: np.ndarray  # (N,) int8 KINDS code
    factor: np.ndarray  # (N,) float64: score = probability x factor
    bits: np.ndarray  # (N,) int64 soft-reason mask (rules.SOFT_REASONS)
    upgrade_of: np.ndarray  # (N,) int64 item-table row of the anchor each upsell upgrades, -1 for other kinds
    reoffer: np.ndarray  # (N,) bool: offered earlier in the visit and not taken (the request's `shown`)


class Policy:
    def __init__(self, catalog: Catalog, copurchase: CoPurchase | None, cfg: RulesConfig, margin_ref: float | None):
        """`cfg` must already be the effective rules: columns the catalogue lacks have switched their rules off."""
        self.cfg, self.catalog = cfg, catalog
        self.source = CandidateSource(catalog, copurchase, cfg.upsell_band, similar=bool(cfg.allow_other),
                                      upsell_tiers=cfg.upsell_tiers)
        n = len(catalog)
        self._in_stock = rules.drop_out_of_stock(catalog.stock) if cfg.drop_out_of_stock else np.ones(n, dtype=bool)
        self._factor, self._bits = self._static_soft(margin_ref)
        stats = copurchase.replenish_days if copurchase is not None else np.full(n, np.nan)
        # The shop's own re-buy rhythm where the data shows one, the configured default elsewhere.
        self._interval = np.where(np.isfinite(stats), stats, cfg.replenish_after_days)
        self._consumable = catalog.consumable | np.isfinite(stats)

    def _static_soft(self, margin_ref: float | None) -> tuple[np.ndarray, np.ndarray]:
        cat, cfg = self.catalog, self.cfg
        factor = rules.margin_factor(cat.margin, cfg.margin_weight, margin_ref)
        bits = np.zeros(len(cat), dtype=np.int64)
        if cfg.low_stock_threshold is not None:
            low = rb.low_stock_mask(cat.stock, cfg.low_stock_threshold)
            factor, bits = factor * rb.boost(low, cfg.low_stock_factor), bits | low * rules.reason_bit(rules.LOW_STOCK)
        if cfg.strategic_boost != 1.0:
            factor = factor * rb.boost(cat.strategic, cfg.strategic_boost)
            bits = bits | cat.strategic * rules.reason_bit(rules.STRATEGIC)
        return factor, bits

    def judge(self, ctx: Context, rows: np.ndarray) -> Verdict:
        """`rows`: the candidates' item-table rows, -1 for ids the table does not hold."""
        upgrade_of = self.source.upgraded(rows, ctx.anchors)
        kinds = self.source.classify(rows, ctx.anchors, upgrade_of)
        codes, due = self._hard(ctx, rows, kinds, upgrade_of)
        reoffer = rules.member(rows, ctx.shown_rows) & (rows >= 0)
        factor, bits = self._soft(ctx, rows, kinds, reoffer)
        bits = bits | due * rules.reason_bit(rules.REPLENISHMENT)
        return Verdict(codes, kinds, factor, bits, upgrade_of, reoffer)

    def _hard(self, ctx: Context, rows: np.ndarray, kinds: np.ndarray, upgrade_of: np.ndarray):
        """Reason codes in rules.REASONS order (the first failing rule names the drop), and the replenishment mask."""
        cat, cfg = self.catalog, self.cfg
        safe = np.where(rows >= 0, rows, 0)  # rows of unknown ids are dropped first; their values never count
        codes = np.zeros(rows.shape, dtype=np.int8)
        codes = rules.record_drops(codes, (rows >= 0) & rules.drop_unknown(cat.model_idx[safe]), rules.UNKNOWN_ITEM)
        codes = rules.record_drops(codes, self._in_stock[safe], rules.OUT_OF_STOCK)
        if cfg.drop_in_cart:
            codes = rules.record_drops(codes, rules.drop_in_cart(rows, ctx.cart_rows), rules.IN_CART)
        if cfg.drop_declined:
            codes = rules.record_drops(codes, rules.drop_in_cart(rows, ctx.declined_rows), rules.DECLINED)
        due = np.zeros(rows.shape, dtype=bool)
        if cfg.drop_already_bought and ctx.last_bought:
            last = np.full(rows.shape, np.nan)
            hit = np.flatnonzero(rules.member(rows, np.fromiter(ctx.last_bought, np.int64)))  # vectorised first: candidates may be many
            last[hit] = [ctx.last_bought[r] for r in rows[hit].tolist()]
            keep, due = rb.drop_already_bought(last, self._consumable[safe], self._interval[safe], ctx.now)
            codes = rules.record_drops(codes, keep, rules.ALREADY_BOUGHT)
        if ctx.anchors.main >= 0:
            codes = rules.record_drops(codes, rows != ctx.anchors.main, rules.IS_ANCHOR)
        if ctx.placement == "checkout" and cfg.checkout_price_cap is not None:
            # The cap keeps checkout to small additions. An upgrade adds no new line: it swaps an item already
            # chosen, and upsell_band already bounds its price against that item.
            capped = rb.drop_over_price_cap(cat.price[safe], cfg.checkout_price_cap) | (upgrade_of >= 0)
            codes = rules.record_drops(codes, capped, rules.OVER_PRICE_CAP)
        codes = rules.record_drops(codes, rb.drop_other(kinds, bool(cfg.allow_other)), rules.NOT_UPSELL_OR_CROSS_SELL)
        return codes, due & (codes == rules.KEPT)

    def _soft(self, ctx: Context, rows: np.ndarray, kinds: np.ndarray,
              reoffer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cat, cfg = self.catalog, self.cfg
        safe = np.where(rows >= 0, rows, 0)
        factor, bits = self._factor[safe], self._bits[safe]
        preferred = cfg.preferred_kind(ctx.placement)
        if preferred is not None:
            hit = kinds == KINDS.index(preferred)
            factor = factor * rb.boost(hit, cfg.placement_boost)
            bits = bits | hit * rules.reason_bit(rules.PLACEMENT_PREFERENCE)
        if ctx.placement == "cart" and cfg.free_shipping_threshold is not None:
            hit = rb.closes_free_shipping_gap(cat.price[safe], ctx.cart_value, cfg.free_shipping_threshold)
            factor = factor * rb.boost(hit, cfg.free_shipping_boost)
            bits = bits | hit * rules.reason_bit(rules.CLOSES_FREE_SHIPPING_GAP)
        if cfg.shown_factor != 1.0:
            # An offer the customer let pass once is less likely to be taken the second time, so a fresh one gets
            # the slot; the scorer's slot cost weighs the same demoted chance.
            factor = factor * rb.boost(reoffer, cfg.shown_factor)
            bits = bits | reoffer * rules.reason_bit(rules.SHOWN_BEFORE)
        return factor, bits
