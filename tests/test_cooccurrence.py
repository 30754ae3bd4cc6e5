"""Pair counts and lift: the one definition that the FBT baseline, the bundle and the pair analytics share; and
the item-to-item neighbour table that the model reads."""

from __future__ import annotations

import numpy as np
import pytest

from neurec.cooccurrence import N_FOLDS, basket_pairs, customer_folds, item_neighbours, lift, out_of_fold_neighbours


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


def test_item_neighbours_best_first_with_padding_slots():
    # customers: 0 holds {2, 3}, 1 holds {2, 3, 4}, 2 holds {4}; item 5 is never touched.
    ids, sim = item_neighbours(np.array([0, 0, 1, 1, 1, 2, 1]), np.array([2, 3, 2, 3, 4, 4, 4]), 6, 2)
    assert ids.dtype == np.int64 and sim.dtype == np.float32 and ids.shape == sim.shape == (6, 2)
    assert ids[2].tolist() == [3, 4] and sim[2] == pytest.approx([1.0, 0.5])
    assert ids[4].tolist() == [2, 3] and sim[4] == pytest.approx([0.5, 0.5])  # a tie: the lower id first
    assert ids[5].tolist() == [0, 0] and sim[5].tolist() == [0.0, 0.0]  # no neighbour: padding slots
    # Customer ids as a shop writes them: text, or mixed, give the same table.
    named = np.array(["u0", "u0", "u1", "u1", "u1", "u2", "u1"], dtype=object)
    for other in item_neighbours(named, np.array([2, 3, 2, 3, 4, 4, 4]), 6, 2), item_neighbours(
            np.array(["u0", "u0", 1, 1, 1, "u2", 1], dtype=object), np.array([2, 3, 2, 3, 4, 4, 4]), 6, 2):
        np.testing.assert_array_equal(other[0], ids)
        np.testing.assert_array_equal(other[1], sim)


def test_customer_folds_are_stable_and_out_of_fold_tables_leave_the_fold_out():
    users = np.array(["a", "b", "a", 7, "c", "b"], dtype=object)
    folds = customer_folds(users)
    assert folds.dtype == np.int8 and folds.tolist() == customer_folds(users[::-1])[::-1].tolist()  # order-free
    assert folds[0] == folds[2] and folds[1] == folds[5] and ((0 <= folds) & (folds < N_FOLDS)).all()
    assert customer_folds(np.array(["7"], dtype=object))[0] == folds[3]  # the id's text decides, not its type
    many = customer_folds(np.arange(4000))
    assert np.bincount(many, minlength=N_FOLDS).min() > 800  # near-even folds

    rows, items = np.array([0, 0, 1, 1, 2, 2]), np.array([2, 3, 2, 3, 2, 4])
    row_folds = np.array([0, 0, 1, 1, 1, 1])
    ids, sim = out_of_fold_neighbours(rows, items, row_folds, 5, 2)
    assert ids.shape == sim.shape == (N_FOLDS, 5, 2)
    # Fold 0 (customer 0) reads a table built from customers 1 and 2 alone; fold 1's from customer 0 alone.
    want0, want1 = item_neighbours(rows[2:], items[2:], 5, 2), item_neighbours(rows[:2], items[:2], 5, 2)
    np.testing.assert_array_equal(ids[0], want0[0])
    np.testing.assert_array_equal(sim[0], want0[1])
    np.testing.assert_array_equal(ids[1], want1[0])
    np.testing.assert_array_equal(sim[1], want1[1])
    full = item_neighbours(rows, items, 5, 2)
    np.testing.assert_array_equal(ids[2], full[0])  # folds with nobody in them leave everyone in
