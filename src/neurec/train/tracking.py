"""Experiment tracking. The only module outside cli/ that imports mlflow, so nothing else depends on it."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_location: str | None = "mlruns/artifacts"  # local folder for new experiments; None = MLflow's default
    experiment: str = "neurec"


# MLflow 3's UI opens an experiment on its GenAI pages (traces, token usage) unless the experiment says it holds
# model training; this tag is what the UI reads.
EXPERIMENT_KIND = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
# Config keys that say where this machine keeps things, not what was trained: never params.
_MACHINE_KEYS = ("paths.", "tracking.uri", "tracking.artifact_location", "hydra.", "resume")


def run_params(resolved: dict) -> dict[str, object]:
    """The resolved config as MLflow params: flat, without `_target_` entries (class paths, not settings) or
    machine paths; a data file is named by its file name alone, so runs from two machines compare equal."""
    out = {}
    for key, value in flatten(resolved).items():
        if key.endswith("_target_") or key.startswith(_MACHINE_KEYS):
            continue
        if key.endswith(("_path", "_dir")) and isinstance(value, str) and value:
            value = Path(value).name
        out[key] = value
    return out


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


def check_reachable(cfg: TrackingConfig, timeout: float = 5.0) -> None:
    """For a tracking server, one quick request before any data is read or any epoch trained.

    MLflow's own client retries with back-off for minutes before it gives up; a typo in the URI should cost
    seconds and say what to do instead.
    """
    if not cfg.enabled or not cfg.uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    from neurec.errors import ConfigError

    try:
        with urllib.request.urlopen(cfg.uri.rstrip("/") + "/health", timeout=timeout) as resp:
            resp.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"tracking.uri={cfg.uri}: no MLflow server answered ({reason}). Start one (see docs/experiments.md, "
            f"'Team server' section), check the host and port, or train without a server: "
            f"tracking=mlflow with the default local store, or tracking=none"
        ) from None


def artifact_location(cfg: TrackingConfig) -> str | None:
    """Where a new experiment keeps its artifacts. A plain folder only makes sense for a local store: against a
    tracking server it would be a path on this machine that nobody else can read, so the server decides (its
    artifact proxy, `--artifacts-destination`) unless the config names a URI such as s3://bucket/neurec."""
    where = cfg.artifact_location
    if not where:
        return None
    if "://" in where:
        return where
    if cfg.uri.startswith(("http://", "https://")):
        return None
    return Path(where).resolve().as_uri()


def store_lock(uri: str) -> contextlib.AbstractContextManager[None]:
    """For a local SQLite store, a lock on `<db>.lock` beside it; no lock for anything else.

    MLflow creates a missing SQLite store by running every alembic migration, unguarded: two trainings started
    together both see an empty file, both migrate, and one dies on a table the other just made. Under the lock the
    second finds the store (and the experiment) already made.
    """
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ""
    if not path or path.startswith(":memory:"):
        return contextlib.nullcontext()
    from neurec.fsutil import locked

    db = Path(path)
    db.parent.mkdir(parents=True, exist_ok=True)
    return locked(db.with_name(db.name + ".lock"))


@contextlib.contextmanager
def ending(tracker: Tracker | NullTracker) -> Iterator[Tracker | NullTracker]:
    """End the run however the block ends: FINISHED; KILLED when stopped (Ctrl-C, or SIGTERM, which the CLI turns
    into the same KeyboardInterrupt), so a stopped run is never left RUNNING; FAILED on any other error.

    MLflow's own `with mlflow.start_run()` marks a Ctrl-C FAILED; a stop is not a failure of the run, and KILLED
    is the status MLflow has for it.
    """
    try:
        yield tracker
    except KeyboardInterrupt:
        tracker.end("KILLED")
        raise
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end()


class Tracker:
    """One MLflow run. Uses an explicit client, so several runs in one process never share global state.

    `run_id` reopens an existing run (a resumed training run continues its own page); `parent_run_id` nests the
    new run under a sweep's parent run in the MLflow UI.
    """

    def __init__(self, cfg: TrackingConfig, run_name: str | None = None, tags: dict[str, str] | None = None,
                 run_id: str | None = None, parent_run_id: str | None = None):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network here; don't wait on it
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a progress bar per bundle file
        from mlflow.tracking import MlflowClient

        self.uri = cfg.uri
        with store_lock(cfg.uri):  # opening the store creates and migrates a new SQLite file
            self.client = MlflowClient(tracking_uri=cfg.uri)
            exp = self.client.get_experiment_by_name(cfg.experiment)
            if exp is None:
                exp_id = self.client.create_experiment(cfg.experiment, artifact_location=artifact_location(cfg),
                                                       tags={EXPERIMENT_KIND: TRAINING_KIND})
            else:
                exp_id = exp.experiment_id
                if exp.tags.get(EXPERIMENT_KIND) is None:  # made by an older neurec or by hand: say what it holds
                    self.client.set_experiment_tag(exp_id, EXPERIMENT_KIND, TRAINING_KIND)
        self.experiment_id = exp_id
        tags = dict(tags or {})
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        if run_id:
            self.client.update_run(run_id, status="RUNNING")
            self.run = self.client.get_run(run_id)
            self.set_tags_on(run_id, tags)
        else:
            self.run = self.client.create_run(exp_id, run_name=run_name, tags=tags)
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
        self.set_tags_on(self.run_id, tags)

    def set_tags_on(self, run_id: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(run_id, k, str(v))

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


def make_tracker(cfg: TrackingConfig, run_name: str | None = None, tags: dict[str, str] | None = None,
                 run_id: str | None = None, parent_run_id: str | None = None) -> Tracker | NullTracker:
    return Tracker(cfg, run_name, tags, run_id, parent_run_id) if cfg.enabled else NullTracker()


def log_figure(tracker: Tracker | NullTracker, figure, artifact_file: str) -> None:
    """A matplotlib figure as an image artifact; closed afterwards so long sweeps don't pile up figures."""
    import matplotlib.pyplot as plt

    if isinstance(tracker, Tracker):
        tracker.client.log_figure(tracker.run_id, figure, artifact_file)
    plt.close(figure)
