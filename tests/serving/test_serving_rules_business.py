"""The upsell / cross-sell rules on small hand-written tables: exact masks, factors and rankings."""

import numpy as np
import pytest

from neurec.serving import rules
from neurec.serving import rules_business as rb

NAN = np.nan
DAY = 86_400.0

# A ladder: line 0 tiers 1-3 at 100 / 130 / 170, line 0 accessory (tier 1), line 1 tier 2 at 130, line 0 tier 2 at
# 150 (1.5 x: outside the band), line 0 tier 2 without a price.
LINE = np.array([0, 0, 0, 0, 1, 0, 0])
TIER = np.array([1, 2, 3, 1, 2, 2, 2], dtype=float)
PRICE = np.array([100.0, 130.0, 170.0, 15.0, 130.0, 150.0, NAN])
IS_COMPLEMENT = np.array([False, False, False, True, False, False, False])


def test_upsell_is_same_line_one_tier_up_within_band():
    got = rb.upsell_mask(LINE, TIER, PRICE, IS_COMPLEMENT, anchor_line=0, anchor_tier=1, anchor_price=100.0,
                         band=(1.2, 1.4))
    assert got.tolist() == [False, True, False, False, False, False, False]


def test_upsell_steps_reach_higher_tiers_within_the_band():
    args = (LINE, TIER, PRICE, IS_COMPLEMENT, 0, 1.0, 100.0)
    # Two steps: tier 3 (170, 1.7 x) joins tier 2 once the band reaches it; the 1.5 x tier 2 too.
    assert rb.upsell_mask(*args, band=(1.2, 1.8), steps=2).tolist() == [False, True, True, False, False, True, False]
    assert rb.upsell_mask(*args, band=(1.2, 1.4), steps=2).tolist() == [False, True, False, False, False, False, False]
    assert rb.upsell_mask(*args, band=(1.2, 1.8), steps=1).tolist() == [False, True, False, False, False, True, False]
    # Never down the ladder, nor the anchor's own tier, whatever the band.
    assert not rb.upsell_mask(LINE, TIER, PRICE, IS_COMPLEMENT, 0, 3.0, 170.0, band=(0.1, 10.0), steps=5).any()


def test_upsell_band_edges_are_inclusive_and_configurable():
    price = np.array([120.0, 140.0, 119.99, 140.01])
    args = (np.zeros(4, int), np.full(4, 2.0), price, np.zeros(4, bool), 0, 1.0, 100.0)
    assert rb.upsell_mask(*args, band=(1.2, 1.4)).tolist() == [True, True, False, False]
    assert rb.upsell_mask(*args, band=(1.0, 1.5)).tolist() == [True, True, True, True]


@pytest.mark.parametrize("anchor", [(-1, 1.0, 100.0), (0, NAN, 100.0), (0, 1.0, NAN), (0, 1.0, 0.0)])
def test_no_upsell_without_a_known_anchor(anchor):
    assert not rb.upsell_mask(LINE, TIER, PRICE, IS_COMPLEMENT, *anchor, band=(1.2, 1.4)).any()


def test_cross_sell_from_catalogue_or_copurchase():
    complement_of = np.array([0, -1, 1, -1, 2])  # what each candidate complements (-1: a main item)
    rows = np.array([10, 11, 12, 13, 14])
    got = rb.cross_sell_mask(complement_of, rows, anchor_lines=np.array([0, -1]), partner_rows=np.array([13, 99]))
    assert got.tolist() == [True, False, False, True, False]
    assert rb.cross_sell_mask(complement_of, rows, np.array([-1]), np.array([], int)).tolist() == [False] * 5


def test_kind_codes_and_drop_other():
    upsell = np.array([True, False, False, True])
    cross = np.array([False, True, False, True])
    kinds = rb.kind_codes(upsell, cross)
    assert kinds.tolist() == [rb.KIND_UPSELL, rb.KIND_CROSS_SELL, rb.KIND_OTHER, rb.KIND_UPSELL]
    assert rb.drop_other(kinds, allow_other=False).tolist() == [True, True, False, True]
    assert rb.drop_other(kinds, allow_other=True).tolist() == [True] * 4


def test_already_bought_except_consumables_due():
    now = 100 * DAY
    last = np.array([NAN, 90 * DAY, 90 * DAY, 70 * DAY, 70 * DAY, 80 * DAY])  # NaN: never bought
    consumable = np.array([True, False, True, True, False, True])
    interval = np.array([20.0, 5.0, 20.0, 30.0, 30.0, 20.0])  # 10, 30 and 20 days have passed
    keep, due = rb.drop_already_bought(last, consumable, interval, now)
    assert keep.tolist() == [True, False, False, True, False, True]
    assert due.tolist() == [False, False, False, True, False, True]  # exactly on the interval counts as due
    keep, due = rb.drop_already_bought(last, consumable, interval, now=None)  # no clock: nothing is due
    assert keep.tolist() == [True, False, False, False, False, False] and not due.any()


def test_over_price_cap_keeps_unknown_prices():
    assert rb.drop_over_price_cap(np.array([5.0, 20.0, 20.01, NAN]), 20.0).tolist() == [True, True, False, True]


def test_low_stock_and_boost():
    low = rb.low_stock_mask(np.array([0, 3, 4, NAN]), 3)
    assert low.tolist() == [True, True, False, False]
    assert rb.boost(low, 0.8).tolist() == [0.8, 0.8, 1.0, 1.0]


@pytest.mark.parametrize(
    "cart_value, expected",
    [
        (30.0, [False, True, True, False]),  # gap 20: 20 and 25 close it, NaN price is unknown
        (49.99, [True, True, True, False]),
        (50.0, [False, False, False, False]),  # already free
        (None, [False, False, False, False]),  # unknown cart value: no claim
    ],
)
def test_closes_free_shipping_gap(cart_value, expected):
    price = np.array([9.0, 20.0, 25.0, NAN])
    assert rb.closes_free_shipping_gap(price, cart_value, threshold=50.0).tolist() == expected


def test_category_cap_skips_and_reports():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    category = np.array([1, 1, 1, 2, -1, -1])  # -1: unknown category, never capped
    chosen, capped = rb.top_k_capped(scores, category, k=4, cap=2)
    assert chosen.tolist() == [0, 1, 3, 4] and capped.tolist() == [2]
    chosen, capped = rb.top_k_capped(scores, category, k=2, cap=1)
    assert chosen.tolist() == [0, 3] and capped.tolist() == [1, 2]  # skipped on the way to the 2nd pick
    chosen, capped = rb.top_k_capped(scores, category, k=3, cap=None)
    assert chosen.tolist() == [0, 1, 2] and capped.size == 0
    chosen, capped = rb.top_k_capped(np.array([]), np.array([], int), k=3, cap=1)
    assert chosen.size == 0 and capped.size == 0


def test_category_cap_when_one_category_floods_the_ranking():
    n = 500
    scores = np.linspace(1.0, 0.0, n)
    category = np.zeros(n, dtype=int)
    category[-1] = 7  # the only other category sits at the very bottom
    chosen, capped = rb.top_k_capped(scores, category, k=3, cap=2)
    assert chosen.tolist() == [0, 1, n - 1] and capped.size == n - 3


def test_occurrence():
    assert rb.occurrence(np.array([5, 3, 5, 5, 3])).tolist() == [0, 0, 1, 2, 1]
    assert rb.occurrence(np.array([], dtype=int)).tolist() == []


def test_soft_reason_bits_roundtrip():
    bits = rules.reason_bit(rules.STRATEGIC) | rules.reason_bit(rules.PLACEMENT_PREFERENCE)
    assert rules.soft_reasons(bits) == [rules.PLACEMENT_PREFERENCE, rules.STRATEGIC]
    assert rules.soft_reasons(0) == []
