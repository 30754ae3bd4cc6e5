import numpy as np
import pandas as pd
import pytest

from neurec.data.errors import DataError
from neurec.data.load import read_table
from neurec.data.validate import validate_catalog, validate_events
from neurec.schema import EventType


def _events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2],
            "session_id": [10, 10, 20, 20],
            "item_id": [100, 101, 100, 102],
            "event_type": ["view", "add_to_cart", "view", "purchase"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "2026-01-02T09:00:00", "2026-01-02T09:05:00"],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def test_valid_events_become_canonical():
    out = validate_events(_events(), "t")
    assert list(out.columns) == ["user_id", "session_id", "item_id", "event_type", "ts"]
    assert out["item_id"].tolist() == ["100", "101", "100", "102"]
    assert out["event_type"].tolist() == [EventType.VIEW, EventType.ADD_TO_CART, EventType.VIEW, EventType.PURCHASE]
    assert out["ts"].iloc[1] - out["ts"].iloc[0] == 60.0


def test_missing_column_is_named():
    with pytest.raises(DataError, match=r"missing column\(s\) \['session_id'\]"):
        validate_events(_events().drop(columns="session_id"), "t")


def test_unknown_event_type_lists_counts_and_mapping():
    with pytest.raises(DataError, match=r"2 row\(s\) with an unknown event_type \('pv': 2\).*data.event_map.pv="):
        validate_events(_events(event_type=["pv", "pv", "view", "purchase"]), "t")
    ok = validate_events(_events(event_type=["pv", "pv", "view", "buy"]), "t", event_map={"pv": "view", "buy": "purchase"})
    assert ok["event_type"].tolist().count(EventType.VIEW) == 3


def test_unparsable_timestamp_shows_row():
    with pytest.raises(DataError, match=r"1 row\(s\) with an unparsable timestamp: row 3: \{'timestamp': 'yesterday'\}"):
        validate_events(_events(timestamp=["2026-01-01", "2026-01-01", "yesterday", "2026-01-02"]), "t")


def test_numeric_timestamps_in_seconds_or_ms():
    secs = validate_events(_events(timestamp=[1_700_000_000, 1_700_000_060, 1_700_000_100, 1_700_000_200]), "t")
    ms = validate_events(_events(timestamp=[1_700_000_000_000, 1_700_000_060_000, 1_700_000_100_000, 1_700_000_200_000]), "t", timestamp_unit="ms")
    assert np.allclose(secs["ts"], ms["ts"])


def test_nan_ids_and_bad_prices():
    with pytest.raises(DataError, match=r"1 row\(s\) with an empty or NaN item_id"):
        validate_events(_events(item_id=[100, np.nan, 100, 102]), "t")
    with pytest.raises(DataError, match="zero or negative price"):
        validate_events(_events(price=[1.0, -2.0, 3.0, 4.0]), "t")


def test_catalog_duplicates_and_non_numeric():
    with pytest.raises(DataError, match="share an item_id"):
        validate_catalog(pd.DataFrame({"item_id": [1, 1], "price": [1.0, 2.0]}), "c")
    with pytest.raises(DataError, match="non-numeric margin"):
        validate_catalog(pd.DataFrame({"item_id": [1, 2], "margin": ["3", "lots"]}), "c")


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("user_id,item_id\n")
    with pytest.raises(DataError, match="no rows"):
        read_table(tmp_path / "header.csv")
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_table(tmp_path / "t.xlsx")
