"""Pair statistics on a shop small enough to count by hand (the `shop` fixture):

    u1: {A, B} day 0, {C} day 3;  u2: {A} day 1, {B} day 10;  u3: {A, B, C} day 2;  u4: {C} day 5
    N = 6 orders; n(A) = n(B) = n(C) = 3; n(AB) = 2, n(AC) = n(BC) = 1; prices A 100, B 20, C 5.
"""

import numpy as np
import pandas as pd
import pytest

from neurec.analytics.orders import PairConfig, order_lines
from neurec.analytics.pair_report import write_pair_outputs
from neurec.analytics.pairs import analyze_pairs

CODES = {"view": 1, "add_to_cart": 2, "purchase": 3}
COLUMNS = ["orders_ab", "support", "confidence", "lift", "buyers_a", "attach_same_order", "attach_within_days",
           "median_gap_days", "revenue_b", "margin_b", "excess_revenue", "excess_margin"]
# segment "all": (A, B) -> values in COLUMNS order, worked out by hand
ALL = {
    ("A", "B"): (2, 2 / 6, 2 / 3, 4 / 3, 3, 2 / 3, 3 / 3, 0.0, 40, 20, (2 - 1.5) * 20, (2 - 1.5) * 10),
    ("B", "A"): (2, 2 / 6, 2 / 3, 4 / 3, 3, 2 / 3, 2 / 3, 0.0, 200, 60, 0.5 * 100, 0.5 * 30),  # u2 bought B after A
    ("A", "C"): (1, 1 / 6, 1 / 3, 2 / 3, 3, 1 / 3, 2 / 3, 1.5, 5, 2, -0.5 * 5, -0.5 * 2),  # u1: C 3 days after A
    ("B", "C"): (1, 1 / 6, 1 / 3, 2 / 3, 3, 1 / 3, 2 / 3, 1.5, 5, 2, -2.5, -1.0),
    ("C", "A"): (1, 1 / 6, 1 / 3, 2 / 3, 3, 1 / 3, 1 / 3, 0.0, 100, 30, -50, -15),
    ("C", "B"): (1, 1 / 6, 1 / 3, 2 / 3, 3, 1 / 3, 1 / 3, 0.0, 20, 10, -10, -5),
}


def canonical(events: pd.DataFrame) -> pd.DataFrame:
    """The shape `neurec.data.prepare.load` returns: integer event types, float unix seconds in `ts`."""
    return events.assign(event_type=events["event_type"].map(CODES).astype("int8"), ts=events["timestamp"]).drop(columns="timestamp")


@pytest.fixture
def result(shop):
    events, catalog = shop
    return analyze_pairs(canonical(events), catalog, PairConfig(min_pair_orders=1))


def _rows(table: pd.DataFrame, segment: str, key: str = "item") -> pd.DataFrame:
    return table[table["segment"] == segment].set_index([f"{key}_a", f"{key}_b"])


def test_product_pairs_match_hand_counts(result):
    got = _rows(result.pairs, "all")
    assert sorted(got.index) == sorted(ALL) and (got["n_orders"] == 6).all()
    for pair, values in ALL.items():
        np.testing.assert_allclose(got.loc[pair, COLUMNS].to_numpy(np.float64), values, err_msg=str(pair))
    assert got.loc[("A", "B"), "category_a"] == "X" and got.loc[("A", "B"), "category_b"] == "Y"


def test_segments(result):
    first = _rows(result.pairs, "first_time")  # first orders: u1 {A,B}, u2 {A}, u3 {A,B,C}, u4 {C}
    assert first.loc[("A", "B"), "n_orders"] == 4 and first.loc[("A", "B"), "lift"] == pytest.approx(2 * 4 / (3 * 2))
    assert first.loc[("A", "B"), "attach_within_days"] == 1.0  # u2's B came in a later order: still counted
    assert _rows(result.pairs, "returning").empty  # {C} and {B}: no pair starts in a later order
    high = _rows(result.pairs, "high_value")  # spend u1 125, u2 120, u3 125, u4 5: the 0.9 quantile is 125
    assert high.loc[("A", "B"), "n_orders"] == 3 and high.loc[("A", "B"), "lift"] == pytest.approx(1.5)


def test_category_pairs(result):
    cats = _rows(result.category_pairs, "all", "category")  # X = {A}, Y = {B, C}; n(X) = 3, n(Y) = 5, n(XY) = 2
    xy, yx = cats.loc[("X", "Y")], cats.loc[("Y", "X")]
    assert (xy["orders_ab"], xy["confidence"], xy["lift"]) == (2, pytest.approx(2 / 3), pytest.approx(0.8))
    assert xy["revenue_b"] == 45 and xy["excess_revenue"] == pytest.approx((2 - 2.5) * 15)
    assert (yx["confidence"], yx["buyers_a"], yx["attach_same_order"]) == (pytest.approx(0.4), 4, 0.5)


def test_window_and_min_orders(shop):
    events, catalog = shop
    got = _rows(analyze_pairs(canonical(events), catalog, PairConfig(min_pair_orders=1, window_days=5)).pairs, "all")
    assert got.loc[("A", "B"), "attach_within_days"] == pytest.approx(2 / 3)  # u2's 9-day gap is outside
    kept = analyze_pairs(canonical(events), catalog, PairConfig(min_pair_orders=2)).pairs
    assert set(zip(kept.loc[kept["segment"] == "all", "item_a"], kept.loc[kept["segment"] == "all", "item_b"])) == {
        ("A", "B"), ("B", "A"), ("A", "C"), ("B", "C")}  # A->C, B->C: two customers within 30 days


def test_event_prices_beat_catalog_prices_and_missing_ones_are_nan(shop):
    events, catalog = shop
    ev = canonical(events).assign(price=np.where(events["item_id"] == "B", 18.0, np.nan))
    got = _rows(analyze_pairs(ev, catalog, PairConfig(min_pair_orders=1)).pairs, "all")
    assert got.loc[("A", "B"), "revenue_b"] == 36.0 and got.loc[("B", "A"), "revenue_b"] == 200.0
    bare = analyze_pairs(canonical(events), catalog[["item_id"]], PairConfig(min_pair_orders=1))
    assert bare.pairs["revenue_b"].isna().all() and bare.pairs["margin_b"].isna().all() and bare.category_pairs.empty
    assert any("no prices" in n for n in bare.notes) and any("no categories" in n for n in bare.notes)


def test_caps_are_reported(shop):
    events, catalog = shop
    ol = order_lines(canonical(events), catalog, PairConfig(max_basket=2, max_customer_lines=2))
    assert (~ol.lines["paired"]).sum() == 2  # u3's third line (basket cap) and u1's third line (customer cap)
    assert any("max_basket=2: 1 order(s)" in n for n in ol.notes) and any("max_customer_lines=2" in n for n in ol.notes)


def test_click_only_data_falls_back_to_views(shop):
    events, catalog = shop
    views = canonical(events)
    views = views[views["event_type"] == 1]
    result = analyze_pairs(views, catalog, PairConfig(min_pair_orders=1))
    assert result.summary["basis"] == "view" and any("no purchases" in n for n in result.notes)


def test_outputs_written(result, tmp_path):
    paths = write_pair_outputs(result, tmp_path, "csv", source="hand shop")
    assert pd.read_csv(paths["pairs"]).shape[0] == len(result.pairs)
    report = paths["report"].read_text()
    assert "# Pair analytics" in report and "| A | B | X | Y | 2 |" in report and "hand shop" in report
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"attachment_top_pairs.png", "category_attach.png", "gap_days.png"}
