"""torchrun with two CPU processes (gloo) is one training: one run folder, one MLflow run, one checkpoint, one
bundle, one registered version, and the same validation curve as one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch built without gloo")

# Deterministic and without dropout: dropout masks are drawn per process, so with it two ranks cannot match one.
COMMON = ["debug=fast", "trainer.deterministic=true", "model.dropout=0", "trainer.batch_size=64", "trainer.epochs=3",
          "baselines=[own_recent]"]


def _train(tmp: Path, args: list[str], ranks: int = 1) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", "-m"] if ranks > 1 else [sys.executable, "-m"]
    proc = subprocess.run([*launch, "neurec.cli.train", *args], capture_output=True, text=True, timeout=300, cwd=tmp, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _curve(run: Path) -> list[float]:
    history = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["history"]
    return [h["valid_ndcg_at_10"] for h in history]


@pytest.mark.slow
def test_two_processes_train_one_model_like_one_process(tmp_path):
    from mlflow import MlflowClient

    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracked = ["tracking.enabled=true", f"tracking.uri={db}", "tracking.experiment=ddp", "export.register=true"]
    # Two ranks, stopped by the step budget after epoch 1 (4 steps of 64 over 206 decisions), then resumed.
    _train(tmp_path, [*COMMON, *tracked, f"paths.log_dir={tmp_path / 'ddp'}", "trainer.max_steps=4"], ranks=2)
    runs = list((tmp_path / "ddp" / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 wrote no folder of its own into the runs
    run = runs[0]
    assert len(_curve(run)) == 1
    _train(tmp_path, [f"resume={run}", "trainer.max_steps=null"], ranks=2)

    _train(tmp_path, [*COMMON, "tracking=none", f"paths.log_dir={tmp_path / 'one'}"])
    (single,) = list((tmp_path / "one" / "runs").iterdir())

    assert _curve(run) == pytest.approx(_curve(single), abs=1e-3)
    assert len(_curve(run)) == 3
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert (run / "bundle" / "model.onnx").is_file()
    client = MlflowClient(db)  # not mlflow.set_tracking_uri: a global that would leak into later tests
    experiment = client.get_experiment_by_name("ddp")
    found = client.search_runs([experiment.experiment_id], filter_string="tags.`neurec.method` = 'model'")
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    assert found[0].data.tags["neurec.resumed"] == "true"  # the resume continued the same MLflow run
    # Rank 0 registers once per launch that finishes (the budget stop, then the resume), rank 1 never.
    versions = client.search_model_versions("name='neurec'")
    assert len(versions) == 2 and {v.run_id for v in versions} == {found[0].info.run_id}
