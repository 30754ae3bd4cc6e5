"""Hyper-parameter search with Optuna: a search space from the config, a seeded TPE study, one training per trial.

The objective is what `neurec.pipeline.run` reports as the best validation metric (`trainer.monitor`); the test
period is never looked at to choose. Hydra-free: `neurec.cli.tune` builds each trial's config and passes a
function that trains it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurec.errors import ConfigError


@dataclass(frozen=True)
class TuneConfig:
    n_trials: int = 8
    n_startup_trials: int = 4  # random trials before TPE models the results
    timeout_minutes: float | None = None  # no new trial starts after this long
    seed: int = 42
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_trials < 1 or self.n_startup_trials < 0:
            raise ConfigError(f"tune.n_trials must be >= 1 and tune.n_startup_trials >= 0, got {self.n_trials}, "
                              f"{self.n_startup_trials}")
        if not self.params:
            raise ConfigError("tune.params: nothing to search; give e.g. tune.params.optim.lr: {low: 1e-4, high: 1e-2, log: true}")
        for key, spec in self.params.items():
            check_spec(key, spec)


def check_spec(key: str, spec: Any) -> None:
    where = f"tune.params.{key}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected {{choices: [...]}} or {{low: L, high: H[, log: true]}}, got {spec!r}")
    if "choices" in spec:
        if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ConfigError(f"{where}: choices must be a non-empty list, alone")
        return
    unknown = set(spec) - {"low", "high", "log"}
    if unknown or not {"low", "high"} <= set(spec):
        raise ConfigError(f"{where}: a range needs low and high (and optionally log), got {sorted(spec)}")
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or not low < high:
        raise ConfigError(f"{where}: low < high, both numbers, got low={low!r} high={high!r}")
    if spec.get("log") and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")


def suggest(trial, key: str, spec: dict[str, Any]) -> Any:
    """One value for `key`; whole-number bounds give an integer, any float bound a float."""
    if "choices" in spec:
        return trial.suggest_categorical(key, spec["choices"])
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(key, low, high, log=log)
    return trial.suggest_float(key, float(low), float(high), log=log)


@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    value: float
    run_id: str | None


def run_study(cfg: TuneConfig, train: Callable[[int, dict[str, Any]], tuple[float, str | None]],
              on_trial: Callable[[TrialResult], None] | None = None) -> tuple[Any, list[TrialResult]]:
    """Maximise `train(trial number, {dotted key: value})` -> (validation metric, MLflow run id or None)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # neurec logs each trial itself
    sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=cfg.n_startup_trials)
    study = optuna.create_study(direction="maximize", sampler=sampler, study_name="neurec")
    results: list[TrialResult] = []

    def objective(trial) -> float:
        params = {key: suggest(trial, key, spec) for key, spec in cfg.params.items()}
        value, run_id = train(trial.number, params)
        trial.set_user_attr("mlflow_run_id", run_id)
        result = TrialResult(trial.number, params, value, run_id)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
        return value if math.isfinite(value) else float("-inf")

    timeout = None if cfg.timeout_minutes is None else 60.0 * cfg.timeout_minutes
    study.optimize(objective, n_trials=cfg.n_trials, timeout=timeout, catch=())
    return study, results
