"""Shared fixtures: one MLflow store per test session (a new SQLite store costs seconds of migrations)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from neurec.cli.config import config_dir

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """Registered bundles fetched by tests land here, never in the home folder's cache."""
    path = tmp_path_factory.mktemp("neurec-cache")
    os.environ["NEUREC_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    return {"uri": f"sqlite:///{root / 'mlflow.db'}", "artifacts": str(root / "artifacts"), "root": str(root)}


@pytest.fixture(scope="session")
def compose_train():
    return _compose_train


def _compose_train(overrides: list[str], tmp_path: Path):
    """The real train config, shrunk: a small shop, few epochs, outputs under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path / 'out'}",
                "hydra.runtime.output_dir=" + str(tmp_path / "out"),
                *([] if any(o.startswith("data=") for o in overrides) else ["data.simulator.n_customers=400", "data.simulator.days=60"]),
                "trainer.epochs=2",
                "trainer.progress=false",
                *overrides,
            ],
        )
    GlobalHydra.instance().clear()
    return cfg


class LocalServer:
    """Helpers for tests that start a real server process on 127.0.0.1."""

    @staticmethod
    def free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @staticmethod
    def wait_until_up(url: str, proc, timeout: float, what: str) -> None:
        """Poll `url` until it answers, failing early if the process exits."""
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                assert proc.poll() is None, f"{what} exited"
                assert time.monotonic() < deadline, f"{what} did not answer within {timeout:.0f} s"
                time.sleep(0.5)


@pytest.fixture(scope="session")
def local_server() -> type[LocalServer]:
    return LocalServer
