"""Experiment tracking. The only module outside cli/ that imports mlflow, so nothing else depends on it."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_location: str | None = "mlruns/artifacts"  # local folder for new experiments; None = MLflow's default
    experiment: str = "neurec"


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{'model': {'dim': 64}} -> {'model.dim': 64}: MLflow params are flat."""
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class Tracker:
    """One MLflow run. Uses an explicit client, so several runs in one process never share global state."""

    def __init__(self, cfg: TrackingConfig, run_name: str | None = None, tags: dict[str, str] | None = None):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network here; don't wait on it
        from mlflow.tracking import MlflowClient

        if cfg.uri.startswith("sqlite:///"):
            Path(cfg.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.uri = cfg.uri
        self.client = MlflowClient(tracking_uri=cfg.uri)
        exp = self.client.get_experiment_by_name(cfg.experiment)
        if exp is None:
            location = Path(cfg.artifact_location).resolve().as_uri() if cfg.artifact_location else None
            exp_id = self.client.create_experiment(cfg.experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        self.experiment_id = exp_id
        self.run = self.client.create_run(exp_id, run_name=run_name, tags=tags or {})
        self.run_id = self.run.info.run_id
        self.artifact_uri = self.run.info.artifact_uri

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], str(v)[:6000]) for k, v in flatten(params).items()]
        for lo in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(self.run_id, params=items[lo : lo + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for lo in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[lo : lo + 1000])

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if Path(path).is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class NullTracker:
    """Tracking switched off (tracking.enabled=false): same calls, nothing stored."""

    run_id = None
    artifact_uri = None
    uri = None

    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def end(self, status: str = "FINISHED") -> None: ...


def make_tracker(cfg: TrackingConfig, run_name: str | None = None, tags: dict[str, str] | None = None) -> Tracker | NullTracker:
    return Tracker(cfg, run_name, tags) if cfg.enabled else NullTracker()


def log_figure(tracker: Tracker | NullTracker, figure, artifact_file: str) -> None:
    """A matplotlib figure as an image artifact; closed afterwards so long sweeps don't pile up figures."""
    import matplotlib.pyplot as plt

    if isinstance(tracker, Tracker):
        tracker.client.log_figure(tracker.run_id, figure, artifact_file)
    plt.close(figure)
