"""Co-purchase statistics on hand-made baskets: exact lifts, supports, cut-offs and re-buy intervals."""

import json

import numpy as np
import pandas as pd

from neurec.export.copurchase import copurchase_stats
from neurec.schema import EventType
from neurec.serving.copurchase import COPURCHASE_FILE, parse_copurchase
from neurec.vocab import ItemVocab

DAY = 86_400.0
BUY, VIEW = int(EventType.PURCHASE), int(EventType.VIEW)


def events(rows):
    return pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "ts"])


# Six baskets: {A B C} {A B} {A C} {A C} {B} {D}, plus views that must not count and a second purchase of A in
# the first basket that must count once.
BASKETS = events([
    ("u1", "s1", "A", BUY, 0.0), ("u1", "s1", "B", BUY, 1.0), ("u1", "s1", "C", BUY, 2.0), ("u1", "s1", "A", BUY, 3.0),
    ("u2", "s1", "A", BUY, 0.0), ("u2", "s1", "B", BUY, 0.0),
    ("u3", "s1", "A", BUY, 0.0), ("u3", "s1", "C", BUY, 0.0), ("u3", "s1", "B", VIEW, 0.0),
    ("u4", "s9", "A", BUY, 0.0), ("u4", "s9", "C", BUY, 0.0),
    ("u5", "s1", "B", BUY, 0.0),
    ("u6", "s1", "D", BUY, 0.0),
])
VOCAB = ItemVocab(["A", "B", "C", "D"])


def test_lift_support_and_counts():
    stats = copurchase_stats(BASKETS, VOCAB)
    assert stats["n_baskets"] == 6 and stats["item_baskets"] == {"A": 4, "B": 3, "C": 3, "D": 1}
    # lift(A, C) = 3 * 6 / (4 * 3) = 1.5; lift(A, B) = 2 * 6 / (4 * 3) = 1.0 is no better than chance: left out;
    # B and C share one basket only: below support 2.
    assert stats["partners"] == {
        "A": {"item_id": ["C"], "lift": [1.5], "support": [3]},
        "C": {"item_id": ["A"], "lift": [1.5], "support": [3]},
    }
    loose = copurchase_stats(BASKETS, VOCAB, min_support=1, min_lift=0.0)
    assert loose["partners"]["A"] == {"item_id": ["C", "B"], "lift": [1.5, 1.0], "support": [3, 2]}
    assert loose["partners"]["B"] == {"item_id": ["A", "C"], "lift": [1.0, 0.6667], "support": [2, 1]}


def test_top_n_orders_by_lift_then_support_then_id():
    rows = []
    for i, other in enumerate(["X", "Y", "Z", "X", "Y", "Z"]):  # A with each of X, Y, Z twice
        rows += [(f"u{i}", "s", "A", BUY, 0.0), (f"u{i}", "s", other, BUY, 0.0)]
    rows += [("u9", "s", "Z", BUY, 0.0)]  # Z in one more basket: lower lift than X and Y
    stats = copurchase_stats(events(rows), ItemVocab(["A", "X", "Y", "Z"]), top_n=2, min_lift=0.0)
    assert stats["partners"]["A"]["item_id"] == ["X", "Y"]  # X and Y tie on lift and support: by id
    assert stats["partners"]["A"]["lift"] == [1.1667, 1.1667] and stats["top_n"] == 2


def test_items_outside_the_vocabulary_and_huge_baskets_are_left_out():
    stats = copurchase_stats(BASKETS, ItemVocab(["A", "B", "D"]))
    assert "C" not in stats["item_baskets"] and "C" not in json.dumps(stats["partners"])
    huge = events([("u", "s", f"I{i}", BUY, 0.0) for i in range(5)] + list(BASKETS.itertuples(index=False)))
    vocab = ItemVocab(["A", "B", "C", "D"] + [f"I{i}" for i in range(5)])
    assert copurchase_stats(huge, vocab, max_basket=4)["n_baskets"] == 6  # the 5-item basket is dropped


def test_replenishment_medians_for_consumables():
    rows = [
        ("u1", "a", "POD", BUY, 0.0), ("u1", "b", "POD", BUY, 10 * DAY), ("u1", "c", "POD", BUY, 30 * DAY),
        ("u2", "a", "POD", BUY, 0.0), ("u2", "a", "POD", BUY, 60.0),  # the same session twice: one purchase
        ("u2", "b", "POD", BUY, 14 * DAY),
        ("u1", "a", "MUG", BUY, 0.0), ("u1", "d", "MUG", BUY, 5 * DAY), ("u2", "c", "MUG", BUY, 0.0),
        ("u2", "d", "MUG", BUY, 7 * DAY),
        ("u3", "a", "ONCE", BUY, 0.0), ("u3", "b", "ONCE", BUY, 3 * DAY),  # a single interval: not enough
    ]
    vocab = ItemVocab(["POD", "MUG", "ONCE"])
    stats = copurchase_stats(events(rows), vocab)
    assert stats["replenish_days"] == {"MUG": 6.0, "POD": 14.0}  # medians of [5, 7] and [10, 20, 14]
    assert stats["replenish_intervals"] == {"MUG": 2, "POD": 3}
    catalog = pd.DataFrame({"item_id": ["POD", "MUG", "ONCE"], "kind": ["consumable", "main", "consumable"]})
    assert copurchase_stats(events(rows), vocab, catalog)["replenish_days"] == {"POD": 14.0}


def test_empty_training_purchases():
    stats = copurchase_stats(events([("u", "s", "A", VIEW, 0.0)]), VOCAB)
    assert stats["n_baskets"] == 0 and stats["partners"] == {} and stats["replenish_days"] == {}


def test_the_serving_reader_accepts_what_the_export_writes():
    stats = json.loads(json.dumps(copurchase_stats(BASKETS, VOCAB)))
    row_of = {"A": 0, "B": 1, "C": 2}
    co = parse_copurchase(stats, row_of, 3)
    assert {r: p.tolist() for r, p in co.partners.items()} == {0: [2], 2: [0]}


def test_write_bundle_lists_and_hashes_copurchase(tmp_path):
    from neurec.export.bundle import write_bundle
    from neurec.fsutil import sha256_file
    from neurec.models.purchase import PurchaseModelConfig

    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not read by the writer")
    catalog = pd.DataFrame({"item_id": ["A", "B", "C", "D"], "price": [1.0, 2.0, 3.0, np.nan]})
    stats = copurchase_stats(BASKETS, VOCAB)
    args = (onnx, VOCAB, catalog, {"top_k": 4}, PurchaseModelConfig(n_items=len(VOCAB)), None)
    with_stats = write_bundle(tmp_path / "with", *args, copurchase=stats)
    files = json.loads((with_stats / "manifest.json").read_text())["files"]
    assert files[COPURCHASE_FILE] == sha256_file(with_stats / COPURCHASE_FILE)
    assert json.loads((with_stats / COPURCHASE_FILE).read_text()) == stats
    # Without statistics the file is still written (the reader requires it), empty, and hashed like the others.
    without = write_bundle(tmp_path / "without", *args)
    files = json.loads((without / "manifest.json").read_text())["files"]
    assert files[COPURCHASE_FILE] == sha256_file(without / COPURCHASE_FILE)
    empty = json.loads((without / COPURCHASE_FILE).read_text())
    assert empty == {"format": 1, "partners": {}, "replenish_days": {}}
    assert parse_copurchase(empty, {"A": 0}, 1).partners == {}


def test_baskets_are_per_customer_session():
    # The same session id under two customers is two baskets.
    rows = events([("u1", "s", "A", BUY, 0.0), ("u1", "s", "B", BUY, 0.0), ("u2", "s", "A", BUY, 0.0),
                   ("u2", "s", "B", BUY, 0.0)])
    assert copurchase_stats(rows, VOCAB, min_lift=0.0)["n_baskets"] == 2
