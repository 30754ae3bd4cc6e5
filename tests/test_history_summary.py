"""The whole-history summary: values worked out by hand, and the same numbers for training and serving."""

from __future__ import annotations

import numpy as np
import pytest

from neurec.history_summary import NEVER, SUMMARY_EVENTS, SUMMARY_FIELDS, summaries_before, summarize_history

DAY = 86_400.0
COL = {name: i for i, name in enumerate(SUMMARY_FIELDS)}
V, C, P = 1, 2, 3


def test_counts_ages_and_decays_by_hand():
    # Item 5: viewed day 0, bought day 10; item 7: viewed day 19; OOV (1) and padding (0) are left out.
    items = np.array([5, 1, 5, 7, 0])
    types = np.array([V, V, P, V, V])
    ts = np.array([0.0, 1.0, 10.0, 19.0, 19.5]) * DAY
    ids, feats = summarize_history(items, types, ts, now=20 * DAY, size=3)
    assert ids.tolist() == [7, 5, 0]  # most recently touched first, then padding
    f7, f5, pad = feats
    assert f5[[COL["n_view"], COL["n_cart"], COL["n_purchase"]]].tolist() == [1, 0, 1]
    assert f5[COL["age_s"]] == pytest.approx(10 * DAY) and f5[COL["purchase_age_s"]] == pytest.approx(10 * DAY)
    assert f5[COL["decayed_30d"]] == pytest.approx(1 * 0.5 ** (20 / 30) + 4 * 0.5 ** (10 / 30), rel=1e-6)
    assert f5[COL["decayed_1d"]] == pytest.approx(0.5**20 + 4 * 0.5**10, rel=1e-5)
    assert f7[COL["purchase_age_s"]] == NEVER and f7[COL["age_s"]] == pytest.approx(DAY)
    assert pad[COL["purchase_age_s"]] == NEVER and pad[COL["n_view"]] == 0


def test_order_of_the_input_does_not_matter_and_ties_break_by_id():
    items, types, ts = np.array([9, 4, 6]), np.array([P, P, V]), np.array([5.0, 5.0, 1.0]) * DAY
    a = summarize_history(items, types, ts, 6 * DAY, 4)
    b = summarize_history(items[::-1], types[::-1], ts[::-1], 6 * DAY, 4)
    assert a[0].tolist() == [4, 9, 6, 0]  # one invoice (same second): by id
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_only_the_newest_events_and_size_items_are_kept():
    n = SUMMARY_EVENTS + 10
    items = np.arange(n) % 50 + 2
    ts = np.arange(n, dtype=float)
    ids, feats = summarize_history(items, np.full(n, V), ts, float(n), 8)
    assert len(ids) == 8 and feats[:, COL["n_view"]].sum() == 8 * SUMMARY_EVENTS / 50
    empty_ids, empty = summarize_history(np.array([], int), np.array([], int), np.array([]), 0.0, 3)
    assert empty_ids.tolist() == [0, 0, 0] and (empty[:, COL["purchase_age_s"]] == NEVER).all()


def test_training_summaries_are_the_serving_summaries_of_the_same_events():
    """summaries_before (training: each decision, as of its time, over its customer's earlier events) equals
    summarize_history on exactly those events as of that time (what the Scorer computes from a request)."""
    rng = np.random.default_rng(3)
    starts_at = [0, 40, 90]  # three customers, one after another in the flat arrays
    n = 130
    items, types = rng.integers(2, 20, n), rng.integers(1, 4, n)
    ts = np.concatenate([np.sort(rng.uniform(0, 60 * DAY, hi - lo)) for lo, hi in zip(starts_at, starts_at[1:] + [n])])
    starts = np.repeat(starts_at, np.diff(starts_at + [n]))
    positions = np.array([0, 5, 39, 40, 41, 89, 100, 129])
    got_ids, got = summaries_before(items, types, ts, starts, positions, 6)
    for row, pos in enumerate(positions):
        lo = starts[pos]
        ids, feats = summarize_history(items[lo:pos], types[lo:pos], ts[lo:pos], ts[pos], 6)
        np.testing.assert_array_equal(got_ids[row], ids)
        np.testing.assert_array_equal(got[row], feats)
    assert got_ids[0].tolist() == [0] * 6 and got_ids[3].tolist() == [0] * 6  # each customer's first event


def test_vectorised_summaries_match_per_decision_ones_on_long_histories(monkeypatch):
    """Histories longer than SUMMARY_EVENTS, out-of-vocabulary ids, one timestamp for many events (an invoice),
    and blocks small enough that decisions are split across several: still bit for bit `summarize_history`."""
    import neurec.history_summary as hs

    monkeypatch.setattr(hs, "_PAIRS", 700)
    rng = np.random.default_rng(11)
    sizes = [1, 1500, 3, 260]
    n = sum(sizes)
    starts_at = np.cumsum([0] + sizes[:-1])
    items = rng.integers(0, 60, n)  # 0 and 1 are padding and OOV: left out of every summary
    types = rng.integers(1, 4, n)
    ts = np.concatenate([np.sort(rng.integers(0, 90, k)).astype(float) * 3600.0 for k in sizes])  # many ties
    starts = np.repeat(starts_at, sizes)
    positions = np.sort(rng.choice(n, 300, replace=False))
    got_ids, got = hs.summaries_before(items, types, ts, starts, positions, 7)
    for row, pos in enumerate(positions):
        lo = max(starts[pos], pos - SUMMARY_EVENTS)
        ids, feats = summarize_history(items[lo:pos], types[lo:pos], ts[lo:pos], ts[pos], 7)
        np.testing.assert_array_equal(got_ids[row], ids)
        np.testing.assert_array_equal(got[row], feats)
