"""What each entry point's config must satisfy, checked in one pass before any work (see cli/validate.py).

`check_train_config`, `check_evaluate_config` and `check_simulate_config` raise one ConfigError listing every
problem, each as "key=value: what is allowed", and otherwise return the resolved config as plain data.
"""

from __future__ import annotations

import re

from omegaconf import DictConfig

from neurec.cli.validate import Checker, check_date, dataclass_hints, raise_problems, resolve, target_hints
from neurec.errors import ConfigError

# The history length lives in the model; the data is encoded with it (issue 18: two copies could disagree).
HISTORY_OWNER = "the history length is model.max_history; the data is encoded with the model's value"
_ANY_PATHS = dict  # paths.* are folders built from interpolations; Hydra resolves them


def check_train_config(cfg: DictConfig) -> dict:
    """neurec-train and neurec-demo: the whole run config."""
    resolved = resolve(cfg)
    checker = Checker()
    groups = ("data", "model", "trainer", "optim", "tracking", "export", "rules")
    top = {"seed": int, "run_name": str | None, "resume": str | None, "baselines": list[str], "paths": _ANY_PATHS,
           **{g: dict for g in groups}}
    _check_top(checker, resolved, top, groups)
    model = resolved.get("model")
    if isinstance(model, dict):
        _check_model(checker, model)
        history = model.get("max_history")
    else:
        history = None
    _check_data(checker, resolved.get("data"), history)
    for group in ("trainer", "optim", "tracking", "export"):
        _check_target_group(checker, group, resolved.get(group))
    trainer = resolved.get("trainer")
    if isinstance(trainer, dict) and "device" in trainer:
        check_device(checker, "trainer.device", trainer["device"])
    _check_rules(checker, resolved.get("rules"))
    _check_baselines(checker, resolved.get("baselines"))
    raise_problems(checker)
    return resolved


def check_evaluate_config(cfg: DictConfig) -> dict:
    """neurec-evaluate: a checkpoint, a data config, tracking and the baselines to compare with."""
    resolved = resolve(cfg)
    checker = Checker()
    top = {"checkpoint": str, "device": str, "seed": int, "run_name": str | None, "baselines": list[str],
           "data": dict, "tracking": dict, "paths": _ANY_PATHS}
    _check_top(checker, resolved, top, ("data", "tracking"))
    _check_data(checker, resolved.get("data"), None)
    _check_target_group(checker, "tracking", resolved.get("tracking"))
    check_device(checker, "device", resolved.get("device"))
    _check_baselines(checker, resolved.get("baselines"))
    raise_problems(checker)
    return resolved


def check_simulate_config(cfg: DictConfig) -> dict:
    """neurec-simulate: the simulator's settings, where to write and in which format."""
    resolved = resolve(cfg)
    checker = Checker()
    top = {"seed": int, "out_dir": str, "format": str, "data": dict, "paths": _ANY_PATHS}
    _check_top(checker, resolved, top, ("data",))
    data = resolved.get("data")
    if isinstance(data, dict) and not isinstance(data.get("simulator"), dict):
        checker.add("data.simulator", data.get("simulator"), "the simulator's settings (data=simulator)")
    _check_data(checker, data, None)
    raise_problems(checker)
    return resolved


def _check_top(checker: Checker, resolved: dict, hints: dict, groups: tuple[str, ...]) -> None:
    top = {k: v for k, v in resolved.items() if k not in groups and k != "hydra"}
    checker.check_node("", {**top, "paths": {}}, hints)
    for group in groups:
        if not isinstance(resolved.get(group), dict):
            checker.add(group, resolved.get(group), f"the {group} config group (e.g. {group}=<option>)")


def _check_target_group(checker: Checker, group: str, node: object) -> None:
    if isinstance(node, dict):
        target = node.get("_target_")
        checker.check_node(group, node, target_hints(target) if target else {k: object for k in node})


def _check_model(checker: Checker, model: dict) -> None:
    """The keys the `_target_` class takes: its config dataclass's fields less those the data decides, plus the
    extra keys its `from_data` reads."""
    from neurec.models.build import DEFAULT_MODEL, model_class

    target = model.get("_target_", DEFAULT_MODEL)
    try:
        cls = model_class(target)
    except ConfigError as e:
        checker.add("model._target_", target, str(e).split(": ", 1)[1])
        return
    hints = {**dataclass_hints(cls.config_class, skip=cls.config_derived), **cls.config_extra, "_target_": str}
    refused = {k: "set from the data (vocabulary, catalogue, event encoding), not by the config" for k in cls.config_derived}
    good = checker.check_node("model", model, hints, refused)
    dim, heads = good.get("dim"), good.get("n_heads")
    if dim is not None and heads is not None and dim % heads:
        checker.add("model.dim", dim, f"a multiple of model.n_heads={heads} (each attention head gets dim / n_heads)")
    features = good.get("side_features", [])
    for pair in good.get("match", []):
        if len(pair) != 2:
            checker.add("model.match", pair, "pairs [candidate feature, history feature]")
        elif any(name not in features for name in pair):
            checker.add("model.match", pair, f"names from model.side_features ({', '.join(features) or 'none'})")


def _check_data(checker: Checker, data: object, history: int | None) -> None:
    from neurec.data.config import DataConfig

    if not isinstance(data, dict):
        return
    data = dict(data)
    if "max_history" in data:  # an older run's config.yaml holds the same value twice: that is fine
        if data["max_history"] != history:
            checker.add("data.max_history", data["max_history"], f"not a data key: {HISTORY_OWNER}; set model.max_history")
        del data["max_history"]
    good = checker.check_node("data", data, dataclass_hints(DataConfig, skip=("max_history",)))
    source = good.get("source", "simulator")
    if source == "files" and good.get("events_path", data.get("events_path")) is None:
        checker.add("data.events_path", None, "required when data.source=files: the events file")
    if source == "simulator" and not isinstance(data.get("simulator"), dict):
        checker.add("data.simulator", data.get("simulator"), "the simulator's settings when data.source=simulator")
    _check_policies(checker, good.get("policies", {}))
    _check_event_map(checker, good.get("event_map", {}))
    _check_split(checker, data, good)


def _check_split(checker: Checker, data: dict, good: dict) -> None:
    valid = check_date(checker, "data.valid_start", good.get("valid_start"))
    test = check_date(checker, "data.test_start", good.get("test_start"))
    given = [k for k in ("valid_start", "test_start") if data.get(k) is not None]
    if len(given) == 1:
        checker.add(f"data.{given[0]}", data[given[0]], "give both data.valid_start and data.test_start, or neither")
    elif valid and test and not valid < test:
        checker.add("data.test_start", data["test_start"], f"a date after data.valid_start={data['valid_start']}")
    elif not given and "valid_frac" in good and "test_frac" in good and good["valid_frac"] + good["test_frac"] >= 1:
        checker.add("data.test_frac", good["test_frac"],
                    f"with data.valid_frac={good['valid_frac']} the two must sum to less than 1 (training needs the rest)")


def _check_policies(checker: Checker, policies: dict) -> None:
    from neurec.data.validate import ALLOWED

    for problem, policy in policies.items():
        if problem not in ALLOWED:
            checker.add(f"data.policies.{problem}", policy, "unknown problem; one of " + ", ".join(ALLOWED))
        elif policy not in ALLOWED[problem]:
            checker.add(f"data.policies.{problem}", policy, "one of " + ", ".join(sorted(ALLOWED[problem])))


def _check_event_map(checker: Checker, event_map: dict) -> None:
    from neurec.schema import EventType

    allowed = [*EventType.names(), "drop"]
    for name, kind in event_map.items():
        if kind not in allowed:
            checker.add(f"data.event_map.{name}", kind, "one of " + ", ".join(allowed))


def _check_rules(checker: Checker, rules: object) -> None:
    from neurec.serving.rules import RulesConfig

    if isinstance(rules, dict):
        try:
            RulesConfig.from_dict(rules)  # the scorer would refuse the bundle later; say so now
        except ValueError as exc:
            checker.problems.append(f"rules: {exc}")


def _check_baselines(checker: Checker, names: object) -> None:
    from neurec.models.baselines import make_baselines

    if isinstance(names, list):
        known = [b.name for b in make_baselines()]
        for name in names:
            if name not in known:
                checker.add("baselines", name, "names from " + ", ".join(known))


def check_device(checker: Checker, key: str, value: object) -> None:
    """auto, cpu, or cuda / cuda:N when this machine has that GPU: found now, not at the first batch."""
    found = re.fullmatch(r"cuda(?::(\d+))?", value) if isinstance(value, str) else None
    if value in ("cpu", "auto"):
        return
    if found is None:
        checker.add(key, value, "one of auto, cpu, cuda, cuda:N")
        return
    import torch

    if not torch.cuda.is_available():
        checker.add(key, value, "this machine has no CUDA device; use trainer.device=cpu")
    elif found.group(1) is not None and int(found.group(1)) >= torch.cuda.device_count():
        checker.add(key, value, f"cuda:0 to cuda:{torch.cuda.device_count() - 1} (the GPUs this machine has)")
