"""neurec-train: the Hydra app that trains, evaluates, exports and tracks one run (or a sweep with -m)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from neurec.cli.config import hydra_app, run_config
from neurec.cli.report import print_report


@hydra_app("neurec-train", "train")
def main(cfg: DictConfig) -> float:
    from neurec.pipeline import run
    from neurec.train.sweep import parent_run, record_trial

    run_cfg, resolved = run_config(cfg)
    hc = HydraConfig.get()
    parent = None
    if hc.mode == RunMode.MULTIRUN:
        from neurec.train.tracking import check_reachable

        check_reachable(run_cfg.tracking)
        parent = parent_run(run_cfg.tracking, Path(hc.sweep.dir), " ".join(["neurec-train", *sys.argv[1:]]))
        run_cfg = dataclasses.replace(run_cfg, parent_run_id=parent, run_name=trial_name(hc, sys.argv[1:]))
    result = run(run_cfg, resolved)
    print_report(result)
    if parent:
        record_trial(run_cfg.tracking, parent, result.run_id, f"valid_{run_cfg.trainer.monitor}",
                     result.fit.best_metric, hc.job.num)
    return result.fit.best_metric  # what a sweeper maximises: validation, never test


def trial_name(hc, argv: list[str]) -> str:
    """"trial 3: dim=32 lr=0.001": the trial number and the values of what the sweep varies, nothing else."""
    swept = {a.split("=", 1)[0] for a in argv if "=" in a and ("," in a.split("=", 1)[1] or "(" in a.split("=", 1)[1])}
    params = hc.sweeper.get("params") or {}
    swept |= set(params)
    values = [o for o in hc.overrides.task if o.split("=", 1)[0] in swept]
    short = " ".join(o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[1] for o in values)
    return f"trial {hc.job.num}: {short}".strip()[:250]


if __name__ == "__main__":
    main()
