"""Experiments: which variant a customer sees, decided by a salted hash, and the config that names the variants.

Standard library and numpy only (PyYAML is imported lazily, for YAML files): the serving side imports this module
and must stay free of torch, pandas, hydra and mlflow.

Assignment is a pure function of (customer id, salt, splits): the same customer gets the same variant in every
process and on every machine, without a lookup table. A new salt reshuffles everyone, so each experiment gets its
own salt and customers' groups in one experiment don't carry over into the next.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurec.errors import ConfigError

Splits = Mapping[str, float] | Sequence[tuple[str, float]]
_SCALE = float(1 << 64)


def hash_unit(customer_id: object, salt: str) -> float:
    """A number in [0, 1) that looks uniform across customers: the first 8 bytes of sha256("salt:customer id").

    sha256 rather than Python's hash(): the latter is randomised per process. The id is used as its string form,
    so 42 and "42" land in the same group (ids often change type between a CSV and a JSON request).
    """
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def _normalise(splits: Splits) -> tuple[tuple[str, ...], np.ndarray]:
    pairs = list(splits.items()) if isinstance(splits, Mapping) else [tuple(p) for p in splits]
    if not pairs:
        raise ConfigError("splits: give at least one variant with a weight, e.g. {'A': 0.5, 'B': 0.5}")
    names = tuple(str(n) for n, _ in pairs)
    if len(set(names)) != len(names):
        raise ConfigError(f"splits: variant names repeat: {list(names)}")
    weights = np.array([float(w) for _, w in pairs])
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ConfigError(f"splits: weights must be positive numbers, got {dict(zip(names, weights.tolist()))}")
    return names, np.cumsum(weights) / weights.sum()


def assign_variant(customer_id: object, salt: str, splits: Splits) -> str:
    """The variant of one customer. `splits` maps variant name -> weight (weights need not sum to 1).

    >>> assign_variant("c-17", "exp-2026-03", {"A": 1, "B": 1}) in ("A", "B")
    True
    """
    names, edges = _normalise(splits)
    return names[_bucket(hash_unit(customer_id, salt), edges)]


def assign_variants(customer_ids: Iterable[object], salt: str, splits: Splits) -> np.ndarray:
    """The variants of many customers, as an array of names (one hash per id; ~1 µs each)."""
    names, edges = _normalise(splits)
    u = np.fromiter((hash_unit(c, salt) for c in customer_ids), dtype=np.float64)
    idx = np.minimum(np.searchsorted(edges, u, side="right"), len(names) - 1)
    return np.asarray(names, dtype=object)[idx]


def _bucket(u: float, edges: np.ndarray) -> int:
    # min(): cumulative sums may end at 0.9999999999999999, and u may fall above that
    return min(int(np.searchsorted(edges, u, side="right")), len(edges) - 1)


@dataclass(frozen=True)
class Variant:
    """One arm. `bundle` and `rules` are opaque paths for the serving side (a model bundle, a rules file)."""

    name: str
    weight: float
    bundle: str | None = None
    rules: str | None = None


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    salt: str
    variants: tuple[Variant, ...]
    control: str = ""  # empty: the first variant
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ConfigError("experiment: 'name' is empty")
        if not str(self.salt).strip():
            raise ConfigError(f"experiment {self.name!r}: 'salt' is empty; use a fresh random string per experiment")
        if len(self.variants) < 2:
            raise ConfigError(f"experiment {self.name!r}: needs at least two variants, got {len(self.variants)}")
        _normalise(self.splits)  # names unique, weights positive
        if not self.control:
            object.__setattr__(self, "control", self.variants[0].name)
        elif self.control not in self.names:
            raise ConfigError(f"experiment {self.name!r}: control {self.control!r} is not a variant; "
                              f"variants are {list(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def splits(self) -> tuple[tuple[str, float], ...]:
        return tuple((v.name, v.weight) for v in self.variants)

    def shares(self) -> dict[str, float]:
        """Each variant's expected share of customers."""
        total = sum(v.weight for v in self.variants)
        return {v.name: v.weight / total for v in self.variants}

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def assign(self, customer_id: object) -> str:
        return assign_variant(customer_id, self.salt, self.splits)

    @classmethod
    def from_dict(cls, raw: Mapping) -> "ExperimentConfig":
        """From {'name', 'salt', 'variants': [{'name', 'weight', 'bundle'?, 'rules'?}, ...] or {name: weight | {...}}}."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"experiment: expected a mapping, got {type(raw).__name__}")
        known = {"name", "salt", "variants", "control", "description"}
        missing = [k for k in ("name", "salt", "variants") if k not in raw]
        if missing:
            raise ConfigError(f"experiment: missing key(s) {missing}; found {sorted(raw)}")
        variants = tuple(_variant(item) for item in _variant_items(raw["variants"]))
        return cls(
            name=str(raw["name"]),
            salt=str(raw["salt"]),
            variants=variants,
            control=str(raw.get("control") or ""),
            description=str(raw.get("description") or ""),
            extra={k: v for k, v in raw.items() if k not in known},
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "salt": self.salt,
            "control": self.control,
            "description": self.description,
            "variants": [{k: v for k, v in vars(var).items() if v is not None} for var in self.variants],
        }


def _variant_items(raw: object) -> list[Mapping]:
    if isinstance(raw, Mapping):  # {A: 0.5, B: {weight: 0.5, bundle: ...}}
        return [{"name": k, **(v if isinstance(v, Mapping) else {"weight": v})} for k, v in raw.items()]
    if isinstance(raw, (list, tuple)):
        return list(raw)
    raise ConfigError(f"experiment: 'variants' must be a list or a mapping, got {type(raw).__name__}")


def _variant(item: object) -> Variant:
    if not isinstance(item, Mapping) or "name" not in item:
        raise ConfigError(f"experiment: each variant needs a 'name' (and a 'weight'), got {item!r}")
    unknown = set(item) - {"name", "weight", "bundle", "rules"}
    if unknown:
        raise ConfigError(f"experiment: variant {item['name']!r} has unknown key(s) {sorted(unknown)}; use weight, bundle, rules")
    try:
        weight = float(item.get("weight", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"experiment: variant {item['name']!r} has a weight that is not a number: "
                          f"{item.get('weight')!r}") from None
    if not math.isfinite(weight) or weight <= 0:
        raise ConfigError(f"experiment: variant {item['name']!r} needs a positive weight, got {weight}")
    opt = {k: (str(item[k]) if item.get(k) is not None else None) for k in ("bundle", "rules")}
    return Variant(name=str(item["name"]), weight=weight, **opt)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """An ExperimentConfig from a .json, .yaml or .yml file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # lazily: JSON configs need nothing beyond the standard library

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    try:
        return ExperimentConfig.from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
