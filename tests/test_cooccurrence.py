"""Pair counts and lift: the one definition that the FBT baseline, the bundle and the pair analytics share."""

from __future__ import annotations

import numpy as np
import pytest

from neurec.cooccurrence import basket_pairs, lift


def test_lift_by_hand_and_without_evidence():
    # 10 baskets, a in 4, b in 5, both in 3: 3 * 10 / (4 * 5) = 1.5
    assert lift(np.array([3]), np.array([4]), np.array([5]), 10)[0] == pytest.approx(1.5)
    assert np.isnan(lift(np.array([0]), np.array([4]), np.array([0]), 10)[0])


def test_basket_pairs_counts_each_basket_once():
    # Baskets (codes need not be dense): 7 {0, 1, 1}, 9 {0, 2}, 11 {0, 1, 2}; item 3 never bought.
    pairs = basket_pairs(np.array([7, 7, 7, 9, 9, 11, 11, 11]), np.array([0, 1, 1, 0, 2, 0, 1, 2]), n_items=4)
    assert pairs.n_baskets == 3 and pairs.in_baskets.tolist() == [3, 2, 2, 0]
    got = {(int(a), int(b)): int(n) for a, b, n in zip(pairs.a, pairs.b, pairs.both)}
    assert got == {(0, 1): 2, (1, 0): 2, (0, 2): 2, (2, 0): 2, (1, 2): 1, (2, 1): 1}
    by_pair = dict(zip(zip(pairs.a.tolist(), pairs.b.tolist()), pairs.lift()))
    assert by_pair[(1, 2)] == pytest.approx(1 * 3 / (2 * 2)) and by_pair[(0, 1)] == pytest.approx(2 * 3 / (3 * 2))
    strong = pairs.keep(pairs.both >= 2)
    assert len(strong.a) == 4 and strong.n_baskets == 3
