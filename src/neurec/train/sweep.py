"""Sweeps in MLflow: one parent run per Hydra multirun, every trial a child run nested under it.

Hydra launches the trials one after another in one process (or in several, with another launcher), so the
parent's id is kept in a file in the sweep folder: the first trial creates the parent, later ones find it.
After each trial the parent records the best validation metric so far and which trial reached it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from neurec.train.tracking import Tracker, TrackingConfig

PARENT_FILE = "mlflow_parent_run.json"


def parent_run(cfg: TrackingConfig, sweep_dir: Path, command: str) -> str | None:
    """The sweep's parent run id, created on the first call for `sweep_dir`."""
    if not cfg.enabled:
        return None
    state = sweep_dir / PARENT_FILE
    if state.is_file():
        return json.loads(state.read_text())["run_id"]
    parent = Tracker(cfg, run_name=f"sweep {sweep_dir.name}",
                     tags={"neurec.sweep": "parent", "neurec.sweep_dir": str(sweep_dir), "neurec.sweep_command": command})
    parent.end()  # not RUNNING between trials: a sweep killed half-way leaves a finished parent with its trials
    sweep_dir.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"run_id": parent.run_id, "tracking_uri": cfg.uri}) + "\n")
    return parent.run_id


def record_trial(cfg: TrackingConfig, parent_id: str, child_id: str | None, metric: str, value: float,
                 trial: int) -> None:
    """Keep the parent's best-so-far metric, the winning trial and the trial count up to date."""
    if child_id is None:
        return
    parent = Tracker(cfg, run_id=parent_id)
    try:
        current = parent.client.get_run(parent_id).data.metrics
        best = current.get(f"best_{metric}", -math.inf)
        parent.log_metrics({"trials": current.get("trials", 0) + 1}, step=trial)
        if math.isfinite(value) and value > best:
            parent.log_metrics({f"best_{metric}": value}, step=trial)
            parent.set_tags({"neurec.best_trial_run": child_id, "neurec.best_trial": str(trial)})
    finally:
        parent.end()
