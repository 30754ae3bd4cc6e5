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
