"""Reproducibility: the same config and data give the same metrics; every run records code, data and libraries."""

from __future__ import annotations

import json
import subprocess

import pytest
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.data.config import DataConfig
from neurec.pipeline import run
from neurec.provenance import data_fingerprint, git_state, provenance_tags


def _run(compose_train, tmp, store, experiment):
    cfg = compose_train([f"tracking.uri={store['uri']}", f"tracking.artifact_location={store['artifacts']}",
                         f"tracking.experiment={experiment}", "baselines=[fbt]", "export.enabled=false",
                         "trainer.num_threads=1"], tmp)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    return run(*run_config(cfg))


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
