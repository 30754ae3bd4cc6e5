"""The simulated shop's customers and their visits: who comes when, what they look at and what they buy.

Each kind of visit (research, look around, complement, refill) is one vectorised step over all its visits at
once; every step records into the shared event log, which `neurec.data.simulate` turns into the shop's tables.
The order of the random draws is part of the contract: the same seed gives the same shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neurec.data.simulate_catalog import ShopCatalog
from neurec.schema import EventType

if TYPE_CHECKING:  # annotations only: simulate imports this module at run time
    from neurec.data.simulate import EventLog, SimulatorConfig

SEGMENTS = ("first_time", "returning", "high_value")
VIEW, CART, BUY = int(EventType.VIEW), int(EventType.ADD_TO_CART), int(EventType.PURCHASE)
DAY = 86_400
# Relative traffic by hour of day (UTC): the evening peak of a European shop.
_HOURS = np.array([1, .5, .3, .2, .2, .3, .6, 1, 1.5, 2, 2.2, 2.3, 2.5, 2.3, 2.2, 2.2, 2.4, 2.6, 3, 3.3, 3.4, 3, 2.2, 1.5])  # fmt: skip


@dataclass(frozen=True)
class Customers:
    segment: np.ndarray  # (N,) index into SEGMENTS
    sens: np.ndarray  # (N,) price sensitivity in [0, 1]
    taste: np.ndarray  # (N, 3) tier preference
    taste_cum: np.ndarray  # (N, 3)
    pref_cum: np.ndarray  # (N, C) cumulative category preference
    favourites: np.ndarray  # (N, C) bool


def simulate_visits(cfg: SimulatorConfig, rng: np.random.Generator, cat: ShopCatalog, log: EventLog) -> Customers:
    """Draws the customers and records all their visits into `log`; returns the customers."""
    cust = _customers(cfg, rng)
    user, start = _base_visits(cfg, rng, cust)
    research = rng.random(len(user)) < cfg.research_share
    bought = _research_visits(cfg, rng, cust, cat, log, user[research], start[research])
    _look_around_visits(cfg, rng, cust, cat, log, user[~research], start[~research])
    _complement_visits(cfg, rng, cat, log, *bought)
    _refill_visits(cfg, rng, cat, log, *bought[:3])
    return cust


def pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: column index of each row's cumulative distribution that u falls into."""
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


def segment_choice(rng: np.random.Generator, seg: np.ndarray, w: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """One weighted draw per segment of a flat candidate list (seg sorted, each of 0..m-1 non-empty).

    Returns the chosen row of each segment and every row's probability.
    """
    prob = w / np.bincount(seg, weights=w, minlength=m)[seg]
    first = np.searchsorted(seg, np.arange(m))
    csum = np.cumsum(prob)
    local = csum - (csum[first] - prob[first])[seg]
    below = np.bincount(seg, weights=local < rng.random(m)[seg], minlength=m).astype(np.int64)
    return first + np.minimum(below, np.bincount(seg, minlength=m) - 1), prob


def _candidates(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a -1 padded (m, k) item table as a flat (segment, item) list."""
    seg, col = np.nonzero(table >= 0)
    return seg, table[seg, col]


def _offsets(rng: np.random.Generator, sess: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from visit start for rows sorted by visit (first row at 0), and each visit's last offset."""
    end = np.zeros(m, np.int64)
    if len(sess) == 0:
        return np.zeros(0, np.int64), end
    gap = np.clip(rng.exponential(40.0, len(sess)), 3, 600).astype(np.int64)
    first = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]])
    gap[first] = 0
    csum = np.cumsum(gap)
    off = csum - np.repeat(csum[first], np.diff(np.r_[first, len(sess)]))
    last = np.r_[first[1:], len(sess)] - 1
    end[sess[last]] = off[last]
    return off, end


def _customers(cfg: SimulatorConfig, rng: np.random.Generator) -> Customers:
    n, c = cfg.n_customers, cfg.n_categories
    segment = rng.choice(3, n, p=np.asarray(cfg.segment_shares) / sum(cfg.segment_shares))
    sens = np.where(segment == 2, rng.beta(1.2, 3.0, n), rng.beta(2.0, 2.0, n))
    # Sensitive customers lean to tier 1, insensitive ones to tier 3; the noise keeps tastes individual.
    logits = -3.0 * (sens[:, None] - 0.4) * np.arange(3) + rng.normal(0.0, 0.4, (n, 3))
    taste = np.exp(logits)
    taste /= taste.sum(axis=1, keepdims=True)
    # 2–3 favourite categories drawn without replacement, weighted by the category's own popularity (keys
    # u ** (1 / w), largest k win); the favourites share 85 % of the mass, a sparse Dirichlet spreads the rest.
    keys = rng.random((n, c)) ** (1.0 / rng.lognormal(0.0, 0.5, c))
    k = np.minimum(2 + (rng.random(n) < 0.5), c)
    fav = keys >= -np.sort(-keys, axis=1)[np.arange(n), k - 1][:, None]
    g = rng.gamma(np.where(fav, 2.0, 0.15), 1.0) + 1e-9
    pref = np.where(fav, 0.85 * g / (g * fav).sum(1, keepdims=True), 0.15 * g / ((g * ~fav).sum(1, keepdims=True) + 1e-9))
    pref /= pref.sum(axis=1, keepdims=True)
    return Customers(segment, sens, taste, np.cumsum(taste, axis=1), np.cumsum(pref, axis=1), fav)


def _base_visits(cfg: SimulatorConfig, rng: np.random.Generator, cust: Customers) -> tuple[np.ndarray, np.ndarray]:
    """Visit times sorted by (customer, time). A first-timer's second visit, if any, follows within days."""
    n, seg, scale = cfg.n_customers, cust.segment, cfg.days / 90
    first_time, returning = 1 + (rng.random(n) < 0.4), 1 + rng.poisson(4.0 * scale, n)
    count = np.select([seg == 0, seg == 1], [first_time, returning], 4 + rng.poisson(10.0 * scale, n))
    user = np.repeat(np.arange(n), count)
    hour = np.minimum(np.searchsorted(np.cumsum(_HOURS) / _HOURS.sum(), rng.random(len(user))), 23)
    start = rng.integers(0, cfg.days, len(user)) * DAY + hour * 3600 + rng.integers(0, 3600, len(user))
    first = np.searchsorted(user, user)
    again = (seg[user] == 0) & (np.arange(len(user)) > first)
    start[again] = start[first[again]] + (rng.exponential(2.0, again.sum()) * DAY).astype(np.int64)
    order = np.lexsort((start, user))
    return user[order], start[order]


def _intents(cfg: SimulatorConfig, rng: np.random.Generator, cust: Customers, cat: ShopCatalog, user: np.ndarray):
    """The product line each research visit is about, and how likely the visit is to end in a purchase.

    Consecutive visits often resume the same line (comparing over days), and such a run tends to end in a
    purchase on its last visit rather than its first.
    """
    first = np.r_[True, user[1:] != user[:-1]]
    new = first | (rng.random(len(user)) >= cfg.resume_intent)
    run = np.cumsum(new) - 1
    run_user = user[new]
    category = pick(cust.pref_cum[run_user], rng.random(len(run_user)))
    line = category * cfg.lines_per_category + pick(cat.line_cum[category], rng.random(len(run_user)))
    last = np.r_[new[1:], True]
    run_len = np.bincount(run)[run]
    return line[run], np.where(last, np.where(run_len > 1, 1.8, 1.0), 0.5)


def _research_visits(cfg, rng, cust: Customers, cat: ShopCatalog, log: EventLog, user: np.ndarray, start: np.ndarray):
    """Compare items of one category; maybe cart one, buy it, and add a complement at checkout.

    Returns the main purchases as (user, time, line, complement bought with it or -1) for the follow-up visits.
    """
    line, boost = _intents(cfg, rng, cust, cat, user)
    visit, m = log.visits(user, start), len(user)
    v_sess, v_item, t0 = _research_views(cfg, rng, cust, cat, line, user)
    off, end = _offsets(rng, v_sess, m)
    log.add(visit[v_sess], off, v_item, VIEW)
    buys = rng.random(m) < np.asarray(cfg.buy_rate)[cust.segment[user]] * boost
    quits = np.flatnonzero(~buys & (rng.random(m) < cfg.abandon_rate))
    log.add(visit[quits], end[quits] + rng.integers(10, 120, len(quits)), cat.main[line[quits], t0[quits]], CART)

    b = np.flatnonzero(buys)
    item, odds = _choose_main(rng, cust, cat, v_sess, v_item, b, user, line, t0)
    off = end[b] + rng.integers(10, 120, len(b))
    log.add(visit[b], off, item, CART)
    rate = np.asarray(cfg.cross_sell_rate)[cust.segment[user[b]]] * (cat.comp[item // 3, 0] >= 0)
    x = np.flatnonzero(rng.random(len(b)) < rate)
    seg, cand = _candidates(cat.comp[item[x] // 3])
    chosen, prob = segment_choice(rng, seg, cat.attract[cand] * rng.lognormal(0.0, 0.5, len(cand)), len(x))
    extra = cand[chosen]
    off[x] += rng.integers(5, 60, len(x))  # straight from the cart page's suggestions, no product page view
    log.add(visit[b[x]], off[x], extra, CART)
    off += rng.integers(20, 240, len(b))
    log.buy(visit[b], off, item, odds)
    log.buy(visit[b[x]], off[x] + rng.integers(3, 9, len(x)), extra, (seg, cand, prob))
    with_it = np.full(len(b), -1)
    with_it[x] = extra
    return user[b], start[b] + off, item // 3, with_it


def _research_views(cfg: SimulatorConfig, rng, cust: Customers, cat: ShopCatalog, line: np.ndarray, user: np.ndarray):
    """(visit, item) views in order: the line's favoured tier first, then in random order its other tiers
    (neighbours more often than the far one), a few rival lines of the category and sometimes an accessory."""
    m, per_cat = len(line), cfg.lines_per_category
    t0 = pick(cust.taste_cum[user], rng.random(m))
    dist = np.abs(np.arange(3)[None, :] - t0[:, None])
    reps = ((1 + rng.poisson(0.7, (m, 3))) * (rng.random((m, 3)) < np.array([1.0, 0.45, 0.2])[dist])).ravel()
    s1 = np.repeat(np.arange(3 * m), reps) // 3
    lead = (np.arange(len(s1)) == np.repeat(np.cumsum(reps) - reps, reps)) & (np.repeat(dist.ravel(), reps) == 0)
    i1 = np.repeat(cat.main[line].ravel(), reps)

    s2 = np.repeat(np.arange(m), 1 + rng.poisson(4.0, m))
    category = line[s2] // per_cat
    rival = category * per_cat + pick(cat.line_cum[category], rng.random(len(s2)))
    i2 = cat.main[rival, pick(cust.taste_cum[user[s2]], rng.random(len(s2)))]
    s3 = np.flatnonzero(rng.random(m) < (0.25 if cfg.accessories_per_line else 0.0))
    i3 = cat.comp[line[s3], rng.integers(0, cfg.accessories_per_line, len(s3))]

    v_sess = np.concatenate([s1, s2, s3])
    key = np.where(np.r_[lead, np.zeros(len(s2) + len(s3), bool)], -1.0, rng.random(len(v_sess)))
    order = np.lexsort((key, v_sess))
    return v_sess[order], np.concatenate([i1, i2, i3])[order], t0


def _choose_main(rng, cust: Customers, cat: ShopCatalog, v_sess, v_item, b, user, line, t0):
    """Draw the bought item among the main items the visit viewed plus the tiers of its line.

    The odds grow with tier taste, repeated views and the visit's own line; a customer who is not price
    sensitive is drawn upwards from the tier they looked at first. Returns the items and the odds.
    """
    n_items, n_main = len(cat.price), cat.main.size
    rank = np.full(len(line), -1)
    rank[b] = np.arange(len(b))
    keep = (rank[v_sess] >= 0) & (v_item < n_main)  # main items come first in the catalog
    seg = np.r_[rank[v_sess[keep]], np.repeat(np.arange(len(b)), 3)]
    keys, inv = np.unique(seg * n_items + np.r_[v_item[keep], cat.main[line[b]].ravel()], return_inverse=True)
    views = np.bincount(inv, weights=np.r_[np.ones(keep.sum()), np.zeros(3 * len(b))])
    seg, item = keys // n_items, keys % n_items
    u, own = user[b][seg], item // 3 == line[b][seg]
    step_up = np.where(own & (item % 3 > t0[b][seg]), 2.0 - cust.sens[u], 1.0)
    w = cust.taste[u, item % 3] * (0.2 + views) * np.where(own, 2.0, 1.0) * step_up * rng.lognormal(0.0, 0.35, len(item))
    chosen, prob = segment_choice(rng, seg, w, len(b))
    return item[chosen], (seg, item, prob)


def _look_around_visits(cfg: SimulatorConfig, rng, cust: Customers, cat: ShopCatalog, log: EventLog, user, start) -> None:
    """Views only, spread over the customer's categories."""
    visit, m = log.visits(user, start), len(user)
    s = np.repeat(np.arange(m), 3 + rng.poisson(5.0, m))
    u = user[s]
    category = pick(cust.pref_cum[u], rng.random(len(s)))
    line = category * cfg.lines_per_category + pick(cat.line_cum[category], rng.random(len(s)))
    item = cat.main[line, pick(cust.taste_cum[u], rng.random(len(s)))]
    log.add(visit[s], _offsets(rng, s, m)[0], item, VIEW)


def _complement_visits(cfg: SimulatorConfig, rng, cat: ShopCatalog, log: EventLog, user, when, line, with_it) -> None:
    """Some main purchases bring the customer back days later to look at complements, and mostly buy one:
    likelier one they looked at, unlikely the one they bought with the main item."""
    start = when + ((1.0 + rng.exponential(5.0, len(user))) * DAY).astype(np.int64)
    p = np.flatnonzero((rng.random(len(user)) < cfg.later_complement_rate) & (start < cfg.days * DAY) & (cat.comp[line, 0] >= 0))
    user, start, comp, with_it = user[p], start[p], cat.comp[line[p]], with_it[p]
    visit, m = log.visits(user, start), len(p)
    s = np.repeat(np.arange(m), 1 + rng.poisson(1.5, m))
    col = (rng.random(len(s)) * (comp[s] >= 0).sum(1)).astype(np.int64)
    off, end = _offsets(rng, s, m)
    log.add(visit[s], off, comp[s, col], VIEW)
    looks = np.zeros(comp.shape)
    np.add.at(looks, (s, col), 1.0)
    b = np.flatnonzero(rng.random(m) < 0.75)
    seg, col = np.nonzero(comp[b] >= 0)
    cand = comp[b][seg, col]
    w = cat.attract[cand] * (1.0 + 1.5 * looks[b][seg, col]) * np.where(cand == with_it[b][seg], 0.1, 1.0)
    chosen, prob = segment_choice(rng, seg, w * rng.lognormal(0.0, 0.5, len(cand)), len(b))
    _cart_buy(rng, log, visit[b], end[b] + rng.integers(5, 90, len(b)), cand[chosen], (seg, cand, prob))


def _refill_visits(cfg: SimulatorConfig, rng, cat: ShopCatalog, log: EventLog, user, when, line) -> None:
    """Owners of a machine with supplies re-buy them every few weeks, mostly the one they settled on."""
    p = np.flatnonzero(cat.cons[line, 0] >= 0)
    user, when, cons, m = user[p], when[p], cat.cons[line[p]], len(p)
    seg, cand = _candidates(cons)
    habit = cand[segment_choice(rng, seg, cat.attract[cand], m)[0]]
    k = int(np.ceil(cfg.days / 14)) + 1
    every = cat.refill_days[habit] * rng.lognormal(0.0, 0.15, m) * DAY
    gaps = every[:, None] * np.c_[rng.uniform(0.3, 1.0, m), rng.lognormal(0.0, 0.2, (m, k - 1))]
    due = when[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)
    r, c = np.nonzero((due < cfg.days * DAY) & (rng.random((m, k)) < cfg.refill_adherence))
    visit, habit = log.visits(user[r], due[r, c]), habit[r]
    looked = rng.random(len(r)) < 0.6  # some open the usual supply's page first, others re-order from the account
    log.add(visit[looked], np.zeros(looked.sum(), np.int64), habit[looked], VIEW)
    seg, cand = _candidates(cons[r])
    w = cat.attract[cand] * np.where(cand == habit[seg], np.where(looked[seg], 2.5, 2.0), 1.0)
    chosen, prob = segment_choice(rng, seg, w * rng.lognormal(0.0, 0.3, len(cand)), len(r))
    _cart_buy(rng, log, visit, np.where(looked, rng.integers(5, 90, len(r)), 0), cand[chosen], (seg, cand, prob))


def _cart_buy(rng, log: EventLog, visit, off, item, odds) -> None:
    log.add(visit, off, item, CART)
    log.buy(visit, off + rng.integers(20, 240, len(visit)), item, odds)
