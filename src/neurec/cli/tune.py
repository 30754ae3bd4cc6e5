"""neurec-tune: hyper-parameter search with Optuna over the train config, one tracked training per trial.

Every trial trains in its own folder under the search's folder and becomes a child MLflow run under one parent
run, which keeps the best validation metric so far. At the end the search writes `study.json` (every trial's
values, metric and run) and prints the best values as overrides to train the winner with.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from neurec.cli.config import hydra_app, output_dir, run_config

PROG = "neurec-tune"


@hydra_app(PROG, "tune")
def main(cfg: DictConfig) -> float:
    from neurec.train.tune import TuneConfig, run_study

    OmegaConf.set_struct(cfg, False)
    tune_node = cfg.pop("tune")
    tune = TuneConfig(**{**OmegaConf.to_container(tune_node, resolve=True), "seed": int(cfg.seed)})
    out = output_dir(cfg)
    run_cfg, _ = run_config(cfg, out)  # the whole config checked once, before the first trial
    parent = _parent(run_cfg, out)
    monitor = f"valid_{run_cfg.trainer.monitor}"

    def train(number: int, values: dict) -> tuple[float, str | None]:
        from neurec.pipeline import run
        from neurec.train.sweep import record_trial

        trial_cfg = cfg.copy()
        for key, value in values.items():
            OmegaConf.update(trial_cfg, key, value, force_add=True)
        short = " ".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in values.items())
        trial_run, resolved = run_config(trial_cfg, out / f"trial_{number}")
        trial_run = dataclasses.replace(trial_run, parent_run_id=parent, run_name=f"trial {number}: {short}"[:250])
        result = run(trial_run, resolved)
        if parent:
            record_trial(trial_run.tracking, parent, result.run_id, monitor, result.fit.best_metric, number)
        print(f"{PROG}: trial {number}: {short} -> {monitor} {result.fit.best_metric:.4f}", flush=True)
        return result.fit.best_metric, result.run_id

    study, results = run_study(tune, train)
    best = study.best_trial
    summary = {"direction": "maximize", "metric": monitor, "best_trial": best.number, "best_value": best.value,
               "best_params": best.params,
               "trials": [dataclasses.asdict(r) for r in results]}
    (out / "study.json").write_text(json.dumps(summary, indent=1) + "\n")
    if parent:
        from neurec.train.tracking import Tracker

        tracker = Tracker(run_cfg.tracking, run_id=parent)
        tracker.log_artifact(out / "study.json")
        tracker.end()
    overrides = " ".join(f"{k}={v}" for k, v in best.params.items())
    print(f"{PROG}: best trial {best.number}: {monitor} {best.value:.4f}\n"
          f"{PROG}: train it with: neurec-train {overrides}\n{PROG}: all trials: {out / 'study.json'}")
    return float(best.value)


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _parent(run_cfg, out: Path) -> str | None:
    from neurec.train.sweep import parent_run
    from neurec.train.tracking import check_reachable

    check_reachable(run_cfg.tracking)
    return parent_run(run_cfg.tracking, out, " ".join([PROG, *sys.argv[1:]]))


if __name__ == "__main__":
    main()
