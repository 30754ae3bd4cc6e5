"""Cross-sell attachment on real baskets: what a policy would have sold with the rest of an order.

A real shop's log holds no answers to offers that were never shown, so this measures the next best thing: hide part
of each test-period basket, let the policy see the customer's earlier history and the rest of the basket (the cart,
placement "cart"), and count how often its suggestions name a hidden item, which the customer demonstrably wanted.

- basket: one customer's purchases in one session (the invoice on Online Retail) whose first purchase is in the
  test period and which holds at least 2 distinct items; its lines keep their order.
- split: `hold_out` of the distinct items (rounded down, at least 1, at most all but 1) are hidden, drawn by a
  generator seeded with the run's seed and the basket's own key, so a basket splits the same way whatever else is
  in the run (a cap, another policy list).
- attachment rate: baskets where at least one of the k suggestions is hidden / baskets. precision: hidden
  suggestions / suggestions made. revenue: the hidden lines those suggestions name, at unit price x quantity when
  the events carry a `quantity` column (a line without one counts one unit), else at unit price. It is what the
  basket holds, not a proven increment: the customer bought those lines without being shown anything.
- repeat share: hits the customer had bought before the basket (on invoice data re-buying is common and legitimate);
  new-item attachment rate: baskets with a hit the customer had never bought / baskets, what "cross-sell" means
  to a shop that wants its customers to discover something.

Intervals resample customers with all their baskets (the policies share one draw, so the ratio to the reference
policy is paired); rates also get a Wilson interval over baskets.

`size_ladders` and `LadderUpsell` give price-ladder upsell candidates where the catalogue names sizes but has no
product lines: the same description apart from one size word, ordered by training-period price.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.analytics.policies import RecPolicy, Slot
from neurec.analytics.policy_stats import bootstrap_weights, percentile_ci, wilson
from neurec.data.errors import DataError
from neurec.schema import EVENT_TYPE, ITEM_ID, PRICE, QUANTITY, SESSION_ID, USER_ID, EventType

HOLD_OUT = 0.5
PURCHASE = int(EventType.PURCHASE)


@dataclass(frozen=True)
class Basket:
    user_id: str
    session_id: str
    ts: float  # the basket's first purchase: the policy sees the customer as of this moment
    visible: tuple[str, ...]  # the cart the policy is shown, in line order
    held_out: tuple[str, ...]
    value: tuple[float, ...]  # revenue of each held-out item's lines, aligned with held_out; NaN: no price


def split_basket(items: Sequence[str], seed: int, key: str, hold_out: float = HOLD_OUT) -> tuple[tuple, tuple]:
    """(visible, held out), each in the basket's order. Needs at least 2 distinct items."""
    n = len(items)
    if n < 2:
        raise ValueError(f"basket {key!r}: {n} item(s); a split needs at least 2")
    n_out = min(max(int(n * hold_out), 1), n - 1)
    hidden = set(np.random.default_rng([seed, zlib.crc32(key.encode())]).choice(n, n_out, replace=False).tolist())
    visible = tuple(i for j, i in enumerate(items) if j not in hidden)
    return visible, tuple(i for j, i in enumerate(items) if j in hidden)


def holdout_baskets(events: pd.DataFrame, test_start: float, seed: int = 0, hold_out: float = HOLD_OUT,
                    max_baskets: int | None = None, end: float | None = None) -> list[Basket]:
    """The baskets that start at or after `test_start` (and before `end`, when given: the validation period, where
    rules are chosen), split; `max_baskets` keeps a seeded sample of them. Time order."""
    if PRICE not in events.columns or events[PRICE].isna().all():
        raise DataError(f"no prices: the events need a '{PRICE}' column with unit prices to count revenue "
                        f"(found columns {list(events.columns)})")
    buys = events.loc[events[EVENT_TYPE].to_numpy() == PURCHASE]
    units = buys[QUANTITY].fillna(1.0) if QUANTITY in buys.columns else 1.0  # a line without one: one unit
    lines = buys.assign(_value=buys[PRICE] * units, _row=np.arange(len(buys)))
    start = lines.groupby([USER_ID, SESSION_ID], sort=False)["ts"].transform("min")
    inside = (start.to_numpy() >= test_start) & (start.to_numpy() < (np.inf if end is None else end))
    lines = lines.loc[inside].sort_values(["ts", "_row"], kind="stable")
    out = []
    for (user, session), b in lines.groupby([USER_ID, SESSION_ID], sort=False):
        value = b.groupby(ITEM_ID, sort=False)["_value"].sum(min_count=1)  # distinct items, first line's order
        if len(value) < 2:
            continue
        visible, held = split_basket([str(i) for i in value.index], seed, f"{user}\x1f{session}", hold_out)
        out.append(Basket(str(user), str(session), float(b["ts"].iloc[0]), visible, held,
                          tuple(float(value[i]) for i in held)))
    if not out:
        raise DataError(f"no test baskets: none of the {lines[[USER_ID, SESSION_ID]].drop_duplicates().shape[0]:,} "
                        f"sessions with a purchase at or after the test start ({test_start:.0f}) holds 2 or more "
                        "distinct purchased items; check the split (data.test_frac) or the event types")
    out.sort(key=lambda b: (b.ts, b.user_id, b.session_id))
    if max_baskets is not None and max_baskets < len(out):
        keep = np.sort(np.random.default_rng(seed).choice(len(out), max_baskets, replace=False))
        out = [out[i] for i in keep.tolist()]
    return out


def basket_slots(baskets: Sequence[Basket], events: pd.DataFrame, cart_type: int = PURCHASE) -> list[Slot]:
    """One cart slot per basket: the customer's events before it (none of the basket's own session, whose views
    would name hidden items), then the visible lines as `cart_type` events at the basket's time, last.

    PURCHASE by default because invoice data is trained that way: the lines before a decision in the same invoice
    are purchases at the same moment in its history; a live shop would send its cart as add_to_cart."""
    ordered = events.sort_values([USER_ID, "ts"], kind="stable")
    users, ts = ordered[USER_ID].astype(str).to_numpy(), ordered["ts"].to_numpy(np.float64)
    items, types = ordered[ITEM_ID].astype(str).to_numpy().astype(object), ordered[EVENT_TYPE].to_numpy(np.int64)
    sessions = ordered[SESSION_ID].astype(str).to_numpy()
    names, lo, count = np.unique(users, return_index=True, return_counts=True)
    span = {u: (int(a), int(a + c)) for u, a, c in zip(names.tolist(), lo, count)}
    slots = []
    for n, b in enumerate(baskets):
        a, z = span.get(b.user_id, (0, 0))
        z = a + int(np.searchsorted(ts[a:z], b.ts, side="left"))
        keep = np.arange(a, z)[sessions[a:z] != b.session_id]
        m = len(b.visible)
        slots.append(Slot(
            session=n, user_id=b.user_id, placement="cart", anchor=None, cart=b.visible,
            hist_items=np.concatenate([items[keep], np.array(b.visible, dtype=object)]),
            hist_types=np.concatenate([types[keep], np.full(m, cart_type, dtype=np.int64)]),
            hist_ts=np.concatenate([ts[keep], np.full(m, b.ts)]), now=b.ts))
    return slots


@dataclass(frozen=True)
class PolicyRun:
    """What one policy suggested for every basket, counted per basket (same order as the baskets)."""

    policy: str
    suggested: np.ndarray  # (n,) suggestions made (at most k)
    hits: np.ndarray  # (n,) of them held out
    revenue: np.ndarray  # (n,) held-out value they name (unpriced lines count 0)
    repeat_hits: np.ndarray  # (n,) hits the customer had bought before the basket
    seconds: float


def run_policy(policy: RecPolicy, baskets: Sequence[Basket], slots: Sequence[Slot], k: int) -> PolicyRun:
    t = time.perf_counter()
    recs = policy.recommend(slots, k)
    seconds = time.perf_counter() - t
    n = len(baskets)
    suggested, hits, revenue, repeat = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for j, (b, s, items) in enumerate(zip(baskets, slots, recs)):
        items = list(dict.fromkeys(items))[:k]
        value = dict(zip(b.held_out, b.value))
        m = len(s.hist_items) - len(s.cart)  # basket_slots puts the cart last
        before = set(s.hist_items[:m][s.hist_types[:m] == PURCHASE].tolist())
        hit = [i for i in items if i in value]
        suggested[j], hits[j] = len(items), len(hit)
        revenue[j] = sum(value[i] for i in hit if np.isfinite(value[i]))
        repeat[j] = len(set(hit) & before)
    return PolicyRun(policy.name, suggested, hits, revenue, repeat, seconds)


def attachment_table(runs: Sequence[PolicyRun], baskets: Sequence[Basket], ref: str = "fbt", n_boot: int = 2000,
                     seed: int = 0, alpha: float = 0.05) -> dict[str, dict]:
    """Per policy: the figures, each rate with its customer-bootstrap interval (`<name>_ci`); `ratio_to_<ref>` is
    the attachment rate over the reference's on the same baskets, its interval from the same resamples."""
    w = bootstrap_weights(len(baskets), n_boot, seed, [b.user_id for b in baskets])  # (B, n), shared: paired
    sums = {r.policy: np.stack([np.ones(len(baskets)), r.hits > 0, r.hits, r.suggested, r.revenue, r.suggested > 0,
                                r.hits > r.repeat_hits]) for r in runs}  # (7, n); the last: attached by a new item
    boot = {name: s @ w.T for name, s in sums.items()}  # (7, B)
    out = {}
    for r in runs:
        p, b = sums[r.policy].sum(axis=1), boot[r.policy]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = {"baskets": int(p[0]), "attached": int(p[1]), "hits": int(p[2]), "suggestions": int(p[3]),
                 "revenue": float(p[4]), "with_suggestion": float(p[5] / p[0]),
                 "attachment_rate": float(p[1] / p[0]), "attachment_rate_ci": percentile_ci(b[1] / b[0], alpha),
                 "attachment_rate_wilson": tuple(float(x) for x in wilson(p[1], p[0], alpha)),
                 "new_item_attachment_rate": float(p[6] / p[0]), "new_item_attachment_rate_ci": percentile_ci(b[6] / b[0], alpha),
                 "precision": float(p[2] / p[3]) if p[3] else 0.0,
                 "precision_ci": percentile_ci(b[2] / b[3], alpha) if p[3] else (0.0, 0.0),
                 "revenue_per_basket": float(p[4] / p[0]), "revenue_per_basket_ci": percentile_ci(b[4] / b[0], alpha),
                 "repeat_share_of_hits": float(r.repeat_hits.sum() / p[2]) if p[2] else float("nan"),
                 "seconds": r.seconds}
            if ref in sums:
                q, qb = sums[ref].sum(axis=1), boot[ref]
                f[f"ratio_to_{ref}"] = float(p[1] / q[1]) if q[1] else float("nan")
                f[f"ratio_to_{ref}_ci"] = percentile_ci(b[1] / qb[1], alpha)
                f[f"new_item_ratio_to_{ref}"] = float(p[6] / q[6]) if q[6] else float("nan")
                f[f"new_item_ratio_to_{ref}_ci"] = percentile_ci(b[6] / qb[6], alpha)
                f[f"revenue_ratio_to_{ref}"] = float(p[4] / q[4]) if q[4] else float("nan")
                f[f"revenue_ratio_to_{ref}_ci"] = percentile_ci(b[4] / qb[4], alpha)
        out[r.policy] = f
    return out


# A size word: the same product in another size is the only ladder a catalogue without product lines can show.
SIZE_WORDS = ("MINI", "SMALL", "SML", "MEDIUM", "MED", "LARGE", "LRG", "JUMBO", "GIANT", "BIG", "XL")
_SIZE = re.compile(r"\b(" + "|".join(SIZE_WORDS) + r")\b")


def size_ladders(descriptions: Mapping[str, str], prices: Mapping[str, float]) -> dict[str, tuple[str, ...]]:
    """item -> its dearer ladder items, cheapest first. A ladder: items whose descriptions name exactly one size
    word and are the same without it (case and spacing aside), with a known price; items priced the same as a
    cheaper rung are not a step up. `prices` should come from the training period only."""
    stems: dict[str, list[tuple[float, str]]] = {}
    for item, text in descriptions.items():
        words = _SIZE.findall(str(text).upper())
        price = prices.get(item, np.nan)
        if len(words) != 1 or not (np.isfinite(price) and price > 0):
            continue
        stem = " ".join(_SIZE.sub(" ", str(text).upper()).split())
        stems.setdefault(stem, []).append((float(price), str(item)))
    out = {}
    for rungs in stems.values():
        rungs.sort()
        for price, item in rungs:
            dearer = tuple(i for p, i in rungs if p > price)
            if dearer:
                out[item] = dearer
    return out


@dataclass(frozen=True)
class LadderUpsell:
    """The next dearer rung of each cart item's size ladder (not one already in the cart), cart order."""

    dearer: Mapping[str, tuple[str, ...]]
    name: str = "price_ladder"

    def recommend(self, slots: Sequence[Slot], k: int) -> list[list[str]]:
        out = []
        for slot in slots:
            picks = [next((i for i in self.dearer.get(c, ()) if i not in slot.cart), None) for c in slot.cart]
            out.append(list(dict.fromkeys(i for i in picks if i is not None))[:k])
        return out
