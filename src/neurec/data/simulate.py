"""A seeded simulator of an online shop: the project's default dataset, with the purchase propensities it used.

Customers research a category over one or more visits and buy one of the items they compared, add a
complement at checkout or come back for one days later, and re-buy the supplies of machines they own. Every
purchase is drawn from an explicit distribution over items, which is written out so that evaluation can put an
oracle beside a model. All steps are vectorised over sessions: no Python loop runs per event.

This module holds the public entry and turns the event log into the shop's tables; the catalog is drawn in
`simulate_catalog`, the customers and their visits in `simulate_sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from neurec.data.simulate_catalog import ShopCatalog, build_catalog, category_names
from neurec.data.simulate_sessions import BUY, DAY, SEGMENTS, Customers, simulate_visits
from neurec.schema import EVENT_TYPE, ITEM_ID, PRICE, SESSION_ID, TIMESTAMP, USER_ID, EventType

_SESSION_GAP = 40 * 60  # a visit starts at least this long after the previous one ends (beyond common 30-min timeouts)
_USER_ID0, _SESSION_ID0 = 1_000_001, 50_000_001  # item ids start at 100_001: the three kinds of id never look alike


@dataclass(frozen=True)
class SimulatorConfig:
    n_customers: int = 4000
    days: int = 90
    n_categories: int = 12
    lines_per_category: int = 6  # product lines per main category; each line has 3 tiers good/better/best
    accessories_per_line: int = 3
    seed: int = 0
    start: str = "2026-01-05"  # first day (UTC) of the simulated period
    segment_shares: tuple[float, float, float] = (0.5, 0.4, 0.1)  # first_time, returning, high_value
    research_share: float = 0.72  # visits that compare items of one category; the rest only look around
    resume_intent: float = 0.4  # a research visit resumes the previous one's product line
    buy_rate: tuple[float, float, float] = (0.14, 0.2, 0.28)  # per research visit, by segment
    abandon_rate: float = 0.4  # research visits without a purchase that leave an item in the cart
    cross_sell_rate: tuple[float, float, float] = (0.25, 0.35, 0.5)  # complement at checkout, by segment
    later_complement_rate: float = 0.3  # a main purchase brings the customer back for a complement
    refill_adherence: float = 0.85  # due supplies that are re-bought here rather than elsewhere


@dataclass(frozen=True)
class SimulatedShop:
    events: pd.DataFrame  # user_id, session_id, item_id, event_type, timestamp, price
    catalog: pd.DataFrame  # item_id, category, brand, price, margin, stock, product_line, tier, kind, complement_of, strategic
    customers: pd.DataFrame  # user_id, segment, price_sensitivity, preferred_tier, favourite_categories, n_sessions
    propensity: pd.DataFrame  # user_id, timestamp, item_id, prob: the distribution each purchase was drawn from


def simulate(cfg: SimulatorConfig) -> SimulatedShop:
    rng = np.random.default_rng(cfg.seed)
    cat = build_catalog(rng, cfg.n_categories, cfg.lines_per_category, cfg.accessories_per_line)
    log = EventLog()
    cust = simulate_visits(cfg, rng, cat, log)
    events, propensity, kept_users = log.assemble(cfg.days * DAY, pd.Timestamp(cfg.start, tz="UTC"), cat)
    visits = np.bincount(kept_users, minlength=cfg.n_customers)
    return SimulatedShop(events, cat.frame, _customer_frame(cfg, cust, visits), propensity)


def write_shop(shop: SimulatedShop, out_dir: str | Path, fmt: str = "parquet") -> dict[str, Path]:
    """Writes events.<fmt>, catalog.<fmt>, customers.<fmt>, propensity.<fmt> (fmt parquet or csv); returns the paths."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}; use parquet or csv")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("events", "catalog", "customers", "propensity"):
        paths[name] = out / f"{name}.{fmt}"
        frame: pd.DataFrame = getattr(shop, name)
        if fmt == "parquet":
            frame.to_parquet(paths[name], index=False)
        else:
            frame.to_csv(paths[name], index=False)
    return paths


class EventLog:
    """Visits, events and purchase odds as lists of arrays, joined and timed once at the end."""

    def __init__(self) -> None:
        self.users: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []
        self.events: list[tuple[np.ndarray, ...]] = []  # (visit, offset, item, type, purchase key)
        self.odds: list[tuple[np.ndarray, ...]] = []  # (purchase key, item, prob)
        self.n_visits = self.n_buys = 0

    def visits(self, user: np.ndarray, start: np.ndarray) -> np.ndarray:
        self.users.append(user)
        self.starts.append(start.astype(np.int64))
        self.n_visits += len(user)
        return np.arange(self.n_visits - len(user), self.n_visits)

    def add(self, visit: np.ndarray, off: np.ndarray, item: np.ndarray, etype: int) -> None:
        # A copy: callers keep advancing their offset arrays in place for the visit's next step.
        self.events.append((visit, off.copy(), item, np.full(len(visit), etype, np.int8), np.full(len(visit), -1)))

    def buy(self, visit: np.ndarray, off: np.ndarray, item: np.ndarray, odds: tuple[np.ndarray, ...]) -> None:
        """Purchases, with the distribution each was drawn from as (purchase's position in `visit`, item, prob)."""
        key = np.arange(self.n_buys, self.n_buys + len(visit))
        self.n_buys += len(visit)
        self.events.append((visit, off.copy(), item, np.full(len(visit), BUY, np.int8), key))
        self.odds.append((odds[0] + key[0] if len(key) else odds[0], odds[1], odds[2]))

    def assemble(self, horizon: int, origin: pd.Timestamp, cat: ShopCatalog):
        user, start = np.concatenate(self.users), np.concatenate(self.starts)
        visit, off, item, etype, key = (np.concatenate(col) for col in zip(*self.events))
        dur = np.zeros(len(user), np.int64)
        np.maximum.at(dur, visit, off)
        start, kept = _space_visits(user, start, dur, horizon)
        rank = np.full(len(user), -1)
        rank[kept] = np.argsort(np.lexsort((user[kept], start[kept])))
        ok = kept[visit]
        visit, off, item, etype, key = visit[ok], off[ok], item[ok], etype[ok], key[ok]
        secs, who = start[visit] + off, user[visit]
        order = np.lexsort((who, secs))
        visit, item, etype, secs, who = visit[order], item[order], etype[order], secs[order], who[order]
        events = pd.DataFrame({
            USER_ID: who + _USER_ID0,
            SESSION_ID: rank[visit] + _SESSION_ID0,
            ITEM_ID: cat.item_ids[item],
            EVENT_TYPE: _labels(etype),
            TIMESTAMP: _timestamps(origin, secs),
            PRICE: cat.price[item],
        })  # fmt: skip
        buy_user, buy_secs = np.full(self.n_buys, -1), np.zeros(self.n_buys, np.int64)
        bought = etype == BUY
        buy_user[key[order][bought]], buy_secs[key[order][bought]] = who[bought], secs[bought]
        return events, self._propensity(buy_user, buy_secs, origin, cat), user[kept]

    def _propensity(self, buy_user: np.ndarray, buy_secs: np.ndarray, origin: pd.Timestamp, cat: ShopCatalog) -> pd.DataFrame:
        key, item, prob = (np.concatenate(col) for col in zip(*self.odds))
        ok = buy_user[key] >= 0
        key, item, prob = key[ok], item[ok], prob[ok]
        order = np.lexsort((item, buy_user[key], buy_secs[key]))
        key, item, prob = key[order], item[order], prob[order]
        return pd.DataFrame({
            USER_ID: buy_user[key] + _USER_ID0,
            TIMESTAMP: _timestamps(origin, buy_secs[key]),
            ITEM_ID: cat.item_ids[item],
            "prob": prob,
        })  # fmt: skip


def _space_visits(user: np.ndarray, start: np.ndarray, dur: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Push each customer's visits apart so they never overlap, keeping their order; drop those that end late.

    Wanted: s'_k = max(s_k, s'_{k-1} + dur_{k-1} + gap). With D_k the customer's running total of (dur + gap)
    before visit k this is s'_k = D_k + cummax(s_k - D_k), one vectorised running maximum.
    """
    order = np.lexsort((start, user))
    u, s, d = user[order], start[order], dur[order] + _SESSION_GAP
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    csum = np.cumsum(d) - d
    before = csum - np.repeat(csum[first], np.diff(np.r_[first, len(u)]))
    lift = u * np.int64(10**10)  # keeps the running maximum from leaking across customers
    spaced = np.empty_like(start)
    spaced[order] = np.maximum.accumulate(s - before + lift) - lift + before
    return spaced, spaced + dur < horizon


def _labels(etype: np.ndarray) -> pd.api.extensions.ExtensionArray:
    # Through an Arrow dictionary: no Python string object per event.
    labels = pa.DictionaryArray.from_arrays(pa.array(etype), pa.array([""] + EventType.names()))
    return pd.array(labels.cast(pa.string()), dtype="str")


def _timestamps(origin: pd.Timestamp, secs: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(origin.value + secs * 1_000_000_000, utc=True)


def _customer_frame(cfg: SimulatorConfig, cust: Customers, visits: np.ndarray) -> pd.DataFrame:
    names = np.array(category_names(cfg.n_categories))
    n = cfg.n_customers
    return pd.DataFrame({
        USER_ID: np.arange(n, dtype=np.int64) + _USER_ID0,
        "segment": pd.array(np.array(SEGMENTS)[cust.segment], dtype="str"),
        "price_sensitivity": cust.sens,
        "preferred_tier": cust.taste.argmax(axis=1).astype(np.int64) + 1,
        "favourite_categories": pd.array(["|".join(names[row]) for row in cust.favourites], dtype="str"),
        "n_sessions": visits.astype(np.int64),
    })  # fmt: skip
