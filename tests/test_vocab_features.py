import numpy as np
import pytest

from neurec.features import bucket_of_gap, encode_history, gap_buckets, pad_histories
from neurec.schema import GAP_FIRST, N_GAP_BUCKETS, OOV_ID, EventType
from neurec.vocab import ItemVocab, normalize_id


def test_vocab_orders_by_frequency_and_reserves_ids(tmp_path):
    vocab = ItemVocab.fit(["b", "a", "b", 7, "c", "a", "b"])
    assert vocab.items == ["b", "a", "7", "c"]  # b x3, a x2, then ties by id
    assert len(vocab) == 6
    assert list(vocab.encode(["b", "7", "zzz", 7.0])) == [2, 4, OOV_ID, 4]
    assert vocab.decode([0, 1, 2, 5]) == [None, None, "b", "c"]
    vocab.save(tmp_path / "v.json")
    loaded = ItemVocab.load(tmp_path / "v.json")
    assert loaded.items == vocab.items and loaded.sha256() == vocab.sha256()


def test_vocab_min_count_and_bad_file(tmp_path):
    assert ItemVocab.fit(["a", "a", "b"], min_count=2).items == ["a"]
    (tmp_path / "bad.json").write_text('{"items": 3}')
    with pytest.raises(ValueError, match="not an item vocabulary"):
        ItemVocab.load(tmp_path / "bad.json")


def test_normalize_id_spellings():
    assert {normalize_id(x) for x in (42, 42.0, "42", np.int64(42))} == {"42"}


def test_gap_buckets_log_scale():
    ts = np.array([0.0, 0.0, 1.0, 4.0, 4.0 + 86400])
    b = gap_buckets(ts)
    assert b[0] == GAP_FIRST
    assert list(b[1:4]) == [2, 3, 4]  # gaps 0 s, 1 s, 3 s -> 2 + floor(log2(1 + gap))
    assert b[4] == 2 + 16  # one day
    assert bucket_of_gap(np.array([-5.0]))[0] == 2  # out-of-order logs: simultaneous
    assert bucket_of_gap(np.array([1e12]))[0] == N_GAP_BUCKETS - 1


def test_encode_history_keeps_newest_and_pads_left():
    h = encode_history(np.array([5, 6, 7]), np.array([1, 2, 3]), np.array([0.0, 10.0, 20.0]), max_len=2)
    assert list(h.items) == [6, 7] and h.gaps[0] == GAP_FIRST
    items, types, gaps = pad_histories([h, encode_history(np.array([9]), np.array([1]), np.array([5.0]), 4)])
    assert items.tolist() == [[6, 7], [0, 9]]
    assert types.tolist() == [[2, 3], [0, 1]]
    items, _, _ = pad_histories([encode_history(np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([]), 5)])
    assert items.shape == (1, 1) and items[0, 0] == 0


def test_encode_history_rejects_bad_types():
    with pytest.raises(ValueError, match="event types"):
        encode_history(np.array([5]), np.array([int(EventType.PAD)]), np.array([0.0]), 3)
