"""Team mode: a real `mlflow server` (SQLite backend, artifact proxy, one worker) on 127.0.0.1. Train and
register against it, promote, then load models:/NAME@champion in a process without mlflow; stop it by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def server(tmp_path_factory, local_server):
    root = tmp_path_factory.mktemp("team")
    port = local_server.free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        local_server.wait_until_up(f"{uri}/health", proc, 120, "mlflow server")
        yield {"uri": uri, "root": root, "pid": proc.pid}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its worker, so none keeps the port
        proc.wait(timeout=30)


def _cli(name: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name(name)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_train_register_promote_and_serve_against_a_tracking_server(server, tmp_path):
    train = _cli("neurec-train", "debug=fast", "tracking.enabled=true", f"tracking.uri={server['uri']}",
                 "tracking.experiment=team", "export.register=true", "export.registered_model_name=team-model", "baselines=[fbt]",
                 f"paths.root_dir={tmp_path}", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "registered:  team-model/1" in train.stdout
    # the artifacts went through the server's proxy to its own store, not to a folder of this client
    assert list((server["root"] / "artifacts").rglob("manifest.json"))
    assert not (tmp_path / "mlruns").exists()

    promote = _cli("neurec-promote", "team-model", "1", "--alias", "champion", "--tracking-uri", server["uri"],
                   cwd=tmp_path)
    assert promote.returncode == 0 and "models:/team-model@champion -> version 1" in promote.stdout

    # A deployed scorer: neither mlflow nor torch may be loaded, the bundle comes over the REST API.
    probe = (
        "import sys, json\n"
        "from neurec.serving import Scorer\n"
        f"s = Scorer.from_bundle('models:/team-model@champion', tracking_uri={server['uri']!r})\n"
        "r = s.recommend({'history': [], 'placement': 'cart'})\n"
        "bad = [m for m in ('mlflow', 'torch', 'hydra') if m in sys.modules]\n"
        "print(json.dumps({'bad': bad, 'version': s.bundle.model_version, 'items': len(r['items'])}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NEUREC_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"bad": []' in proc.stdout
    assert list((tmp_path / "cache").rglob("manifest.json"))


def test_unreachable_server_stops_training_before_any_compute(tmp_path, local_server):
    port = local_server.free_port()  # nothing listens there
    start = time.monotonic()
    proc = _cli("neurec-train", f"tracking.uri=http://127.0.0.1:{port}", f"paths.root_dir={tmp_path}",
                f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"tracking.uri=http://127.0.0.1:{port}: no MLflow server answered" in proc.stderr
    assert "tracking=none" in proc.stderr  # says how to go on without a server
    assert not (tmp_path / "run" / "data").exists()  # no data was prepared
    assert time.monotonic() - start < 60
