import numpy as np
import pandas as pd
import pytest

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.load import read_table
from neurec.data.catalog import validate_catalog
from neurec.data.validate import resolve_policies, validate_events
from neurec.schema import EventType


def _events(n_extra: int = 0, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2] + [3] * n_extra,
            "session_id": [10, 10, 20, 20] + [30] * n_extra,
            "item_id": [100, 101, 100, 102] + list(range(200, 200 + n_extra)),
            "event_type": ["view", "add_to_cart", "view", "purchase"] + ["view"] * n_extra,
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "2026-01-02T09:00:00", "2026-01-02T09:05:00"]
            + [f"2026-01-03T10:{i % 60:02d}:00Z" for i in range(n_extra)],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def check(frame: pd.DataFrame, **cfg):
    return validate_events(frame, "t", DataConfig(source="files", **cfg))


def test_valid_events_become_canonical():
    out, report = check(_events())
    assert list(out.columns) == ["user_id", "session_id", "item_id", "event_type", "ts"]
    assert out["item_id"].tolist() == ["100", "101", "100", "102"]
    assert out["event_type"].tolist() == [EventType.VIEW, EventType.ADD_TO_CART, EventType.VIEW, EventType.PURCHASE]
    assert out["ts"].iloc[1] - out["ts"].iloc[0] == 60.0
    assert report.metrics() == {}


def test_missing_column_is_named_with_the_fix():
    with pytest.raises(DataError, match=r"missing column\(s\) \['timestamp'\].*data.columns"):
        check(_events().drop(columns="timestamp"))


def test_unknown_event_type_lists_counts_and_mapping():
    with pytest.raises(DataError, match=r"2 row\(s\) with an unknown event_type \('pv': 2\).*\+data.event_map.pv="):
        check(_events(event_type=["pv", "pv", "view", "purchase"]))
    ok, _ = check(_events(event_type=["pv", "pv", "view", "buy"]), event_map={"pv": "view", "buy": "purchase"})
    assert ok["event_type"].tolist().count(EventType.VIEW) == 3


def test_event_kinds_mapped_to_drop_are_counted():
    out, report = check(_events(event_type=["view", "fav", "view", "purchase"]), event_map={"fav": "drop"})
    assert len(out) == 3 and report.dropped == {"mapped_to_drop": 1}


def test_bad_timestamps_dropped_and_counted_or_refused():
    frame = _events(n_extra=40, timestamp=None)
    frame["timestamp"] = ["2026-01-01", "yesterday"] + ["2026-01-02"] * 42
    out, report = check(frame)
    assert len(out) == 43 and report.dropped == {"bad_timestamp": 1}
    with pytest.raises(DataError, match=r"1 row\(s\) with an unparsable timestamp: row 2: .*'yesterday'"):
        check(frame, policies={"bad_timestamp": "error"})


def test_dropping_too_much_means_the_wrong_format():
    with pytest.raises(DataError, match=r"25.0% of the rows, more than data.max_bad_fraction"):
        check(_events(timestamp=["2026-01-01", "garbage", "2026-01-02", "2026-01-02"]))


def test_rees46_style_utc_suffix_and_numeric_units():
    out, _ = check(_events(timestamp=["2019-10-01 00:00:00 UTC", "2019-10-01 00:00:05 UTC", "2019-10-01 00:01:00 UTC", "2019-10-01 00:02:00 UTC"]))
    assert out["ts"].iloc[0] == pd.Timestamp("2019-10-01", tz="UTC").timestamp()
    secs, _ = check(_events(timestamp=[1_700_000_000, 1_700_000_060, 1_700_000_100, 1_700_000_200]))
    ms, _ = check(_events(timestamp=[1_700_000_000_000, 1_700_000_060_000, 1_700_000_100_000, 1_700_000_200_000]), timestamp_unit="ms")
    assert np.allclose(secs["ts"], ms["ts"])


def test_nan_and_empty_ids():
    frame = _events(n_extra=40)
    frame.loc[1, "item_id"] = np.nan
    frame.loc[2, "user_id"] = None
    out, report = check(frame)
    assert report.dropped == {"missing_id": 2} and len(out) == 42
    with pytest.raises(DataError, match=r"2 row\(s\) with an empty or NaN id"):
        check(frame, policies={"missing_id": "error"})


def test_bad_prices_fixed_to_unknown_or_refused():
    out, report = check(_events(price=[1.0, -2.0, "abc", 4.0]))
    assert report.fixed == {"bad_price": 2}
    assert out["price"].isna().sum() == 2 and out["price"].max() == 4.0
    with pytest.raises(DataError, match="zero, negative, infinite or unparsable price"):
        check(_events(price=[1.0, 0.0, 3.0, 4.0]), policies={"bad_price": "error"})


def test_exact_duplicates():
    frame = pd.concat([_events(n_extra=40), _events().iloc[[0]]], ignore_index=True)
    out, report = check(frame)
    assert report.dropped == {"duplicate": 1} and len(out) == 44
    kept, _ = check(frame, policies={"duplicate": "keep"})
    assert len(kept) == 45
    with pytest.raises(DataError, match="exact duplicate"):
        check(frame, policies={"duplicate": "error"})


def test_sessions_by_inactivity_and_users_from_sessions():
    frame = _events().drop(columns="session_id")
    frame["timestamp"] = ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z", "2026-01-02T09:05:00Z"]
    out, report = check(frame, session_gap_minutes=30)
    assert out["session_id"].nunique() == 3  # user 1 idle for an hour: two sessions
    anon, report = check(_events().drop(columns="user_id"))
    assert anon["user_id"].tolist() == anon["session_id"].tolist()
    assert any("own customer" in n for n in report.notes)


def test_min_user_events():
    out, report = check(_events(n_extra=3), min_user_events=3)
    assert set(out["user_id"]) == {"3"} and report.dropped == {"user_below_min_events": 4}


def test_policy_names_and_values_are_checked():
    with pytest.raises(DataError, match="data.policies.bad_timestmp: unknown problem"):
        resolve_policies({"bad_timestmp": "drop"})
    with pytest.raises(DataError, match="data.policies.duplicate='fix'"):
        resolve_policies({"duplicate": "fix"})


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


def test_header_line_mid_file_is_a_repeated_header_not_an_event(tmp_path):
    frame = _events(n_extra=40).astype(object)
    frame.loc[3] = ["user_id", "session_id", "item_id", "timestamp", "event_type"]  # a header in another order
    out, report = check(frame)
    assert report.dropped == {"repeated_header": 1} and len(out) == 43
    with pytest.raises(DataError, match=r"header line read as data.*data.policies.repeated_header=drop") as info:
        check(frame, policies={"repeated_header": "error"})
    assert "event_map" not in str(info.value)
    # One column name among event names is an unknown event, not a header.
    odd = _events(event_type=["view", "item_id", "view", "purchase"])
    with pytest.raises(DataError, match=r"unknown event_type \('item_id': 1\)"):
        check(odd)


def test_numbers_come_back_after_a_header_row_is_dropped():
    from neurec.data.filecheck import numbers_again

    frame = pd.DataFrame({"ts": ["1700000000", "1700000060"], "item": ["007", "x"], "b": [b"1", b"2"]})
    out = numbers_again(frame, ["ts", "item"])
    assert out["ts"].tolist() == [1_700_000_000, 1_700_000_060] and out["item"].tolist() == ["007", "x"]
    assert numbers_again(frame)["b"].tolist() == [1, 2]  # undecoded bytes compare as text, never raise


def _decisions(tmp_path, **cfg):
    from neurec.data.prepare import prepare

    rows = []
    for u in range(40):  # one purchase a day per customer, 30 days
        for d in range(30):
            t = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=d, hours=u % 12)
            rows += [(u, f"{u}-{d}", 100 + (u + d) % 7, "view", t), (u, f"{u}-{d}", 100 + (u + d) % 7, "purchase", t + pd.Timedelta(minutes=1))]
    path = tmp_path / "events.csv"
    pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "timestamp"]).to_csv(path, index=False)
    return lambda **more: prepare(DataConfig(source="files", events_path=str(path), **{**cfg, **more}), tmp_path / "work")


def test_too_few_decisions_on_both_sides_of_the_minimum(tmp_path):
    prepare = _decisions(tmp_path)
    stats = prepare(policies={"too_few_decisions": "warn"}, min_train_decisions=10**6).stats
    n_train, n_valid = stats["train_targets"], stats["valid_targets"]
    assert prepare(min_train_decisions=n_train, min_eval_decisions=n_valid).report.warnings == []
    with pytest.raises(DataError, match=rf"too_few_decisions: only {n_train:,} in train \(need {n_train + 1:,}\)"):
        prepare(min_train_decisions=n_train + 1, min_eval_decisions=n_valid)
    with pytest.raises(DataError, match=rf"only {n_valid:,} in valid \(need {n_valid + 1:,}\)"):
        prepare(min_train_decisions=n_train, min_eval_decisions=n_valid + 1)
    warned = prepare(min_eval_decisions=n_valid + 1, policies={"too_few_decisions": "warn"}).report.warnings
    assert len(warned) == 1 and warned[0].startswith("too_few_decisions: only")


def test_catalog_missing_items_fix_keeps_them_servable_drop_counts_their_events(tmp_path):
    from neurec.data.prepare import load

    events = tmp_path / "events.csv"
    _events(n_extra=40).to_csv(events, index=False)
    (tmp_path / "catalog.csv").write_text("item_id,price\n100,5\n101,6\n" + "".join(f"{i},7\n" for i in range(200, 240)))
    cfg = dict(source="files", events_path=str(events), catalog_path=str(tmp_path / "catalog.csv"))
    fixed = load(DataConfig(**cfg))
    # The bundle's item table is written from this catalog: every item a customer touched must be in it.
    assert set(fixed.events["item_id"]) <= set(fixed.catalog["item_id"]) and fixed.report.fixed == {"uncatalogued_item": 1}
    assert any(w.startswith("uncatalogued_item: 1 of the 43 event items") for w in fixed.report.warnings)
    dropped = load(DataConfig(**cfg, policies={"uncatalogued_item": "drop"}))
    assert dropped.report.dropped == {"uncatalogued_item": 1} and "102" not in set(dropped.events["item_id"])


def test_order_lines_that_sell_nothing_are_not_purchases():
    """A quantity column: zero, negative (returns, cancellations) or unreadable lines are `not_a_sale`, dropped
    and counted by default, refused under `error`; the column itself does not reach the canonical events."""
    frame = _events(n_extra=80, quantity=[2, 1, -1, "x"] + [1] * 79 + [0])
    out, report = check(frame)
    assert report.dropped["not_a_sale"] == 3 and "quantity" not in out.columns
    assert out["item_id"].tolist()[:2] == ["100", "101"] and len(out) == 81
    with pytest.raises(DataError, match=r"3 row\(s\) with a quantity that is zero, negative.*not_a_sale=drop"):
        check(frame, policies={"not_a_sale": "error"})
    kept, _ = check(frame, policies={"not_a_sale": "keep"})
    assert len(kept) == 84


def test_excluded_items_are_dropped_and_counted():
    out, report = check(_events(), exclude_items=["101", "102"])
    assert out["item_id"].tolist() == ["100", "100"]
    assert report.dropped["excluded_item"] == 2 and "data.exclude_items" in report.notes[-1]
