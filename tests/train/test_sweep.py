"""Sweeps: `neurec-train -m` and the Optuna preset give one MLflow parent run with a child run per trial."""

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
    assert parent.data.tags["neurec.best_trial_run"] == best.info.run_id
    assert parent.data.metrics["trials"] == 2
    assert "-m" in parent.data.tags["neurec.sweep_command"]


@pytest.mark.slow
def test_optuna_preset_maximises_validation_ndcg(tmp_path, mlflow_store):
    proc = _sweep(tmp_path, mlflow_store, "optuna", "hparams_search=optuna", "hydra.sweeper.n_trials=3",
                  "hydra.sweeper.sampler.n_startup_trials=2")
    parent, children = _runs(mlflow_store, "optuna")
    assert len(children) == 3
    values = [c.data.metrics["best_valid_ndcg_at_10"] for c in children]
    assert parent.data.metrics["best_valid_ndcg_at_10"] == max(values)
    # the sweeper read the value each trial returned: its reported best is the best child's validation NDCG@10
    best_line = [line for line in proc.stderr.splitlines() + proc.stdout.splitlines() if "Best value" in line]
    assert best_line and float(best_line[-1].rsplit(":", 1)[1]) == pytest.approx(max(values))
    dims = {c.data.params["model.dim"] for c in children}
    assert dims <= {"32", "64", "96"}
