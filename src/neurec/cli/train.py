"""neurec-train: the Hydra app that trains, evaluates, exports and tracks one run (or a sweep with -m)."""

from __future__ import annotations

import atexit
import dataclasses
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from neurec.cli.config import hydra_app, output_dir, run_config
from neurec.cli.report import print_report
from neurec.train.stopping import clear, request


PROG = "neurec-train"


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C's KeyboardInterrupt is, so every cleanup treats a scheduler's stop like a user's."""


def _on_sigterm(signum, frame) -> None:
    # Once: a second SIGTERM must not cut short the cleanup the first started (the run's status, the checkpoint).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise request(Stopped())


def _on_sigint(signum, frame) -> None:
    raise request(KeyboardInterrupt())


def main() -> float | None:
    """The console entry point. Under torchrun, ranks other than 0 get a throw-away Hydra folder: rank 0's run
    folder is the run's, and two processes writing their config and log into it would clobber each other."""
    from neurec.train.distributed import env_rank

    if env_rank() > 0 and not any(a.startswith("hydra.run.dir=") for a in sys.argv[1:]):
        tmp = tempfile.mkdtemp(prefix=f"neurec-rank{env_rank()}-")
        atexit.register(shutil.rmtree, tmp, True)
        sys.argv += [f"hydra.run.dir={tmp}", "hydra.output_subdir=null"]
    return hydra_main()


@hydra_app(PROG, "train")
def hydra_main(cfg: DictConfig) -> float | None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where Ctrl-C is ignored on purpose
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        return _train(cfg)
    except KeyboardInterrupt as exc:
        clear()
        out = Path(cfg.resume) if cfg.get("resume") else output_dir(cfg)
        print(f"{PROG}: {stop_message(exc, out)}", file=sys.stderr)
        sys.exit(143 if isinstance(exc, Stopped) else 130)  # 128 + the signal, as a shell reports it


def stop_message(exc: KeyboardInterrupt, out: Path) -> str:
    """One line: what stopped the run, what is kept, and the command that continues it."""
    how = "stopped by SIGTERM" if isinstance(exc, Stopped) else "stopped by Ctrl-C"
    last = out / "checkpoints" / "last.pt"
    if not last.is_file():
        return f"{how} before the first epoch finished; nothing to resume, start the run again"
    try:
        import torch

        epoch = f" (epoch {int(torch.load(last, map_location='cpu', weights_only=True)['epoch'])})"
    except Exception:  # noqa: BLE001 - only a detail of the message; resume itself reports an unreadable file
        epoch = ""
    run = _mlflow_run(out)
    kept = f"{last}{epoch} kept" + (f", MLflow run {run} marked KILLED" if run else "")
    return f"{how}; {kept}; continue with: {PROG} resume={out.resolve()}"


def _mlflow_run(out: Path) -> str | None:
    from neurec.pipeline import RUN_STATE

    try:
        return json.loads((out / RUN_STATE).read_text()).get("mlflow_run_id")
    except (OSError, ValueError, AttributeError):
        return None


def _train(cfg: DictConfig) -> float | None:
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
    if result is None:  # a torchrun rank other than 0: rank 0 reports the run
        return None
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
