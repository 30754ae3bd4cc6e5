"""neurec-train: the Hydra app that trains, evaluates, exports and tracks one run (or a sweep with -m)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from neurec.cli.config import config_dir, friendly_errors, run_config
from neurec.cli.report import print_report


@hydra.main(config_path=config_dir(), config_name="train", version_base="1.3")
@friendly_errors("neurec-train")
def main(cfg: DictConfig) -> float:
    from neurec.pipeline import run

    run_cfg, resolved = run_config(cfg)
    result = run(run_cfg, resolved)
    print_report(result)
    return result.fit.best_metric  # what a sweeper maximises


if __name__ == "__main__":
    main()
