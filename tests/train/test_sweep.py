"""Sweeps: `neurec-train -m` and `neurec-tune` (Optuna) give one MLflow parent run with a child run per trial."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SMALL = ["data.simulator.n_customers=300", "data.simulator.days=60", "trainer.epochs=1", "trainer.progress=false",
         "baselines=[]", "export.enabled=false"]


def _sweep(tmp: Path, store: dict, experiment: str, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "neurec.cli.train", "-m", *SMALL, f"paths.root_dir={tmp}",
           f"hydra.sweep.dir={tmp / 'sweep'}", f"tracking.uri={store['uri']}",
           f"tracking.artifact_location={store['artifacts']}", f"tracking.experiment={experiment}", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _runs(store: dict, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store["uri"])
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("neurec.sweep") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, children


@pytest.mark.slow
def test_grid_sweep_nests_every_trial_under_one_parent(tmp_path, mlflow_store):
    _sweep(tmp_path, mlflow_store, "grid", "model.dim=16,32", "optim.lr=0.001")
    parent, children = _runs(mlflow_store, "grid")
    assert sorted(c.data.params["model.dim"] for c in children) == ["16", "32"]
    assert {c.data.params["optim.lr"] for c in children} == {"0.001"}
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.info.run_name for c in children) == ["trial 0: dim=16", "trial 1: dim=32"]
    best = max(children, key=lambda c: c.data.metrics["best_valid_ndcg_at_10"])
    assert parent.data.metrics["best_valid_ndcg_at_10"] == best.data.metrics["best_valid_ndcg_at_10"]
    # Trials can tie (both may keep their untrained epoch 0): the tagged one holds the best figure.
    tagged = next(c for c in children if c.info.run_id == parent.data.tags["neurec.best_trial_run"])
    assert tagged.data.metrics["best_valid_ndcg_at_10"] == best.data.metrics["best_valid_ndcg_at_10"]
    assert parent.data.metrics["trials"] == 2
    assert "-m" in parent.data.tags["neurec.sweep_command"]


@pytest.mark.slow
def test_tune_searches_with_optuna_under_one_parent_and_names_the_winner(tmp_path, mlflow_store):
    import json

    cmd = [sys.executable, "-m", "neurec.cli.tune", *SMALL, f"paths.root_dir={tmp_path}",
           f"hydra.run.dir={tmp_path / 'tune'}", f"tracking.uri={mlflow_store['uri']}",
           f"tracking.artifact_location={mlflow_store['artifacts']}", "tracking.experiment=tune",
           "tune.n_trials=3", "tune.n_startup_trials=2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = _runs(mlflow_store, "tune")
    assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)
    values = [c.data.metrics["best_valid_ndcg_at_10"] for c in children]
    assert parent.data.metrics["best_valid_ndcg_at_10"] == max(values)
    study = json.loads((tmp_path / "tune" / "study.json").read_text())
    assert [t["number"] for t in study["trials"]] == [0, 1, 2]
    assert study["best_value"] == pytest.approx(max(values))  # Optuna maximised what each trial's run reports
    for trial in study["trials"]:
        child = next(c for c in children if c.info.run_id == trial["run_id"])
        assert child.data.params["model.dim"] == str(trial["params"]["model.dim"]) and trial["params"]["model.dim"] in (32, 64, 96)
        assert 3e-4 <= trial["params"]["optim.lr"] <= 5e-3 and 0.0 <= trial["params"]["model.dropout"] <= 0.4
        assert (tmp_path / "tune" / f"trial_{trial['number']}" / "checkpoints" / "best.pt").is_file()
    assert "train it with: neurec-train model.dim=" in proc.stdout


def test_tune_refuses_a_bad_search_space():
    from neurec.errors import ConfigError
    from neurec.train.tune import TuneConfig

    for params, message in (({}, "nothing to search"), ({"optim.lr": {"low": 1e-2, "high": 1e-4}}, "low < high"),
                            ({"optim.lr": {"low": 0.0, "high": 1.0, "log": True}}, "log range needs low > 0"),
                            ({"model.dim": {"choices": []}}, "non-empty list"), ({"model.dim": 64}, "expected {choices")):
        with pytest.raises(ConfigError, match=message):
            TuneConfig(params=params)
