import numpy as np
import pandas as pd
import pytest

from neurec.data.errors import DataError
from neurec.data.split import find_targets, histories_before, time_boundaries, user_starts
from neurec.data.config import DataConfig
from neurec.data.validate import validate_events
from neurec.features import encode_history, pad_histories
from neurec.vocab import ItemVocab


def _log() -> pd.DataFrame:
    rows = [
        # user, session, item, type, t
        ("u1", "s1", "a", "view", 0),
        ("u1", "s1", "b", "view", 5),
        ("u1", "s1", "b", "add_to_cart", 9),
        ("u1", "s1", "c", "view", 12),
        ("u1", "s1", "b", "purchase", 30),
        ("u1", "s2", "d", "purchase", 4000),  # bought without a cart event
        ("u2", "s3", "a", "view", 100),
        ("u2", "s3", "a", "add_to_cart", 160),
        ("u2", "s3", "a", "purchase", 200),
        ("u2", "s3", "a", "purchase", 201),  # the same item twice in one order: one decision
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "timestamp"])
    return validate_events(frame, "t", DataConfig(source="files", min_timestamp=None))[0]  # toy times from 0 s


def test_targets_move_back_to_the_cart_decision():
    events = _log()
    t = find_targets(events)
    assert list(t.item) == ["b", "d", "a"]
    assert list(events["event_type"].to_numpy()[t.position]) == [2, 3, 2]  # cart, purchase, cart
    assert list(t.purchase_ts) == [30.0, 4000.0, 200.0]
    assert list(t.ts) == [9.0, 4000.0, 160.0]


def test_histories_match_the_serving_encoder():
    events = _log()
    vocab = ItemVocab.fit(events["item_id"])
    item_idx = vocab.encode(events["item_id"])
    t = find_targets(events)
    items, types, gaps = histories_before(item_idx, events["event_type"].to_numpy(), events["ts"].to_numpy(), user_starts(events), t.position, 3)
    for row, pos in enumerate(t.position):
        start = user_starts(events)[pos]
        h = encode_history(item_idx[start:pos], events["event_type"].to_numpy()[start:pos], events["ts"].to_numpy()[start:pos], 3)
        ref = pad_histories([h], 3)
        assert items[row].tolist() == ref[0][0].tolist()
        assert types[row].tolist() == ref[1][0].tolist()
        assert gaps[row].tolist() == ref[2][0].tolist()
    assert items[2].tolist() == [0, 0, vocab.encode(["a"])[0]]  # u2's decision sees only u2's own view


def test_time_boundaries_split_calendar_not_rows():
    b = time_boundaries(np.array([0.0, 1.0, 2.0, 100.0]), 0.1, 0.2)
    assert (b.valid_start, b.test_start) == (70.0, 80.0)
    with pytest.raises(DataError, match="one timestamp"):
        time_boundaries(np.array([5.0, 5.0]), 0.1, 0.1)
    with pytest.raises(DataError, match="must be in"):
        time_boundaries(np.array([0.0, 1.0]), 0.6, 0.5)


def test_split_by_event_share_for_uneven_traffic():
    ts = np.array([0.0, 1.0, 2.0] + [100.0 + i for i in range(97)])  # a trickle, then a burst
    b = time_boundaries(ts, 0.1, 0.2, by="events")
    assert b.valid_start > 100.0 and np.mean(ts < b.valid_start) == pytest.approx(0.7, abs=0.02)
    assert np.mean(ts >= b.test_start) == pytest.approx(0.2, abs=0.02)
    with pytest.raises(DataError, match="split_by"):
        time_boundaries(ts, 0.1, 0.2, by="rows")
