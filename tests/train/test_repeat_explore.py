"""Repeat and explore measured apart, on hand-made batches."""

import numpy as np
import pytest

from neurec.train.repeat_explore import RepeatExplore, own_items_mask


def test_own_items_are_the_summary_and_the_window_without_reserved_ids():
    batch = {"sum_items": np.array([[5, 6, 0], [0, 0, 0]]), "hist_items": np.array([[0, 7], [1, 1]])}
    mask = own_items_mask(batch, np.array([[5, 7, 8, 0, 1], [1, 0, 5, 6, 7]]))
    assert mask.tolist() == [[True, True, False, False, False], [False] * 5]


def test_shares_and_hit_rates_by_hand():
    # Three decisions: two repeats (targets 5, 6 are own items), one explore (target 9).
    batch = {"sum_items": np.array([[5, 0], [6, 7], [5, 0]]), "hist_items": np.zeros((3, 1), int), "target": np.array([5, 6, 9])}
    top = np.array([[5, 8], [8, 9], [9, 5]])  # own slots: 5 | none | 5  -> 2 of 6
    hit = np.array([True, False, True])
    m = RepeatExplore()
    m(batch, top, hit)
    got = m.result()
    assert got["repeat_target_share"] == pytest.approx(2 / 3)
    assert got["repeat_hr_at_10"] == 0.5 and got["explore_hr_at_10"] == 1.0
    assert got["repeat_slot_share"] == pytest.approx(2 / 6) and got["repeat_hit_share"] == 0.5
    assert np.isnan(RepeatExplore().result()["repeat_hr_at_10"])  # nothing seen: undefined, not 0
