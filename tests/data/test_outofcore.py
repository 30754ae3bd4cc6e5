"""Out-of-core preparation against the in-memory path: the same shards, byte for byte, and the same cleaning."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.examples import ShardWriter, encode_rows
from neurec.data.outofcore.quantile import linear_quantile
from neurec.data.outofcore.run import prepare_out_of_core, read_targets
from neurec.data.outofcore.settings import OutOfCoreSettings
from neurec.data.prepare import prepare
from neurec.data.simulate import SimulatorConfig, simulate

PERIODS = ("train", "valid", "test")


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shop_events() -> pd.DataFrame:
    return simulate(SimulatorConfig(n_customers=400, seed=3)).events


def messy(events: pd.DataFrame) -> pd.DataFrame:
    """The simulator's events with the problems the policies handle: duplicates, unparsable and implausible
    times, bad prices, an event name mapped to drop; times as ISO text, ids as text."""
    ev = events.assign(timestamp=events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), price=events["price"].astype(object))
    ev = ev.astype({"user_id": str, "session_id": str, "item_id": str})
    ev.loc[ev.index[5:40:7], "price"] = -1.0
    ev.loc[ev.index[41], "price"] = "n/a"
    ev.loc[ev.index[60:65], "price"] = None
    ev.loc[ev.index[100], "timestamp"] = "not a time"
    ev.loc[ev.index[200], "timestamp"] = "2001-06-01T00:00:00Z"  # inside min_timestamp, far from the bulk
    ev.loc[ev.index[300:303], "event_type"] = "fav"
    dupes = ev.iloc[[10, 11, 500, 900]]
    return pd.concat([ev, dupes]).sort_index(kind="stable").reset_index(drop=True)


def both(cfg: DataConfig, tmp: Path, settings: OutOfCoreSettings):
    mem = prepare(cfg, tmp / "mem")
    ooc = prepare_out_of_core(cfg, tmp / "ooc", settings)
    return mem, ooc


def assert_same_shards(mem_root: Path, ooc_root: Path) -> None:
    for period in PERIODS:
        a, b = digests(mem_root / period), digests(ooc_root / period)
        assert a and a == b, f"{period}: shards differ"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_shards_as_in_memory_on_simulated_shop(tmp_path, shop_events, fmt):
    path = tmp_path / f"events.{fmt}"
    shop_events.to_csv(path, index=False) if fmt == "csv" else shop_events.to_parquet(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path))
    mem, ooc = both(cfg, tmp_path, OutOfCoreSettings(chunk_events=3_000))  # many chunks, customers cut across reads
    assert_same_shards(tmp_path / "mem", tmp_path / "ooc")
    assert ooc.vocab.items == mem.vocab.items and ooc.boundaries == mem.boundaries
    assert ooc.stats == mem.stats
    for period in PERIODS:
        rows = read_targets(tmp_path / "ooc", period)
        ex = getattr(mem, period)
        np.testing.assert_array_equal(rows["position"], ex.targets.position)
        np.testing.assert_array_equal(rows["target"], ex.target)
        assert rows["user"].tolist() == [str(u) for u in ex.targets.user]


@pytest.mark.parametrize("bucket_events", [None, 2])
def test_same_cleaning_on_messy_file_without_sessions(tmp_path, shop_events, monkeypatch, bucket_events):
    """bucket_events 2 (per MB of the cap): the customer-grouped steps run in several buckets, as on big files."""
    if bucket_events:
        from neurec.data.outofcore import stage

        monkeypatch.setattr(stage, "BUCKET_EVENTS_PER_MB", bucket_events)
        assert stage.buckets_for(len(shop_events), 1536) >= 5
    path = tmp_path / "events.csv"
    messy(shop_events).drop(columns="session_id").to_csv(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path), event_map={"fav": "drop"}, min_user_events=5,
                     policies={"bad_price": "drop"}, split_by="events")
    mem, ooc = both(cfg, tmp_path, OutOfCoreSettings(chunk_events=2_500))
    assert_same_shards(tmp_path / "mem", tmp_path / "ooc")
    assert ooc.report.dropped == mem.report.dropped
    assert ooc.report.dropped["duplicate"] == 4 and ooc.report.dropped["bad_price"] == 5  # "n/a" reads as empty, not bad
    assert ooc.report.dropped["implausible_timestamp"] == 1 and ooc.report.dropped["bad_timestamp"] == 1
    assert ooc.report.dropped["mapped_to_drop"] == 3
    assert set(ooc.report.notes) == set(mem.report.notes)


def test_same_shards_for_next_item_targets(tmp_path, shop_events):
    path = tmp_path / "events.parquet"
    shop_events.head(20_000).to_parquet(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path), target="next", max_history=8, summary_size=4)
    both(cfg, tmp_path, OutOfCoreSettings(chunk_events=1_500))
    assert_same_shards(tmp_path / "mem", tmp_path / "ooc")


def test_partitions_hold_the_same_decisions(tmp_path, shop_events):
    path = tmp_path / "events.parquet"
    shop_events.to_parquet(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path))
    one = prepare_out_of_core(cfg, tmp_path / "one", OutOfCoreSettings(chunk_events=4_000))
    many = prepare_out_of_core(cfg, tmp_path / "many", OutOfCoreSettings(chunk_events=4_000, partitions=3))
    assert many.stats == one.stats
    for period in PERIODS:
        whole = read_targets(tmp_path / "one", period).drop(columns="position")
        parts = [read_targets(tmp_path / "many" / f"part-{p:05d}", period) for p in range(3)]
        assert all(len(p) for p in parts)
        users = [set(p["user"]) for p in parts]
        assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])  # a customer in one partition
        joined = pd.concat(parts).drop(columns="position")
        key = ["user", "ts", "item"]
        pd.testing.assert_frame_equal(joined.sort_values(key).reset_index(drop=True), whole.sort_values(key).reset_index(drop=True))
        assert [r.exists() for r in many.shard_roots(period)] == [True] * 3


def test_bad_input_is_refused_and_an_earlier_output_survives(tmp_path, shop_events):
    path = tmp_path / "events.csv"
    shop_events.to_csv(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path))
    prepare_out_of_core(cfg, tmp_path / "out", OutOfCoreSettings(chunk_events=5_000))
    before = digests(tmp_path / "out")
    bad = messy(shop_events)
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"unknown event_type \('fav': 3\)"):
        prepare_out_of_core(cfg, tmp_path / "out", OutOfCoreSettings(chunk_events=5_000))
    with pytest.raises(DataError, match="duplicate"):
        prepare_out_of_core(replace(cfg, event_map={"fav": "drop"}, policies={"duplicate": "error"}), tmp_path / "out")
    path.write_text("user_id,item_id,event_type,timestamp\n")
    with pytest.raises(DataError, match="no rows"):
        prepare_out_of_core(cfg, tmp_path / "out")
    assert digests(tmp_path / "out") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging folder left behind


def test_too_many_bad_rows_over_the_whole_file(tmp_path, shop_events):
    ev = shop_events.astype({"timestamp": str})
    ev.loc[ev.index[: len(ev) // 10], "timestamp"] = "garbage"  # 10 %: every early chunk bad, the file over 5 %
    path = tmp_path / "events.parquet"
    ev.to_parquet(path, index=False)
    with pytest.raises(DataError, match="bad_timestamp.*more than data.max_bad_fraction"):
        prepare_out_of_core(DataConfig(source="files", events_path=str(path)), tmp_path / "out", OutOfCoreSettings(chunk_events=2_000))


def test_settings_are_checked():
    with pytest.raises(DataError, match="unknown key"):
        OutOfCoreSettings.from_config({"memory": 3})
    with pytest.raises(DataError, match="partitions"):
        OutOfCoreSettings.from_config({"partitions": 0})
    with pytest.raises(DataError, match="at least 256 MB"):
        OutOfCoreSettings.from_config({"memory_limit_mb": 64})


def test_shard_writer_cuts_the_same_shards_whatever_the_pieces(tmp_path):
    rng = np.random.default_rng(0)
    n = 1_000
    users = np.repeat(np.arange(50), 20)
    starts = np.repeat(np.arange(0, n, 20), 20)
    item_idx, types, ts = rng.integers(2, 40, n), rng.integers(1, 4, n), np.sort(rng.uniform(0, 1e6, n))
    positions = np.flatnonzero(np.arange(n) > starts)
    target = item_idx[positions]

    def write(root, cuts):
        writer = ShardWriter(root, 6, 4, shard_rows=128)
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            pos = positions[lo:hi]
            writer.add(encode_rows(item_idx, types, ts, starts, pos, target[lo:hi], users[pos], 6, 4))
        return writer.close()

    whole = write(tmp_path / "a", [0, len(positions)])
    pieces = write(tmp_path / "b", [0, 3, 200, 201, 640, len(positions)])
    assert whole == pieces and set(whole[:-1]) == {128}
    assert digests(tmp_path / "a") == digests(tmp_path / "b")


def test_quantile_from_order_statistics_is_numpys():
    rng = np.random.default_rng(1)
    for _ in range(300):
        x = rng.normal(1.7e9, 1e6, int(rng.integers(1, 300))).round(int(rng.integers(0, 3)))
        s = np.sort(x)
        for q in (0.0, 0.01, 0.5, 0.75, 0.99, 1.0):
            assert linear_quantile(len(x), q, lambda k: s[k]) == np.quantile(x, q)


def test_ranks_stream_stored_partitions_from_local_or_fsspec_storage(tmp_path, shop_events):
    """The prepared partitions read back as one ExampleSet per period, from a folder or from fsspec storage
    (memory:// here), and two DDP ranks walking it together see exactly what one process sees."""
    from neurec.data.outofcore.stored import prepare_to_storage

    path = tmp_path / "events.parquet"
    shop_events.to_parquet(path, index=False)
    cfg = DataConfig(source="files", events_path=str(path))
    settings = OutOfCoreSettings(chunk_events=4_000, partitions=3)
    local = prepare_out_of_core(cfg, tmp_path / "prepared", settings, shard_rows=100)
    url = "memory://neurec-ranks/prepared"
    prepare_to_storage(cfg, url, settings, shard_rows=100)
    try:
        _walk_stored(local, url)
    finally:
        fsspec.filesystem("memory").rm("/neurec-ranks", recursive=True)


def _walk_stored(local, url: str) -> None:
    from neurec.data.outofcore.stored import open_prepared

    for period in PERIODS:
        here, there = open_prepared(local.root, period), open_prepared(url, period)
        assert len(here) == len(there) == local.stats[f"{period}_targets"] and here.shard_sizes == there.shard_sizes
        walked = [b for _, b in here.batches(64)]
        for (_, a), b in zip(there.batches(64), walked):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(np.concatenate([b["target"] for b in walked]), here.target)
    train = open_prepared(url, "train")
    whole = list(train.shuffled_batches(32, np.random.default_rng(5)))
    ranks = [list(train.shuffled_batches(32, np.random.default_rng(5), rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole)
    for one, r0, r1 in zip(whole, *ranks):
        for k in ("hist_items", "sum_feats", "target", "fold"):
            np.testing.assert_array_equal(np.concatenate([r0[k], r1[k]]), one[k])


@pytest.mark.parametrize("policy", ["fix", "drop"])
def test_a_given_catalogue_gives_the_same_vocabulary_and_shards(tmp_path, policy):
    """Catalogue items never seen in training get ids in both paths; event items the catalogue lacks are added
    (fix) or their events dropped (drop) alike."""
    shop = simulate(SimulatorConfig(n_customers=300, seed=4))
    events, catalog = shop.events, shop.catalog
    seen = set(events["item_id"])
    unseen = catalog[~catalog["item_id"].isin(seen)]
    lacking = sorted(seen)[:3]  # items with events but no catalogue row
    catalog = pd.concat([catalog[catalog["item_id"].isin(seen) & ~catalog["item_id"].isin(lacking)], unseen.head(5)])
    events.to_parquet(tmp_path / "events.parquet", index=False)
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    cfg = DataConfig(source="files", events_path=str(tmp_path / "events.parquet"), catalog_path=str(tmp_path / "catalog.csv"),
                     policies={"uncatalogued_item": policy}, max_bad_fraction=0.5)
    mem, ooc = both(cfg, tmp_path, OutOfCoreSettings(chunk_events=3_000))
    assert ooc.vocab.items == mem.vocab.items and ooc.vocab.n_trained == mem.vocab.n_trained
    assert all(str(i) in ooc.vocab for i in unseen.head(5)["item_id"])  # never in the events, still an id
    assert ooc.report.fixed == mem.report.fixed and ooc.report.dropped == mem.report.dropped
    assert_same_shards(tmp_path / "mem", tmp_path / "ooc")
    written = pd.read_parquet(tmp_path / "ooc" / "catalog.parquet")
    assert sorted(written["item_id"]) == sorted(mem.catalog["item_id"])


@pytest.mark.parametrize("brackets", [None, ()])
def test_order_statistics_from_the_database_are_exact(tmp_path, monkeypatch, brackets):
    """The k-th smallest time found by bracketing (or, when every bracket misses, by numbering every row) is the
    sorted array's k-th, ties and all; and the quantiles built on them are numpy's."""
    from types import SimpleNamespace

    from neurec.data.outofcore import stage

    if brackets is not None:
        monkeypatch.setattr(stage, "BRACKETS", brackets)
    rng = np.random.default_rng(2)
    ts = np.round(rng.normal(1.7e9, 3e6, 20_000), -2)  # many ties
    db = stage.Database(tmp_path, OutOfCoreSettings())
    db.con.register("t_arrow", pd.DataFrame({"ts": ts}))
    db.con.execute("CREATE TABLE t AS SELECT * FROM t_arrow")
    fin = SimpleNamespace(db=db)
    ks = [0, 1, 199, 200, 10_000, 19_798, 19_999]
    got = stage.Finisher._order_stats(fin, "t", "true", len(ts), ks)
    assert got == {k: float(np.sort(ts)[k]) for k in ks}
    fin._order_stats = lambda *a: stage.Finisher._order_stats(fin, *a)
    qs = [0.01, 0.85, 0.99]
    assert stage.Finisher._quantiles(fin, "t", "true", len(ts), qs) == [float(np.quantile(ts, q)) for q in qs]
    db.close()


def test_a_file_with_no_good_row_names_the_problem(tmp_path, shop_events):
    ev = shop_events.head(3_000).astype({"timestamp": str}).assign(timestamp="never")
    path = tmp_path / "events.csv"
    ev.to_csv(path, index=False)
    with pytest.raises(DataError, match="bad_timestamp.*more than data.max_bad_fraction"):
        prepare_out_of_core(DataConfig(source="files", events_path=str(path)), tmp_path / "out", OutOfCoreSettings(chunk_events=1_000))
    with pytest.raises(DataError, match="no events left after cleaning"):
        prepare_out_of_core(DataConfig(source="files", events_path=str(path), max_bad_fraction=1.0), tmp_path / "out")


def test_a_column_that_changes_type_far_into_a_csv_is_refused_by_name(tmp_path, shop_events):
    """The streaming reader types each column from the first block; a later text value in a number column is
    refused with the column's problem named, not guessed at."""
    path = tmp_path / "events.csv"
    shop_events.to_csv(path, index=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"\n", len(data) - 5_000) + 1  # a user id near the end, far past the first block
    data[at] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"cannot be read in chunks after data row [\d,]+: In CSV column #0.*not UTF-8"):
        prepare_out_of_core(DataConfig(source="files", events_path=str(path)), tmp_path / "out", OutOfCoreSettings(chunk_events=2_000))
