"""read_events through the real Hydra presets (configs/data/*.yaml), on small files written in each layout."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import pytest

import neurec.data.load as load
from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.formats import read_events



def _load_writers():
    """tests/fixtures has no __init__.py and tests run with --import-mode=importlib: load the writers by path."""
    if "shop_files" not in sys.modules:  # registered first: dataclasses look their module up while it executes
        spec = importlib.util.spec_from_file_location("shop_files", Path(__file__).parents[1] / "fixtures" / "shop_files.py")
        sys.modules["shop_files"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["shop_files"])
    return sys.modules["shop_files"]


shop_files = _load_writers()

SHARED_OTTO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "otto_fixture" / "train.jsonl"


@pytest.fixture
def preset(compose_train, tmp_path):
    """DataConfig from a preset composed by Hydra, exactly as neurec-train builds it."""

    def build(name: str, *overrides: str) -> DataConfig:
        cfg = compose_train([f"data={name}", *overrides], tmp_path)
        return hydra.utils.instantiate(cfg.data, _convert_="all")

    return build


def test_rees46_preset_drops_the_cut_last_line(preset, tmp_path, caplog):
    written = shop_files.write_rees46(tmp_path / "2019-Oct.csv")
    with caplog.at_level(logging.WARNING):
        raw = read_events(preset("rees46", f"data.events_path={written.path}"))
    events = raw.events
    assert raw.dropped == {"truncated_row": 1}
    assert f"line {written.extra['last_line']} is cut off" in caplog.text
    assert len(events) == written.rows
    assert {"timestamp", "event_type", "item_id", "category", "category_code", "brand", "price", "user_id", "session_id"} == set(events.columns)
    assert events["event_type"].value_counts().to_dict() == dict(written.kinds)  # raw names; remove_from_cart too
    assert events["category"].iloc[0] == 2_053_013_555_000_000_000 + events["item_id"].iloc[0] % 7  # 19 digits intact
    assert events["session_id"].notna().all() and events["price"].gt(0).all()
    assert raw.catalog is None and raw.source == str(written.path)
    # "2019-10-01 00:00:00 UTC": pandas parses the " UTC" suffix itself, so the reader leaves the strings alone
    parsed = pd.to_datetime(events["timestamp"], format="mixed", utc=True)
    assert parsed.iloc[0] == pd.Timestamp("2019-10-01T00:00:00Z") and parsed.iloc[-1] - parsed.iloc[0] == pd.Timedelta(seconds=30 * (written.rows - 1))


def test_cut_last_line_under_policy_error(preset, tmp_path):
    written = shop_files.write_rees46(tmp_path / "2019-Oct.csv")
    with pytest.raises(DataError, match=rf"2019-Oct.csv: line {written.extra['last_line']} is cut off"):
        read_events(preset("rees46", f"data.events_path={written.path}", "+data.policies.truncated_row=error"))


def test_complete_file_without_final_newline_is_kept(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n1,2,view,5\n1,3,purchase,6")
    raw = read_events(DataConfig(source="files", events_path=str(path)))
    assert len(raw.events) == 2 and raw.dropped == {}


def test_taobao_preset_reads_headerless_file(preset, tmp_path):
    written = shop_files.write_taobao(tmp_path / "UserBehavior.csv")
    cfg = preset("taobao", f"data.events_path={written.path}")
    events = read_events(cfg).events
    assert list(events.columns) == ["user_id", "item_id", "category", "event_type", "timestamp"]
    assert len(events) == written.rows and events["event_type"].value_counts().to_dict() == dict(written.kinds)
    assert events["timestamp"].iloc[0] == 1_511_658_000
    assert cfg.event_map == {"pv": "view", "cart": "add_to_cart", "buy": "purchase", "fav": "drop"}


def test_yoochoose_preset_clicks_become_views(preset, tmp_path):
    written = shop_files.write_yoochoose(tmp_path / "clicks.txt")
    cfg = preset("yoochoose", f"data.events_path={written.path}")
    events = read_events(cfg).events
    assert cfg.target == "next"
    assert set(events.columns) == {"session_id", "item_id", "timestamp", "event_type"}  # no user: prepare uses the session
    assert len(events) == written.rows and events["event_type"].eq("view").all()
    assert events["session_id"].nunique() == written.extra["sessions"]
    assert events["timestamp"].dtype == np.float64 and events["timestamp"].iloc[0] % 1 > 0


def _check_otto(events: pd.DataFrame, sessions: list[dict]) -> None:
    expected = pd.DataFrame(
        [(s["session"], e["aid"], e["ts"], e["type"]) for s in sessions for e in s["events"]],
        columns=["session_id", "item_id", "timestamp", "event_type"],
    )
    assert events["user_id"].tolist() == events["session_id"].tolist()  # each session its own customer
    pd.testing.assert_frame_equal(events[expected.columns].reset_index(drop=True), expected, check_dtype=False)


def test_otto_preset_flattens_sessions(preset, tmp_path, monkeypatch):
    written = shop_files.write_otto(tmp_path / "train.jsonl", sessions=40)
    cfg = preset("otto", f"data.events_path={written.path}")
    assert cfg.timestamp_unit == "ms" and cfg.event_map["orders"] == "purchase"
    _check_otto(read_events(cfg).events, written.extra["sessions"])
    # Many small blocks: the flattening must keep each event with its own session across record batches.
    monkeypatch.setattr(load, "_JSON_BLOCK", 2048)
    _check_otto(read_events(cfg).events, written.extra["sessions"])


@pytest.mark.skipif(not SHARED_OTTO.exists(), reason="../shared/data is absent (a user's clone)")
def test_otto_preset_on_the_otto_test_resource(preset, tmp_path):
    # OTTO recsys dataset test resource, otto-de/recsys-dataset, CC-BY 4.0
    path = tmp_path / "train.jsonl"
    shutil.copy(SHARED_OTTO, path)
    sessions = [json.loads(line) for line in path.read_text().splitlines()]
    _check_otto(read_events(preset("otto", f"data.events_path={path}")).events, sessions)


def test_retailrocket_preset_events_and_catalog(preset, tmp_path, caplog):
    written = shop_files.write_retailrocket(tmp_path / "rr")
    part1, part2 = written.extra["properties"]
    cfg = preset(
        "retailrocket",
        f"data.events_path={written.path}",
        f"data.properties_paths=['{part1}','{part2}']",
        f"data.category_tree_path={written.extra['tree']}",
    )
    with caplog.at_level(logging.WARNING):
        raw = read_events(cfg)
    assert {"user_id", "item_id", "event_type", "timestamp", "transactionid"} == set(raw.events.columns)
    assert "session_id" not in raw.events.columns  # sessions come from inactivity gaps in prepare
    assert len(raw.events) == written.rows and raw.events["event_type"].value_counts().to_dict() == dict(written.kinds)
    catalog = raw.catalog.set_index("item_id")
    items = np.arange(1, 13)
    assert catalog.index.tolist() == items.tolist()
    assert catalog["category"].tolist() == [str(200 + i % 4 if i % 2 == 0 else 100 + i % 4) for i in items]  # latest wins
    assert catalog["price"].tolist() == [1000.0 * i + 500 for i in items]
    assert catalog["stock"].isna().tolist() == [i % 3 != 0 for i in items]  # "1" is not a count: unknown
    assert catalog["stock"].dropna().eq(0).all()
    assert "3 item(s) in 1 categor(ies) missing from the tree" in caplog.text


def test_retailrocket_price_property_comes_from_the_preset(preset, tmp_path):
    written = shop_files.write_retailrocket(tmp_path / "rr")
    cfg = preset("retailrocket", f"data.events_path={written.path}", f"data.properties_paths=['{written.extra['properties'][1]}']",
                 "data.category_tree_path=null", "+data.columns.888=price", "data.columns.790=margin")
    catalog = read_events(cfg).catalog
    assert catalog["price"].eq(5.0).all()  # "1234 n5.000": the first number
    assert catalog["margin"].tolist() == [1000.0 * i for i in range(1, 13)]


@pytest.mark.parametrize("suffix, writer", [(".csv", "to_csv"), (".parquet", "to_parquet"), (".jsonl", "to_json")])
def test_plain_formats_by_suffix(tmp_path, suffix, writer):
    frame = pd.DataFrame({"uid": [1, 2], "session_id": ["a", "b"], "item_id": [10, 11], "event_type": ["view", "purchase"], "timestamp": [1.5, 2.5]})
    path = tmp_path / f"events{suffix}"
    getattr(frame, writer)(path, **({"orient": "records", "lines": True} if writer == "to_json" else {"index": False}))
    events = read_events(DataConfig(source="files", events_path=str(path), columns={"uid": "user_id"})).events
    assert events.to_dict("list") == frame.rename(columns={"uid": "user_id"}).to_dict("list")


def test_csv_column_that_changes_type_is_read(tmp_path):
    path = tmp_path / "e.csv"  # numeric ids for a whole pyarrow block, then a letter: the C engine takes over
    rows = [f"{i},view,{i}" for i in range(200_000)] + ["A7,purchase,5"]
    path.write_text("item_id,event_type,timestamp\n" + "\n".join(rows) + "\n")
    events = read_events(DataConfig(source="files", events_path=str(path))).events
    assert len(events) == 200_001 and events["item_id"].iloc[-1] == "A7"


def test_cut_jsonl_line_is_dropped(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"item_id": 1, "event_type": "view", "timestamp": 5}\n{"item_id": 2, "event_ty')
    raw = read_events(DataConfig(source="files", events_path=str(path)))
    assert len(raw.events) == 1 and raw.dropped == {"truncated_row": 1}


# --- errors: each names the file and the problem -----------------------------------------------------------


def _files(path: Path, **fields) -> DataConfig:
    return DataConfig(name=fields.pop("name", "files"), source="files", events_path=str(path), **fields)


def test_missing_empty_and_rowless_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        read_events(_files(tmp_path / "nope.csv"))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.csv: the file is empty \(0 bytes\)"):
        read_events(_files(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("user_id,item_id,event_type,timestamp\n")
    with pytest.raises(DataError, match=r"header.csv: the file has a header but no rows"):
        read_events(_files(tmp_path / "header.csv"))
    with pytest.raises(DataError, match=r"data.events_path is not set"):
        read_events(DataConfig(source="files"))


def test_unknown_format(tmp_path):
    (tmp_path / "events.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"events.xlsx: unknown file type '.xlsx'"):
        read_events(_files(tmp_path / "events.xlsx"))
    with pytest.raises(DataError, match=r"events.xlsx: unknown format data.format='excel'"):
        read_events(_files(tmp_path / "events.xlsx", format="excel"))


def test_malformed_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("item_id,event_type,timestamp\n1,view,5\n2,view,6\n3,view,7,extra\n4,view,8\n")
    with pytest.raises(DataError, match=r"bad.csv: cannot be read as CSV: .*line 4"):
        read_events(_files(path))
    path = tmp_path / "bad.jsonl"
    path.write_text('{"item_id": 1}\nnot json\n{"item_id": 2}\n')
    with pytest.raises(DataError, match=r"bad.jsonl: cannot be read as JSON lines"):
        read_events(_files(path))


def test_rees46_file_under_data_files_suggests_the_preset(tmp_path):
    written = shop_files.write_rees46(tmp_path / "2019-Oct.csv")
    with pytest.raises(DataError) as err:
        read_events(_files(written.path))
    message = str(err.value)
    assert "2019-Oct.csv: does not look like data=files: missing column(s) ['item_id', 'timestamp']" in message
    assert "expected file columns ['item_id', 'event_type', 'timestamp']" in message and "'product_id'" in message
    assert "use data=rees46" in message


def test_headerless_taobao_read_with_a_header(tmp_path):
    written = shop_files.write_taobao(tmp_path / "UserBehavior.csv")
    with pytest.raises(DataError, match=r"looks like a Taobao UserBehavior row, not a header: use data=taobao"):
        read_events(_files(written.path))


def test_taobao_preset_on_other_files(preset, tmp_path):
    written = shop_files.write_rees46(tmp_path / "2019-Oct.csv")
    with pytest.raises(DataError, match=r"first line has 9 field\(s\).*data.csv.names lists 5.*use data=rees46"):
        read_events(preset("taobao", f"data.events_path={written.path}"))
    path = tmp_path / "with_header.csv"
    path.write_text("user_id,item_id,category,event_type,timestamp\n1,2,3,pv,1511658000\n")
    with pytest.raises(DataError, match=r"first line looks like a header .* data.csv.header=false"):
        read_events(preset("taobao", f"data.events_path={path}"))


def test_yoochoose_and_otto_files_under_data_files(tmp_path):
    clicks = shop_files.write_yoochoose(tmp_path / "clicks.tsv")
    with pytest.raises(DataError, match=r"look like YOOCHOOSE clicks: use data=yoochoose"):
        read_events(_files(clicks.path))
    sessions = shop_files.write_otto(tmp_path / "train.jsonl")
    with pytest.raises(DataError, match=r"look like OTTO sessions: use data=otto"):
        read_events(_files(sessions.path))


def test_otto_format_on_a_flat_file(tmp_path):
    path = tmp_path / "flat.jsonl"
    path.write_text('{"user_id": 1, "item_id": 2, "event_type": "view", "timestamp": 5}\n')
    with pytest.raises(DataError, match=r"flat.jsonl: does not look like data=otto.*found fields \['user_id'.*use data=files"):
        read_events(_files(path, name="otto", format="otto"))


def test_column_mapping_conflicts(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("sku,product,event_type,timestamp\n1,2,view,5\n")
    with pytest.raises(DataError, match=r"several file columns would become one: \{'item_id': \['sku', 'product'\]\}"):
        read_events(_files(path, columns={"sku": "item_id", "product": "item_id"}))
    with pytest.raises(DataError, match=r"data.constants.event_type is set, but the file already has"):
        read_events(_files(path, columns={"sku": "item_id"}, constants={"event_type": "view"}))


def test_retailrocket_needs_its_files(preset, tmp_path):
    written = shop_files.write_retailrocket(tmp_path / "rr")
    with pytest.raises(DataError, match=r"item_properties_part3.csv: no such file"):
        read_events(preset("retailrocket", f"data.events_path={written.path}",
                           f"data.properties_paths=['{tmp_path / 'rr' / 'item_properties_part3.csv'}']", "data.category_tree_path=null"))
    with pytest.raises(DataError, match=r"category_tree.csv: does not look like RetailRocket item_properties"):
        read_events(preset("retailrocket", f"data.events_path={written.path}",
                           f"data.properties_paths=['{written.extra['tree']}']", "data.category_tree_path=null"))
