"""End to end on the real config, shrunk: simulate -> train -> evaluate -> export -> bundle -> score, tracked."""

import json
import subprocess
from pathlib import Path
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.cli.demo import sample_request
from neurec.pipeline import run
from neurec.serving import Scorer


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_store, compose_train):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = compose_train(
        [f"tracking.uri={mlflow_store['uri']}", f"tracking.artifact_location={mlflow_store['artifacts']}", "tracking.experiment=e2e"],
        tmp,
    )
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    return run(run_cfg, resolved), mlflow_store


def test_run_reports_model_and_baselines(trained):
    result, _ = trained
    assert set(result.metrics) == {"model", "popularity", "popularity_recent", "fbt", "item_knn", "repeat", "own_events", "own_recent", "tifu_knn", "session_knn", "als",
                                   "oracle"}
    for values in result.metrics.values():
        assert 0.0 <= values["ndcg_at_10"] <= values["hr_at_10"] <= 1.0
        assert values["customer_new_count"] + values["customer_returning_count"] == result.stats["test_targets"]
        assert values["item_cold_count"] + values["item_warm_count"] == result.stats["test_targets"]
        assert 0.0 < values["coverage_at_10"] <= 1.0
    assert result.metrics["oracle"]["ndcg_at_10"] > result.metrics["popularity"]["ndcg_at_10"]
    assert 0.0 <= result.metrics["model"]["ece"] <= 1.0 and result.metrics["model"]["logloss"] > 0
    assert result.calibration.temperature > 0
    assert len(result.fit.history) == 2 and result.checkpoint.exists()


def test_mlflow_run_holds_params_epoch_metrics_and_bundle(trained):
    from mlflow.tracking import MlflowClient

    result, store = trained
    client = MlflowClient(tracking_uri=store["uri"])
    run_ = client.get_run(result.run_id)
    assert run_.info.status == "FINISHED"
    assert run_.data.params["model.dim"] == "64" and run_.data.params["data.name"] == "simulator"
    steps = [m.step for m in client.get_metric_history(result.run_id, "valid_ndcg_at_10")]
    assert steps == [1, 2]
    assert len(client.get_metric_history(result.run_id, "train_loss")) == 2
    for key in ("test_ndcg_at_10", "test_popularity_ndcg_at_10", "test_oracle_ndcg_at_10", "test_auc", "test_logloss",
                "test_ece", "test_best_baseline_ndcg_at_10", "test_model_over_best_baseline",
                "test_customer_new_ndcg_at_10", "test_coverage_at_10", "calibration_temperature"):
        assert key in run_.data.metrics
    # Few metrics, so the learning curves are easy to find; no baseline's figures copied beyond the headline ones.
    assert len(run_.data.metrics) <= 40, sorted(run_.data.metrics)
    assert not any(k.startswith("test_fbt_") for k in run_.data.metrics)
    # Params are settings: no class paths, no folders of this machine, the data file by its name alone.
    assert not any(k.endswith("_target_") or k.startswith(("paths.", "tracking.uri")) for k in run_.data.params)
    assert run_.data.params["model.dim"] == "64"
    exp = client.get_experiment(run_.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on training runs
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"bundle", "checkpoint", "config.yaml", "plots", "comparison.json"} <= names
    assert {a.path for a in client.list_artifacts(result.run_id, "plots")} == {"plots/learning_curves.png", "plots/reliability.png"}
    # every baseline is its own run in the same experiment, with the model's metric names
    assert set(result.baseline_runs) == {"popularity", "popularity_recent", "fbt", "item_knn", "repeat", "own_events", "own_recent", "tifu_knn", "session_knn", "als",
                                   "oracle"}
    fbt = client.get_run(result.baseline_runs["fbt"])
    assert fbt.info.experiment_id == run_.info.experiment_id and fbt.data.tags["neurec.model_run"] == result.run_id
    assert fbt.data.tags["mlflow.parentRunId"] == result.run_id and fbt.info.run_name == "fbt (simulator)"
    assert fbt.data.metrics["test_ndcg_at_10"] == pytest.approx(result.metrics["fbt"]["ndcg_at_10"])
    best = run_.data.tags["neurec.best_baseline"]
    assert run_.data.metrics["test_best_baseline_ndcg_at_10"] == pytest.approx(result.metrics[best]["ndcg_at_10"])
    assert best != "oracle" and all(result.metrics[best]["ndcg_at_10"] >= v["ndcg_at_10"]
                                    for m, v in result.metrics.items() if m not in ("model", "oracle"))
    table = json.loads(Path(client.download_artifacts(result.run_id, "comparison.json")).read_text())
    assert set(table) == set(result.metrics) and table["fbt"]["ndcg_at_10"] == pytest.approx(result.metrics["fbt"]["ndcg_at_10"])
    bundle_files = {a.path.split("/")[-1] for a in client.list_artifacts(result.run_id, "bundle")}
    assert {"model.onnx", "manifest.json", "items.json", "vocab.json", "rules.json"} <= bundle_files


def test_bundle_scores_a_cart(trained):
    result, _ = trained
    manifest = json.loads((result.bundle_dir / "manifest.json").read_text())
    assert manifest["training_run_id"] == result.run_id
    assert manifest["calibration"] == result.calibration.to_dict()
    scorer = Scorer.from_bundle(result.bundle_dir)
    request, _ = sample_request(result.data, 50)  # a real test-period customer with something in the cart
    assert request["cart"]
    response = scorer.recommend({**request, "explain": True})
    assert len(response["items"]) <= 4
    assert all(r["item_id"] not in request["cart"] for r in response["items"])
    assert any(d["reason"] == "in_cart" for d in response["dropped"])
    # The shipped relevance rule: beyond the free best one, p x price pays for the slot (a share of the stake).
    rules, stake = scorer.rules, scorer.prepare(request).stake
    price = scorer.catalog.price[scorer.catalog.rows([r["item_id"] for r in response["items"]])]
    assert rules.slot_cost is not None and stake is not None
    assert all(r["probability"] * p >= rules.slot_cost * stake
               for r, p in list(zip(response["items"], price))[rules.slot_cost_free:])
    scores = [r["score"] for r in response["items"]]
    assert scores == sorted(scores, reverse=True)


def test_evaluate_reproduces_the_test_metrics_as_a_linked_run(trained, tmp_path):
    from hydra.utils import instantiate
    from mlflow.tracking import MlflowClient

    from neurec.evaluation import evaluate_checkpoint
    from neurec.train.tracking import TrackingConfig

    result, store = trained
    cfg = instantiate(OmegaConf.create(OmegaConf.load(result.out_dir / "config.yaml").data), _convert_="all")
    tracking = TrackingConfig(uri=store["uri"], artifact_location=store["artifacts"], experiment="e2e")
    ev = evaluate_checkpoint(result.checkpoint, cfg, tracking, tmp_path, {"checkpoint": "x"}, baselines=("fbt",))
    assert ev.training_run_id == result.run_id
    for key in ("ndcg_at_10", "hr_at_10", "auc", "ece", "logloss"):
        assert ev.metrics["model"][key] == pytest.approx(result.metrics["model"][key], rel=1e-6, abs=1e-9), key
    assert ev.metrics["fbt"]["ndcg_at_10"] == pytest.approx(result.metrics["fbt"]["ndcg_at_10"])
    run_ = MlflowClient(store["uri"]).get_run(ev.run_id)
    assert run_.data.tags["neurec.evaluates"] == result.run_id and "test_ndcg_at_10" in run_.data.metrics


def test_every_config_group_option_instantiates(tmp_path, compose_train):
    for overrides in ([], ["tracking=none"], ["data=files", "data.events_path=x.csv"], ["experiment=small"], ["debug=fast"]):
        cfg = compose_train(overrides, tmp_path)
        for group in ("data", "trainer", "tracking", "export"):
            assert instantiate(cfg[group]) is not None
        assert isinstance(OmegaConf.to_container(cfg.model, resolve=True)["max_history"], int)
        assert "max_history" not in cfg.data  # one history length: the model's (the data is encoded with it)


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.demo", "debug=fast", "trainer.epochs=2", f"paths.root_dir={tmp_path}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "model / popularity NDCG@10" in out and "popularity" in out and "bundle:" in out
    assert "sample customer" in out and "rank" in out


def _get_json(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_mlflow_ui_shows_the_run_and_its_bundle(trained, local_server):
    """The README's `mlflow ui` command, as a real process on 127.0.0.1, stopped by its PID."""
    import os
    import signal
    from pathlib import Path

    result, store = trained
    port = local_server.free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(mlflow_bin), "ui", "--backend-store-uri", store["uri"], "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        local_server.wait_until_up(f"{base}/api/2.0/mlflow/experiments/search?max_results=10", proc, 90, "mlflow ui")
        run_ = _get_json(f"{base}/api/2.0/mlflow/runs/get?run_id={result.run_id}")["run"]
        assert any(p["key"] == "model.dim" for p in run_["data"]["params"])
        files = _get_json(f"{base}/ajax-api/2.0/mlflow/artifacts/list?run_uuid={result.run_id}&path=bundle")["files"]
        assert "bundle/model.onnx" in {f["path"] for f in files}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the main PID and its workers, so none keeps the port
        proc.wait(timeout=30)
