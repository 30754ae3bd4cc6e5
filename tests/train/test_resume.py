"""Checkpoint and resume: a training run killed with SIGKILL mid-epoch and resumed ends exactly where an
uninterrupted run ends, in the same MLflow run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

EPOCHS = 4
# ~1,000 purchase decisions at batch 8: an epoch takes a second or two, long enough to be killed inside.
COMMON = ["data.simulator.n_customers=1500", "data.simulator.days=60", f"trainer.epochs={EPOCHS}",
          "trainer.batch_size=8", "trainer.num_threads=1", "trainer.patience=10", "trainer.progress=false",
          "baselines=[]", "export.registered_model_name=null"]


def _cmd(tmp: Path, store: dict, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "neurec.cli.train", *COMMON, f"paths.root_dir={tmp}", f"hydra.run.dir={run_dir}",
            f"tracking.uri={store['uri']}", f"tracking.artifact_location={store['artifacts']}",
            "tracking.experiment=resume", *extra]


def _run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["mlflow_run_id"]


def _wait_for_first_epoch(proc: subprocess.Popen, run_dir: Path, client, timeout: float = 180) -> None:
    """Until epoch 1 is checkpointed and logged; the kill then lands inside epoch 2."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        if (run_dir / "checkpoints" / "last.pt").is_file() and (run_dir / "run.json").is_file():
            if client.get_metric_history(_run_id(run_dir), "train_loss"):
                return
        time.sleep(0.05)
    raise AssertionError("epoch 1 never finished")


def test_killed_run_resumes_to_the_same_metrics(tmp_path, mlflow_store):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store["uri"])
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(_cmd(tmp_path, mlflow_store, reference), check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(_cmd(tmp_path, mlflow_store, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_first_epoch(proc, killed, client)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert 1 <= stopped_at < EPOCHS and not (killed / "bundle").exists()
    run_id = _run_id(killed)
    assert client.get_run(run_id).info.status == "RUNNING"  # what a kill leaves behind

    done = subprocess.run([sys.executable, "-m", "neurec.cli.train", f"resume={killed}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed after epoch {stopped_at}" in done.stdout

    assert _run_id(killed) == run_id  # the same MLflow run continued
    resumed, ref = client.get_run(run_id), client.get_run(_run_id(reference))
    assert resumed.info.status == "FINISHED" and resumed.data.tags["neurec.resumed"] == "true"
    test_keys = [k for k in ref.data.metrics
                 if k.startswith(("test_", "best_valid", "calibration_")) and "seconds" not in k]
    assert len(test_keys) > 10
    for key in test_keys:
        assert resumed.data.metrics[key] == pytest.approx(ref.data.metrics[key], abs=1e-6), key
    history = {m.step: m.value for m in client.get_metric_history(run_id, "valid_ndcg_at_10")}
    expected = {m.step: m.value for m in client.get_metric_history(ref.info.run_id, "valid_ndcg_at_10")}
    assert history == pytest.approx(expected, abs=1e-6) and sorted(history) == list(range(1, EPOCHS + 1))


def test_resume_refuses_other_overrides_and_a_folder_without_checkpoint(tmp_path):
    base = [sys.executable, "-m", "neurec.cli.train"]
    proc = subprocess.run([*base, f"resume={tmp_path}", "model.dim=8"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2 and "drop model.dim=8" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*base, f"resume={tmp_path / 'nope'}"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2 and "no config.yaml there" in proc.stderr
