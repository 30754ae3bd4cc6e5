"""The recommendation policies a policy simulation compares, behind one small interface.

A policy sees a `Slot` (one placement in one replayed session: the customer's history so far, the item on the page,
the cart) and returns up to k item ids. What the customer then does is decided by `neurec.analytics.policy_sim`,
from the simulator's ground truth, never from the policy's own scores.

The policies:

- `NoRecs`: shows nothing; the baseline every lift is measured against.
- `Popularity`: the training period's best sellers, the same list for everyone.
- `Fbt`: "frequently bought together": items with the best co-purchase lift with the page's item or a cart item,
  from training-period baskets; nothing when no such pair was seen (no popularity fallback: FBT only).
- `CatalogueLadder`: no model and no statistics, only the catalogue: every higher tier of the page's or cart's
  product line and its dearest complements, as a shop could wire it in an afternoon. The bar any learned ranking
  of upsells and cross-sells has to clear.
- `ScorerPolicy`: the neurec bundle through `neurec.serving.Scorer`, with its shipped rules, or with the rules
  neutralised by `neutral_rules` (neurec without rules).
- `TruthOracle`: reads the ground truth itself; a reference to measure the others against, not a policy a shop has
  (`policy_bound` computes the exact ceiling).

Every policy but the scorer with rules gets the same minimal hygiene, so it never wastes a slot on something no
shop would show: not the item on the page, nothing already in the cart, nothing out of stock; and an item offered
earlier in the visit goes behind the fresh ones (the scorer's `shown_factor`, which neurec without rules has off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from neurec.history_summary import SUMMARY_EVENTS
from neurec.schema import EventType
from neurec.serving.rules_config import KINDS, PLACEMENTS, RulesConfig

_LABELS = {int(e): e.label for e in EventType if e is not EventType.PAD}


@dataclass(frozen=True)
class Slot:
    """One placement in one session, as a policy sees it. History arrays are oldest first."""

    session: int  # position of the session in the replay
    user_id: str
    placement: str  # product_page | cart | checkout
    anchor: str | None
    cart: tuple[str, ...]
    hist_items: np.ndarray  # (L,) item ids (str)
    hist_types: np.ndarray  # (L,) EventType codes
    hist_ts: np.ndarray  # (L,) unix seconds
    now: float
    shown: tuple[str, ...] = ()  # offered earlier in this visit and not taken (the request's `shown`)


class RecPolicy(Protocol):
    name: str

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        """Up to k item ids per slot, best first."""
        ...


def _excluded(slot: Slot, out_of_stock: frozenset[str]) -> set[str]:
    return {*slot.cart, *([slot.anchor] if slot.anchor is not None else []), *out_of_stock}


def _fresh_first(ranked: list[str], shown: Sequence[str]) -> list[str]:
    """`ranked` with the items offered earlier in the visit moved behind the rest, each part in its own order."""
    seen = set(shown)
    return [i for i in ranked if i not in seen] + [i for i in ranked if i in seen]


@dataclass(frozen=True)
class NoRecs:
    name: str = "none"

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        return [[] for _ in slots]


@dataclass(frozen=True)
class Popularity:
    ranked: tuple[str, ...]  # best seller first; k + a few spares are enough
    out_of_stock: frozenset[str] = frozenset()
    name: str = "popularity"

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out = []
        for slot in slots:
            skip = _excluded(slot, self.out_of_stock)
            out.append(_fresh_first([i for i in self.ranked if i not in skip], slot.shown)[:k])
        return out


@dataclass(frozen=True)
class Fbt:
    partners: Mapping[str, Mapping[str, float]]  # item -> partner -> lift, training period only
    out_of_stock: frozenset[str] = frozenset()
    name: str = "fbt"

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out = []
        for slot in slots:
            skip = _excluded(slot, self.out_of_stock)
            best: dict[str, float] = {}
            for anchor in ([slot.anchor] if slot.anchor is not None else []) + list(slot.cart):
                for item, lift in self.partners.get(anchor, {}).items():
                    if item not in skip and lift > best.get(item, -np.inf):  # best anchor wins, as in the baseline
                        best[item] = lift
            ranked = sorted(best, key=lambda i: (-best[i], i))  # id breaks ties: deterministic
            out.append(_fresh_first(ranked, slot.shown)[:k])
        return out


@dataclass(frozen=True)
class CatalogueLadder:
    """Upsells and cross-sells from the catalogue's columns alone (`product_line`, `tier`, `complement_of`, `price`,
    `stock`): the higher tiers of the line of the page's item (else the newest cart item), cheapest first, up to
    `upsells`; then the dearest in-stock complements of the lines in view, up to `cross_sells`. A tier the customer
    let pass is offered again at the next placement (one more look at the better version); a complement is not."""

    upper_tiers: Mapping[str, tuple[str, ...]]  # main item -> the in-stock higher tiers of its line, cheapest first
    line_of: Mapping[str, str]  # main item -> its product line
    complements: Mapping[str, tuple[str, ...]]  # product line -> its in-stock complements, dearest first
    upsells: int = 2
    cross_sells: int = 1
    name: str = "catalogue_ladder"

    @classmethod
    def from_catalog(cls, catalog, upsells: int = 2, cross_sells: int = 1) -> "CatalogueLadder":
        c = catalog.assign(item_id=catalog["item_id"].astype(str))
        in_stock = ~(c["stock"].astype(float) <= 0) if "stock" in c else pd.Series(True, index=c.index)
        has_line = c["complement_of"].fillna("").astype(str) == ""
        mains, comps = c[has_line & c["product_line"].notna()], c[~has_line & in_stock]
        upper: dict[str, tuple[str, ...]] = {}
        for _, line in mains.groupby("product_line", sort=False):
            line = line.sort_values(["tier", "price", "item_id"])
            stocked = line[in_stock[line.index]]
            for item, tier in zip(line["item_id"], line["tier"]):
                upper[item] = tuple(stocked.loc[stocked["tier"] > tier, "item_id"])
        comp = {str(k): tuple(g.sort_values(["price", "item_id"], ascending=[False, True])["item_id"])
                for k, g in comps.groupby(comps["complement_of"].astype(str), sort=False)}
        return cls(upper, dict(zip(mains["item_id"], mains["product_line"].astype(str))), comp, upsells, cross_sells)

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out = []
        for slot in slots:
            focus = slot.anchor if slot.anchor in self.line_of else next(
                (i for i in reversed(slot.cart) if i in self.line_of), None)
            skip = {*slot.cart, *([slot.anchor] if slot.anchor is not None else [])}
            ups = [i for i in self.upper_tiers.get(focus, ()) if i not in skip][: self.upsells]
            lines = dict.fromkeys(self.line_of[i] for i in [*([slot.anchor] if slot.anchor else []), *slot.cart]
                                  if i in self.line_of)
            seen = {*skip, *slot.shown}
            cross = [c for line in lines for c in self.complements.get(line, ()) if c not in seen]
            out.append((ups + cross[: self.cross_sells])[:k])
        return out


def popularity_ranking(counts: np.ndarray, ids: Sequence[str | None], top: int = 50) -> tuple[str, ...]:
    """Item ids by training-period purchase decisions, most first (ties by id); `ids[j]` names model id j."""
    sold = [j for j in range(len(counts)) if counts[j] > 0 and ids[j] is not None]
    order = sorted(sold, key=lambda j: (-counts[j], ids[j]))
    return tuple(str(ids[j]) for j in order[:top])


def fbt_partners(fbt, ids: Sequence[str | None]) -> dict[str, dict[str, float]]:
    """Partner lifts per item from a fitted `models.baselines.FrequentlyBoughtTogether`.

    Its `score` adds a popularity tie-break below the smallest lift gap; scoring an empty history gives exactly that
    term, so subtracting it leaves the lift of each pair the baseline kept (0 where there is none)."""
    known = np.array([j for j, i in enumerate(ids) if i is not None and j >= 2], dtype=np.int64)
    tie = fbt.score(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64))[0]
    lift = fbt.score(known[:, None], np.full((len(known), 1), int(EventType.PURCHASE))) - tie  # (n, n_items)
    out: dict[str, dict[str, float]] = {}
    for row, j in enumerate(known.tolist()):
        hit = np.flatnonzero(lift[row] > 1e-12)
        if hit.size:
            out[str(ids[j])] = {str(ids[c]): float(lift[row, c]) for c in hit.tolist() if ids[c] is not None}
    return out


def neutral_rules(rules: RulesConfig) -> RulesConfig:
    """The shipped rules with every business rule off: ranked by calibrated probability alone.

    Kept: the top_k, out-of-stock and in-cart drops (physically necessary; the anchor is never offered either, which
    the scorer always enforces), and the upsell band and tiers, because they decide which upgrades are generated as candidates:
    "without rules" ranks the same generated candidates. Off: the probability threshold, the slot cost, margin weight, placement
    preference, low-stock and strategic factors, the category cap, the free-shipping boost, the checkout price cap,
    the already-bought and declined drops, and the demotion of items shown earlier in the visit."""
    return replace(
        rules, min_probability=0.0, min_probability_by_kind=None, margin_weight=0.0, drop_declined=False,
        drop_already_bought=False, checkout_price_cap=None, placement_preference=tuple((p, None) for p in PLACEMENTS),
        placement_boost=1.0, low_stock_threshold=None, strategic_boost=1.0, max_per_category=None,
        free_shipping_threshold=None, shown_factor=1.0, slot_cost=None, slot_cost_by_placement=None,
    )


def rule_ablations(rules: RulesConfig) -> dict[str, RulesConfig]:
    """The shipped rules with one business rule switched off at a time: what each one costs or earns. Rules already
    off are left out; the hard drops that `neutral_rules` keeps are never switched off."""
    off = {
        "min_probability": dict(min_probability=0.0, min_probability_by_kind=None),
        "margin_weight": dict(margin_weight=0.0),
        "placement_preference": dict(placement_preference=tuple((p, None) for p in PLACEMENTS)),
        "checkout_price_cap": dict(checkout_price_cap=None),
        "max_per_category": dict(max_per_category=None),
        "drop_already_bought, drop_declined": dict(drop_already_bought=False, drop_declined=False),
        "low_stock and strategic factors": dict(low_stock_threshold=None, strategic_boost=1.0),
        "free_shipping_threshold": dict(free_shipping_threshold=None),
        "shown_factor": dict(shown_factor=1.0),
        "slot_cost": dict(slot_cost=None, slot_cost_by_placement=None),
        # Back to one slot cost for every placement.
        "slot_cost_by_placement": dict(slot_cost_by_placement=None),
        # Not off but back to the simpler rule: the placement's best slot_cost_free free, whatever their kind.
        "slot_cost_free_by_kind": dict(slot_cost_free_by_kind=None),
        "upsell_tiers": dict(upsell_tiers=1),  # upgrades one tier up only
        # Back to every kind's re-offers taking a free slot, as fresh items do.
        "slot_cost_free_reoffers": dict(slot_cost_free_reoffers=KINDS),
    }
    out = {}
    for name, change in off.items():
        changed = replace(rules, **change)
        if changed != rules:
            out[name] = changed
    return out


class ScorerPolicy:
    """A neurec bundle as a policy: one Scorer request per slot, scored in batches (one onnxruntime call each)."""

    def __init__(self, scorer, name: str, batch: int = 128):
        self.scorer, self.name, self.batch = scorer, name, batch
        # The window reads max_history events, the whole-history summary the newest SUMMARY_EVENTS: send those.
        self.max_history = max(int(scorer.bundle.max_history), SUMMARY_EVENTS)

    @classmethod
    def from_bundle(cls, path, name: str, rules: RulesConfig | None = None) -> "ScorerPolicy":
        """`rules`: None keeps the bundle's own rules (rules.json); else they replace them."""
        from neurec.serving.bundle import open_bundle
        from neurec.serving.scorer import Scorer

        bundle, session = open_bundle(path, threads=1)
        if rules is not None:
            bundle = replace(bundle, rules=rules)
        return cls(Scorer(bundle, session), name)

    def with_rules(self, name: str, rules: RulesConfig) -> "ScorerPolicy":
        """The same bundle and onnxruntime session under other rules."""
        return ScorerPolicy(self.scorer.with_rules(rules), name, self.batch)

    def request(self, slot: Slot, k: int) -> dict:
        """`k`: the room the page has; the rules' top_k may show fewer (a request's k would override it)."""
        lo = max(0, len(slot.hist_items) - self.max_history)  # the model reads no further back; parsing is the cost
        history = [{"item_id": str(i), "event_type": _LABELS[int(t)], "timestamp": float(ts)}
                   for i, t, ts in zip(slot.hist_items[lo:], slot.hist_types[lo:], slot.hist_ts[lo:])]
        return {"history": history, "placement": slot.placement, "anchor": slot.anchor, "cart": list(slot.cart),
                "shown": list(slot.shown), "k": min(k, self.scorer.rules.top_k), "now": slot.now}

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out: list[list[str]] = []
        for lo in range(0, len(slots), self.batch):
            responses = self.scorer.recommend_batch([self.request(s, k) for s in slots[lo : lo + self.batch]])
            out += [[item["item_id"] for item in r["items"]] for r in responses]
        return out


class TruthOracle:
    """Not a shop's policy: it reads the simulator's ground truth (a `policy_sim.SessionTruth`) and shows the k
    items with the highest expected gain in order value, one placement at a time, from the session's opening
    state, never showing a complement twice in a session (a refused one stays refused). Its AOV shows what a
    policy that knew every customer's odds could earn in this simulator; being greedy, it is not the ceiling
    (`policy_bound.expected_ceiling` is). Use one instance per replay.
    `alternatives=False` keeps it to upsells (higher tiers of the anchor's line) and cross-sells, the kinds the
    shipped rules allow; True also lets it show other main items of the category (pricier rival lines).
    `cost` (a `choice_cost.ChoiceCost`): an item that would cost a share of the order (beyond the free slots, or
    poorly matched) is shown only when its gain beats that share of the order's expected value."""

    def __init__(self, sessions: Sequence, truth, alternatives: bool = True, name: str = "oracle", cost=None):
        self.sessions, self.truth, self.alternatives, self.name = sessions, truth, alternatives, name
        self.cost = cost
        self._tried: dict[int, set[str]] = {}  # complements shown per session: shown again, they never sell
        self._mains: dict[str, list[str]] = {}  # category -> main items
        self._comps: dict[str, list[str]] = {}  # line -> complements
        for i, it in truth.t.items.items():
            (self._mains.setdefault(it.category, []) if it.main else self._comps.setdefault(it.line, [])).append(i)

    def gain(self, s, anchor: str | None, item: str) -> float:
        """Expected order value added by showing `item` alone: a switch to it, or it added to the order."""
        st, items = self.truth.opening_state(s, anchor), self.truth.t.items
        added = self.truth.added_weight(s, st, item)
        if added > 0:
            return added / (1.0 + added) * (items[item].price - items[anchor].price) if anchor in items else 0.0
        return self.truth.cross_sell_p(s, st, item) * items[item].price

    def _worth_showing(self, s, slot: Slot, ranked: list[str], gains: Mapping[str, float]) -> list[str]:
        """`ranked` less the items whose gain does not pay for the share of the order they put at risk."""
        st, value, out = self.truth.opening_state(s, slot.anchor), self.truth.order_value(s.bought), []
        for x in ranked:
            bad = self.truth.poorly_matched(s, st, x, self.truth.kind(s, st, x))
            risk = 1.0 - self.cost.keep(len(out) + 1, int(bad)) / self.cost.keep(len(out), 0)
            if gains[x] > risk * (value + sum(gains[y] for y in out)):
                out.append(x)
        return out

    def _pool(self, s, slot: Slot) -> list[str]:
        items, ref = self.truth.t.items, self.truth.t.items.get(slot.anchor)
        mains = self._mains.get(s.main.category, []) if s.main is not None else []
        if not self.alternatives:
            mains = [x for x in mains if ref is not None and items[x].line == ref.line and items[x].tier > ref.tier]
        lines = self.truth.lines([*s.bought, *([slot.anchor] if slot.anchor else [])])
        tried = self._tried.get(slot.session, set())
        pool = mains + [c for line in sorted(lines) for c in self._comps.get(line, []) if c not in tried]
        return [x for x in pool if x not in slot.cart and x != slot.anchor]

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out = []
        for slot in slots:
            s = self.sessions[slot.session]
            # The oracle knows who will order; nobody else can be moved.
            gains = {x: self.gain(s, slot.anchor, x) for x in self._pool(s, slot)} if s.bought else {}
            ranked = sorted((x for x in gains if gains[x] > 0), key=lambda x: (-gains[x], x))
            out.append(self._worth_showing(s, slot, ranked, gains)[:k] if self.cost is not None else ranked[:k])
            self._tried.setdefault(slot.session, set()).update(x for x in out[-1] if not self.truth.t.items[x].main)
        return out
