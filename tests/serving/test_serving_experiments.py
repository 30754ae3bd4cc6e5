"""A/B experiments in the scorer and the service: deterministic routing by customer id, one bundle or rule set
per variant, and the variant named in every response."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from neurec.analytics.experiment import assign_variant
from neurec.serving.bundle import BundleError
from neurec.serving.experiments import ExperimentScorer
from neurec.serving.request import RequestError
from neurec.serving.rules_config import RulesConfig

T0 = 1_772_359_200
REQUEST = {"history": [{"item_id": "100001", "event_type": "view", "timestamp": T0}], "anchor": "100001",
           "placement": "product_page", "explain": True}


@pytest.fixture
def experiment(tmp_path, shop_bundle, kit):
    """Variant A: the shop bundle as shipped. Variant B: the same bundle with a rules file that returns one item."""
    rules_b = {**kit.SHOP_RULES, "top_k": 1}
    (tmp_path / "rules_b.json").write_text(json.dumps(rules_b))
    config = {"name": "recs-test", "salt": "s-1", "control": "A",
              "variants": [{"name": "A", "weight": 1, "bundle": str(shop_bundle)},
                           {"name": "B", "weight": 1, "rules": "rules_b.json"}]}
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(config))
    return path


def _customers_of(variant: str, n: int = 3) -> list[str]:
    ids = [f"c{i}" for i in range(200)]
    return [c for c in ids if assign_variant(c, "s-1", {"A": 1, "B": 1}) == variant][:n]


def test_requests_go_to_their_variant_and_say_so(experiment, shop_bundle, shop):
    router = ExperimentScorer.from_files(experiment, default_bundle=shop_bundle)
    assert router.scorers["A"]._session is router.scorers["B"]._session  # one session for one bundle
    for customer in _customers_of("A"):
        got = router.recommend({**REQUEST, "customer_id": customer})
        assert got["variant"] == "A" and got["experiment"] == "recs-test"
        assert {k: v for k, v in got.items() if k not in ("variant", "experiment")} == shop.recommend(REQUEST)
    for customer in _customers_of("B"):
        got = router.recommend({**REQUEST, "customer_id": customer})
        assert got["variant"] == "B" and len(got["items"]) == 1  # B's rules: top_k 1
    # the same customer always lands in the same variant
    c = _customers_of("B")[0]
    assert {router.recommend({**REQUEST, "customer_id": c})["variant"] for _ in range(5)} == {"B"}


def test_batch_keeps_order_across_variants(experiment, shop_bundle):
    router = ExperimentScorer.from_files(experiment, default_bundle=shop_bundle)
    a, b = _customers_of("A", 2), _customers_of("B", 2)
    batch = [{**REQUEST, "customer_id": c} for c in (a[0], b[0], a[1], b[1])]
    got = router.recommend_batch(batch)
    assert [r["variant"] for r in got] == ["A", "B", "A", "B"]
    assert got == [router.recommend(r) for r in batch]
    with pytest.raises(RequestError, match=r"requests\[1\]\.customer_id: required"):
        router.recommend_batch([batch[0], REQUEST])


@pytest.mark.parametrize("bad", [None, "", True, 1.5, ["c1"]])
def test_customer_id_is_required_while_an_experiment_runs(experiment, shop_bundle, bad):
    router = ExperimentScorer.from_files(experiment, default_bundle=shop_bundle)
    request = dict(REQUEST) if bad is None else {**REQUEST, "customer_id": bad}
    with pytest.raises(RequestError, match="customer_id"):
        router.recommend(request)


def test_a_plain_scorer_accepts_and_ignores_customer_id(shop):
    assert shop.recommend({**REQUEST, "customer_id": 42}) == shop.recommend(REQUEST)
    with pytest.raises(RequestError, match="customer_id"):
        shop.recommend({**REQUEST, "customer_id": {"id": 1}})


def test_bad_experiment_files_are_clear_errors(tmp_path, shop_bundle):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"name": "x", "salt": "s", "variants": [{"name": "A", "weight": 1}]}))
    with pytest.raises(BundleError, match="at least two variants"):
        ExperimentScorer.from_files(path, default_bundle=shop_bundle)
    path.write_text(json.dumps({"name": "x", "salt": "s", "variants": [
        {"name": "A", "weight": 1}, {"name": "B", "weight": 1, "rules": "missing.json"}]}))
    with pytest.raises(BundleError, match="rules file .*missing.json not found"):
        ExperimentScorer.from_files(path, default_bundle=shop_bundle)
    (tmp_path / "bad.json").write_text(json.dumps({"top_k": 0}))
    path.write_text(json.dumps({"name": "x", "salt": "s", "variants": [
        {"name": "A", "weight": 1}, {"name": "B", "weight": 1, "rules": "bad.json"}]}))
    with pytest.raises(BundleError, match="variant 'B': rules file"):
        ExperimentScorer.from_files(path, default_bundle=shop_bundle)
    with pytest.raises(BundleError, match="names no bundle"):
        ExperimentScorer.from_files(path, default_bundle=None)


def test_a_partial_rules_file_changes_only_what_it_names(tmp_path, shop_bundle, kit):
    (tmp_path / "lower_bar.json").write_text(json.dumps({"min_probability_by_kind": {"cross_sell": 0.005}}))
    (tmp_path / "list.json").write_text("[1]")
    path = tmp_path / "experiment.json"
    variants = [{"name": "A", "weight": 1}, {"name": "B", "weight": 1, "rules": "lower_bar.json"}]
    path.write_text(json.dumps({"name": "x", "salt": "s", "variants": variants}))
    router = ExperimentScorer.from_files(path, default_bundle=shop_bundle)
    a, b = router.scorers["A"].bundle.rules, router.scorers["B"].bundle.rules
    assert b.min_probability_by_kind == (("cross_sell", 0.005),)
    assert replace(b, min_probability_by_kind=None) == a  # the bundle's 0.02, margin weight, caps ... all kept
    assert a.min_probability == kit.SHOP_RULES["min_probability"] and a.margin_weight == 0.5
    variants[1]["rules"] = "list.json"
    path.write_text(json.dumps({"name": "x", "salt": "s", "variants": variants}))
    with pytest.raises(BundleError, match="list.json: expected a JSON object"):
        ExperimentScorer.from_files(path, default_bundle=shop_bundle)


def test_rules_round_trip_through_their_json_form(shop):
    rules = replace(shop.rules, min_probability_by_kind=(("upsell", 0.0),), upsell_band=(1.1, 1.5))
    assert RulesConfig.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    assert RulesConfig.from_dict(RulesConfig().to_dict()) == RulesConfig()


def test_service_routes_and_reports_the_experiment(experiment, shop_bundle):
    from fastapi.testclient import TestClient

    from neurec.serving.service import create_app

    router = ExperimentScorer.from_files(experiment, default_bundle=shop_bundle)
    with TestClient(create_app(router)) as client:
        c = _customers_of("B")[0]
        r = client.post("/recommend", json={**REQUEST, "customer_id": c})
        assert r.status_code == 200 and r.json()["variant"] == "B"
        r = client.post("/recommend", json=REQUEST)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "customer_id"]
        meta = client.get("/metadata").json()
        assert meta["experiment"]["name"] == "recs-test" and set(meta["experiment"]["variants"]) == {"A", "B"}
        assert meta["experiment"]["variants"]["B"]["rules"]["top_k"] == 1
        assert meta["experiment"]["variants"]["A"]["share"] == 0.5


def test_recommend_cli_with_an_experiment(experiment, shop_bundle, tmp_path, capsys):
    from neurec.cli.recommend import main

    request = tmp_path / "req.json"
    request.write_text(json.dumps({**REQUEST, "customer_id": _customers_of("B")[0]}))
    assert main(["--bundle", str(shop_bundle), "--experiment", str(experiment), "--request", str(request)]) == 0
    assert json.loads(capsys.readouterr().out)["variant"] == "B"
