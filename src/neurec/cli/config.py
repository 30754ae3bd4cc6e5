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

    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    try:
        RulesConfig.from_dict(resolved["rules"])  # the scorer would refuse the bundle later; say so now
    except ValueError as exc:
        raise ConfigError(f"rules: {exc}") from None
    out = output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
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
        run_name=cfg.get("run_name"),
        baselines=tuple(resolved.get("baselines") or ()),
    )
    return run_cfg, resolved


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
