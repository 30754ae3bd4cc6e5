"""The whole resolved config, checked before any data is read: every problem at once, as "key=value: allowed".

Types come from the typed dataclasses each config group builds (its `_target_`), so a field added there is
type-checked here without touching this module; ranges, choices and combinations are the rules below.
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import datetime

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from neurec.errors import ConfigError

Rule = tuple[Callable[[object], bool], str]  # (accepts the value, what is allowed)


def at_least(low: float) -> Rule:
    return (lambda v: v >= low), f"at least {low}"


def fraction(closed_low: bool = True, closed_high: bool = False) -> Rule:
    text = f"{'[' if closed_low else '('}0, 1{']' if closed_high else ')'}"
    return (lambda v: (v >= 0 if closed_low else v > 0) and (v <= 1 if closed_high else v < 1)), f"a number in {text}"


def one_of(*choices: str) -> Rule:
    return (lambda v: v in choices), "one of " + ", ".join(choices)


POSITIVE: Rule = ((lambda v: v > 0 and math.isfinite(v)), "a number > 0")
FINITE: Rule = ((lambda v: math.isfinite(v)), "a finite number")
NOT_EMPTY: Rule = ((lambda v: bool(str(v).strip())), "a non-empty string")
SEED: Rule = ((lambda v: 0 <= v < 2**32), "an integer in [0, 2**32)")


def _rules() -> dict[str, Rule]:
    """Range and choice rules by dotted key; the choices come from the code that uses them."""
    from neurec.data.formats import FORMAT_NAMES
    from neurec.train.metrics import ranking_metrics
    from neurec.train.optim import OPTIMIZERS, SCHEDULES

    import numpy as np

    monitors = tuple(ranking_metrics(np.array([1.0]), 2))  # higher is better: what early stopping maximises
    rules = {
        "seed": SEED, "trainer.seed": SEED, "data.simulator.seed": SEED,
        "trainer.epochs": at_least(1), "trainer.batch_size": at_least(1), "trainer.n_negatives": at_least(1),
        "trainer.batch_negatives": at_least(1),
        "trainer.patience": at_least(1), "trainer.num_threads": at_least(1),
        "trainer.loss": one_of("bce", "softmax", "full_softmax"), "trainer.monitor": one_of(*monitors),
        "optim.name": one_of(*OPTIMIZERS), "optim.schedule": one_of(*SCHEDULES), "optim.lr": POSITIVE,
        "optim.weight_decay": at_least(0), "optim.warmup_epochs": at_least(0),
        "optim.min_lr_ratio": fraction(closed_high=True),
        "model.max_history": at_least(1), "model.dim": at_least(1), "model.n_layers": at_least(1),
        "model.n_heads": at_least(1), "model.dropout": fraction(), "model.match_prior": FINITE,
        "model.summary_size": at_least(1), "model.summary_hidden": at_least(1), "model.summary_prior": FINITE,
        "model.neighbours": at_least(0), "model.neighbour_prior": FINITE,
        "model.attr_prior": FINITE, "model.popularity_prior": FINITE,
        "model.match_decay": fraction(closed_low=False, closed_high=True),
        "model.neighbour_decay": fraction(closed_low=False, closed_high=True), "model.embedding_std": at_least(0),
        "data.source": one_of("simulator", "files"), "data.format": one_of(*FORMAT_NAMES),
        "data.timestamp_unit": one_of("s", "ms"), "data.target": one_of("purchase", "next"),
        "data.split_by": one_of("time", "events"), "data.max_bad_fraction": fraction(closed_high=True),
        "data.session_gap_minutes": POSITIVE, "data.min_item_count": at_least(1), "data.min_user_events": at_least(1),
        "data.valid_frac": fraction(closed_low=False), "data.test_frac": fraction(closed_low=False),
        "export.parity_tol": POSITIVE, "tracking.experiment": NOT_EMPTY, "tracking.uri": NOT_EMPTY,
        "format": one_of("parquet", "csv"),
    }
    for key in ("n_customers", "days", "n_categories", "lines_per_category"):
        rules[f"data.simulator.{key}"] = at_least(1)
    rules["data.simulator.accessories_per_line"] = at_least(0)
    for key in ("research_share", "resume_intent", "abandon_rate", "later_complement_rate", "refill_adherence"):
        rules[f"data.simulator.{key}"] = fraction(closed_high=True)
    return rules


def show(value: object) -> str:
    """A value as a person would type it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value.strip() else repr(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def accepts(hint: object, value: object) -> bool:
    """Whether a config value fits a dataclass field type (bool is not an int, an int is a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(accepts(a, v) for a, v in zip(args, value))
        return not args or all(accepts(args[0], v) for v in value)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return True  # object, a nested config: checked where it is built


def describe(hint: object) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string",
             dict: "a mapping"}
    if hint in names:
        return names[hint]
    if hint in (list, tuple) or origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
        return f"a list ({describe(args[0])} each)" if args else "a list"
    return getattr(hint, "__name__", str(hint))


class Checker:
    """Collects problems; `check_node` walks one config group against the dataclass it builds."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.rules = _rules()

    def add(self, key: str, value: object, allowed: str) -> None:
        self.problems.append(f"{key}={show(value)}: {allowed}")

    def check_value(self, key: str, value: object, hint: object) -> bool:
        if value == "???":
            self.add(key, value, "required: give a value")
            return False
        if not accepts(hint, value):
            self.add(key, value, f"expected {describe(hint)}")
            return False
        rule = self.rules.get(key)
        if rule is not None and value is not None and not rule[0](value):
            self.add(key, value, rule[1])
            return False
        return True

    def check_node(self, prefix: str, node: object, hints: dict[str, object], refused: dict[str, str] | None = None) -> dict:
        """The keys of `node` that passed; unknown or refused keys and wrong values become problems."""
        if not isinstance(node, dict):
            self.add(prefix, node, "expected a mapping of keys")
            return {}
        good = {}
        for key, value in node.items():
            full = f"{prefix}.{key}" if prefix else key
            if key == "_target_":
                continue
            if refused and key in refused:
                self.add(full, value, refused[key])
            elif key not in hints:
                near = difflib.get_close_matches(key, list(hints), n=1)
                self.add(full, value, "unknown key" + (f"; did you mean {prefix + '.' if prefix else ''}{near[0]}?" if near
                                                        else f"; known: {', '.join(sorted(hints))}"))
            elif isinstance(value, dict) and "_target_" in value:
                self.check_node(full, value, target_hints(value["_target_"]))
                good[key] = value
            elif self.check_value(full, value, hints[key]):
                good[key] = value
        return good


def target_hints(target: str) -> dict[str, object]:
    """Field name -> type of the dataclass a `_target_` names; any key when it is not a dataclass."""
    from hydra.utils import get_class

    try:
        cls = get_class(target)
    except Exception:  # noqa: BLE001 - hydra raises several kinds; the message names the target
        raise ConfigError(f"_target_={target}: no such class") from None
    return dataclass_hints(cls) if is_dataclass(cls) else _AnyKey()


def dataclass_hints(cls: type, skip: tuple[str, ...] = ()) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name not in skip}


class _AnyKey(dict):
    """Hints of a target that is not a dataclass: every key known, any value."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> object:
        return object


def resolve(cfg: DictConfig) -> dict:
    """The config as plain data, interpolations resolved; a broken one names its key. `???` stays for the checks."""
    try:
        # Hydra's own node (in a composed test config) is Hydra's business and holds values only a job fills in.
        ours = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
        return OmegaConf.to_container(ours, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(f"{key}: {str(exc).splitlines()[0]}") from None


def check_date(checker: Checker, key: str, value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        checker.add(key, value, "an ISO date or time, e.g. 2026-03-01")
        return None


def raise_problems(checker: Checker) -> None:
    if checker.problems:
        count = len(checker.problems)
        if count == 1:
            raise ConfigError(f"bad config value: {checker.problems[0]}")
        raise ConfigError(f"{count} bad config values:\n  " + "\n  ".join(checker.problems))
