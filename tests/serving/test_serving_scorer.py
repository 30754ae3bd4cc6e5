import logging

import numpy as np
import pytest

from neurec.features import encode_history
from neurec.schema import BUNDLE_MANIFEST
from neurec.serving import RequestError, Scorer

T0 = 1_772_359_200  # 2026-03-01T10:00:00Z


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def event(item, kind="view", ts=T0):
    return {"item_id": item, "event_type": kind, "timestamp": ts}


def expected_probs(kit, events, cands, max_history=5):
    """Reference path: sort by time, skip unknown items, encode, run the numpy twin of the fixture graph."""
    known = {item: i + 2 for i, item in enumerate(kit.KNOWN)}
    kinds = {"view": 1, "add_to_cart": 2, "purchase": 3}
    events = sorted((e for e in events if e["item_id"] in known), key=lambda e: e["timestamp"])
    h = encode_history(
        [known[e["item_id"]] for e in events], [kinds[e["event_type"]] for e in events],
        [e["timestamp"] for e in events], max_history,
    )
    return sigmoid(kit.reference_logits(h.items, h.types, h.gaps, np.array([known[c] for c in cands])))


def by_id(response):
    return {it["item_id"]: it for it in response["items"]}


def test_probabilities_and_scores_match_reference(scorer, kit):
    history = [event("100002", "purchase", T0 + 3600), event("100001", "view", T0)]  # out of order on purpose
    cands = ["100001", "100003", "100005", "100008"]
    got = scorer.recommend({"history": history, "candidates": cands, "k": 10})
    want = dict(zip(cands, expected_probs(kit, history, cands)))
    margin = dict(zip(kit.ITEMS["item_id"], kit.ITEMS["margin"]))
    stock = dict(zip(kit.ITEMS["item_id"], kit.ITEMS["stock"]))
    assert scorer.margin_ref == pytest.approx(38 / 8)  # in-stock margins only: 100006 (12) has no stock
    for it in got["items"]:
        assert it["probability"] == pytest.approx(want[it["item_id"]], rel=1e-6)
        low = stock[it["item_id"]] <= 3  # the default low-stock rule: x 0.8 at 3 units or fewer
        factor = (0.5 + 0.5 * margin[it["item_id"]] / scorer.margin_ref) * (0.8 if low else 1.0)
        assert it["score"] == pytest.approx(it["probability"] * factor, rel=1e-9)
        assert it["reasons"] == (["low_stock"] if low else []) and it["kind"] == "other"
    scores = [it["score"] for it in got["items"]]
    assert scores == sorted(scores, reverse=True)
    assert [it["rank"] for it in got["items"]] == [1, 2, 3, 4]
    assert got["model_version"] == "fixture-1" and got["training_run_id"] == "run-123"
    assert got["unknown_history_items"] == 0 and "dropped" not in got
    assert got["placement"] == "product_page" and got["segment"] is None and got["anchor"] == "100002"


def test_rules_drop_with_reasons(scorer):
    request = {
        "history": [event("100001")],
        "candidates": ["100006", "100002", "100004", "zzz", "200001", "100001", 100003],
        "cart": ["100002", "not-in-catalog"],
        "explain": True,
    }
    got = scorer.recommend(request)
    assert [it["item_id"] for it in got["items"]] == ["100003"]
    dropped = {d["item_id"]: d["reason"] for d in got["dropped"]}
    assert dropped == {
        "100006": "out_of_stock", "100002": "in_cart", "100004": "below_threshold",
        "zzz": "unknown_item", "200001": "unknown_item", "100001": "is_anchor",  # the newest history item
    }
    below = next(d for d in got["dropped"] if d["reason"] == "below_threshold")
    assert below["probability"] < 0.02


def test_first_reason_wins(scorer):
    got = scorer.recommend({"history": [], "candidates": ["100006"], "cart": ["100006"], "explain": True})
    assert got["items"] == [] and got["dropped"] == [{"item_id": "100006", "reason": "out_of_stock"}]


def test_default_candidates_and_k(scorer, kit):
    # No anchor: every item the model knows is a candidate (this catalogue has no ladders: `other` is allowed).
    got = scorer.recommend({"history": [], "explain": True})
    assert len(got["items"]) == kit.RULES["top_k"] and got["anchor"] is None
    ids = [it["item_id"] for it in got["items"]]
    assert kit.UNSEEN not in ids and "100006" not in ids
    assert {d["item_id"] for d in got["dropped"]} == {"100006", "100004"}  # the unseen item is no candidate
    assert len(scorer.recommend({"history": [], "k": 1})["items"]) == 1
    assert len(scorer.recommend({"history": [], "k": 50})["items"]) == 6  # fewer pass than k
    # With an anchor, items of its category (the only link this catalogue has).
    got = scorer.recommend({"history": [event("100001")], "k": 50})
    assert [it["item_id"] for it in got["items"]] == ["100002"] and got["anchor"] == "100001"


def test_unknown_history_items_are_skipped_and_counted(scorer):
    base = [event("100001", "view", T0), event("100003", "add_to_cart", T0 + 60)]
    noisy = base[:1] + [event("nope", "purchase", T0 + 30), event("200001", "view", T0 + 90)] + base[1:]
    a = scorer.recommend({"history": base, "candidates": ["100005"]})
    b = scorer.recommend({"history": noisy, "candidates": ["100005"]})
    assert b["unknown_history_items"] == 2 and a["unknown_history_items"] == 0
    assert b["items"] == a["items"]


def test_only_newest_max_history_events_reach_the_model(scorer, kit):
    history = [event(kit.KNOWN[i % 8], "purchase" if i < 4 else "view", T0 + i) for i in range(9)]
    got = scorer.recommend({"history": history, "candidates": ["100007"]})  # neither bought nor the anchor
    want = expected_probs(kit, history[-5:], ["100007"])
    assert got["items"][0]["probability"] == pytest.approx(want[0], rel=1e-6)


def test_batch_matches_single_requests(scorer):
    requests = [
        {"history": [event("100001")], "candidates": ["100003"]},
        {"history": [event(f"10000{i}", "purchase", T0 + 10 * i) for i in range(1, 8)], "k": 6},
        {"history": [], "candidates": ["100006"], "explain": True},  # nothing left to score
        {"history": [event("100002", "add_to_cart")], "candidates": ["100001", "100005", "100007"]},
    ]
    batched = scorer.recommend_batch(requests)
    single = [scorer.recommend(r) for r in requests]
    for b, s in zip(batched, single):
        # float32 sums may differ in the last bits between batch shapes; nothing more.
        assert [it["item_id"] for it in b["items"]] == [it["item_id"] for it in s["items"]]
        for key in ("probability", "score"):
            assert [it[key] for it in b["items"]] == pytest.approx([it[key] for it in s["items"]], rel=1e-6)
        assert {k: v for k, v in b.items() if k != "items"} == {k: v for k, v in s.items() if k != "items"}
    assert batched[2]["items"] == [] and batched[2]["dropped"][0]["reason"] == "out_of_stock"


def test_batch_error_names_the_request(scorer):
    with pytest.raises(RequestError, match=r"^requests\[1\]\.k: expected an integer >= 1"):
        scorer.recommend_batch([{"history": []}, {"history": [], "k": 0}])


@pytest.mark.parametrize(
    "request_, message",
    [
        ({}, r"^history: missing field"),
        ({"history": [], "candidate": []}, r"^candidate: unknown field"),
        ({"history": [{"item_id": "1", "event_type": "clik", "timestamp": 0}]},
         r"^history\[0\]\.event_type: unknown event type 'clik'; expected one of view, add_to_cart, purchase"),
        ({"history": [event("1"), {"item_id": "1", "timestamp": 0}]}, r"^history\[1\]\.event_type: missing field"),
        ({"history": [], "k": 0}, r"^k: expected an integer >= 1, got 0"),
        ({"history": [], "candidates": ["1", None]}, r"^candidates\[1\]: expected an item id"),
        ({"history": [event("1", ts=float("nan"))]}, r"^history\[0\]\.timestamp: nan is not a finite number"),
    ],
)
def test_invalid_requests_name_the_field(scorer, request_, message):
    with pytest.raises(RequestError, match=message):
        scorer.recommend(request_)


def test_missing_catalog_columns_switch_rules_off(tmp_path, kit, caplog):
    items = {k: v for k, v in kit.ITEMS.items() if k not in ("margin", "stock")}
    root = kit.write_bundle(tmp_path / "b", items=items)
    with caplog.at_level(logging.WARNING, logger="neurec.serving"):
        scorer = Scorer.from_bundle(root)
    assert sum("no stock column" in r.message for r in caplog.records) == 1
    assert sum("no margin column" in r.message for r in caplog.records) == 1
    got = scorer.recommend({"history": [], "k": 1})
    assert got["items"][0]["item_id"] == "100006"  # highest logit, no longer known to be out of stock
    assert got["items"][0]["score"] == got["items"][0]["probability"]


def test_calibration_is_applied(tmp_path, kit):
    root = kit.write_bundle(tmp_path / "b", calibration={"temperature": 2.0, "bias": -1.0})
    got = Scorer.from_bundle(root).recommend({"history": [], "candidates": ["100003"]})
    assert got["items"][0]["probability"] == pytest.approx(sigmoid(1.0 / 2.0 - 1.0), rel=1e-6)


def test_non_finite_logits_are_a_bug_not_a_ranking(tmp_path, kit):
    root = kit.write_bundle(tmp_path / "b")
    bias = kit.BIAS.copy()
    bias[2] = np.nan
    kit.write_model(root / "model.onnx", bias=bias)
    kit.rehash(root)
    with pytest.raises(RuntimeError, match="non-finite logits"):
        Scorer.from_bundle(root).recommend({"history": [], "candidates": ["100001"]})
    assert (root / BUNDLE_MANIFEST).exists()


def test_batch_error_for_a_non_object(scorer):
    with pytest.raises(RequestError, match=r"^requests\[0\]: expected a JSON object"):
        scorer.recommend_batch([["not", "a", "request"]])


def test_empty_candidates_and_all_dropped(scorer):
    assert scorer.recommend({"history": [], "candidates": []})["items"] == []
    got = scorer.recommend({"history": [], "candidates": ["zzz"], "explain": True})
    assert got["items"] == [] and got["dropped"] == [{"item_id": "zzz", "reason": "unknown_item"}]


def test_the_summary_fed_to_the_model_is_the_whole_history_as_of_now(scorer, kit, monkeypatch):
    """The Scorer summarises every known event of the request (not only the newest max_history) as of `now`,
    with the function training uses, and feeds it to the graph as sum_items / sum_feats."""
    from neurec.history_summary import summarize_history
    from neurec.schema import MODEL_INPUTS

    history = [event(kit.KNOWN[i % 4], "purchase" if i % 3 == 0 else "view", T0 + 3600 * i) for i in range(12)]
    history.append(event("999999", "purchase", T0))  # unknown to the model: left out
    now = T0 + 86_400 * 3
    fed = {}
    real_run = scorer._run
    monkeypatch.setattr(scorer, "_run", lambda *arrays: fed.update(zip(MODEL_INPUTS, arrays)) or real_run(*arrays))
    scorer.recommend({"history": history, "now": now, "candidates": ["100005"]})
    ids = np.array([i % 4 + 2 for i in range(12)])
    types = np.array([3 if i % 3 == 0 else 1 for i in range(12)])
    want_ids, want_feats = summarize_history(ids, types, T0 + 3600.0 * np.arange(12), now, scorer.bundle.summary_size)
    np.testing.assert_array_equal(fed["sum_items"][0], want_ids)
    np.testing.assert_array_equal(fed["sum_feats"][0], want_feats)
    assert fed["hist_items"].shape[1] == 5  # the window still holds the newest max_history events only
