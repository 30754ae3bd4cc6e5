"""Turn Hydra's DictConfig into neurec's typed configs. cli/ is the only package that sees DictConfig."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

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


def run_config(cfg: DictConfig):
    """The RunConfig for `neurec.pipeline.run`, and the resolved config as a plain dict for tracking."""
    from neurec.pipeline import RunConfig

    from neurec.serving.rules import RulesConfig

    resume = cfg.get("resume")
    if resume:
        extra = [o for o in _task_overrides() if not o.startswith("resume=")]
        if extra:
            raise ConfigError(f"resume: a resumed run continues with the config it started with; drop {' '.join(extra)}")
        cfg = resumed_config(Path(resume))
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    try:
        RulesConfig.from_dict(resolved["rules"])  # the scorer would refuse the bundle later; say so now
    except ValueError as exc:
        raise ConfigError(f"rules: {exc}") from None
    out = Path(resume) if resume else output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:  # a resumed run keeps the config it started with
        OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    run_cfg = RunConfig(
        data=instantiate(cfg.data, _convert_="all"),
        model=dict(resolved["model"]),
        trainer=instantiate(cfg.trainer),
        tracking=instantiate(cfg.tracking),
        export=instantiate(cfg.export),
        rules=dict(resolved["rules"]),
        out_dir=out,
        seed=int(cfg.seed),
        run_name=cfg.get("run_name") or default_run_name(cfg),
        baselines=tuple(resolved.get("baselines") or ()),
        optim=instantiate(cfg.optim),
        resume=bool(resume),
    )
    return run_cfg, resolved


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
    """Data, model and what this run changed on the command line: "simulator sasrec dim=32 lr=0.001"."""
    changed = [o for o in _task_overrides() if not o.startswith(("hparams_search", "tracking", "paths"))]
    short = [o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[1] for o in changed if "=" in o]
    model = cfg.model.get("name", "sasrec") if "model" in cfg else "model"
    return " ".join([str(cfg.data.name), str(model), *short])[:250]


def _task_overrides() -> list[str]:
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
