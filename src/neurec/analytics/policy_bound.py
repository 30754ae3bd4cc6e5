"""The highest expected AOV any upsell + cross-sell policy can reach in a policy simulation: a ceiling, computed
exactly from the acceptance model of `policy_sim`, not estimated by a policy.

`TruthOracle` is greedy, one placement at a time, so its AOV is a reference, not a proof. This is one. The policy it
bounds may know every customer's odds and who will order, show as many items as it likes, and change what it shows
at each placement after seeing what the customer did at the one before. It may show only what the shipped rules
call upsells and cross-sells: higher tiers of the line of the item the customer came to buy, and complements of
the order's lines.

- **Cross-sells.** A complement is taken by its own draw, whatever else is shown, with probability
  `SessionTruth.cross_sell_p`. An upsell keeps the order's lines, so that probability does not depend on the
  upsells either. Showing every complement once is therefore the best any policy can do with them: each adds
  p × price in expectation.
- **Upsells.** Each placement may show any subset of the higher tiers. A shown item counts as one more view: with
  the weights it adds (`SessionTruth.added_weight`), the customer keeps their item with probability W / (W + D)
  and otherwise switches to a shown item in proportion to its weight. Then W grows by D, whatever happened. A
  search over every subset at every placement, through every outcome, gives the best expected price of the final
  main item.

Sessions without an order add nothing: the simulator's customers take nothing in them, and conversion is the same
under every policy. So the ceiling's AOV lift is (Σ order value + Σ best expected gain) / Σ order value − 1.

With a choice cost (`choice_cost.ChoiceCost`) conversion depends on what is shown, so the ceiling is stated for
revenue per session, which is what the cost takes away. A policy that knows the truth never shows a poorly matched
item: it only costs. Showing e suggestions beyond the free ones keeps the order with probability
(1 − per_extra)^e, and at most placements × free_slots + e complements can then be shown, so a session earns at
most max over e of (1 − per_extra)^e × (order value + best upsell gain + the e + placements × free_slots best
complement gains). The upsells are charged no slot, which keeps it an upper bound; it is one for policies that fix
how many items they show before hearing the customer's answers (top_k and thresholds do). Without a cost it is the
exact ceiling above, and that one bounds every policy under any cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from neurec.analytics.choice_cost import ChoiceCost
from neurec.analytics.policy_sim import PLACEMENTS, Session, SessionTruth, ShopTruth


@dataclass(frozen=True)
class Ceiling:
    aov_lift: float  # the best expected AOV over the AOV with nothing shown, minus 1
    upsell_gain: float  # Σ over sessions of the best expected price gain of the main item
    cross_sell_gain: float  # Σ over sessions of the expected value of every complement, shown once
    base_value: float  # Σ order value with nothing shown
    sessions: int  # sessions with an order
    cost: str = "none"  # the ChoiceCost it holds under
    revenue_lift: float = float("nan")  # the best expected revenue per session over nothing shown, minus 1


def _under_cost(base: float, upsell: float, gains: list[float], placements: int, cost: ChoiceCost) -> float:
    """The most one ordering session can earn under `cost` (module docstring): best over the extra suggestions."""
    gains = sorted(gains, reverse=True)
    free = placements * cost.free_slots
    best = base + upsell + sum(gains[:free])
    for extra in range(1, max(0, len(gains) - free) + 1):
        best = max(best, (1.0 - cost.per_extra) ** extra * (base + upsell + sum(gains[: free + extra])))
    return best


def expected_ceiling(sessions: Sequence[Session], truth: ShopTruth, placements: int = len(PLACEMENTS),
                     cost: ChoiceCost = ChoiceCost()) -> Ceiling:
    model = SessionTruth(truth)
    mains: dict[str, list[str]] = {}
    comps: dict[str, list[str]] = {}
    for i, it in sorted(truth.items.items()):
        (mains if it.main else comps).setdefault(it.line, []).append(i)
    base = up = cross = costed = 0.0
    ordering = [s for s in sessions if s.bought]
    for s in ordering:
        value = model.order_value(s.bought)
        st = model.opening_state(s, s.main.item if s.main else None)
        gains = [model.cross_sell_p(s, st, c) * truth.items[c].price
                 for line in sorted(model.lines(st.order)) for c in comps.get(line, [])]
        upsell = 0.0
        if s.main is not None:
            first = truth.items[s.main.item]
            ups = tuple(m for m in mains.get(first.line, []) if truth.items[m].tier > first.tier)
            upsell = _best_price(model, s, ups, placements) - first.price
        base, up, cross = base + value, up + upsell, cross + sum(gains)
        costed += _under_cost(value, upsell, gains, placements, cost)
    lift = (base + up + cross) / base - 1 if base > 0 else float("nan")
    revenue = costed / base - 1 if base > 0 else float("nan")  # "nothing shown" loses no order under any cost
    return Ceiling(lift, up, cross, base, len(ordering), cost.name, revenue)


def _best_price(model: SessionTruth, s: Session, ups: tuple[str, ...], placements: int) -> float:
    """The best expected price of the main item after `placements` rounds of showing subsets of `ups`."""
    price = {i: model.t.items[i].price for i in (s.main.item, *ups)}
    subsets = [c for r in range(1, len(ups) + 1) for c in combinations(ups, r)]

    def value(main: str, weight: float, seen: tuple[tuple[str, int], ...], left: int) -> float:
        if left == 0:
            return price[main]
        best = value(main, weight, seen, left - 1)  # show no upgrade here
        for shown in subsets:
            st = model.opening_state(s, main)  # the order with `main` in place of the item first chosen
            st.weight, st.seen = weight, dict(seen)
            added = {x: model.added_weight(s, st, x) for x in shown}
            total = sum(added.values())
            if total <= 0:
                continue
            after = weight + total
            counts = dict(seen)
            for x in shown:
                counts[x] = counts.get(x, 0) + 1
            nxt = tuple(sorted(counts.items()))
            ev = weight / after * value(main, after, nxt, left - 1)
            ev += sum(w / after * value(x, after, nxt, left - 1) for x, w in added.items() if w > 0)
            best = max(best, ev)
        return best

    return value(s.main.item, 1.0, (), placements)
