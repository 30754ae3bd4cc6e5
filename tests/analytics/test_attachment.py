"""Real-basket attachment: the split, the slots, the figures worked out by hand for a fake policy, the size ladder,
the errors; and, when ../shared/data holds it, FBT and popularity on a sample of Online Retail's test invoices."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from neurec.analytics.attachment import (Basket, LadderUpsell, attachment_table, basket_slots, run_policy,
                                         size_ladders, split_basket, holdout_baskets)
from neurec.data.errors import DataError

V, B = 1, 3  # EventType.VIEW, EventType.PURCHASE
TEST_START = 100.0
NO_EVENTS = pd.DataFrame(columns=["user_id", "session_id", "item_id", "event_type", "ts", "price"])


def shop(quantity: bool = False) -> pd.DataFrame:
    """u1: bought X, Y in training (a), then X (two lines), Y, Z, W in the test period (b).
    u2: a single-item test invoice (c), then Y, Z after viewing Z in the same visit (d).
    u3: an invoice that starts before the test period and ends in it with two items (e)."""
    rows = [  # user, session, item, type, ts, price, quantity
        ("u1", "a", "X", B, 10.0, 10.0, 1), ("u1", "a", "Y", B, 10.0, 20.0, 1),
        ("u1", "b", "X", B, 200.0, 10.0, 2), ("u1", "b", "Y", B, 200.0, 20.0, 1), ("u1", "b", "X", B, 201.0, 10.0, 1),
        ("u1", "b", "Z", B, 201.0, 5.0, 4), ("u1", "b", "W", B, 202.0, 2.0, 10),
        ("u2", "c", "X", B, 150.0, 10.0, 1),
        ("u2", "d", "Z", V, 290.0, np.nan, np.nan), ("u2", "d", "Y", B, 300.0, 20.0, 3),
        ("u2", "d", "Z", B, 300.0, 5.0, np.nan),
        ("u3", "e", "X", B, 90.0, 10.0, 1), ("u3", "e", "Y", B, 110.0, 20.0, 1), ("u3", "e", "Z", B, 110.0, 5.0, 1),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "ts", "price", "quantity"])
    return events if quantity else events.drop(columns="quantity")


def test_a_split_keeps_one_item_on_each_side_and_hides_half():
    for n in range(2, 13):
        items = [f"i{j}" for j in range(n)]
        for key in range(30):
            visible, held = split_basket(items, seed=0, key=str(key))
            assert len(held) == max(1, n // 2) and len(visible) == n - len(held) >= 1
            assert sorted(visible + held) == sorted(items)
            assert list(visible) == [i for i in items if i in visible]  # the basket's order
    for share in (0.01, 0.99, 1.0):  # whatever the share, neither side is ever empty
        for n in (2, 3, 7):
            visible, held = split_basket([f"i{j}" for j in range(n)], seed=0, key="k", hold_out=share)
            assert len(visible) >= 1 and len(held) >= 1
    with pytest.raises(ValueError, match="at least 2"):
        split_basket(["only"], seed=0, key="k")


def test_a_split_depends_on_the_seed_and_the_basket_only():
    items = [f"i{j}" for j in range(10)]
    assert split_basket(items, 3, "u\x1fs") == split_basket(items, 3, "u\x1fs")
    assert len({split_basket(items, seed, "u\x1fs") for seed in range(10)}) > 1
    assert len({split_basket(items, 3, f"u\x1f{key}") for key in range(10)}) > 1


def test_only_test_period_baskets_with_two_items_are_kept():
    baskets = holdout_baskets(shop(), TEST_START, seed=0)
    assert [(b.user_id, b.session_id) for b in baskets] == [("u1", "b"), ("u2", "d")]  # c: 1 item; e: starts at 90
    b, d = baskets
    assert b.ts == 200.0 and sorted(b.visible + b.held_out) == ["W", "X", "Y", "Z"] and len(b.held_out) == 2
    assert sorted(d.visible + d.held_out) == ["Y", "Z"] and len(d.held_out) == 1
    assert baskets == holdout_baskets(shop(), TEST_START, seed=0)


def test_an_end_keeps_the_validation_periods_baskets_only():
    # Baskets starting in [50, 250): e (from 90) and b (200); d starts at 290, after the end.
    inside = holdout_baskets(shop(), 50.0, seed=0, end=250.0)
    assert [(b.user_id, b.session_id) for b in inside] == [("u3", "e"), ("u1", "b")]
    assert inside[1] == holdout_baskets(shop(), TEST_START, seed=0)[0]  # the same split whatever the window


def test_a_cap_samples_baskets_without_changing_their_split():
    events = pd.concat([shop().assign(user_id=lambda f, n=n: f["user_id"] + f"-{n}") for n in range(20)])
    every = {(b.user_id, b.session_id): b for b in holdout_baskets(events, TEST_START, seed=4)}
    capped = holdout_baskets(events, TEST_START, seed=4, max_baskets=7)
    assert len(every) == 40 and len(capped) == 7
    assert all(every[(b.user_id, b.session_id)] == b for b in capped)
    assert [b.ts for b in capped] == sorted(b.ts for b in capped)


def test_revenue_is_price_times_quantity_summed_over_an_items_lines():
    with_quantity = {"b": {"X": 10.0 * 2 + 10.0 * 1, "Y": 20.0, "Z": 5.0 * 4, "W": 2.0 * 10},
                     "d": {"Y": 20.0 * 3, "Z": 5.0}}  # d's Z has no quantity: one unit
    unit_price = {"b": {"X": 20.0, "Y": 20.0, "Z": 5.0, "W": 2.0}, "d": {"Y": 20.0, "Z": 5.0}}  # X: two lines
    seen = set()
    for seed in range(10):
        for events, expected in ((shop(quantity=True), with_quantity), (shop(), unit_price)):
            for b in holdout_baskets(events, TEST_START, seed):
                assert dict(zip(b.held_out, b.value)) == {i: expected[b.session_id][i] for i in b.held_out}
                seen |= {(b.session_id, i) for i in b.held_out}
    assert len(seen) == 6  # every line was hidden under some seed


def test_the_slot_holds_earlier_visits_then_the_visible_part_as_purchases():
    baskets = holdout_baskets(shop(), TEST_START, seed=0)
    b, d = basket_slots(baskets, shop())
    assert b.placement == "cart" and b.anchor is None and b.cart == baskets[0].visible and b.now == 200.0
    n = len(baskets[0].visible)
    assert list(b.hist_items) == ["X", "Y", *baskets[0].visible]  # session a, then the cart
    assert list(b.hist_types) == [B, B] + [B] * n and list(b.hist_ts[2:]) == [200.0] * n
    # u2: session c (ts 150) is history; the view of Z in the basket's own visit is not (Z may be hidden)
    assert list(d.hist_items) == ["X", *baskets[1].visible] and d.session == 1


@dataclass(frozen=True)
class Fixed:
    """A hand-made policy: a fixed list per basket."""

    lists: tuple[tuple[str, ...], ...]
    name: str

    def recommend(self, slots, k):
        return [list(self.lists[s.session]) for s in slots]


def hand_baskets() -> tuple[list[Basket], pd.DataFrame]:
    """b1 (u1, bought H before): cart A, hidden H 10.0 and C 4.0; b2 (u2): cart A, B, hidden C 6.0;
    b3 (u3): cart D, hidden E without a price."""
    baskets = [Basket("u1", "s1", 50.0, ("A",), ("H", "C"), (10.0, 4.0)),
               Basket("u2", "s2", 60.0, ("A", "B"), ("C",), (6.0,)),
               Basket("u3", "s3", 70.0, ("D",), ("E",), (math.nan,))]
    history = pd.DataFrame({"user_id": ["u1", "u3"], "session_id": ["s0", "s9"], "item_id": ["H", "E"],
                            "event_type": [B, V], "ts": [5.0, 6.0], "price": [10.0, 1.0]})
    return baskets, history


def test_the_figures_of_a_fake_policy_worked_out_by_hand():
    baskets, history = hand_baskets()
    slots = basket_slots(baskets, history)
    policy = Fixed((("H", "X", "C", "Y", "Z"), ("X",), ("E", "F")), "p")  # k=4 cuts b1's list after Y
    fbt = Fixed((("Q",), ("C",), ()), "fbt")
    again = Fixed((("H",), (), ()), "again")  # only what u1 bought before
    runs = [run_policy(pol, baskets, slots, k=4) for pol in (policy, fbt, again)]
    assert list(runs[0].hits) == [2, 0, 1] and list(runs[0].suggested) == [4, 1, 2]
    assert list(runs[0].revenue) == [14.0, 0.0, 0.0] and list(runs[0].repeat_hits) == [1, 0, 0]  # only u1 bought H
    table = attachment_table(runs, baskets, n_boot=300, seed=1)
    p, f = table["p"], table["fbt"]
    assert p["attachment_rate"] == pytest.approx(2 / 3) and f["attachment_rate"] == pytest.approx(1 / 3)
    assert p["precision"] == pytest.approx(3 / 7) and f["precision"] == pytest.approx(1 / 2)
    assert p["revenue_per_basket"] == pytest.approx(14 / 3) and f["revenue_per_basket"] == pytest.approx(2.0)
    assert p["repeat_share_of_hits"] == pytest.approx(1 / 3) and f["with_suggestion"] == pytest.approx(2 / 3)
    assert p["ratio_to_fbt"] == pytest.approx(2.0) and p["revenue_ratio_to_fbt"] == pytest.approx(14 / 6)
    # new items: b1's C (its H was bought before) and b3's E (only viewed before); fbt's C in b2
    assert p["new_item_attachment_rate"] == pytest.approx(2 / 3) and p["new_item_ratio_to_fbt"] == pytest.approx(2.0)
    assert table["again"]["attachment_rate"] == pytest.approx(1 / 3) and table["again"]["new_item_attachment_rate"] == 0
    assert table["again"]["repeat_share_of_hits"] == 1.0
    assert f["ratio_to_fbt"] == 1.0 and f["ratio_to_fbt_ci"] == (1.0, 1.0)
    lo, hi = p["attachment_rate_ci"]
    assert lo <= 2 / 3 <= hi and p["attachment_rate_wilson"][0] < 2 / 3 < p["attachment_rate_wilson"][1]


def test_the_ratio_interval_is_paired():
    """A copy of the reference on the same baskets has ratio exactly 1 in every resample; a policy that hits the
    reference's baskets and one more is above 1 in every resample that keeps that basket, never below."""
    rng = np.random.default_rng(0)
    n = 200
    baskets = [Basket(f"u{j % 80}", f"s{j}", float(j), ("A",), ("C",), (1.0,)) for j in range(n)]
    slots = basket_slots(baskets, NO_EVENTS)
    ref_hits = rng.random(n) < 0.3
    ref = Fixed(tuple(("C",) if h else ("X",) for h in ref_hits), "fbt")
    extra = int(np.flatnonzero(~ref_hits)[0])
    more = Fixed(tuple(("C",) if h or j == extra else ("X",) for j, h in enumerate(ref_hits)), "more")
    table = attachment_table([run_policy(p, baskets, slots, 4) for p in (ref, more)], baskets, n_boot=500, seed=0)
    assert table["fbt"]["ratio_to_fbt_ci"] == (1.0, 1.0)
    lo, hi = table["more"]["ratio_to_fbt_ci"]
    assert 1.0 <= lo <= table["more"]["ratio_to_fbt"] <= hi < 1.1


def test_no_test_baskets_and_no_prices_are_named():
    with pytest.raises(DataError, match="no test baskets: none of the 1 sessions .* holds 2 or more distinct"):
        holdout_baskets(shop().query("session_id in ['a', 'c']"), TEST_START)  # c holds one item; a is training
    with pytest.raises(DataError, match="no test baskets: none of the 0 sessions"):
        holdout_baskets(shop(), 1e9)
    with pytest.raises(DataError, match="no prices: .*'price' column"):
        holdout_baskets(shop().drop(columns="price"), TEST_START)
    with pytest.raises(DataError, match="no prices"):
        holdout_baskets(shop().assign(price=np.nan), TEST_START)


def test_size_ladders_join_one_size_word_apart_by_training_price():
    desc = {"s": "SMALL RED BOX", "m": "Medium red  box", "l": "LARGE RED BOX ", "g": "GIANT RED BOX", "x": "RED BOX",
            "two": "SMALL LARGE RED BOX", "np": "MINI RED BOX", "j": "JUMBO BAG"}
    price = {"s": 1.0, "m": 2.0, "l": 3.0, "g": 3.0, "x": 0.5, "two": 9.0, "j": 5.0}
    ladders = size_ladders(desc, price)
    # x: no size word; two: two; np: no price; j: alone; l and g: the same price, so neither is a step up
    assert ladders == {"s": ("m", "g", "l"), "m": ("g", "l")}
    slots = basket_slots([Basket("u", "1", 1.0, ("s", "m"), ("l",), (3.0,)),
                          Basket("u", "2", 2.0, ("j", "l"), ("s",), (1.0,))], NO_EVENTS)
    assert LadderUpsell(ladders).recommend(slots, k=4) == [["g"], []]  # s's next rung m is in the cart


def test_online_retail_sample_fbt_and_popularity(compose_train, tmp_path, online_retail_csv):
    """300 real test invoices, no training: the figures are in a plausible band and FBT beats popularity."""
    import hydra

    from neurec.analytics.policies import Fbt, Popularity, fbt_partners, popularity_ranking
    from neurec.data.prepare import load, split
    from neurec.models.baselines import FrequentlyBoughtTogether, TrainView
    from neurec.vocab import ItemVocab

    plain = online_retail_csv
    cfg = hydra.utils.instantiate(compose_train(["data=online_retail", f"data.events_path={plain}"], tmp_path).data,
                                  _convert_="all")
    events = load(cfg).events
    bounds = split(events, cfg)[0]
    train = events.loc[events["ts"] < bounds.valid_start]
    vocab = ItemVocab.fit(train["item_id"].to_numpy())
    idx = vocab.encode(train["item_id"].to_numpy())
    view = TrainView(train.assign(item_idx=idx), train[["user_id", "session_id", "ts"]].assign(item_idx=idx),
                     len(vocab), bounds.valid_start)
    ids = vocab.decode(range(len(vocab)))
    baskets = holdout_baskets(events, bounds.test_start, seed=0, max_baskets=300)
    slots = basket_slots(baskets, events)
    policies = [Popularity(popularity_ranking(np.bincount(idx, minlength=len(vocab)).astype(float), ids)),
                Fbt(fbt_partners(FrequentlyBoughtTogether().fit(view), ids))]
    table = attachment_table([run_policy(p, baskets, slots, 4) for p in policies], baskets, n_boot=200)
    assert len(baskets) == 300 and min(b.ts for b in baskets) >= bounds.test_start
    assert 0.15 < table["fbt"]["attachment_rate"] < 0.45 and table["fbt"]["with_suggestion"] > 0.9
    assert table["popularity"]["ratio_to_fbt_ci"][1] < 1.0  # the same baskets: FBT clearly ahead
    assert table["fbt"]["revenue_per_basket"] > 0
