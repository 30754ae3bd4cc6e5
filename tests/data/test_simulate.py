"""The shop simulator: contracts of its four tables, its funnel, and that its structure is learnable."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from neurec.data.simulate import SimulatedShop, SimulatorConfig, simulate, write_shop
from neurec.schema import EventType

SMALL = SimulatorConfig(n_customers=300, seed=0)
MEDIUM = SimulatorConfig(n_customers=1500, seed=0)


@pytest.fixture(scope="module")
def small() -> SimulatedShop:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def medium() -> SimulatedShop:
    return simulate(MEDIUM)


def _purchases(shop: SimulatedShop) -> pd.DataFrame:
    return shop.events[shop.events["event_type"] == "purchase"]


def test_same_seed_same_shop_other_seed_other_shop():
    cfg = SimulatorConfig(n_customers=150, seed=7)
    a, b, c = simulate(cfg), simulate(cfg), simulate(SimulatorConfig(n_customers=150, seed=8))
    for name in ("events", "catalog", "customers", "propensity"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.events.equals(c.events)
    assert not a.catalog.equals(c.catalog)


def test_event_table_schema(small):
    ev = small.events
    assert list(ev.columns) == ["user_id", "session_id", "item_id", "event_type", "timestamp", "price"]
    for col in ("user_id", "session_id", "item_id"):
        assert ev[col].dtype == np.int64
    assert pd.api.types.is_string_dtype(ev["event_type"])
    assert set(ev["event_type"]) == set(EventType.names())
    assert isinstance(ev["timestamp"].dtype, pd.DatetimeTZDtype) and str(ev["timestamp"].dt.tz) == "UTC"
    assert ev["price"].dtype == np.float64
    assert not ev.isna().any().any()


def test_ids_valid_and_distinct_looking(small):
    ev, cat = small.events, small.catalog
    assert ev["item_id"].isin(cat["item_id"]).all()
    assert ev["user_id"].isin(small.customers["user_id"]).all()
    items, users, sessions = (set(ev[c]) for c in ("item_id", "user_id", "session_id"))
    assert not (items & users) and not (items & sessions) and not (users & sessions)
    assert ev.groupby("session_id")["user_id"].nunique().max() == 1
    price = cat.set_index("item_id")["price"]
    np.testing.assert_array_equal(ev["price"].to_numpy(), price.loc[ev["item_id"]].to_numpy())


def test_timestamps_in_period_and_sorted(small):
    ev = small.events
    start = pd.Timestamp(SMALL.start, tz="UTC")
    assert ev["timestamp"].min() >= start
    assert ev["timestamp"].max() < start + pd.Timedelta(days=SMALL.days)
    key = ev[["timestamp", "user_id"]]
    assert key.equals(key.sort_values(["timestamp", "user_id"], kind="stable"))
    assert not ev.duplicated(["user_id", "timestamp"]).any()  # visits never overlap, events never tie


def test_funnel_ratios(medium):
    share = medium.events["event_type"].value_counts(normalize=True)
    assert 0.85 <= share["view"] <= 0.92
    assert 0.05 <= share["add_to_cart"] <= 0.09
    assert 0.02 <= share["purchase"] <= 0.05


def test_every_purchase_follows_its_cart_in_the_same_session(small):
    ev = small.events
    buys = _purchases(small)[["session_id", "item_id", "timestamp"]].reset_index(names="row")
    carts = ev.loc[ev["event_type"] == "add_to_cart", ["session_id", "item_id", "timestamp"]]
    joined = buys.merge(carts, on=["session_id", "item_id"], suffixes=("", "_cart"))
    before = joined[joined["timestamp_cart"] < joined["timestamp"]]
    assert set(before["row"]) == set(buys["row"])


def test_catalog_contract(small):
    cat = small.catalog
    assert list(cat.columns) == [
        "item_id", "category", "brand", "price", "margin", "stock", "product_line", "tier", "kind", "complement_of", "strategic",
    ]  # fmt: skip
    assert cat["item_id"].is_unique and cat["item_id"].dtype == np.int64
    assert set(cat["kind"]) == {"main", "accessory", "consumable"}
    assert cat["stock"].dtype == np.int64 and cat["tier"].dtype == np.int64 and cat["strategic"].dtype == bool
    assert ((cat["margin"] > 0) & (cat["margin"] < cat["price"])).all()
    assert (cat["stock"] == 0).any() and cat["stock"].between(1, 4).any()
    assert 0 < cat["strategic"].sum() < 0.1 * len(cat)
    main = cat[cat["kind"] == "main"]
    assert (main["complement_of"] == "").all()
    assert set(cat.loc[cat["kind"] != "main", "complement_of"]) <= set(main["product_line"])
    assert cat["product_line"].nunique() == SMALL.n_categories * SMALL.lines_per_category
    assert main["price"].between(40, 1500).all()


def test_tier_price_steps(small):
    main = small.catalog[small.catalog["kind"] == "main"].sort_values(["product_line", "tier"])
    prices = main["price"].to_numpy().reshape(-1, 3)
    assert (main["tier"].to_numpy().reshape(-1, 3) == [1, 2, 3]).all()
    steps = prices[:, 1:] / prices[:, :-1]
    assert steps.min() >= 1.2 and steps.max() <= 1.4


def test_complement_prices(small):
    cat = small.catalog
    assert cat.loc[cat["kind"] == "accessory", "price"].between(5, 20).all()
    assert cat.loc[cat["kind"] == "consumable", "price"].between(5, 15).all()
    assert (cat.loc[cat["kind"] != "main", "margin"] / cat.loc[cat["kind"] != "main", "price"]).min() >= 0.25


def test_customers(small):
    cust = small.customers
    assert cust["user_id"].is_unique and len(cust) == SMALL.n_customers
    assert set(cust["segment"]) == {"first_time", "returning", "high_value"}
    assert cust["price_sensitivity"].between(0, 1).all()
    assert cust["n_sessions"].sum() == small.events["session_id"].nunique()
    by_segment = cust.groupby("segment")["n_sessions"].mean()
    assert by_segment["first_time"] < by_segment["returning"] < by_segment["high_value"]


def test_propensity_is_one_distribution_per_purchase(small):
    prop, buys = small.propensity, _purchases(small)
    assert list(prop.columns) == ["user_id", "timestamp", "item_id", "prob"]
    assert (prop["prob"] > 0).all()
    sums = prop.groupby(["user_id", "timestamp"])["prob"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    keys = pd.MultiIndex.from_frame(buys[["user_id", "timestamp"]])
    assert keys.is_unique and set(keys) == set(sums.index)
    hit = buys.merge(prop, on=["user_id", "timestamp", "item_id"], how="left")
    assert hit["prob"].notna().all()
    assert prop["item_id"].isin(small.catalog["item_id"]).all()


def _hit_rates(shop: SimulatedShop, k: int = 10) -> dict[str, float]:
    """HR@k and HR@1 for purchases in the last 20 % of the period, seen from the decision (the item's first
    add-to-cart in that visit): popularity, a history heuristic and the recorded propensity."""
    ev = shop.events.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    t = ev["timestamp"].astype("int64").to_numpy()
    cut = t.min() + 0.8 * (t.max() - t.min())
    is_buy = (ev["event_type"] == "purchase").to_numpy()
    popular = ev.loc[is_buy & (t < cut), "item_id"].value_counts()
    pop_score = (popular / (popular.max() + 1.0)).to_dict()
    cat = shop.catalog
    complements = cat[cat["kind"] != "main"].groupby("complement_of")["item_id"].apply(list).to_dict()
    line = cat.set_index("item_id")["product_line"].to_dict()
    main = set(cat.loc[cat["kind"] == "main", "item_id"])
    by_purchase = shop.propensity.groupby(["user_id", "timestamp"])
    odds = {key: g.sort_values("prob", ascending=False)["item_id"].tolist() for key, g in by_purchase}
    item, etype, sess, user = (ev[c].to_numpy() for c in ("item_id", "event_type", "session_id", "user_id"))
    hits = defaultdict(int)
    targets = np.flatnonzero(is_buy & (t >= cut))
    for i in targets:
        start = np.searchsorted(user, user[i])
        d = start + np.flatnonzero((sess[start:i] == sess[i]) & (item[start:i] == item[i]) & (etype[start:i] == "add_to_cart"))[0]
        score = defaultdict(float, pop_score)
        if d > start:
            for j in range(start, d):
                if sess[j] == sess[d - 1] and etype[j] != "purchase":
                    score[item[j]] += 10.0
                elif etype[j] == "purchase" and item[j] in main:
                    for c in complements.get(line[item[j]], []):
                        score[c] += 5.0
        heuristic = sorted(score, key=lambda x: -score[x])
        oracle = odds[(user[i], ev["timestamp"].iat[i])]
        for name, ranking in (("pop", list(popular.index)), ("heuristic", heuristic), ("oracle", oracle)):
            hits[f"{name}@{k}"] += item[i] in ranking[:k]
            hits[f"{name}@1"] += item[i] == ranking[0]
    assert len(targets) > 200
    return {name: n / len(targets) for name, n in hits.items()}


def test_history_beats_popularity_and_the_oracle_beats_both(medium):
    hr = _hit_rates(medium)
    assert hr["heuristic@10"] >= 1.5 * hr["pop@10"], hr
    assert hr["oracle@10"] > hr["heuristic@10"], hr
    assert hr["oracle@1"] > hr["heuristic@1"] > hr["pop@1"], hr
    assert hr["heuristic@10"] < 0.95, hr  # history helps but does not give the answer away


def test_no_purchase_determines_the_next(medium):
    buys = _purchases(medium).sort_values(["user_id", "timestamp"], kind="stable")
    prev = buys.groupby("user_id")["item_id"].shift()
    pairs = pd.DataFrame({"prev": prev, "next": buys["item_id"]}).dropna()
    support = pairs.groupby("prev").size()
    top = pairs.groupby(["prev", "next"]).size().groupby("prev").max()
    conditional = (top / support)[support >= 5]
    assert len(conditional) > 50
    assert conditional.max() < 1.0


def test_events_scale_with_customers():
    one = len(simulate(SimulatorConfig(n_customers=1000, seed=3)).events)
    two = len(simulate(SimulatorConfig(n_customers=2000, seed=3)).events)
    assert 1.7 <= two / one <= 2.3


def test_default_size():
    shop = simulate(SimulatorConfig())
    assert 100_000 <= len(shop.events) <= 250_000


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_shop(small, tmp_path, fmt):
    paths = write_shop(small, tmp_path / "shop", fmt=fmt)
    assert set(paths) == {"events", "catalog", "customers", "propensity"}
    assert all(p.exists() and p.suffix == f".{fmt}" for p in paths.values())
    if fmt == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(paths["events"]), small.events)
        pd.testing.assert_frame_equal(pd.read_parquet(paths["catalog"]), small.catalog)
    else:
        back = pd.read_csv(paths["events"])
        assert len(back) == len(small.events)
        assert (pd.to_datetime(back["timestamp"], utc=True) == small.events["timestamp"]).all()


def test_write_shop_rejects_unknown_format(small, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_shop(small, tmp_path, fmt="xlsx")
