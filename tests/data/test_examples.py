import numpy as np
import pytest

import neurec.data.examples as examples
from neurec.data.examples import write_examples
from neurec.data.split import Targets


def _inputs(n_events=400, n_targets=150, seed=0):
    rng = np.random.default_rng(seed)
    item_idx = rng.integers(2, 60, n_events)
    types = rng.integers(1, 4, n_events)
    ts = np.cumsum(rng.integers(1, 100, n_events)).astype(float)
    starts = np.repeat(np.arange(0, n_events, 40), 40)  # ten customers of 40 events
    pos = np.sort(rng.choice(np.arange(1, n_events), n_targets, replace=False))
    targets = Targets(pos, item_idx[pos].astype(str), ts[pos], ts[pos], (starts[pos] // 40).astype(str))
    return item_idx, types, ts, starts, targets, item_idx[pos]


def test_shards_round_trip_and_stream_every_row_once(tmp_path):
    item_idx, types, ts, starts, targets, target = _inputs()
    ex = write_examples(tmp_path / "train", item_idx, types, ts, starts, targets, target, max_len=8, summary_size=4, shard_rows=64)
    assert ex.shard_sizes == (64, 64, 22) and len(ex) == 150
    rows = np.concatenate([b["target"] for _, b in ex.batches(50)])
    assert rows.tolist() == target.tolist()
    seen = np.concatenate([b["target"] for b in ex.shuffled_batches(16, np.random.default_rng(1))])
    assert sorted(seen.tolist()) == sorted(target.tolist())
    again = np.concatenate([b["target"] for b in ex.shuffled_batches(16, np.random.default_rng(1))])
    assert seen.tolist() == again.tolist()  # same seed, same order


def test_ranks_slice_the_single_process_batches_in_the_same_steps(tmp_path):
    item_idx, types, ts, starts, targets, target = _inputs()
    ex = write_examples(tmp_path / "train", item_idx, types, ts, starts, targets, target, max_len=8, summary_size=4, shard_rows=32)
    single = list(ex.shuffled_batches(8, np.random.default_rng(3)))
    per_rank = [list(ex.shuffled_batches(8, np.random.default_rng(3), r, 2)) for r in (0, 1)]
    assert len(per_rank[0]) == len(per_rank[1]) == len(single)  # DDP needs the same number of steps on every rank
    for whole, a, b in zip(single, *per_rank):
        assert np.concatenate([a["target"], b["target"]]).tolist() == whole["target"].tolist()
        assert a["global_rows"] == b["global_rows"] == len(whole["target"])
        assert (a["row_offset"], b["row_offset"]) == (0, len(a["target"]))
    # Three ranks, a shard of 150 rows in batches of 8: the last global batch of each shard may be short.
    three = [list(ex.shuffled_batches(8, np.random.default_rng(3), r, 3)) for r in range(3)]
    assert len({len(t) for t in three}) == 1
    covered = np.concatenate([b["target"] for t in three for b in t])
    assert sorted(covered.tolist()) == sorted(target.tolist())


def test_evaluation_batches_split_between_ranks_by_turn(tmp_path):
    item_idx, types, ts, starts, targets, target = _inputs()
    ex = write_examples(tmp_path / "valid", item_idx, types, ts, starts, targets, target, max_len=8, summary_size=4, shard_rows=64)
    parts = [dict(ex.batches(20, r, 2)) for r in (0, 1)]
    assert not set(parts[0]) & set(parts[1])
    merged = {**parts[0], **parts[1]}
    rows = np.concatenate([merged[o]["target"] for o in sorted(merged)])
    assert rows.tolist() == target.tolist()


def test_a_crash_mid_write_keeps_the_previous_shards(tmp_path, monkeypatch):
    item_idx, types, ts, starts, targets, target = _inputs()
    root = tmp_path / "train"
    write_examples(root, item_idx, types, ts, starts, targets, target, max_len=8, summary_size=4, shard_rows=64)
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real_save = np.save

    def failing_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(examples.np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_examples(root, item_idx, types, ts, starts, targets, target[::-1].copy(), max_len=8, summary_size=4, shard_rows=64)
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["train"]  # no temporary folder left behind
