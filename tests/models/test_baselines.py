"""Counting baselines against values worked out by hand on a six-item shop.

Items A..F are model ids 2..7 (0 and 1 are reserved). Events (V view, C cart, P purchase), training ends day 30:

    u1 s1 day 1 : V A, C A, P A, V B, C B, P B        basket {A, B}
    u1 s2 day 16: V C, P C  (purchase exactly at day 16) basket {C}
    u2 s3 day 2 : V A, C A, P A, C B, P B, P D         basket {A, B, D}
    u2 s4 day 25: P A, P E                             basket {A, E}
    u3 s5 day 5 : V B, V C, V E                        (no purchase)
    u3 s6 day 28: P D, P C                             basket {C, D}
    u4 s7 day 10: V F, P A, P B                        basket {A, B}

All-time decisions: A 4, B 3, C 2, D 2, E 1, F 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurec.models.baselines import (
    FrequentlyBoughtTogether,
    PopularityRecent,
    RepeatPurchase,
    TrainView,
    distinct_history,
    make_baselines,
)
from neurec.models.baselines_cf import ALSBaseline, ItemKNN

DAY = 86_400.0
A, B, C, D, E, F = range(2, 8)
N_ITEMS = 8
V, CART, P = 1, 2, 3

SHOP = [  # user, session, item, type, day, minute
    ("u1", "s1", A, V, 1, 0), ("u1", "s1", A, CART, 1, 1), ("u1", "s1", A, P, 1, 2),
    ("u1", "s1", B, V, 1, 3), ("u1", "s1", B, CART, 1, 4), ("u1", "s1", B, P, 1, 5),
    ("u1", "s2", C, V, 16, -1), ("u1", "s2", C, P, 16, 0),
    ("u2", "s3", A, V, 2, 0), ("u2", "s3", A, CART, 2, 1), ("u2", "s3", A, P, 2, 2),
    ("u2", "s3", B, CART, 2, 3), ("u2", "s3", B, P, 2, 4), ("u2", "s3", D, P, 2, 5),
    ("u2", "s4", A, P, 25, 0), ("u2", "s4", E, P, 25, 1),
    ("u3", "s5", B, V, 5, 0), ("u3", "s5", C, V, 5, 1), ("u3", "s5", E, V, 5, 2),
    ("u3", "s6", D, P, 28, 0), ("u3", "s6", C, P, 28, 1),
    ("u4", "s7", F, V, 10, 0), ("u4", "s7", A, P, 10, 1), ("u4", "s7", B, P, 10, 2),
]


def make_view(rows: list[tuple], n_items: int, end_day: float) -> TrainView:
    ev = pd.DataFrame(rows, columns=["user_id", "session_id", "item_idx", "event_type", "day", "minute"])
    ev["ts"] = ev["day"] * DAY + ev["minute"] * 60.0
    ev["item_id"] = "sku" + ev["item_idx"].astype(str)
    ev["event_type"] = ev["event_type"].astype(np.int8)
    ev = ev.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    ev = ev[["user_id", "session_id", "item_id", "event_type", "ts", "item_idx"]]
    # The purchase stands in for the decision time; only its day matters for the window.
    dec = ev.loc[ev["event_type"] == P, ["user_id", "session_id", "item_idx", "ts"]].reset_index(drop=True)
    return TrainView(ev, dec, n_items, end_day * DAY)


@pytest.fixture(scope="module")
def view() -> TrainView:
    return make_view(SHOP, N_ITEMS, 30)


def hist(*events: tuple[int, int], length: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """One left-padded history from (item, type) pairs, oldest first."""
    items, types = np.zeros((1, length), np.int64), np.zeros((1, length), np.int64)
    for j, (i, t) in enumerate(events):
        items[0, length - len(events) + j], types[0, length - len(events) + j] = i, t
    return items, types


EMPTY = hist()


def order(scores: np.ndarray) -> list[int]:
    """Real items best first."""
    return [int(i) + 2 for i in np.argsort(-scores[2:], kind="stable")]


def test_distinct_history_keeps_newest_occurrence_and_drops_reserved():
    items = np.array([[0, 1, A, D, A], [0, 0, 0, 0, 0]])
    rows, item, recency = distinct_history(items)
    assert rows.tolist() == [0, 0] and item.tolist() == [A, D] and recency.tolist() == [0, 1]


def test_popularity_recent_window_and_tie_break(view):
    s = PopularityRecent(window_days=14).fit(view).score(*hist((B, V), (C, V)))[0]
    # Recent (day >= 16): C 2 (day 16 counts: the cut-off is inclusive), A 1, D 1, E 1; ties by all-time / 5.
    expected = {A: 1 + 4 / 5, B: 3 / 5, C: 2 + 2 / 5, D: 1 + 2 / 5, E: 1 + 1 / 5, F: 0.0}
    assert s[2:] == pytest.approx([expected[i] for i in range(2, 8)])
    assert order(s) == [C, A, D, E, B, F]
    # One day shorter: the day-16 purchase of C falls out of the window.
    s13 = PopularityRecent(window_days=13).fit(view).score(*EMPTY)[0]
    assert s13[C] == pytest.approx(1 + 2 / 5)
    both = PopularityRecent().fit(view).score(np.zeros((3, 4), np.int64), np.zeros((3, 4), np.int64))
    assert both.shape == (3, N_ITEMS) and both.dtype == np.float64 and (both == both[0]).all()


def test_fbt_lift_with_min_support_two(view):
    # Baskets: 6 sessions with purchases; only {A, B} is together in >= 2 baskets (3 of them).
    fbt = FrequentlyBoughtTogether().fit(view)
    assert fbt._lift[A, B] == pytest.approx(3 * 6 / (4 * 3)) and fbt._lift.nnz == 2  # 1.5, both directions
    s = fbt.score(*hist((A, V)))[0]  # an anchor needs no purchase: a view of A is enough
    tie = 0.5 * 1.5 / 5  # half the gap between the only levels 0 and 1.5, times pop / (max + 1)
    assert s[2:] == pytest.approx([4 * tie, 1.5 + 3 * tie, 2 * tie, 2 * tie, tie, 0.0])
    assert order(fbt.score(*EMPTY)[0]) == [A, B, C, D, E, F]  # no anchor: popularity


def test_fbt_max_over_anchors_and_ties_by_popularity(view):
    fbt = FrequentlyBoughtTogether(min_support=1).fit(view)
    # lift = n_ab * 6 / (n_a n_b): AB 1.5, AD 0.75, BD 1.0, AE 1.5, CD 1.5. History {A, D}: max over both anchors.
    s = fbt.score(*hist((D, P), (A, CART)))[0]
    tie = 0.5 * 0.25 / 5  # levels {0, .75, 1, 1.5}: smallest gap .25
    expected = {A: 0.75 + 4 * tie, B: 1.5 + 3 * tie, C: 1.5 + 2 * tie, D: 0.75 + 2 * tie, E: 1.5 + tie, F: 0.0}
    assert s[2:] == pytest.approx([expected[i] for i in range(2, 8)])
    assert order(s) == [B, C, E, A, D, F]


def test_fbt_user_baskets(view):
    # Customers as baskets: u1 {A,B,C}, u2 {A,B,D,E}, u3 {C,D}, u4 {A,B}: AB in 3 of 4, lift 3*4/(3*3).
    fbt = FrequentlyBoughtTogether(basket="user").fit(view)
    assert fbt._lift[A, B] == pytest.approx(4 / 3) and fbt._lift.nnz == 2
    with pytest.raises(ValueError, match="basket"):
        FrequentlyBoughtTogether(basket="day")


def test_repeat_counts_purchases_in_history(view):
    s = RepeatPurchase().fit(view).score(*hist((A, V), (A, P), (B, P), (A, P), (C, CART), (1, P)))[0]
    # A bought twice, B once; a cart or a view is no purchase; the unknown item (1) is ignored. Ties: pop / 5.
    assert s[2:] == pytest.approx([2 + 4 / 5, 1 + 3 / 5, 2 / 5, 2 / 5, 1 / 5, 0.0])


# Customers per item (binary, all event types): A {u1,u2,u4}, B {u1..u4}, C {u1,u3}, D {u2,u3}, E {u2,u3}, F {u4}.
COS = {(A, B): 3 / math.sqrt(12), (A, C): 1 / math.sqrt(6), (A, D): 1 / math.sqrt(6), (A, E): 1 / math.sqrt(6),
       (A, F): 1 / math.sqrt(3), (B, C): 2 / math.sqrt(8), (B, D): 2 / math.sqrt(8), (B, E): 2 / math.sqrt(8),
       (B, F): 1 / 2, (C, D): 1 / 2, (C, E): 1 / 2, (D, E): 1.0}


def cos(a: int, b: int) -> float:
    return COS.get((min(a, b), max(a, b)), 0.0)


def test_item_knn_cosine_and_recency_weights(view):
    knn = ItemKNN().fit(view)
    for a in range(2, 8):
        for b in range(2, 8):
            assert knn._sim[a, b] == pytest.approx(0.0 if a == b else cos(a, b))
    # Distinct items A (newest, weight 1) and D (weight 0.9); the older repeat of A does not count twice.
    s = knn.score(*hist((A, V), (D, V), (A, P)))[0]
    expected = [cos(A, c) + 0.9 * cos(D, c) for c in range(2, 8)]
    assert s[2:] == pytest.approx(expected, abs=1e-8)
    assert order(s) == [B, E, C, F, D, A]
    assert order(knn.score(*EMPTY)[0]) == [A, B, C, D, E, F]  # tiny popularity term only


def test_item_knn_keeps_top_k_with_deterministic_ties(view):
    knn = ItemKNN(k=2).fit(view)
    # C's neighbours: B .707, then D and E tied at .5: the lower id (D) is kept.
    assert sorted(knn._sim[C].nonzero()[1].tolist()) == [B, D]
    s = ItemKNN(k=1).fit(view).score(*hist((D, V), (A, V)))[0]
    assert s[B] == pytest.approx(cos(A, B)) and s[E] == pytest.approx(0.9 * cos(D, E)) and s[C] < 1e-8


def two_cluster_view() -> TrainView:
    """24 customers: half use items 2-4 together, half items 5-7; item 8 is bought alone by one customer."""
    rows = []
    for u in range(24):
        group = (2, 3, 4) if u < 12 else (5, 6, 7)
        for j, item in enumerate(group):
            rows.append((f"c{u:02d}", f"c{u:02d}-s", item, V if (u + j) % 3 else P, 1 + u % 5, j))
    rows.append(("c99", "c99-s", 8, P, 3, 0))
    return make_view(rows, 9, 10)


def test_als_deterministic_and_ranks_partner_first():
    view = two_cluster_view()
    a, b = ALSBaseline().fit(view), ALSBaseline().fit(view)
    items = np.array([[0, 0, 2], [0, 0, 0], [1, 0, 6], [5, 6, 5]])
    types = np.array([[0, 0, V], [0, 0, 0], [P, 0, CART], [V, P, P]])
    s = a.score(items, types)
    assert s.shape == (4, 9) and s.dtype == np.float64 and np.isfinite(s).all()
    np.testing.assert_array_equal(s, b.score(items, types))
    assert s[0, 3] > s[0, 6] and s[0, 4] > s[0, 8]  # partners of item 2 above the other cluster and the loner
    assert s[2, 5] > s[2, 2] and s[3, 7] > s[3, 3]
    assert order(s[1])[0] in (2, 3, 4, 5, 6, 7)  # empty history: popularity among the bought items


def test_als_closed_form_matches_implicit_user_solve():
    from implicit.cpu.als import AlternatingLeastSquares

    als = ALSBaseline(factors=8).fit(two_cluster_view())
    items, types = np.array([[0, 2, 3, 2]]), np.array([[0, V, CART, P]])
    # Confidences: item 2 has weights 1 + 5 = 6, item 3 has 3; c = 1 + 10 w.
    conf = sp.csr_matrix(np.array([[0, 0, 61.0, 31.0, 0, 0, 0, 0, 0]]))
    ref = AlternatingLeastSquares(factors=8, regularization=0.05, alpha=1.0)
    ref.item_factors = als._y.astype(np.float32)
    expected = ref.recalculate_user(0, conf)
    np.testing.assert_allclose(als.user_vectors(items, types)[0], expected, rtol=1e-4, atol=1e-5)


def test_make_baselines_names_and_overrides():
    bs = make_baselines()
    assert [b.name for b in bs] == ["popularity_recent", "fbt", "item_knn", "repeat", "als", "tifu_knn", "session_knn",
                                    "own_events", "own_recent"]
    tuned = {b.name: b for b in make_baselines({"popularity_recent": {"window_days": 7}, "als": {"factors": 16}})}
    assert tuned["popularity_recent"].window_days == 7 and tuned["als"].factors == 16
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baselines({"bpr": {}})
    with pytest.raises(ValueError, match="unknown parameter"):
        make_baselines({"fbt": {"min_lift": 1.0}})


def test_score_before_fit_says_so():
    with pytest.raises(RuntimeError, match="fit"):
        ItemKNN().score(*EMPTY)


def test_own_events_weighs_the_whole_history_by_type_then_popularity(view):
    from neurec.history_summary import summarize_history

    # One customer, 60 days: A bought twice long ago, B viewed three times lately, C carted once.
    items = np.array([A, A, B, B, B, C])
    types = np.array([P, P, V, V, V, CART])
    ts = np.array([1, 2, 55, 56, 57, 58]) * DAY
    sum_items, sum_feats = summarize_history(items, types, ts, 60 * DAY, size=4)
    plain = make_baselines()[-2].fit(view)  # own_events
    assert plain.name == "own_events" and plain.reads_summary
    s = plain.score_summary(sum_items[None], sum_feats[None])[0]
    # Weights 1 / 2 / 4: A 8, B 3, C 2; the rest by all-time decisions / 5 (A 4, B 3, C 2, D 2, E 1).
    assert s[[A, B, C]] == pytest.approx([8 + 4 / 5, 3 + 3 / 5, 2 + 2 / 5])
    assert order(s) == [A, B, C, D, E, F]
    decayed = make_baselines()[-1].fit(view)  # own_recent: a month's half-life puts the lately viewed B first
    assert decayed.name == "own_recent"
    d = decayed.score_summary(sum_items[None], sum_feats[None])[0]
    assert d[A] == pytest.approx(4 * (0.5 ** (59 / 30) + 0.5 ** (58 / 30)), rel=1e-5)
    assert order(d)[:3] == [B, A, C]  # B 2.74, A 2.07, C 1.91
    empty = plain.score_summary(np.zeros((1, 4), np.int64), np.zeros((1, 4, sum_feats.shape[1]), np.float32))[0]
    assert order(empty) == [A, B, C, D, E, F]  # no history: popularity


def test_tifu_knn_is_own_history_plus_look_alike_customers(view):
    from neurec.history_summary import summarize_history
    from neurec.models.baselines_neighbours import OwnNeighbours

    u3 = [(r[2], r[3], r[4] * DAY + r[5] * 60.0) for r in SHOP if r[0] == "u3"]
    items, types, ts = (np.array(c) for c in zip(*u3))
    sum_items, sum_feats = summarize_history(items, types, ts, 30 * DAY, size=8)
    weights = np.zeros(N_ITEMS)
    for item, kind, t in u3:
        weights[item] += [0, 1, 2, 4][kind] * 0.5 ** ((30 * DAY - t) / (30 * DAY))
    unit = weights / np.linalg.norm(weights)
    # alpha 0, one neighbour: the nearest training customer is u3 itself, so the scores are u3's own unit vector.
    only = OwnNeighbours(k=1, alpha=0.0).fit(view).score_summary(sum_items[None], sum_feats[None])[0]
    np.testing.assert_allclose(only[2:], unit[2:], atol=1e-6)
    # alpha 1: the customer's own history alone, whatever the neighbours bought.
    own = OwnNeighbours(k=5, alpha=1.0).fit(view).score_summary(sum_items[None], sum_feats[None])[0]
    np.testing.assert_allclose(own[2:], unit[2:], atol=1e-6)
    # A customer who only bought A: neighbours who bought A with B (u1, u2, u4) put B first among the rest.
    a_items, a_feats = summarize_history(np.array([A]), np.array([P]), np.array([29 * DAY]), 30 * DAY, size=8)
    mixed = OwnNeighbours(k=3, alpha=0.5).fit(view).score_summary(a_items[None], a_feats[None])[0]
    assert order(mixed)[:2] == [A, B] and mixed[F] < mixed[B]
    with pytest.raises(ValueError, match="alpha"):
        OwnNeighbours(alpha=1.5)


def test_current_visit_starts_after_the_last_long_pause():
    from neurec.features import bucket_of_gap
    from neurec.models.baselines_session import current_visit

    gaps_s = np.array([[0.0, 0.0, 60.0, 3 * 3600.0, 60.0, 1500.0], [0.0, 0.0, 0.0, 0.0, 60.0, 60.0]])
    gaps = bucket_of_gap(gaps_s)
    gaps[:, 0] = 1  # the window's first event has no predecessor
    items = np.array([[A, B, C, D, E, F], [0, 0, 0, A, B, C]])
    # Row 0: three hours before D start a new visit; 25 minutes before F do not. Row 1: one visit, padding kept 0.
    assert current_visit(items, gaps).tolist() == [[0, 0, 0, D, E, F], [0, 0, 0, A, B, C]]


def test_session_knn_scores_by_the_nearest_training_visits(view):
    from neurec.models.baselines_session import NEW_VISIT_BUCKET, SessionKNN

    # An old visit with D, a long pause, then the current visit: B, then A (newest). Only {B: 1/2, A: 1} counts.
    items = np.array([[0, 0, D, B, A]])
    gaps = np.array([[0, 0, 1, NEW_VISIT_BUCKET, 3]])
    q = 1.0 / math.sqrt(1.0**2 + 0.5**2)
    # Training visits: s1 {A,B}, s2 {C}, s3 {A,B,D}, s4 {A,E}, s5 {B,C,E}, s6 {C,D}, s7 {F,A,B}.
    sim = {"s1": 1.5 * q / math.sqrt(2), "s3": 1.5 * q / math.sqrt(3), "s4": q / math.sqrt(2),
           "s5": 0.5 * q / math.sqrt(3), "s7": 1.5 * q / math.sqrt(3)}
    every = SessionKNN(k=100).fit(view).score_visit(items, gaps)[0]
    expected = {A: sim["s1"] + sim["s3"] + sim["s4"] + sim["s7"], B: sim["s1"] + sim["s3"] + sim["s5"] + sim["s7"],
                C: sim["s5"], D: sim["s3"], E: sim["s4"] + sim["s5"], F: sim["s7"]}
    assert every[2:] == pytest.approx([expected[i] for i in range(2, 8)], abs=1e-8)
    # Two neighbours: s1, then s3 over s7 (equal similarity: the earlier visit); s4, s5 and s7 no longer count.
    two = SessionKNN(k=2).fit(view).score_visit(items, gaps)[0]
    assert two[[A, B, D]] == pytest.approx([sim["s1"] + sim["s3"]] * 2 + [sim["s3"]], abs=1e-8)
    assert two[[C, E, F]] == pytest.approx([0.0] * 3, abs=1e-8)
    # With no pause, D belongs to the visit and changes the neighbours' weights.
    joined = SessionKNN(k=100).fit(view).score_visit(items, np.array([[0, 0, 1, 3, 3]]))[0]
    assert joined[D] > every[D]
    # No visit at all: popularity among the bought items orders everything.
    empty = SessionKNN().fit(view).score_visit(np.zeros((1, 5), np.int64), np.zeros((1, 5), np.int64))[0]
    assert order(empty) == [A, B, C, D, E, F]
    with pytest.raises(ValueError, match="k must be"):
        SessionKNN(k=0)
