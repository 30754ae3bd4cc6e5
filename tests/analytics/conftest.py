"""Fixtures for the analytics tests: a hand-checked small recommendation log, a seeded large A/B one, and a
tiny shop whose pair statistics are worked out by hand in test_pairs.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

BASE = pd.Timestamp("2026-03-02T09:00:00Z")
COLUMNS = ["user_id", "session_id", "item_id", "event_type", "timestamp", "price", "variant", "request_id", "placement", "rank", "offer_kind"]


def _rows() -> list[tuple]:
    # (user, session, item, event, minute, price, variant, request, placement, rank, offer kind)
    rec = lambda u, s, i, e, m, v, r, pl, rk, k: (u, s, i, e, m, None, v, r, pl, rk, k)  # noqa: E731
    ev = lambda u, s, i, e, m, v, p=None: (u, s, i, e, m, p, v, None, None, None, None)  # noqa: E731
    return [
        ev("a1", "s1", "X", "view", 0, "A"),
        rec("a1", "s1", "Y", "impression", 1, "A", "r1", "cart", 1, "cross_sell"),
        rec("a1", "s1", "Y", "click", 2, "A", "r1", "cart", 1, "cross_sell"),
        ev("a1", "s1", "X", "add_to_cart", 3, "A"),
        ev("a1", "s1", "X", "purchase", 4, "A", 100.0),
        ev("a1", "s1", "Y", "purchase", 4, "A", 20.0),
        ev("a1", "s2", "X", "view", 10, None),  # the variant is given on another of a1's rows
        rec("a1", "s2", "Z", "impression", 10.5, None, "r2", "product_page", 1, "upsell"),
        ev("a1", "s2", "X", "add_to_cart", 11, None),  # abandoned cart
        ev("a2", "s1", "Z", "purchase", 19, "A", 50.0),  # bought before it was recommended: not accepted
        rec("a2", "s1", "Z", "impression", 20, "A", "r3", "product_page", 2, "upsell"),
        ev("a2", "s1", "X", "purchase", 21, "A", 100.0),
        rec("b1", "s1", "Y", "impression", 30, "B", "r4", "cart", 1, "cross_sell"),
        rec("b1", "s1", "Z", "impression", 30, "B", "r4", "cart", 2, "upsell"),
        rec("b1", "s1", "Z", "decline", 31, "B", "r4", "cart", 2, "upsell"),
        ev("b1", "s1", "X", "add_to_cart", 31, "B"),
        ev("b1", "s1", "X", "purchase", 32, "B", 100.0),
        ev("b1", "s1", "Y", "purchase", 32, "B", 20.0),
        ev("b1", "s1", "Y", "purchase", 33, "B", 20.0),  # a second unit, credited to the same impression
        ev("b2", "s1", "X", "view", 40, "B"),
        rec("b2", "s2", "Y", "impression", 50, "B", "r5", "product_page", 1, "cross_sell"),
        rec("b2", "s2", "Y", "impression", 52, "B", "r6", "checkout", 1, "cross_sell"),
        ev("b2", "s2", "Y", "purchase", 53, "B", 20.0),  # credited to the latest impression (checkout)
    ]


def make_small_log() -> pd.DataFrame:
    frame = pd.DataFrame(_rows(), columns=["user_id", "session_id", "item_id", "event_type", "minute", "price", "variant",
                                           "request_id", "placement", "rank", "offer_kind"])
    frame["timestamp"] = (BASE + pd.to_timedelta(frame.pop("minute"), unit="min")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame[COLUMNS]


def make_ab_log(n_users: int = 3000, conv: tuple[float, float] = (0.10, 0.10), aov: tuple[float, float] = (80.0, 88.0),
           seed: int = 7) -> pd.DataFrame:
    """Customers split A/B; one session each with an impression; a purchase with prob conv[v] at a gamma price
    with mean aov[v]; carts abandoned by half of the non-buyers."""
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i}" for i in range(n_users)])
    variant = np.where(rng.random(n_users) < 0.5, "A", "B")
    is_b = variant == "B"
    buys = rng.random(n_users) < np.where(is_b, conv[1], conv[0])
    carts = buys | (rng.random(n_users) < 0.5)
    price = rng.gamma(2.0, np.where(is_b, aov[1], aov[0]) / 2.0)
    t0 = BASE + pd.to_timedelta(rng.integers(0, 14 * 24 * 60, n_users), unit="min")
    parts = [
        _events(users, variant, t0, "impression", np.ones(n_users, bool), rec=True),
        _events(users, variant, t0 + pd.Timedelta(minutes=1), "add_to_cart", carts),
        _events(users, variant, t0 + pd.Timedelta(minutes=2), "purchase", buys, price=price),
    ]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _events(users, variant, ts, event, mask, rec=False, price=None) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": users[mask], "session_id": "s1", "item_id": "I1", "event_type": event,
        "timestamp": ts[mask].strftime("%Y-%m-%dT%H:%M:%SZ"), "price": price[mask] if price is not None else np.nan,
        "variant": variant[mask], "request_id": "q" if rec else None, "placement": "cart" if rec else None,
        "rank": 1 if rec else np.nan, "offer_kind": "cross_sell" if rec else None,
    })


DAY = 86400.0
T0 = 1_772_000_000.0  # 2026-02-25, in unix seconds


def make_shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four customers, six orders (day of the order in brackets):
    u1: {A, B} (0), {C} (3);  u2: {A} (1), {B} (10);  u3: {A, B, C} (2);  u4: {C} (5).
    Catalog: A in category X at 100 (margin 30); B and C in Y at 20 (10) and 5 (2)."""
    orders = [("u1", "s1", "AB", 0), ("u1", "s2", "C", 3), ("u2", "s1", "A", 1), ("u2", "s2", "B", 10),
              ("u3", "s1", "ABC", 2), ("u4", "s1", "C", 5)]
    rows = []
    for user, session, items, day in orders:
        rows.append((user, session, items[0], "view", T0 + day * DAY + 500))  # views don't make orders
        rows += [(user, session, item, "purchase", T0 + day * DAY + 1000 + k) for k, item in enumerate(items)]
    events = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "timestamp"])
    catalog = pd.DataFrame({"item_id": ["A", "B", "C"], "category": ["X", "Y", "Y"], "price": [100.0, 20.0, 5.0],
                            "margin": [30.0, 10.0, 2.0]})
    return events, catalog


@pytest.fixture
def small_log() -> pd.DataFrame:
    return make_small_log()


@pytest.fixture
def ab_log():
    return make_ab_log


@pytest.fixture
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_shop()
