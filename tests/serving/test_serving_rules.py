import math

import numpy as np
import pytest

from neurec.serving import rules
from neurec.serving.rules import RulesConfig
from neurec.serving.rules_config import PLACEMENTS


def test_drop_unknown():
    assert rules.drop_unknown(np.array([0, 1, 2, 7])).tolist() == [False, False, True, True]


def test_drop_out_of_stock_keeps_unknown_stock():
    stock = np.array([3, 0, -2, np.nan, 0.5])
    assert rules.drop_out_of_stock(stock).tolist() == [True, False, False, True, True]


def test_drop_in_cart():
    assert rules.drop_in_cart(np.array([4, 1, 9]), np.array([9, 5])).tolist() == [True, True, False]
    assert rules.drop_in_cart(np.array([4, 1]), np.array([], dtype=np.int64)).tolist() == [True, True]


def test_drop_below_keeps_equal():
    assert rules.drop_below(np.array([0.01, 0.02, 0.5]), 0.02).tolist() == [False, True, True]


def test_margin_reference_uses_in_stock_items_only():
    margin = np.array([2.0, 4.0, 100.0, np.nan])
    stock = np.array([1, 5, 0, 3])
    assert rules.margin_reference(margin, stock) == 3.0
    assert rules.margin_reference(margin) == pytest.approx(106 / 3)
    assert rules.margin_reference(np.array([-1.0, 0.0]), np.array([1, 1])) is None
    assert rules.margin_reference(margin, np.zeros(4)) is None


def test_blend_score_hand_computed():
    prob = np.array([0.5, 0.2, 0.4, 0.3])
    margin = np.array([2.0, 8.0, 4.0, np.nan])
    # w = 0.5, ref = 4: factors 0.75, 1.5, 1.0 and 1.0 for the unknown margin.
    got = rules.blend_score(prob, margin, weight=0.5, margin_ref=4.0)
    assert got == pytest.approx([0.375, 0.3, 0.4, 0.3])
    assert rules.blend_score(prob, margin, weight=0.0, margin_ref=4.0) == pytest.approx(prob)
    assert rules.blend_score(prob, margin, weight=1.0, margin_ref=4.0) == pytest.approx([0.25, 0.4, 0.4, 0.3])
    assert rules.blend_score(prob, margin, weight=0.5, margin_ref=None) == pytest.approx(prob)


def test_top_k_order_and_ties():
    scores = np.array([0.2, 0.5, 0.2, 0.9, 0.5])
    assert rules.top_k(scores, 4).tolist() == [3, 1, 4, 0]
    assert rules.top_k(scores, 10).tolist() == [3, 1, 4, 0, 2]  # fewer than k available
    assert rules.top_k(np.array([]), 3).tolist() == []


def test_record_drops_keeps_first_reason():
    codes = np.zeros(4, dtype=np.int8)
    codes = rules.record_drops(codes, np.array([True, False, True, False]), rules.OUT_OF_STOCK)
    codes = rules.record_drops(codes, np.array([False, False, True, True]), rules.IN_CART)
    assert [rules.REASONS[c - 1] if c else None for c in codes] == [
        rules.IN_CART, rules.OUT_OF_STOCK, None, rules.OUT_OF_STOCK,
    ]


def test_rules_config_defaults_and_parse():
    assert RulesConfig.from_dict({}) == RulesConfig()
    cfg = RulesConfig.from_dict({"top_k": 2, "min_probability": 0, "margin_weight": 1, "drop_in_cart": False})
    assert cfg == RulesConfig(top_k=2, min_probability=0.0, margin_weight=1.0, drop_in_cart=False)
    cfg = RulesConfig.from_dict({
        "upsell_band": [1.1, 1.5], "allow_other": True, "checkout_price_cap": None, "max_per_category": 1,
        "placement_preference": {"cart": None, "product_page": "cross_sell"}, "free_shipping_threshold": 49.0,
    })
    assert cfg.upsell_band == (1.1, 1.5) and cfg.allow_other is True and cfg.checkout_price_cap is None
    assert cfg.preferred_kind("cart") is None and cfg.preferred_kind("product_page") == "cross_sell"
    assert cfg.preferred_kind("checkout") == "cross_sell"  # placements left out keep their default
    assert cfg.max_per_category == 1 and cfg.free_shipping_threshold == 49.0
    hash(cfg)  # frozen and hashable, preference included


def test_shipped_default_yaml_parses():
    import pathlib

    yaml = pytest.importorskip("yaml")
    path = pathlib.Path(__file__).resolve().parents[2] / "configs" / "rules" / "default.yaml"
    cfg = RulesConfig.from_dict(yaml.safe_load(path.read_text()))
    assert cfg.top_k == 4 and cfg.upsell_band == (1.2, 1.8) and cfg.upsell_tiers == 2 and cfg.allow_other is None
    assert cfg.slot_cost == 0.01 and cfg.slot_cost_free_by_kind == (("cross_sell", 1), ("other", 1), ("upsell", 2))
    assert cfg.slot_cost_free_reoffers == ("upsell",) and cfg.reoffers_free() == (False, True, False)
    assert cfg.shown_factor == 0.01
    assert [cfg.slot_cost_at(p) for p in PLACEMENTS] == [0.2, 0.01, 0.01, 0.01]  # the product page's own
    assert cfg.checkout_price_cap == 20 and cfg.free_shipping_threshold == 50


def test_thresholds_per_kind_fall_back_to_min_probability():
    cfg = RulesConfig.from_dict({"min_probability": 0.02, "min_probability_by_kind": {"upsell": 0.005, "other": 0.1}})
    assert cfg.thresholds() == (0.1, 0.005, 0.02)  # KINDS order: other, upsell, cross_sell
    assert RulesConfig(min_probability=0.03).thresholds() == (0.03, 0.03, 0.03)
    assert cfg == RulesConfig.from_dict({"min_probability": 0.02, "min_probability_by_kind": {"other": 0.1, "upsell": 0.005}})


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "expected a JSON object"),
        ({"topk": 3}, "unknown key 'topk'"),
        ({"top_k": 0}, "top_k: expected an integer >= 1"),
        ({"top_k": 2.0}, "top_k: expected an integer"),
        ({"top_k": True}, "top_k: expected an integer"),
        ({"min_probability": 1.0}, r"min_probability: 1.0 is outside \[0, 1\)"),
        ({"min_probability": -0.1}, "min_probability: -0.1 is outside"),
        ({"min_probability": math.nan}, "min_probability: expected a number"),
        ({"margin_weight": 1.5}, r"margin_weight: 1.5 is outside \[0, 1\]"),
        ({"margin_weight": "0.5"}, "margin_weight: expected a number"),
        ({"drop_in_cart": 1}, "drop_in_cart: expected true or false"),
        ({"drop_declined": "yes"}, "drop_declined: expected true or false"),
        ({"allow_other": "auto"}, "allow_other: expected true or false"),
        ({"replenish_after_days": 0}, r"replenish_after_days: 0 is outside \(0, inf\)"),
        ({"checkout_price_cap": -1}, "checkout_price_cap: -1 is outside"),
        ({"upsell_band": [1.4, 1.2]}, "upsell_band: low 1.4 is above high 1.2"),
        ({"upsell_band": [1.2]}, r"upsell_band: expected \[low, high\]"),
        ({"upsell_band": [0, 1.2]}, r"upsell_band\[0\]: 0 is outside"),
        ({"upsell_tiers": 0}, "upsell_tiers: expected an integer >= 1, got 0"),
        ({"upsell_tiers": 1.5}, "upsell_tiers: expected an integer >= 1, got 1.5"),
        ({"slot_cost_free_by_kind": 1}, "slot_cost_free_by_kind: expected an object of kind: count"),
        ({"slot_cost_free_by_kind": {"upsell": -1}}, r"slot_cost_free_by_kind.upsell: expected an integer >= 0"),
        ({"slot_cost_free_by_kind": {"best": 1}}, "slot_cost_free_by_kind.best: unknown kind"),
        ({"slot_cost_free_reoffers": "upsell"}, "slot_cost_free_reoffers: expected a list of kinds"),
        ({"slot_cost_free_reoffers": ["upgrade"]}, "slot_cost_free_reoffers: unknown kind 'upgrade'"),
        ({"placement_preference": {"home": "upsell"}}, "placement_preference.home: unknown placement"),
        ({"placement_preference": {"cart": "other"}}, "placement_preference.cart: expected upsell, cross_sell or null"),
        ({"placement_preference": "upsell"}, "placement_preference: expected an object"),
        ({"placement_boost": 0}, "placement_boost: 0 is outside"),
        ({"low_stock_factor": 1.5}, r"low_stock_factor: 1.5 is outside \(0, 1\]"),
        ({"shown_factor": 0}, r"shown_factor: 0 is outside \(0, 1\]"),
        ({"min_probability_by_kind": {"bundle": 0.1}}, "min_probability_by_kind.bundle: unknown kind"),
        ({"min_probability_by_kind": {"upsell": 1}}, r"min_probability_by_kind.upsell: 1 is outside \[0, 1\)"),
        ({"min_probability_by_kind": [0.1]}, "min_probability_by_kind: expected an object of kind: threshold"),
        ({"max_per_category": 0}, "max_per_category: expected an integer >= 1"),
        ({"free_shipping_threshold": "50"}, "free_shipping_threshold: expected a number"),
        ({"slot_cost": 1.5}, r"slot_cost: 1.5 is outside \[0, 1\]"),
        ({"slot_cost": "0.01"}, "slot_cost: expected a number"),
        ({"slot_value": "profit"}, "slot_value: expected one of price, margin"),
        ({"slot_cost_free": -1}, "slot_cost_free: expected an integer >= 0"),
        ({"slot_cost_free": True}, "slot_cost_free: expected an integer >= 0"),
        ({"slot_cost_by_placement": 0.2}, "slot_cost_by_placement: expected an object of placement: cost"),
        ({"slot_cost_by_placement": {"home": 0.2}}, "slot_cost_by_placement.home: unknown placement"),
        ({"slot_cost_by_placement": {"cart": 2}}, r"slot_cost_by_placement.cart: 2 is outside \[0, 1\]"),
        ({"slot_cost_by_placement": {"cart": "0.1"}}, "slot_cost_by_placement.cart: expected a number"),
    ],
)
def test_rules_config_rejects(data, message):
    with pytest.raises(ValueError, match=message):
        RulesConfig.from_dict(data)


ALL_COLUMNS = ("stock", "margin", "price", "strategic", "category", "product_line", "tier", "complement_of", "kind")


def test_effective_rules_keep_what_the_catalogue_supports():
    cfg = RulesConfig(margin_weight=0.5, drop_out_of_stock=True)
    same, notes = rules.effective_rules(cfg, ALL_COLUMNS, margin_ref=3.0)
    assert notes == [] and same.allow_other is False  # auto: ladders exist, so only upsell / cross-sell
    assert same == RulesConfig(margin_weight=0.5, allow_other=False)


def test_effective_rules_switch_off_missing_data():
    cfg = RulesConfig(margin_weight=0.5, drop_out_of_stock=True)
    off, notes = rules.effective_rules(cfg, ["category", "price"], margin_ref=None)
    assert off.drop_out_of_stock is False and off.low_stock_threshold is None and off.margin_weight == 0.0
    assert off.strategic_boost == 1.0 and off.upsell_band is None and off.max_per_category == 3
    assert off.checkout_price_cap == 20.0 and off.allow_other is True  # auto: neither ladders nor complement links
    by_column = {n.split(" column")[0].removeprefix("items.json has no "): n for n in notes}
    assert sorted(by_column) == ["kind", "margin", "product_line", "stock", "strategic"]  # one note per column
    assert "out-of-stock drop; low-stock demotion" in by_column["stock"]
    off, notes = rules.effective_rules(cfg, ["stock", "margin"], margin_ref=None)
    assert off.margin_weight == 0.0 and any("positive mean margin" in n for n in notes)
    assert off.checkout_price_cap is None and off.free_shipping_threshold is None  # no price column
    # An explicit choice is kept, and re-buy statistics stand in for the kind column.
    off, notes = rules.effective_rules(RulesConfig(allow_other=False), ["complement_of"], None,
                                       has_replenish_stats=True)
    assert off.allow_other is False and not any("kind" in n for n in notes)


def test_slot_cost_needs_prices_and_falls_back_to_price_without_margins():
    cfg = RulesConfig(slot_cost=0.01, slot_value="margin")
    off, notes = rules.effective_rules(cfg, ["category", "margin"], margin_ref=2.0)
    assert off.slot_cost is None and any("slot cost" in n for n in notes)
    priced, notes = rules.effective_rules(cfg, ["category", "price"], margin_ref=None)
    assert priced.slot_cost == 0.01 and priced.slot_value == "price" and any("in margin" in n for n in notes)
    assert RulesConfig.from_dict(RulesConfig(slot_cost=0.02).to_dict()) == RulesConfig(slot_cost=0.02)
    reoffers = RulesConfig.from_dict({"slot_cost": 0.02, "slot_cost_free_reoffers": ["cross_sell", "upsell"]})
    assert reoffers.to_dict()["slot_cost_free_reoffers"] == ["upsell", "cross_sell"]  # KINDS order, one spelling
    assert RulesConfig.from_dict(reoffers.to_dict()) == reoffers


def test_slot_cost_by_placement_overrides_the_shared_cost():
    cfg = RulesConfig.from_dict({"slot_cost": 0.01, "slot_cost_by_placement": {"product_page": 0.2, "checkout": None}})
    assert [cfg.slot_cost_at(p) for p in PLACEMENTS] == [0.2, 0.01, None, 0.01]  # null: off at that placement
    assert cfg.to_dict()["slot_cost_by_placement"] == {"checkout": None, "product_page": 0.2}
    assert RulesConfig.from_dict(cfg.to_dict()) == cfg
    only_page = RulesConfig(slot_cost_by_placement=(("product_page", 0.2),))  # on there, off elsewhere
    assert only_page.slot_cost_at("product_page") == 0.2 and only_page.slot_cost_at("cart") is None
    assert RulesConfig(slot_cost_by_placement=()).slot_cost_at("product_page") is None
    off, notes = rules.effective_rules(cfg, ["category"], margin_ref=None)  # no prices: off everywhere, one note
    assert all(off.slot_cost_at(p) is None for p in PLACEMENTS)
    assert sum("slot cost per placement" in n for n in notes) == 1


def test_pays_for_slot_by_hand():
    prob, value = np.array([0.1, 0.01, 0.5, 0.04]), np.array([100.0, 100.0, np.nan, 100.0])
    # p x value >= 0.02 x 200 = 4: 10 yes, 1 no, unknown value kept, exactly 4 kept.
    assert rules.pays_for_slot(prob, value, 200.0, 0.02).tolist() == [True, False, True, True]
    assert rules.pays_for_slot(prob, value, None, 0.02).all()  # no stake: nothing to weigh


def test_top_k_matches_full_stable_sort():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 5, size=rng.integers(0, 30)) / 4  # many ties
        k = int(rng.integers(0, 35))
        assert rules.top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


@pytest.mark.parametrize("pool_size", [0, 1, 5, 32, 33, 200])
def test_member_matches_numpy_isin_for_small_and_large_pools(pool_size):
    rng = np.random.default_rng(pool_size)
    values = rng.integers(-1, 60, size=(3, 40))
    pool = rng.integers(0, 60, size=pool_size)
    got = rules.member(values, pool)
    assert got.shape == values.shape and got.dtype == bool
    np.testing.assert_array_equal(got, np.isin(values, pool))
