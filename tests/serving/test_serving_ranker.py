"""The pure-model ranking: every item of the bundle (or given candidates) by the model alone, no rules."""

import numpy as np
import pytest

from neurec.features import encode_history
from neurec.probability import calibrated_probability
from neurec.serving import CustomerHistory, Ranker, RequestError

T0 = 1_772_359_200


def event(item, kind="view", ts=T0):
    return {"item_id": item, "event_type": kind, "timestamp": ts}


def reference(kit, ranker, events):
    """Model ids best first and their probabilities, from the fixture graph's numpy twin."""
    known = {item: i + 2 for i, item in enumerate(kit.KNOWN)}
    kinds = {"view": 1, "add_to_cart": 2, "purchase": 3}
    events = sorted((e for e in events if e["item_id"] in known), key=lambda e: e["timestamp"])
    h = encode_history([known[e["item_id"]] for e in events], [kinds[e["event_type"]] for e in events],
                       [e["timestamp"] for e in events], ranker.bundle.max_history)
    logits = kit.reference_logits(h.items, h.types, h.gaps, ranker.catalogue)
    order = np.argsort(-logits, kind="stable")
    return ranker.catalogue[order], calibrated_probability(logits[order], ranker.bundle.manifest["calibration"])


def test_whole_catalogue_by_the_model_alone(scorer, kit):
    """No stock rule, no threshold, no cart rule: 100006 (no stock) and 100004 (below the threshold) rank where
    their logits put them, unlike in Scorer.recommend."""
    ranker = scorer.ranker
    history = [event("100002", "purchase", T0 + 60), event("100001", "view", T0), event("999999", "view", T0)]
    got = ranker.rank(history, k=len(kit.KNOWN))
    ids, prob = reference(kit, ranker, history)
    assert [it["item_id"] for it in got["items"]] == [kit.KNOWN[i - 2] for i in ids]
    np.testing.assert_allclose([it["probability"] for it in got["items"]], prob, rtol=1e-6)
    assert got["items"][0]["item_id"] == "100006"  # out of stock, yet the model's favourite
    assert got["unknown_history_items"] == 1 and got["unknown_candidates"] == []
    assert [it["rank"] for it in got["items"]] == list(range(1, len(kit.KNOWN) + 1))
    assert len(ranker.rank(history, k=3)["items"]) == 3


def test_given_candidates_and_unknown_ones(scorer, kit):
    got = scorer.ranker.rank([event("100001")], k=10, candidates=["100003", "nope", "100007", 100005])
    assert sorted(it["item_id"] for it in got["items"]) == ["100003", "100005", "100007"]
    assert got["unknown_candidates"] == ["nope"]
    probs = [it["probability"] for it in got["items"]]
    assert probs == sorted(probs, reverse=True)


def test_many_customers_in_one_call_equal_one_by_one(scorer, kit):
    ranker = scorer.ranker
    histories = [[event("100001", "view", T0 + i), event(kit.KNOWN[i % 8], "add_to_cart", T0 + 100 + i)] for i in range(9)]
    customers = [CustomerHistory([e["item_id"] for e in h], np.array([1, 2]), np.array([e["timestamp"] for e in h], float))
                 for h in histories]
    many = ranker.rank_many(customers, k=4)
    for h, ranking in zip(histories, many):
        one = ranker.rank(h, k=4)
        assert ranking.item_ids == [it["item_id"] for it in one["items"]]
        np.testing.assert_allclose(ranking.probability, [it["probability"] for it in one["items"]])


def test_bad_input_names_the_field(scorer):
    with pytest.raises(RequestError, match="k: expected an integer"):
        scorer.ranker.rank([], k=0)
    with pytest.raises(RequestError, match=r"history\[0\].event_type"):
        scorer.ranker.rank([event("100001", "clik")])


def test_loads_from_a_bundle_folder(template_bundle, kit):
    ranker = Ranker.from_bundle(template_bundle)
    assert len(ranker.catalogue) == len(kit.KNOWN)
    assert len(ranker.rank([], k=100)["items"]) == len(kit.KNOWN)  # a new customer: the item biases decide
