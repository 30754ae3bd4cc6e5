"""Faults during training: a stop (SIGTERM from a scheduler, Ctrl-C) marks the MLflow run KILLED, keeps last.pt
and says how to resume; two trainings creating one fresh SQLite store together both succeed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from neurec.cli.config_checks import check_train_config
from neurec.cli.train import Stopped, stop_message
from neurec.errors import ConfigError
from neurec.train import loop
from neurec.train.tracking import ending

# ~200 training decisions: an epoch well under a second; epochs to spare, so the stop lands inside training.
EPOCHS = 12
TINY = ["data.simulator.n_customers=400", "data.simulator.days=60", f"trainer.epochs={EPOCHS}", f"trainer.patience={EPOCHS}",
        "trainer.batch_size=16", "trainer.num_threads=1", "trainer.progress=false", "baselines=[]",
        "export.enabled=false", "export.registered_model_name=null"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _written_before(run_dir: Path) -> dict[str, str]:
    """What the run wrote before training: it must come out of the stop byte for byte as it was."""
    files = [run_dir / "config.yaml", run_dir / "provenance.json", *sorted((run_dir / "data").rglob("*"))]
    return {str(p.relative_to(run_dir)): _sha(p) for p in files if p.is_file()}


def _wait_for_epoch(proc: subprocess.Popen, run_dir: Path, client, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be stopped"
        state = run_dir / "run.json"
        if (run_dir / "checkpoints" / "last.pt").is_file() and state.is_file():
            if client.get_metric_history(json.loads(state.read_text())["mlflow_run_id"], "train_loss"):
                return
        time.sleep(0.05)
    raise AssertionError("epoch 1 never finished")


def _default_sigint() -> None:
    # A child started from a shell's background job inherits SIGINT ignored; Ctrl-C reaches a foreground one.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, how", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_stopped_training_is_killed_keeps_last_pt_and_says_how_to_resume(tmp_path, mlflow_store, sig, code, how):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store["uri"])
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "neurec.cli.train", *TINY, f"paths.root_dir={tmp_path}", f"hydra.run.dir={run_dir}",
           f"tracking.uri={mlflow_store['uri']}", f"tracking.artifact_location={mlflow_store['artifacts']}",
           "tracking.experiment=faults"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        _wait_for_epoch(proc, run_dir, client)
        before = _written_before(run_dir)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr[-3000:]
    run_id = json.loads((run_dir / "run.json").read_text())["mlflow_run_id"]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert lines[0].startswith(f"neurec-train: stopped by {how}; ")
    assert f"MLflow run {run_id} marked KILLED" in lines[0] and f"resume={run_dir}" in lines[0]
    assert client.get_run(run_id).info.status == "KILLED"

    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert 0 <= best["epoch"] <= last["epoch"] < EPOCHS and "optimizer" in last  # 0: the untrained model
    assert f"(epoch {last['epoch']}) kept" in lines[0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]  # no .tmp left
    assert _written_before(run_dir) == before
    if sig != signal.SIGTERM:
        return
    resume = lines[0].rsplit("continue with: ", 1)[1].split()  # the command the message gives, as given
    assert resume[0] == "neurec-train"
    done = subprocess.run([sys.executable, "-m", "neurec.cli.train", *resume[1:]], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed after epoch {last['epoch']}" in done.stdout
    assert client.get_run(run_id).info.status == "FINISHED"


def _store_child(uri: str, go: Path, ready: Path) -> list[str]:
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from neurec.train.tracking import Tracker, TrackingConfig
        import mlflow.tracking  # the slow imports before the start line, so both open the store together
        Path({str(ready)!r}).touch()
        while not Path({str(go)!r}).exists():
            time.sleep(0.002)
        tracker = Tracker(TrackingConfig(uri={uri!r}, artifact_location={str(go.parent / 'artifacts')!r},
                                         experiment="fresh"))
        tracker.end()
        print(tracker.experiment_id, tracker.run_id)
    """)
    return [sys.executable, "-c", code]


@pytest.mark.slow
def test_two_trainings_creating_one_fresh_sqlite_store_together_both_succeed(tmp_path):
    uri, go = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(3)]
    procs = [subprocess.Popen(_store_child(uri, go, r), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in ready]
    try:
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a child died starting"
            time.sleep(0.01)
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    experiments = {out.split()[0] for out, _ in outs}
    runs = {out.split()[1] for out, _ in outs}
    assert len(experiments) == 1 and len(runs) == 3  # one experiment, created once; every run recorded
    assert (tmp_path / "store" / "mlflow.db.lock").is_file()


class _Recorder:
    def __init__(self) -> None:
        self.status: list[str] = []

    def end(self, status: str = "FINISHED") -> None:
        self.status.append(status)


@pytest.mark.parametrize("raised, status", [(None, "FINISHED"), (KeyboardInterrupt, "KILLED"), (Stopped, "KILLED"),
                                            (ValueError, "FAILED"), (MemoryError, "FAILED"), (SystemExit, "FAILED")])
def test_a_run_ends_killed_when_stopped_and_failed_on_an_error(raised, status):
    tracker = _Recorder()
    if raised is None:
        with ending(tracker):
            pass
    else:
        with pytest.raises(raised), ending(tracker):
            raise raised()
    assert tracker.status == [status]


def test_the_stop_message_says_what_is_kept_and_how_to_continue(tmp_path):
    assert "before the first epoch finished; nothing to resume" in stop_message(Stopped(), tmp_path)
    (tmp_path / "checkpoints").mkdir()
    loop.save_atomic({"epoch": 3}, tmp_path / "checkpoints" / "last.pt")
    text = stop_message(KeyboardInterrupt(), tmp_path)
    assert text.startswith("stopped by Ctrl-C; ") and "(epoch 3) kept;" in text and "MLflow" not in text
    assert text.endswith(f"continue with: neurec-train resume={tmp_path.resolve()}")
    (tmp_path / "run.json").write_text(json.dumps({"mlflow_run_id": "abc123"}))
    assert "stopped by SIGTERM; " in stop_message(Stopped(), tmp_path)
    assert "MLflow run abc123 marked KILLED" in stop_message(Stopped(), tmp_path)
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")  # the message still comes out
    assert "last.pt kept" in stop_message(Stopped(), tmp_path)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Stopped])
def test_a_stop_while_writing_a_checkpoint_keeps_the_previous_one_and_no_tmp(tmp_path, monkeypatch, stop):
    path = tmp_path / "last.pt"
    loop.save_atomic({"epoch": 1}, path)

    def interrupted(obj, f):
        Path(f).write_bytes(b"half")
        raise stop()

    monkeypatch.setattr(loop.torch, "save", interrupted)
    with pytest.raises(stop):
        loop.save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1} and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("value", ["maybe", "1", "null", "'true'", "[true]"])
def test_trainer_deterministic_takes_only_true_or_false(tmp_path, compose_train, value):
    with pytest.raises(ConfigError) as err:
        check_train_config(compose_train([f"trainer.deterministic={value}"], tmp_path))
    assert "trainer.deterministic=" in str(err.value) and "expected true or false" in str(err.value)
    assert check_train_config(compose_train(["trainer.deterministic=true"], tmp_path))["trainer"]["deterministic"]


def test_trainer_deterministic_maybe_exits_2_from_the_cli(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "neurec.cli.train", "trainer.deterministic=maybe", "tracking=none",
                           f"hydra.run.dir={tmp_path / 'run'}", f"paths.root_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "trainer.deterministic=maybe: expected true or false" in proc.stderr
