"""The policy simulation: replay mechanics on a hand-made session whose odds are worked out by hand, the same
checks on a tiny simulated shop, the figures' intervals, and the A/A machinery on a few simulated shops."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest

from neurec.analytics.planning import sample_size_proportions
from neurec.analytics.policies import CatalogueLadder, Fbt, NoRecs, Popularity, Slot, TruthOracle, neutral_rules
from neurec.analytics.policy_sim import (
    KINDS,
    Item,
    ReplayConfig,
    SessionTruth,
    ShopTruth,
    replay,
    sessions_in,
    simulator_truth,
)
from neurec.analytics.policy_stats import AbSimConfig, planned_power, policy_table, simulate_ab, wilson
from neurec.data.config import DataConfig
from neurec.data.prepare import load
from neurec.data.simulate import SimulatorConfig
from neurec.schema import EventType
from neurec.serving.rules_config import RulesConfig

V, C, B = int(EventType.VIEW), int(EventType.ADD_TO_CART), int(EventType.PURCHASE)


@dataclass(frozen=True)
class Shows:
    """A hand-made policy: the same items at the listed placements."""

    items: tuple[str, ...]
    placements: tuple[str, ...] = ("product_page",)
    name: str = "shows"

    def recommend(self, slots, k):
        return [list(self.items[:k]) if s.placement in self.placements else [] for s in slots]


def hand_shop(n_sessions: int = 1) -> tuple[ShopTruth, pd.DataFrame]:
    """Line L in three tiers (m1 < m2 < m3), its complements a1 (attract 1) and a2 (attract 3), a2 out of stock
    only in name (a3 is the out-of-stock one), and an unrelated x. Each session: views m1 twice, carts and buys it.
    Its odds: m1 0.6, m2 0.3, m3 0.1, so one more view adds 0.6/2.2, 0.3/0.2 = 1.5 and 0.1/0.2 = 0.5."""
    items = {"m1": Item(True, "L", 1, "c", True, 0.0, 100.0, 20.0), "m2": Item(True, "L", 2, "c", True, 0.0, 130.0, 30.0),
             "m3": Item(True, "L", 3, "c", True, 0.0, 170.0, 40.0), "a1": Item(False, "L", 1, "c", True, 1.0, 10.0, 5.0),
             "a2": Item(False, "L", 1, "c", True, 3.0, 12.0, 6.0), "a3": Item(False, "L", 1, "c", False, 4.0, 9.0, 4.0),
             "x": Item(False, "Z", 1, "d", True, 1.0, 8.0, 3.0)}
    rows, odds = [], {}
    for s in range(n_sessions):
        user, t = f"u{s}", 1000.0 * s
        rows += [(user, str(100 + s), "m1", V, t), (user, str(100 + s), "m1", V, t + 1),
                 (user, str(100 + s), "m1", C, t + 2), (user, str(100 + s), "m1", B, t + 3)]
        odds[(user, t + 3)] = {"m1": 0.6, "m2": 0.3, "m3": 0.1}
    events = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "ts"])
    users = [f"u{s}" for s in range(n_sessions)]
    # a3 is out of stock; comp_total still counts it: the customer's choice among the line's complements is the
    # simulator's, whatever the shop has on the shelf.
    return ShopTruth(items, dict.fromkeys(users, 0.5), dict.fromkeys(users, 0.5), odds), events


def run(policy, n_sessions: int = 400, seed: int = 0):
    truth, events = hand_shop(n_sessions)
    return replay(policy, sessions_in(events, 0.0, truth), events, truth, ReplayConfig(seed=seed)), truth


def test_none_keeps_the_logged_orders_and_shows_nothing():
    out, _ = run(NoRecs(), 5)
    assert out.value.tolist() == [100.0] * 5 and out.margin.tolist() == [20.0] * 5 and out.converted.all()
    assert len(out.imp_session) == 0
    table = policy_table([out], n_boot=50)
    assert table["none"]["acceptance"] == 0.0 and table["none"]["aov_lift_vs_none"] == 0.0


def test_an_accepted_upsell_replaces_the_anchor_with_the_truths_probability():
    out, _ = run(Shows(("m2",)))
    assert np.allclose(out.imp_p, 1.5 / 2.5)  # one more view of m2: weight 1 + 1.5, of which m2's share 1.5
    switched = out.imp_incremental
    assert set(out.value[switched]) == {130.0} and set(out.value[~switched]) == {100.0}  # replaced, never added
    assert abs(switched.mean() - 0.6) < 3 * np.sqrt(0.6 * 0.4 / 400)
    assert (out.imp_kind == KINDS.index("upsell")).all() and (out.imp_attributed == switched).all()


def test_an_accepted_cross_sell_is_added_with_the_truths_probability():
    out, _ = run(Shows(("a1", "x", "a3"), placements=("checkout",)))
    p = 0.5 * 1.0 / (1.0 + 3.0 + 4.0)  # cross-sell rate x a1's share of the line's attractiveness
    a1, x, a3 = (out.imp_p[i::3] for i in range(3))
    assert np.allclose(a1, p) and (x == 0).all() and (a3 == 0).all()  # unrelated, out of stock: never
    took = out.imp_incremental[0::3]
    assert set(out.value[took]) == {110.0} and set(out.value[~took]) == {100.0}
    assert abs(took.mean() - p) < 3 * np.sqrt(p * (1 - p) / 400)
    assert [KINDS[k] for k in out.imp_kind[:3]] == ["cross_sell", "other", "cross_sell"]


def test_common_random_numbers_give_identical_policies_identical_results():
    first, _ = run(Shows(("m2", "m3", "a1", "a2"), ("product_page", "cart", "checkout"), name="p"))
    again, _ = run(Shows(("a2", "m3", "a1", "m2"), ("product_page", "cart", "checkout"), name="q"))  # other order
    assert np.array_equal(first.value, again.value) and np.array_equal(first.margin, again.margin)
    assert first.imp_incremental.sum() == again.imp_incremental.sum() > 0
    other_seed, _ = run(Shows(("m2", "m3", "a1", "a2"), ("product_page", "cart", "checkout")), seed=1)
    assert not np.array_equal(first.value, other_seed.value)


def test_a_shown_item_is_one_more_view_at_every_placement():
    out, _ = run(Shows(("m3",), ("product_page", "cart")), n_sessions=1)
    # Product page: weight 1 + 0.5. Cart: m3 again adds 0.5 to the 1.5 (whether or not the customer switched).
    assert np.allclose(out.imp_p, [0.5 / 1.5, 0.5 / 2.0])


def test_the_oracle_ranks_by_expected_gain_under_the_truth():
    truth, events = hand_shop(1)
    sessions = sessions_in(events, 0.0, truth)
    oracle = TruthOracle(sessions, SessionTruth(truth))
    slot = Slot(0, "u0", "product_page", "m1", (), np.array([]), np.array([]), np.array([]), 0.0)
    # m2: 1.5 / 2.5 x 30 = 18; m3: 0.5 / 1.5 x 70 = 23.3; a2: 0.5 x 3/8 x 12 = 2.25; a1: 0.5 x 1/8 x 10 = 0.625
    assert oracle.recommend([slot], 4) == [["m3", "m2", "a2", "a1"]]
    assert oracle.gain(sessions[0], "m1", "m3") == pytest.approx(0.5 / 1.5 * 70)
    out = replay(oracle, sessions, events, truth)
    assert out.value[0] >= 100.0


def test_the_ceiling_by_hand_and_against_the_oracle():
    from neurec.analytics.policy_bound import expected_ceiling

    truth, events = hand_shop(1)
    sessions = sessions_in(events, 0.0, truth)
    one = expected_ceiling(sessions, truth, placements=1)
    # One placement: showing m2 and m3 together beats either alone (118, 123.3): 100/3 + 1.5/3 x 130 + 0.5/3 x 170.
    assert one.upsell_gain == pytest.approx(100 / 3 + 65 + 85 / 3 - 100)
    assert one.cross_sell_gain == pytest.approx(0.5 * 3 / 8 * 12 + 0.5 * 1 / 8 * 10)  # a2, a1; a3 has no stock
    assert one.aov_lift == pytest.approx((100 + one.upsell_gain + one.cross_sell_gain) / 100 - 1)
    assert expected_ceiling(sessions, truth, placements=0).upsell_gain == 0.0
    three = expected_ceiling(sessions, truth)
    assert three.upsell_gain > one.upsell_gain and three.cross_sell_gain == one.cross_sell_gain
    # No policy beats it on average: the greedy oracle over 400 copies of the session stays below, within noise.
    truth400, events400 = hand_shop(400)
    many = sessions_in(events400, 0.0, truth400)
    oracle = replay(TruthOracle(many, SessionTruth(truth400), alternatives=False), many, events400, truth400).value
    assert oracle.mean() - 100 <= three.upsell_gain + three.cross_sell_gain + 3 * oracle.std() / np.sqrt(400)
    assert oracle.mean() - 100 >= 0.8 * (three.upsell_gain + three.cross_sell_gain)  # and the oracle is close to it


def tiny_shop():
    cfg = SimulatorConfig(n_customers=300, days=30, n_categories=3, lines_per_category=3, seed=7)
    events = load(DataConfig(simulator=cfg)).events
    truth = simulator_truth(cfg)
    start = float(np.quantile(events["ts"], 0.7))
    return truth, events, sessions_in(events, start, truth)


class TierUpAndComplements:
    name = "tier_up"

    def __init__(self, truth: ShopTruth):
        self.items = truth.items

    def recommend(self, slots: list[Slot], k: int) -> list[list[str]]:
        out = []
        for s in slots:
            a = self.items.get(s.anchor)
            up = (lambda it: a is not None and a.main and it.main and it.line == a.line and it.tier == a.tier + 1)  # noqa: E731
            ups = [i for i, it in self.items.items() if up(it)]
            comps = [i for i, it in self.items.items() if a and not it.main and it.line == a.line and i not in s.cart]
            out.append((ups + sorted(comps))[:k])
        return out


def test_replay_on_a_simulated_shop():
    truth, events, sessions = tiny_shop()
    assert sum(s.main is not None for s in sessions) > 10
    none = replay(NoRecs(), sessions, events, truth)
    logged = np.array([sum(truth.items[i].price for i in s.bought) for s in sessions])
    assert np.allclose(none.value, logged) and none.converted.tolist() == [bool(s.bought) for s in sessions]
    a = replay(TierUpAndComplements(truth), sessions, events, truth)
    b = replay(TierUpAndComplements(truth), sessions, events, truth)
    assert np.array_equal(a.value, b.value) and a.imp_incremental.any()
    assert np.array_equal(a.converted, none.converted)  # the simulator's buy decision ignores what is shown
    assert not a.imp_incremental[~none.converted[a.imp_session]].any()
    assert ((a.imp_p >= 0) & (a.imp_p <= 1)).all() and (a.value >= 0).all()
    table = policy_table([none, a], fbt="none", n_boot=200)
    lift = table["tier_up"]
    low, high = lift["aov_lift_vs_none_ci"]
    assert 0 < lift["aov_lift_vs_none"] and low <= lift["aov_lift_vs_none"] <= high
    assert lift["conversion_diff_vs_none_ci"] == (0.0, 0.0)
    # Resampling customers: one customer's sessions are drawn together; point figures do not change.
    by_customer = policy_table([none, a], fbt="none", n_boot=200, customers=[x.user_id for x in sessions])["tier_up"]
    assert by_customer["aov_lift_vs_none"] == lift["aov_lift_vs_none"]
    lo, hi = by_customer["aov_lift_vs_none_ci"]
    assert lo <= by_customer["aov_lift_vs_none"] <= hi


def test_customer_bootstrap_draws_a_customers_sessions_together():
    from neurec.analytics.policy_stats import bootstrap_weights

    w = bootstrap_weights(5, 300, 0, ["u1", "u1", "u2", "u3", "u3"])
    assert w.shape == (300, 5)
    assert np.array_equal(w[:, 0], w[:, 1]) and np.array_equal(w[:, 3], w[:, 4])
    assert np.all(w[:, [0, 2, 3]].sum(axis=1) == 3)  # three customers drawn per resample


def test_baseline_policies_keep_the_minimal_hygiene():
    slot = Slot(0, "u", "cart", "a", ("b",), np.array([]), np.array([]), np.array([]), 0.0)
    pop = Popularity(("a", "b", "c", "d", "e"), frozenset({"c"}))
    assert pop.recommend([slot], 2) == [["d", "e"]]
    fbt = Fbt({"a": {"b": 3.0, "c": 2.0, "d": 1.5}, "b": {"e": 2.5, "d": 4.0}}, frozenset({"c"}))
    assert fbt.recommend([slot], 4) == [["d", "e"]]  # best lift from any anchor; no anchor, cart or empty shelf
    seen = Slot(0, "u", "cart", "a", ("b",), np.array([]), np.array([]), np.array([]), 0.0, shown=("d",))
    assert fbt.recommend([seen], 4) == [["e", "d"]] and pop.recommend([seen], 2) == [["e", "d"]]  # offered before: last


class Records:
    """Shows fixed items per placement and keeps the slots it was asked about."""

    name = "records"

    def __init__(self, shows: dict[str, tuple[str, ...]]):
        self.shows, self.slots = shows, []

    def recommend(self, slots, k):
        self.slots += slots
        return [list(self.shows.get(s.placement, ())) for s in slots]


def test_the_catalogue_ladder_reads_only_the_catalogue():
    # Line L in three tiers (t3 out of stock), L2 in one; L's complements at 10 / 30 / 20, one of them out of stock.
    catalog = pd.DataFrame({
        "item_id": ["t1", "t2", "t3", "u1", "c10", "c30", "c20", "c99"],
        "product_line": ["L", "L", "L", "L2", None, None, None, None],
        "tier": [1, 2, 3, 1, None, None, None, None],
        "complement_of": ["", "", "", "", "L", "L", "L", "L"],
        "price": [100, 130, 170, 50, 10, 30, 20, 99],
        "stock": [5, 5, 0, 5, 5, 5, 5, 0],
    })
    ladder = CatalogueLadder.from_catalog(catalog, upsells=2, cross_sells=2)
    page = Slot(0, "u", "product_page", "t1", (), np.array([]), np.array([]), np.array([]), 0.0)
    assert ladder.recommend([page], 4) == [["t2", "c30", "c20"]]  # t3 has no stock; complements dearest first
    # In the cart after switching to t2: its higher tier is gone (no stock), a complement already offered is not
    # offered again, an upgrade would be.
    cart = Slot(0, "u", "cart", "t2", ("t2",), np.array([]), np.array([]), np.array([]), 0.0, shown=("c30",))
    assert ladder.recommend([cart], 4) == [["c20", "c10"]]
    again = Slot(0, "u", "cart", "t1", ("t1",), np.array([]), np.array([]), np.array([]), 0.0, shown=("t2",))
    assert ladder.recommend([again], 2) == [["t2", "c30"]]
    assert ladder.recommend([Slot(0, "u", "product_page", "u1", (), np.array([]), np.array([]), np.array([]), 0.0)], 4) == [[]]


def test_the_replay_tells_later_placements_what_was_shown_and_not_taken():
    truth, events = hand_shop(1)
    sessions = sessions_in(events, 0.0, truth)
    policy = Records({"product_page": ("a1", "x"), "cart": ("a2",)})
    out = replay(policy, sessions, events, truth)
    shown = {s.placement: s.shown for s in policy.slots}
    taken = {item for item, sold in zip(("a1", "x", "a2"), out.imp_incremental) if sold}
    assert shown["product_page"] == ()
    assert shown["cart"] == tuple(i for i in ("a1", "x") if i not in taken)
    assert shown["checkout"] == tuple(i for i in ("a1", "x", "a2") if i not in taken)


def test_neutral_rules_switch_off_the_business_rules_only():
    rules = RulesConfig(min_probability=0.02, margin_weight=0.5, max_per_category=3, free_shipping_threshold=50.0)
    off = neutral_rules(rules)
    assert off.min_probability == 0 and off.margin_weight == 0 and off.max_per_category is None
    assert off.free_shipping_threshold is None and off.checkout_price_cap is None and off.placement_boost == 1.0
    assert off.top_k == rules.top_k and off.drop_out_of_stock and off.drop_in_cart and off.upsell_band == rules.upsell_band


def test_rule_ablations_switch_off_one_rule_each():
    from dataclasses import fields

    from neurec.analytics.policies import rule_ablations

    rules = RulesConfig(min_probability=0.02, margin_weight=0.5, max_per_category=3, free_shipping_threshold=None)
    variants = rule_ablations(rules)
    assert "free_shipping_threshold" not in variants  # already off: nothing to measure
    assert variants["min_probability"] == RulesConfig(margin_weight=0.5, max_per_category=3, free_shipping_threshold=None)
    moved = {name: {f.name for f in fields(RulesConfig) if getattr(changed, f.name) != getattr(rules, f.name)}
             for name, changed in variants.items()}
    assert moved == {
        "min_probability": {"min_probability"}, "margin_weight": {"margin_weight"},
        "placement_preference": {"placement_preference"}, "checkout_price_cap": {"checkout_price_cap"},
        "max_per_category": {"max_per_category"},
        "drop_already_bought, drop_declined": {"drop_already_bought", "drop_declined"},
        "low_stock and strategic factors": {"low_stock_threshold", "strategic_boost"}, "shown_factor": {"shown_factor"},
    }
    # The per-kind exemptions and the two-step ladder go back to the simpler rule they refine.
    richer = RulesConfig(slot_cost=0.01, slot_cost_free=1, slot_cost_free_by_kind=(("upsell", 2),), upsell_tiers=2)
    variants = rule_ablations(richer)
    assert variants["slot_cost_free_by_kind"].slot_cost_free_by_kind is None
    assert variants["slot_cost_free_by_kind"].slot_cost_free == 1
    assert variants["upsell_tiers"].upsell_tiers == 1 and variants["upsell_tiers"].slot_cost_free_by_kind == (("upsell", 2),)
    assert "slot_cost_free_reoffers" not in variants  # every kind's re-offers are already free
    upgrades_only = rule_ablations(replace(richer, slot_cost_free_reoffers=("upsell",)))
    assert upgrades_only["slot_cost_free_reoffers"].slot_cost_free_reoffers == ("other", "upsell", "cross_sell")
    assert "slot_cost_by_placement" not in variants  # one cost everywhere already
    per_page = rule_ablations(replace(richer, slot_cost_by_placement=(("product_page", 0.2),)))
    assert per_page["slot_cost_by_placement"] == richer  # back to the one shared cost
    assert per_page["slot_cost"].slot_cost_at("product_page") is None  # "slot cost off" is off at every placement


def test_wilson_and_planned_power():
    low, high = wilson(20, 100)
    assert low == pytest.approx(0.1334, abs=1e-3) and high == pytest.approx(0.2888, abs=1e-3)
    n_a, _ = sample_size_proportions(0.2, 0.03, power=0.8)
    assert planned_power(0.2, 0.23, n_a) == pytest.approx(0.8, abs=0.002)


def test_aa_and_ab_machinery_is_seeded_and_sane():
    cfg = AbSimConfig(reps=12, lift=0.5, n_customers=200, days=14)
    base = SimulatorConfig(n_categories=3, lines_per_category=3)
    first, again = simulate_ab(base, cfg), simulate_ab(base, cfg)
    assert first == again
    assert set(first.false_positive) == {"conversion_customer", "conversion_session", "aov_order", "revenue_customer",
                                         "aov_customer"}
    assert all(0 <= v <= 0.5 for v in first.false_positive.values())
    assert first.rates[1] > first.rates[0] and 0 < first.power_predicted < 1 and 0 <= first.power_observed <= 1
    assert abs(sum(first.n_per_arm) / 2 - 100) < 40  # about half of the visiting customers in each arm


def test_choice_cost_factor_by_hand():
    from neurec.analytics.policy_sim import COSTS, ChoiceCost

    cost = ChoiceCost("t", free_slots=2, per_extra=0.1, per_irrelevant=0.2)
    assert cost.keep(4, 1) == pytest.approx(0.9**2 * 0.8)
    assert cost.keep(2, 0) == 1.0 and ChoiceCost().keep(10, 10) == 1.0  # the default costs nothing
    assert COSTS["none"].keep(4, 4) == 1.0 and COSTS["strong"].keep(4, 1) < COSTS["mild"].keep(4, 1) < 1.0


def test_a_choice_cost_loses_orders_and_fewer_or_better_offers_lose_fewer():
    from neurec.analytics.policy_sim import ChoiceCost

    truth, events = hand_shop(400)
    sessions = sessions_in(events, 0.0, truth)
    cost = ChoiceCost("t", free_slots=2, per_extra=0.1, per_irrelevant=0.2)
    cfg = ReplayConfig(cost=cost)
    # x is unrelated (line Z) and a3 out of stock: both poorly matched; four items are two beyond the free slots.
    many = replay(Shows(("a1", "a2", "x", "a3")), sessions, events, truth, cfg)
    keep = 0.9**2 * 0.8**2
    assert abs(many.lost.mean() - (1 - keep)) < 3 * np.sqrt(keep * (1 - keep) / 400)
    assert (many.value[many.lost] == 0).all() and not many.converted[many.lost].any()
    assert not (many.imp_attributed | many.imp_incremental)[many.lost[many.imp_session]].any()
    again = replay(Shows(("a1", "a2", "x", "a3")), sessions, events, truth, cfg)
    assert np.array_equal(many.lost, again.lost)  # common random numbers
    # The same uniform per session: a policy that risks less loses a subset of those orders.
    fewer = replay(Shows(("a1", "a2", "x")), sessions, events, truth, cfg)
    relevant = replay(Shows(("a1", "a2")), sessions, events, truth, cfg)
    assert fewer.lost.sum() < many.lost.sum() and not (fewer.lost & ~many.lost).any()
    assert not relevant.lost.any()  # two related items, within the free slots
    assert not replay(NoRecs(), sessions, events, truth, cfg).lost.any()
    assert not replay(Shows(("a1", "a2", "x", "a3")), sessions, events, truth).lost.any()  # no cost, no loss
    # The chance behind each draw: 1 - keep for every session with an order, lost or not; none without one.
    ordered = many.converted | many.lost
    assert ordered.any() and np.allclose(many.at_risk[ordered], 1 - keep) and not many.at_risk[~ordered].any()
    assert np.allclose(fewer.at_risk[ordered], 1 - 0.9 * 0.8) and not relevant.at_risk.any()
    assert not replay(Shows(("a1", "a2", "x", "a3")), sessions, events, truth).at_risk.any()


def test_policy_table_per_session_figures_count_the_lost_orders():
    from neurec.analytics.policy_sim import ChoiceCost

    truth, events = hand_shop(200)
    sessions = sessions_in(events, 0.0, truth)
    cfg = ReplayConfig(cost=ChoiceCost("t", free_slots=1, per_extra=0.2, per_irrelevant=0.0))
    none = replay(NoRecs(), sessions, events, truth, cfg)
    shows = replay(Shows(("a2", "a1", "m2")), sessions, events, truth, cfg)
    table = policy_table([none, shows], fbt="none", n_boot=100)["shows"]
    assert table["orders_lost"] == int(shows.lost.sum()) > 0
    assert table["orders_lost_expected"] == pytest.approx(shows.at_risk.sum()) and shows.at_risk.max() == pytest.approx(0.36)
    assert table["orders_lost_expected_diff_vs_fbt"] == pytest.approx(shows.at_risk.sum())  # fbt="none": it risks nothing
    low, high = table["orders_lost_expected_diff_vs_fbt_ci"]  # every session orders and risks the same: no spread
    assert low == pytest.approx(high) == pytest.approx(shows.at_risk.sum())
    assert table["conversion"] == pytest.approx(1 - shows.lost.mean())
    assert table["revenue_per_session"] == pytest.approx(shows.value.mean())
    assert table["margin_per_session"] == pytest.approx(shows.margin.mean())
    assert table["revenue_lift_vs_none"] == pytest.approx(shows.value.sum() / none.value.sum() - 1)
    assert table["margin_lift_vs_none"] == pytest.approx(shows.margin.sum() / none.margin.sum() - 1)
    low, high = table["revenue_lift_vs_none_ci"]
    assert low <= table["revenue_lift_vs_none"] <= high
    # AOV counts only the orders kept, so it can rise while revenue per session falls.
    assert table["aov"] == pytest.approx(shows.value.sum() / shows.converted.sum())


def test_the_ceiling_under_a_choice_cost_by_hand():
    from neurec.analytics.policy_bound import expected_ceiling
    from neurec.analytics.policy_sim import ChoiceCost

    truth, events = hand_shop(1)
    sessions = sessions_in(events, 0.0, truth)
    free = expected_ceiling(sessions, truth, placements=1)
    assert free.revenue_lift == pytest.approx(free.aov_lift)  # no cost: the ceiling above
    upsell = 100 / 3 + 65 + 85 / 3 - 100
    # One free slot: the best complement (a2, 2.25) rides free; a second (a1, 0.625) would risk half the order.
    costly = expected_ceiling(sessions, truth, placements=1, cost=ChoiceCost("t", 1, 0.5, 0.0))
    assert costly.revenue_lift == pytest.approx((100 + upsell + 2.25) / 100 - 1) and costly.cost == "t"
    cheap = expected_ceiling(sessions, truth, placements=1, cost=ChoiceCost("t", 1, 0.001, 0.0))
    assert cheap.revenue_lift == pytest.approx(0.999 * (100 + upsell + 2.25 + 0.625) / 100 - 1)
    assert costly.aov_lift == free.aov_lift  # the cost-free figure is kept beside it


def test_the_oracle_shows_only_what_pays_for_its_risk():
    from neurec.analytics.policy_sim import ChoiceCost

    truth, events = hand_shop(1)
    sessions = sessions_in(events, 0.0, truth)
    slot = Slot(0, "u0", "product_page", "m1", (), np.array(["m1", "m1"]), np.array([V, V]), np.array([0.0, 1.0]), 2.0)
    # Gains m3 23.3, m2 18, a2 2.25, a1 0.625 (above). Beyond the one free slot each item risks half the order.
    dear = TruthOracle(sessions, SessionTruth(truth), alternatives=False, cost=ChoiceCost("t", 1, 0.5, 0.0))
    assert dear.recommend([slot], 4) == [["m3"]]
    cheap = TruthOracle(sessions, SessionTruth(truth), alternatives=False, cost=ChoiceCost("t", 1, 0.001, 0.0))
    assert cheap.recommend([slot], 4) == [["m3", "m2", "a2", "a1"]]


def test_a_scorer_policy_asks_for_the_room_on_the_page_at_most_the_rules_top_k():
    from types import SimpleNamespace

    from neurec.analytics.policies import ScorerPolicy

    slot = Slot(0, "u", "cart", "a1", ("a1",), np.array(["a1"]), np.array([int(EventType.VIEW)]), np.array([1.0]), 2.0)
    for top_k, room, asked in ((4, 4, 4), (2, 4, 2), (4, 3, 3)):
        scorer = SimpleNamespace(bundle=SimpleNamespace(max_history=50), rules=RulesConfig(top_k=top_k))
        request = ScorerPolicy(scorer, "neurec").request(slot, room)
        assert request["k"] == asked and request["history"][0]["item_id"] == "a1"
