"""Reproducibility: the same config and data give the same metrics, and under trainer.deterministic the same bits
(weights, model.onnx), also across a stop and resume; every run records code, data and libraries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.cli.train import Stopped
from neurec.data.config import DataConfig
from neurec.data.prepare import prepare
from neurec.fsutil import sha256_file
from neurec.pipeline import build_model, run
from neurec.train import loop
from neurec.train.loop import fit
from neurec.provenance import data_fingerprint, git_state, provenance_tags


def _run(compose_train, tmp, store, experiment, extra=("baselines=[fbt]", "export.enabled=false", "trainer.num_threads=1")):
    cfg = compose_train([f"tracking.uri={store['uri']}", f"tracking.artifact_location={store['artifacts']}",
                         f"tracking.experiment={experiment}", *extra], tmp)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    return run(*run_config(cfg))


@pytest.fixture
def torch_state(monkeypatch):
    """trainer.deterministic sets process-wide torch state; the tests after these must not inherit it."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(strict)


def _same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key  # bit for bit, not approximately


@pytest.mark.slow
def test_deterministic_runs_give_bit_identical_checkpoints_and_onnx(tmp_path, mlflow_store, compose_train, torch_state):
    results = []
    for name, threads in (("a", 2), ("b", 1)):
        torch.set_num_threads(threads)  # what the machine would choose; deterministic pins it whatever it is
        results.append(_run(compose_train, tmp_path / name, mlflow_store, "deterministic",
                            ("baselines=[]", "export.registered_model_name=null", "trainer.deterministic=true")))
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    first, second = results
    for name in ("best.pt", "last.pt"):
        a, b = (torch.load(r.out_dir / "checkpoints" / name, weights_only=True) for r in results)
        _same_tensors(a["state_dict"], b["state_dict"])
        assert a.get("calibration") == b.get("calibration") and a["epoch"] == b["epoch"]
    _same_tensors(torch.load(first.out_dir / "checkpoints" / "last.pt", weights_only=True)["optimizer"]["state"][0],
                  torch.load(second.out_dir / "checkpoints" / "last.pt", weights_only=True)["optimizer"]["state"][0])
    for onnx in (Path("model.onnx"), Path("bundle") / "model.onnx"):
        assert sha256_file(first.out_dir / onnx) == sha256_file(second.out_dir / onnx), onnx
    for method, values in first.metrics.items():  # exactly, not to printed precision; only the timings differ
        assert {k: v for k, v in values.items() if "seconds" not in k} == \
               {k: v for k, v in second.metrics[method].items() if "seconds" not in k}, method


def test_a_stopped_then_resumed_deterministic_fit_ends_bit_identical(tmp_path, compose_train, torch_state, monkeypatch):
    """Stopped mid-epoch 2 the way SIGTERM stops neurec-train (a KeyboardInterrupt in the loop), then resumed from
    last.pt: the same weights, optimizer state and history as a run never stopped."""
    cfg = compose_train(["trainer.deterministic=true", "trainer.epochs=3", "trainer.batch_size=16", "tracking=none",
                         "optim.schedule=cosine", "model.dropout=0.2"], tmp_path)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, _ = run_config(cfg)
    data = prepare(run_cfg.data, tmp_path / "data")

    def fit_fresh(ckpt: Path, resume: bool = False):
        torch.manual_seed(run_cfg.seed)
        model = build_model(run_cfg.model, data)
        result = fit(model, data.train, data.valid, run_cfg.trainer, ckpt, negatives_end=data.vocab.trained_end,
                     optim=run_cfg.optim, resume=resume)
        return model, result

    whole, whole_fit = fit_fresh(tmp_path / "whole")
    per_epoch = sum(-(-size // run_cfg.trainer.batch_size) for size in data.train.shard_sizes)
    real, calls = loop.sample_negatives, []

    def stop_mid_epoch_2(*args):
        calls.append(1)
        if len(calls) == per_epoch + per_epoch // 2 + 1:
            raise Stopped
        return real(*args)

    monkeypatch.setattr(loop, "sample_negatives", stop_mid_epoch_2)
    with pytest.raises(Stopped):
        fit_fresh(tmp_path / "stopped")
    monkeypatch.undo()
    assert torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)["epoch"] == 1
    resumed, resumed_fit = fit_fresh(tmp_path / "stopped", resume=True)
    assert resumed_fit.resumed_from == 1 and resumed_fit.best_epoch == whole_fit.best_epoch
    _same_tensors(resumed.state_dict(), whole.state_dict())
    for name in ("best.pt", "last.pt"):
        a, b = (torch.load(d / name, weights_only=True) for d in (tmp_path / "whole", tmp_path / "stopped"))
        _same_tensors(a["state_dict"], b["state_dict"])
    a, b = (torch.load(d / "last.pt", weights_only=True) for d in (tmp_path / "whole", tmp_path / "stopped"))
    for key in a["optimizer"]["state"]:
        _same_tensors(a["optimizer"]["state"][key], b["optimizer"]["state"][key])
    drop = ("epoch_seconds", "examples_per_second")  # timings
    assert [{k: v for k, v in h.items() if k not in drop} for h in a["history"]] == \
           [{k: v for k, v in h.items() if k not in drop} for h in b["history"]]


@pytest.mark.slow
def test_same_config_and_data_give_the_same_metrics(tmp_path, mlflow_store, compose_train):
    from mlflow.tracking import MlflowClient

    first = _run(compose_train, tmp_path / "a", mlflow_store, "repro")
    second = _run(compose_train, tmp_path / "b", mlflow_store, "repro")
    for method, values in first.metrics.items():
        for key, value in values.items():
            if "seconds" not in key:
                assert second.metrics[method][key] == pytest.approx(value, abs=1e-6, nan_ok=True), (method, key)
    client = MlflowClient(tracking_uri=mlflow_store["uri"])
    tags = client.get_run(first.run_id).data.tags
    assert tags["neurec.data_fingerprint"] == client.get_run(second.run_id).data.tags["neurec.data_fingerprint"]
    for key in ("neurec.git_commit", "neurec.git_dirty", "neurec.version.torch", "neurec.version.mlflow",
                "neurec.version.python"):
        assert tags[key] and tags[key] != "not installed", key
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"config.yaml", "provenance.json"} <= artifacts
    info = json.loads((first.out_dir / "provenance.json").read_text())
    assert info["data"]["fingerprint"] == tags["neurec.data_fingerprint"]


def test_data_fingerprint_follows_content_and_preprocessing_not_paths(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "sub" / "b.csv"
    b.parent.mkdir()
    a.write_text("user_id,item_id\n1,2\n")
    b.write_text("user_id,item_id\n1,2\n")
    same = data_fingerprint(DataConfig(source="files", events_path=str(a)))["fingerprint"]
    assert data_fingerprint(DataConfig(source="files", events_path=str(b)))["fingerprint"] == same
    assert data_fingerprint(DataConfig(source="files", events_path=str(a), max_history=20))["fingerprint"] != same
    a.write_text("user_id,item_id\n1,3\n")
    assert data_fingerprint(DataConfig(source="files", events_path=str(a)))["fingerprint"] != same


def test_git_state_reads_commit_and_dirty_flag(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}  # not a checkout
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    (tmp_path / "f.txt").write_text("x")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env)
    clean = git_state(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] == "false"
    (tmp_path / "new.py").write_text("y")  # untracked counts: it can change what runs
    assert git_state(tmp_path)["git_dirty"] == "true"
    tags = provenance_tags({**clean, "data": {"fingerprint": "abc"}, "libraries": {"torch": "2.13"}})
    assert tags["neurec.git_commit"] == clean["git_commit"] and tags["neurec.version.torch"] == "2.13"
