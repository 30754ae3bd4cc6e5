"""The model registry on a local store: export registers a version (ONNX flavour, signature, the bundle and the
checkpoint with it), neurec-promote moves an alias, and the scorer and neurec-evaluate load models:/NAME@ALIAS."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.pipeline import run
from neurec.serving import Scorer
from neurec.serving.bundle import BundleError

NAME = "registry-test"


@pytest.fixture(scope="module")
def registered(tmp_path_factory, mlflow_store, compose_train):
    tmp = tmp_path_factory.mktemp("registry")
    cfg = compose_train([f"tracking.uri={mlflow_store['uri']}", f"tracking.artifact_location={mlflow_store['artifacts']}",
                         "tracking.experiment=registry", "export.register=true", f"export.registered_model_name={NAME}", "baselines=[]",
                         "trainer.epochs=1"], tmp)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    return run(*run_config(cfg)), mlflow_store, tmp


def test_export_registers_an_onnx_model_version_with_signature(registered, monkeypatch):
    from mlflow.tracking import MlflowClient

    result, store, _ = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    assert result.registered_version == f"{NAME}/1"
    client = MlflowClient(tracking_uri=store["uri"])
    version = client.get_model_version(NAME, "1")
    assert version.run_id == result.run_id
    import mlflow.models
    import mlflow.pyfunc

    info = mlflow.models.get_model_info(f"models:/{NAME}/1")
    assert "onnx" in info.flavors
    specs = {spec.name: spec for spec in info.signature.inputs.inputs}
    assert list(specs) == ["hist_items", "hist_types", "hist_gaps", "sum_items", "sum_feats", "candidates"]
    assert specs["sum_feats"].type == np.dtype("float32") and specs["sum_feats"].shape[0] == -1
    assert specs["candidates"].type == np.dtype("int64") and specs["candidates"].shape == (-1, -1)
    assert client.get_run(result.run_id).data.tags["neurec.registered_model"] == f"{NAME}/1"
    # The input example runs through the registered model as MLflow's own pyfunc loader serves it.
    from mlflow.artifacts import download_artifacts

    local = download_artifacts(f"models:/{NAME}/1")
    example = mlflow.models.Model.load(local).load_input_example(local)
    assert set(example) == set(specs) and example["sum_feats"].dtype == np.float32
    logits = mlflow.pyfunc.load_model(f"models:/{NAME}/1").predict(example)["logits"]
    assert logits.shape == (1, 2) and np.isfinite(logits).all()


def test_promote_then_load_champion_in_the_scorer(registered, tmp_path, capsys):
    from neurec.cli.promote import main as promote

    result, store, _ = registered
    assert promote([NAME, "1", "--alias", "champion", "--tracking-uri", store["uri"]]) == 0
    assert f"models:/{NAME}@champion -> version 1 (new alias)" in capsys.readouterr().out
    scorer = Scorer.from_bundle(f"models:/{NAME}@champion", tracking_uri=store["uri"])
    local = Scorer.from_bundle(result.bundle_dir)
    assert scorer.bundle.manifest == local.bundle.manifest
    assert scorer.bundle.training_run_id == result.run_id
    request = {"history": [], "placement": "cart"}
    assert scorer.recommend(request) == local.recommend(request)


def test_promote_refuses_a_missing_version(registered, capsys):
    from neurec.cli.promote import main as promote

    _, store, _ = registered
    with pytest.raises(SystemExit) as exc:
        promote([NAME, "9", "--tracking-uri", store["uri"]])
    assert exc.value.code == 2
    assert f"{NAME} version 9: not in the registry" in capsys.readouterr().err


def test_unknown_alias_and_bad_uri_are_clear_errors(registered):
    _, store, _ = registered
    with pytest.raises(BundleError, match="no alias @nope"):
        Scorer.from_bundle(f"models:/{NAME}@nope", tracking_uri=store["uri"])
    with pytest.raises(BundleError, match="expected models:/NAME@ALIAS"):
        Scorer.from_bundle("models:/", tracking_uri=store["uri"])


def test_a_tampered_cached_bundle_is_refused(registered, tmp_path, monkeypatch):
    from neurec.serving import registry

    _, store, _ = registered
    monkeypatch.setenv("NEUREC_CACHE", str(tmp_path / "cache"))
    folder = registry.resolve_bundle(f"models:/{NAME}/1", tracking_uri=store["uri"])
    rules = folder / "rules.json"
    rules.write_text(json.dumps({**json.loads(rules.read_text()), "top_k": 40}))
    with pytest.raises(BundleError, match="rules.json"):
        Scorer.from_bundle(f"models:/{NAME}/1", tracking_uri=store["uri"])


@pytest.mark.slow
def test_evaluate_a_registered_model(registered, tmp_path):
    import subprocess
    import sys

    result, store, _ = registered
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.evaluate", f"checkpoint=models:/{NAME}/1", f"tracking.uri={store['uri']}",
         f"tracking.artifact_location={store['artifacts']}", "data.simulator.n_customers=400",
         "data.simulator.days=60", "baselines=[]", f"hydra.run.dir={tmp_path / 'eval'}", f"paths.root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"evaluates training run {result.run_id}" in proc.stdout
