"""Policy simulation: replay the test period's sessions with a recommendation policy in the loop, and let the
simulator's own customers decide what they accept.

Each replayed session gets up to three placements, in order: `product_page` (the page of the item the customer
carted, just before the add-to-cart; the last viewed item when nothing was carted), `cart` (right after the
add-to-cart) and `checkout` (orders only). The policy shows up to k items at each; the customer's answer comes
from `SessionTruth`, the same function for every policy, built from the simulator's generative model and never
from any policy's scores.

Ground truth (see `neurec.data.simulate_sessions`; every number below is the simulator's):

- Whether a session ends in an order is drawn in the simulator before and apart from anything the customer sees
  (`buy_rate` per research visit). No policy can change it, so conversion is the same under every policy and an
  impression in a session without an order is never accepted.
- The main item is drawn among the viewed main items and the tiers of the visit's product line with weight
  taste x (0.2 + views) x 2 (own line) x step-up x noise; the simulator writes the resulting odds out (the
  propensity table, which the oracle baseline reads). An impression counts as one more view, so a shown main
  item's weight grows by its per-view weight c = odds / (0.2 + views), in units of the original total weight. A
  main item of the visit's category the customer never looked at enters with 1.2 x the customer's tier taste for
  its tier (read off the own line's entry of that tier, divided by the own-line factor 2 and the step-up).
  Main items of other categories are never bought in a research visit. After a placement with total added weight
  D on a total W, the customer keeps their choice with probability W / (W + D) and otherwise switches to a shown
  main item with probability proportional to its added weight: exactly the simulator's choice distribution with
  the extra views. An accepted upsell thus replaces the anchor with the tier-up item.
- A complement (accessory or consumable) of a product line in the order is accepted with probability
  cross_sell_rate[segment] x attract / (sum of attract over the line's complements): the simulator's rate of
  adding a complement at checkout times its choice among the line's complements. Each offer is one such
  opportunity on top of what the customer bought anyway; an accepted one is added to the order. Its draw is made
  once per session, so a refused complement shown again is taken only if its odds have grown since. Anything else
  (unrelated items, out-of-stock items, items already in the order) is never accepted.

What showing costs: with a `choice_cost.ChoiceCost` in the ReplayConfig, each placement's surplus and poorly
matched suggestions lower the chance that the session's order still goes through (that module says how). At the end
of the session the order is lost when its uniform draw is at or above that chance: conversion then depends on the
policy, and a lost order earns nothing, offers taken included.

Common random numbers: every uniform draw is keyed by (seed, purpose, session, item or placement), so two policies
that show the same items in the same session get the same answers, and policy differences are not noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from neurec.analytics.choice_cost import COSTS, ChoiceCost  # noqa: F401  (COSTS: the settings, named here too)
from neurec.analytics.policies import RecPolicy, Slot
from neurec.schema import EVENT_TYPE, ITEM_ID, SESSION_ID, USER_ID, EventType

PLACEMENTS = ("product_page", "cart", "checkout")
KINDS = ("upsell", "cross_sell", "other")
_UNVIEWED, _OWN_LINE, _NEW_ITEM = 0.2, 2.0, 1.2  # simulate_sessions._choose_main: (0.2 + views), x2 own line
_SWITCH, _PICK, _ACCEPT, _KEEP = 1, 2, 3, 4  # random streams


def key_of(value: str) -> int:
    """A stable non-negative integer for an id: the number itself when the id is one, else a hash."""
    return int(value) if value.isdigit() else int.from_bytes(hashlib.sha256(value.encode()).digest()[:7], "big")


@lru_cache(maxsize=1 << 20)
def draw(seed: int, stream: int, session: int, sub: int) -> float:
    """The uniform of one decision; the same key gives the same number under every policy."""
    return float(np.random.default_rng([seed, stream, session, sub]).random())


class Item(NamedTuple):
    main: bool
    line: str  # its product line (a main item) or the line it complements
    tier: int
    category: str
    in_stock: bool
    attract: float  # the simulator's hidden appeal of a complement beside its line's others
    price: float
    margin: float


@dataclass(frozen=True)
class ShopTruth:
    """Per item and per customer, what the acceptance model needs."""

    items: Mapping[str, Item]
    cross_rate: Mapping[str, float]  # user_id -> the simulator's cross_sell_rate of their segment
    sens: Mapping[str, float]  # user_id -> price sensitivity
    odds: Mapping[tuple[str, float], dict[str, float]]  # (user_id, purchase ts) -> item -> probability
    comp_total: Mapping[str, float] = field(default_factory=dict)  # line -> attract summed over its complements

    def __post_init__(self) -> None:
        total: dict[str, float] = {}
        for it in self.items.values():
            if not it.main:
                total[it.line] = total.get(it.line, 0.0) + it.attract
        object.__setattr__(self, "comp_total", total)

    @classmethod
    def from_frames(cls, catalog: pd.DataFrame, attract: np.ndarray, customers: pd.DataFrame, propensity: pd.DataFrame,
                    cross_sell_rate: Sequence[float], segments: Sequence[str]) -> "ShopTruth":
        """From the simulator's tables (`propensity` with a float `ts` column) and its per-segment cross-sell rate."""
        c = catalog
        main = (c["kind"] == "main").to_numpy()
        line = np.where(main, c["product_line"].astype(str), c["complement_of"].astype(str))
        cols = zip(main.tolist(), line.tolist(), c["tier"].astype(int).tolist(), c["category"].astype(str).tolist(),
                   (c["stock"] > 0).tolist(), np.asarray(attract, float).tolist(), c["price"].astype(float).tolist(),
                   c["margin"].astype(float).tolist())
        items = {str(i): Item(*row) for i, row in zip(c[ITEM_ID].tolist(), cols)}
        users = customers[USER_ID].astype(str).tolist()
        rates = np.asarray(cross_sell_rate)[customers["segment"].map(list(segments).index).to_numpy()]
        odds = {(str(u), float(t)): dict(zip(g[ITEM_ID].astype(str), g["prob"].astype(float)))
                for (u, t), g in propensity.groupby([USER_ID, "ts"], sort=False)}
        return cls(items, dict(zip(users, rates.tolist())), dict(zip(users, customers["price_sensitivity"].tolist())), odds)


def simulator_truth(cfg) -> ShopTruth:
    """The truth of a simulated shop (`cfg`: its SimulatorConfig). The simulator is seeded and fast, so it is run
    again for its customers and odds; the catalog's hidden attractiveness comes from `build_catalog` on the same
    seed, which is the simulator's first use of its generator (checked against the simulated catalog)."""
    from neurec.data.simulate import simulate
    from neurec.data.simulate_catalog import build_catalog
    from neurec.data.simulate_sessions import SEGMENTS
    from neurec.data.validate import parse_timestamps

    shop = simulate(cfg)
    cat = build_catalog(np.random.default_rng(cfg.seed), cfg.n_categories, cfg.lines_per_category, cfg.accessories_per_line)
    same = np.array_equal(cat.item_ids, shop.catalog[ITEM_ID].to_numpy()) and np.array_equal(cat.price, shop.catalog["price"])
    if not same:
        raise RuntimeError("the rebuilt catalog differs from the simulated one: simulate() no longer starts with build_catalog")
    prop = shop.propensity.assign(ts=parse_timestamps(shop.propensity["timestamp"]).to_numpy())
    return ShopTruth.from_frames(shop.catalog, cat.attract, shop.customers, prop, cfg.cross_sell_rate, SEGMENTS)


@dataclass(frozen=True)
class MainChoice:
    """The main-item decision of a research visit that ended in an order, as the simulator drew it."""

    item: str  # the main item bought
    category: str
    per_view: Mapping[str, float]  # c per item of the choice set, in units of the choice's total weight
    tier_taste: tuple[float, float, float]  # per-view weight of a never-viewed main item of tier 1, 2, 3


@dataclass(frozen=True)
class Session:
    key: int  # numeric id for the random streams
    user_id: str
    user_start: int  # first row of the customer's events
    decision: int  # row of the first add-to-cart (or purchase); -1 when there is none
    last: int  # last row of the session
    anchor: str  # the product page's item
    bought: tuple[str, ...]  # purchased items, one entry per unit, in order
    main: MainChoice | None


def sessions_in(events: pd.DataFrame, start_ts: float, truth: ShopTruth) -> list[Session]:
    """Every session whose first event is at or after `start_ts`. `events`: canonical (neurec.data.prepare), sorted
    by user then time; a session is a run of consecutive rows with one (user, session) pair."""
    users, sids = events[USER_ID].to_numpy().astype(str), events[SESSION_ID].to_numpy().astype(str)
    new_user = np.r_[True, users[1:] != users[:-1]]
    starts = np.flatnonzero(new_user | np.r_[True, sids[1:] != sids[:-1]])
    ends = np.r_[starts[1:], len(users)] - 1
    user_start = np.maximum.accumulate(np.where(new_user, np.arange(len(users)), 0))
    ts, items, types = events["ts"].to_numpy(), events[ITEM_ID].to_numpy().astype(str), events[EVENT_TYPE].to_numpy()
    return [_session(users[lo], sids[lo], int(lo), int(hi), int(user_start[lo]), items, types, ts, truth)
            for lo, hi in zip(starts.tolist(), ends.tolist()) if ts[lo] >= start_ts]


def _session(user, sid, lo, hi, ustart, items, types, ts, truth: ShopTruth) -> Session:
    rows = np.arange(lo, hi + 1)
    carts, buys, views = (rows[types[rows] == e] for e in (EventType.ADD_TO_CART, EventType.PURCHASE, EventType.VIEW))
    decision = int(carts[0]) if carts.size else (int(buys[0]) if buys.size else -1)
    anchor = items[decision] if decision >= 0 else items[views[-1] if views.size else hi]
    main = None
    for r in buys.tolist():
        odds = truth.odds.get((user, float(ts[r])))
        if odds and items[r] in truth.items and truth.items[items[r]].main:
            main = _main_choice(items[r], odds, items[views], truth, truth.sens.get(user, 0.5))
            break
    return Session(key_of(sid), user, ustart, decision, hi, str(anchor), tuple(items[buys].tolist()), main)


def _main_choice(item: str, odds: dict[str, float], viewed: np.ndarray, truth: ShopTruth, sens: float) -> MainChoice:
    ids, counts = np.unique(viewed, return_counts=True)
    views = dict(zip(ids.tolist(), counts.tolist()))
    per_view = {i: p / (_UNVIEWED + views.get(i, 0)) for i, p in odds.items()}
    info = truth.items
    opening = info[str(viewed[0]) if len(viewed) else item]  # a research visit opens on its own line's favoured tier
    taste = [0.0, 0.0, 0.0]
    for i in odds:
        if i in info and info[i].line == opening.line:
            step = (2.0 - sens) if info[i].tier > opening.tier else 1.0
            taste[info[i].tier - 1] = per_view[i] / (_OWN_LINE * step)
    return MainChoice(item, info[item].category, per_view, (taste[0], taste[1], taste[2]))


@dataclass
class _State:
    order: list[str]
    main: str | None
    weight: float = 1.0  # the main choice's total weight, in units of its original total
    seen: dict[str, int] = field(default_factory=dict)  # impressions per main item so far
    added: list[str] = field(default_factory=list)  # complements taken so far
    tried: dict[str, float] = field(default_factory=dict)  # complement -> highest acceptance probability it had
    shown: list[str] = field(default_factory=list)  # offered so far and not taken, oldest first
    keep: float = 1.0  # the chance that the order still goes through, after what was shown (ChoiceCost)


class SessionTruth:
    """The acceptance model of the module docstring, for one shop."""

    def __init__(self, truth: ShopTruth):
        self.t = truth

    def lines(self, order: Sequence[str]) -> set[str]:
        return {self.t.items[i].line for i in order if i in self.t.items}

    def cross_sell_p(self, s: Session, st: _State, item: str) -> float:
        it = self.t.items.get(item)
        if it is None or it.main or not it.in_stock or item in st.order or it.line not in self.lines(st.order):
            return 0.0  # (an empty order has no lines: nothing is taken in a session without an order)
        return self.t.cross_rate.get(s.user_id, 0.0) * it.attract / self.t.comp_total[it.line]

    def added_weight(self, s: Session, st: _State, item: str) -> float:
        """What one more impression adds to `item`'s weight in the session's main choice (0: not a choice)."""
        it, m = self.t.items.get(item), s.main
        if m is None or it is None or not it.main or not it.in_stock or not st.order:
            return 0.0
        if item in m.per_view:
            return m.per_view[item]
        if it.category != m.category:
            return 0.0
        return m.tier_taste[it.tier - 1] * (_NEW_ITEM if st.seen.get(item, 0) == 0 else 1.0)

    def order_value(self, order: Sequence[str]) -> float:
        return sum(self.t.items[i].price for i in order)

    def poorly_matched(self, s: Session, st: _State, item: str, kind: int) -> bool:
        """Neither an upsell nor a cross-sell of the visit, or one nobody can take: out of stock, already ordered."""
        it = self.t.items.get(item)
        return kind == KINDS.index("other") or it is None or not it.in_stock or item in st.order

    @staticmethod
    def opening_state(s: Session, anchor: str | None) -> _State:
        """The session's state before any offer, with `anchor` as its main item (for an oracle's look-ahead)."""
        main = anchor if s.main is not None else None
        return _State([main if s.main is not None and i == s.main.item else i for i in s.bought], main)

    def kind(self, s: Session, st: _State, item: str) -> int:
        """Upsell: a main item of the current choice's (else the anchor's) line, a higher tier. Cross-sell: a
        complement of a line in the order or of the anchor. Other: the rest."""
        it, ref = self.t.items.get(item), self.t.items.get(st.main or s.anchor)
        if it is None:
            return KINDS.index("other")
        if it.main:
            upsell = ref is not None and ref.main and it.line == ref.line and it.tier > ref.tier
            return KINDS.index("upsell" if upsell else "other")
        return KINDS.index("cross_sell" if it.line in self.lines([*st.order, st.main or s.anchor]) else "other")


@dataclass(frozen=True)
class ReplayConfig:
    k: int = 4  # items per placement: the shipped rules' top_k
    seed: int = 0
    placements: tuple[str, ...] = PLACEMENTS
    cost: ChoiceCost = ChoiceCost()


@dataclass(frozen=True)
class Outcome:
    """One policy's replay: per session its order, and one row per impression."""

    policy: str
    value: np.ndarray  # (S,) order value, 0 without an order
    margin: np.ndarray  # (S,)
    converted: np.ndarray  # (S,) bool
    imp_session: np.ndarray  # (I,) session position of each impression
    imp_placement: np.ndarray  # (I,) index into PLACEMENTS
    imp_kind: np.ndarray  # (I,) index into KINDS (the ground truth's relation, not the policy's label)
    imp_p: np.ndarray  # (I,) the probability the truth gave this impression of being taken
    imp_incremental: np.ndarray  # (I,) bool: the customer took it because it was shown
    imp_attributed: np.ndarray  # (I,) bool: the item is in the final order (how a shop's log credits it)
    lost: np.ndarray  # (S,) bool: an order the suggestions cost (ChoiceCost)
    # (S,) the chance that the suggestions cost the session's order: 1 - the share kept, 0 without an order. `lost`
    # is one draw of it; summed, it is the orders lost in expectation, which two policies' draws only estimate.
    at_risk: np.ndarray


def replay(policy: RecPolicy, sessions: Sequence[Session], events: pd.DataFrame, truth: ShopTruth,
           cfg: ReplayConfig = ReplayConfig()) -> Outcome:
    """Run `policy` through every session, placement by placement (each placement is one batch of slots)."""
    model = SessionTruth(truth)
    arrays = (events[ITEM_ID].to_numpy().astype(str), events[EVENT_TYPE].to_numpy(), events["ts"].to_numpy())
    states = [_State(list(s.bought), s.main.item if s.main else None) for s in sessions]
    imps: list[tuple] = []
    for p_idx, placement in enumerate(cfg.placements):
        live = [i for i, s in enumerate(sessions) if _has(s, placement)]
        slots = [_slot(i, sessions[i], states[i], placement, arrays) for i in live]
        offers = policy.recommend(slots, cfg.k)
        for i, shown in zip(live, offers):
            shown = list(dict.fromkeys(str(x) for x in shown))[: cfg.k]
            imps += _answer(model, sessions[i], states[i], shown, i, PLACEMENTS.index(placement), cfg)
    at_risk = np.array([1.0 - st.keep if st.order else 0.0 for st in states])
    lost = np.array([bool(st.order) and draw(cfg.seed, _KEEP, s.key, 0) >= st.keep for s, st in zip(sessions, states)])
    for i in np.flatnonzero(lost).tolist():
        states[i].order = []  # the customer left without buying: nothing shown or taken earns anything
    value = np.array([model.order_value(st.order) for st in states])
    cols = list(zip(*imps)) if imps else [()] * 6
    sess = np.asarray(cols[0], np.int64)
    attributed = _last_touch(imps, states)
    incremental = np.asarray(cols[5], bool) & ~lost[sess]
    return Outcome(policy.name, value, np.array([sum(truth.items[i].margin for i in st.order) for st in states]),
                   np.array([bool(st.order) for st in states]), sess, np.asarray(cols[2], np.int64),
                   np.asarray(cols[3], np.int64), np.asarray(cols[4], np.float64), incremental, attributed, lost, at_risk)


def _last_touch(imps: list[tuple], states: list[_State]) -> np.ndarray:
    """A shop log credits a bought item to its latest impression in the session (as `analytics.programme` does)."""
    out, credited = np.zeros(len(imps), dtype=bool), set()
    for j in range(len(imps) - 1, -1, -1):
        i, item = imps[j][0], imps[j][1]
        if (i, item) not in credited and item in states[i].order:
            out[j] = True
            credited.add((i, item))
    return out


def _has(s: Session, placement: str) -> bool:
    if placement == "cart":
        return s.decision >= 0
    return bool(s.bought) if placement == "checkout" else True


def _slot(i: int, s: Session, st: _State, placement: str, arrays: tuple[np.ndarray, ...]) -> Slot:
    items, types, ts = arrays
    if placement == "product_page":
        cut = s.decision if s.decision >= 0 else s.last + 1
        now = float(ts[cut - 1] if s.decision < 0 else ts[cut])
        return Slot(i, s.user_id, placement, s.anchor, (), items[s.user_start:cut], types[s.user_start:cut],
                    ts[s.user_start:cut], now, tuple(st.shown))
    anchor = st.main or s.anchor
    cart = tuple(dict.fromkeys((anchor, *st.added) if placement == "cart" else st.order))
    now = float(ts[s.decision])
    # What the customer did before the decision, then the cart as it stands now (after any accepted offer).
    return Slot(i, s.user_id, placement, anchor, cart, np.r_[items[s.user_start:s.decision], np.array(cart, dtype=str)],
                np.r_[types[s.user_start:s.decision], np.full(len(cart), int(EventType.ADD_TO_CART))],
                np.r_[ts[s.user_start:s.decision], np.full(len(cart), now)], now, tuple(st.shown))


def _answer(model: SessionTruth, s: Session, st: _State, shown: list[str], i: int, p_idx: int, cfg: ReplayConfig) -> list[tuple]:
    """The customer's answers at one placement: first the main choice with the extra views, then each complement."""
    seed = cfg.seed
    kinds = [model.kind(s, st, x) for x in shown]
    if st.order:  # what this placement costs is judged against the order as it stands when it is shown
        st.keep *= cfg.cost.keep(len(shown), sum(model.poorly_matched(s, st, x, k) for x, k in zip(shown, kinds)))
    added = {x: model.added_weight(s, st, x) for x in shown}
    total = sum(added.values())
    p = {x: 0.0 for x in shown}
    taken: set[str] = set()
    if total > 0:
        weight = st.weight + total
        p.update({x: w / weight for x, w in added.items()})
        if draw(seed, _SWITCH, s.key, p_idx) < total / weight:
            pick = _pick(sorted(x for x in shown if added[x] > 0), added, draw(seed, _PICK, s.key, p_idx))
            if pick != st.main:
                st.order[st.order.index(st.main)] = pick
                st.main = pick
                taken.add(pick)
        st.weight = weight
        for x in shown:
            if added[x] > 0:
                st.seen[x] = st.seen.get(x, 0) + 1
    for x in shown:
        if added[x] == 0:
            # One draw per (session, item): showing a refused item again only helps if it now has better odds.
            now, before = model.cross_sell_p(s, st, x), st.tried.get(x, 0.0)
            p[x] = max(0.0, (now - before) / (1.0 - before))
            if now > 0 and draw(seed, _ACCEPT, s.key, key_of(x)) < now:
                st.order.append(x)
                st.added.append(x)
                taken.add(x)
            st.tried[x] = max(before, now)
    # What the shop's front end knows: offered and let pass (an item taken is in the order, and the cart, now).
    st.shown += [x for x in shown if x not in taken and x not in st.shown]
    return [(i, x, p_idx, k, p[x], x in taken) for x, k in zip(shown, kinds)]


def _pick(items: list[str], weight: Mapping[str, float], u: float) -> str:
    """The item whose share of the weight u falls into (items sorted by id: the pick ignores display order)."""
    cum = np.cumsum([weight[x] for x in items])
    return items[min(int(np.searchsorted(cum, u * cum[-1], side="right")), len(items) - 1)]
