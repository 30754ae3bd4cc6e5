"""Turn Hydra's DictConfig into neurec's typed configs. cli/ is the only package that sees DictConfig."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, InstantiationException, OverrideParseException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from neurec.cli.config_checks import check_train_config
from neurec.errors import ConfigError, UserError

# `${neurec_or:a,b}`: a unless it is null or empty. The run folder is `resume` when resuming, else a new one;
# oc.select cannot say that, since it only falls back for a key that is missing, not for one that is null.
OmegaConf.register_new_resolver("neurec_or", lambda first, second: first or second, replace=True)
OmegaConf.register_new_resolver("neurec_cwd", lambda: str(Path.cwd()), replace=True)


def config_dir() -> str:
    """configs/ at the project root (src layout: three levels above this package)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "train.yaml").exists():
            return str(parent / "configs")
    return str(Path.cwd() / "configs")


def output_dir(cfg: DictConfig) -> Path:
    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:  # composed outside a Hydra app (tests): fall back to the configured folder
        return Path(cfg.paths.output_dir)


def run_config(cfg: DictConfig, out_dir: Path | None = None):
    """The RunConfig for `neurec.pipeline.run`, and the resolved config as a plain dict for tracking. `out_dir`:
    the run's folder when it is not Hydra's (a neurec-tune trial)."""
    from neurec.pipeline import RunConfig

    resume = cfg.get("resume")
    if resume:
        overrides = [o for o in task_overrides() if not o.startswith("resume=")]
        budgets = [o for o in overrides if o.split("=", 1)[0] in RESUME_BUDGETS]
        extra = [o for o in overrides if o not in budgets]
        if extra:
            raise ConfigError(f"resume: a resumed run continues with the config it started with; drop {' '.join(extra)} "
                              f"(only the budgets {', '.join(RESUME_BUDGETS)} may change)")
        given, cfg = cfg, resumed_config(Path(resume))
        for override in budgets:  # more time or steps for the same run; nothing that changes the model or data
            key = override.split("=", 1)[0]
            OmegaConf.update(cfg, key, OmegaConf.select(given, key))
    resolved = check_train_config(cfg)  # every problem at once, before a folder or a byte of data is written
    out = Path(resume) if resume else (out_dir or output_dir(cfg))
    out.mkdir(parents=True, exist_ok=True)
    if not resume:  # a resumed run keeps the config it started with
        OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    # One source for the history length: the model's; the shards are encoded with it (see HISTORY_OWNER).
    data = dataclasses.replace(build(cfg.data), max_history=int(resolved["model"]["max_history"]),
                               summary_size=int(resolved["model"]["summary_size"]))
    run_cfg = RunConfig(
        data=data,
        model=dict(resolved["model"]),
        trainer=_with_device(build(cfg.trainer)),
        tracking=build(cfg.tracking),
        export=build(cfg.export),
        rules=dict(resolved["rules"]),
        out_dir=out,
        seed=int(cfg.seed),
        run_name=cfg.get("run_name") or default_run_name(cfg),
        baselines=tuple(resolved.get("baselines") or ()),
        optim=build(cfg.optim),
        resume=bool(resume),
    )
    return run_cfg, resolved


def _with_device(trainer):
    """trainer.device=auto made concrete once, so every later step (training, calibration, export) agrees."""
    from neurec.train.distributed import local_rank
    from neurec.train.hardware import resolve_device

    return dataclasses.replace(trainer, device=resolve_device(trainer.device, local_rank()))


def build(node: DictConfig):
    """instantiate, with a config error raised in a dataclass's own checks shown as itself, not as Hydra's."""
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from None
        raise


RESUME_BUDGETS = ("trainer.max_minutes", "trainer.max_steps")


def resumed_config(folder: Path) -> DictConfig:
    """The config a run started with (its folder's config.yaml), to continue it exactly as it was."""
    saved = folder / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"resume={folder}: no config.yaml there; pass the run's folder (outputs/runs/<run>)")
    cfg = OmegaConf.load(saved)
    OmegaConf.set_struct(cfg, False)
    cfg.resume = str(folder)
    return cfg


def default_run_name(cfg: DictConfig) -> str:
    """Data, model class and what this run changed on the command line: "simulator PurchaseModel dim=32 lr=0.001"."""
    changed = [o for o in task_overrides() if not o.startswith(("tracking", "paths"))]
    short = [o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[1] for o in changed if "=" in o]
    model = str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1] if "model" in cfg else "model"
    return " ".join([str(cfg.data.name), str(model), *short])[:250]


def task_overrides() -> list[str]:
    """The command line's overrides of this run (of this trial, in a sweep)."""
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # composed outside a Hydra app
        return []


def friendly_errors(prog: str) -> Callable:
    """Bad input ends with one message naming the problem and exit code 2; a bug keeps its traceback."""

    def wrap(fn: Callable) -> Callable:
        @wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except UserError as exc:
                logging.getLogger(prog).debug("data error", exc_info=True)
                print(f"{prog}: error: {exc}", file=sys.stderr)
                sys.exit(2)

        return inner

    return wrap


def hydra_app(prog: str, config_name: str) -> Callable:
    """@hydra.main with friendly errors on both sides of it: a bad override (an unknown key, a missing option, bad
    syntax), which Hydra reports with exit code 1, exits 2 with one line like every other config error."""

    def wrap(task: Callable) -> Callable:
        state = {"started": False, "ours": False}

        @wraps(task)
        def job(cfg: DictConfig):
            state["started"] = True
            if state["ours"]:  # from here on a failure is the task's: Hydra shows it as it always does
                os.environ.pop(_FULL_ERROR, None)
            return friendly_errors(prog)(task)(cfg)

        app = hydra.main(config_path=config_dir(), config_name=config_name, version_base="1.3")(job)

        @wraps(task)
        def main(*args, **kwargs):
            if args or kwargs or os.environ.get(_FULL_ERROR):  # a composed config passed in, or a user debugging
                return app(*args, **kwargs)
            # Set, Hydra raises a composition error instead of printing it and exiting 1.
            os.environ[_FULL_ERROR], state["ours"] = "1", True
            try:
                return app()
            except (HydraException, OmegaConfBaseException) as exc:
                if state["started"]:  # raised by the task itself: a bug, with its traceback
                    raise
                print(f"{prog}: error: {override_message(exc, config_name)}", file=sys.stderr)
                sys.exit(2)
            finally:
                if not state["started"]:
                    os.environ.pop(_FULL_ERROR, None)

        return main

    return wrap


_FULL_ERROR = "HYDRA_FULL_ERROR"


def override_message(exc: Exception, config_name: str) -> str:
    """Hydra's multi-line report as one line; an unknown key also gets the nearest known one."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else None
    key = getattr(cause, "full_key", None) or getattr(exc, "full_key", None)
    if cause is not None and key and "not in struct" in str(cause):
        # Hydra names the first missing node ("nosuch" for nosuch.key=1); quote the override the user typed.
        override = next((o for o in sys.argv[1:]
                         if (o.split("=", 1)[0].lstrip("+~") + ".").startswith(key + ".")), key)
        typed, _, value = override.lstrip("+~").partition("=")
        if key == "data.max_history":
            from neurec.cli.config_checks import HISTORY_OWNER

            return f"{key}={value}: not a data key: {HISTORY_OWNER}; set model.max_history={value}"
        what = "unknown key" if typed == key else f"unknown key {key!r}"
        return f"{typed}={value}: {what}{_nearest(key, config_name)} (a new key needs a leading +: +{override})"
    if isinstance(exc, OverrideParseException):
        return f"{exc.override}: not a valid override ({str(exc).split(';')[0].splitlines()[0]}); quote values with ' or \""
    text = str(exc).split("Config search path")[0]
    parts: list[str] = []
    for line in (line for line in text.splitlines() if line.strip()):
        if line.startswith(("\t", " ")) and parts and parts[-1].endswith((":", ",")):
            parts[-1] += (" " if parts[-1].endswith(":") else " ") + line.strip() + ","  # a list Hydra prints one a line
        else:
            parts.append(line.strip())
    if cause is not None:
        parts.append(str(cause).splitlines()[0])
    return "; ".join(p.rstrip(",") for p in parts)


def _nearest(key: str, config_name: str) -> str:
    """"; did you mean trainer.epochs?" from the default config's keys next to `key`, or nothing."""
    import difflib

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    parent, _, leaf = key.rpartition(".")
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            node = compose(config_name=config_name)
        node = OmegaConf.select(node, parent) if parent else node
        known = list(node.keys()) if isinstance(node, DictConfig) else []
    except Exception:  # noqa: BLE001 - only a hint: the error itself is already known
        return ""
    near = difflib.get_close_matches(leaf, [str(k) for k in known], n=1)
    if near:
        return f"; did you mean {parent + '.' if parent else ''}{near[0]}?"
    return f"; known: {', '.join(map(str, known))}" if known else ""
