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
def online_retail_csv(tmp_path_factory) -> Path:
    """The real invoices of ../shared/data, decompressed once per test session; skips where the folder is absent
    (it is not part of a user's clone)."""
    import gzip
    import shutil

    gz = SHARED_DATA / "online_retail" / "OnlineRetail.csv.gz"
    if not gz.exists():
        pytest.skip(f"{gz} is absent (../shared/data is not part of a user's clone)")
    plain = tmp_path_factory.mktemp("online_retail") / "OnlineRetail.csv"
    with gzip.open(gz, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return plain


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
