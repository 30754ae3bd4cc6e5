"""A/B experiments in the scorer: each customer's requests go to their variant's bundle or rule set.

The variant is a pure function of the customer id and the experiment's salt (neurec.analytics.experiment), so
every worker and every restart agrees without shared state, and the analysis can recompute it from the logs.
Every response names its experiment and variant, which is what a shop logs beside the impression.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from neurec.analytics.experiment import ExperimentConfig, load_experiment
from neurec.serving.bundle import BundleError, open_bundle
from neurec.serving.request import RequestError, parse_customer_id, positioned
from neurec.serving.rules_config import RulesConfig
from neurec.serving.scorer import Prepared, Scorer


class ExperimentScorer:
    """Routes requests by `customer_id` to one Scorer per variant; otherwise used like a Scorer."""

    def __init__(self, experiment: ExperimentConfig, scorers: dict[str, Scorer]):
        missing = set(experiment.names) - set(scorers)
        if missing:
            raise ValueError(f"no scorer for variants {sorted(missing)}")
        self.experiment, self.scorers = experiment, scorers
        self.control = scorers[experiment.control]

    @classmethod
    def from_files(cls, experiment_path: str | Path, default_bundle: str | Path | None, threads: int = 1,
                   tracking_uri: str | None = None) -> "ExperimentScorer":
        """Variants name a `bundle` (a folder or models:/ URI) and/or a `rules` JSON file whose keys replace the
        bundle's rules; relative paths are read from the experiment file's folder. A variant without a bundle uses `default_bundle`. Variants sharing a
        bundle share its onnxruntime session."""
        from neurec.serving.registry import is_registry_uri, resolve_bundle

        path = Path(experiment_path)
        try:
            exp = load_experiment(path)
        except ValueError as exc:
            raise BundleError(str(exc)) from None
        opened: dict[str, tuple] = {}
        scorers = {}
        for v in exp.variants:
            spec = v.bundle or default_bundle
            if spec is None:
                raise BundleError(f"{path}: variant {v.name!r} names no bundle and no default bundle was given")
            if not is_registry_uri(spec) and not Path(spec).is_absolute() and v.bundle:
                spec = path.parent / spec
            key = str(spec)
            if key not in opened:
                opened[key] = open_bundle(resolve_bundle(spec, tracking_uri), threads=threads)
            bundle, session = opened[key]
            if v.rules:
                bundle = replace(bundle, rules=_read_rules(path.parent / v.rules, v.name, bundle.rules))
            scorers[v.name] = Scorer(bundle, session)
        return cls(exp, scorers)

    def variant_of(self, request: dict[str, Any]) -> str:
        cid = request.get("customer_id") if isinstance(request, dict) else None
        if cid is None or isinstance(cid, bool) or not isinstance(cid, (str, int)) or cid == "":
            raise RequestError(f"customer_id: required while experiment {self.experiment.name!r} runs "
                               "(a string or integer id; it decides the customer's variant)")
        return self.experiment.assign(parse_customer_id(cid))  # refuses text no UTF-8 hash can read

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        variant = self.variant_of(request)
        return self._tag(self.scorers[variant].recommend(request), variant)

    def recommend_batch(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate all first (an invalid one raises, positioned), then one model call per variant present."""
        groups: dict[str, list[tuple[int, Prepared]]] = {}
        for i, request in enumerate(requests):
            try:
                variant = self.variant_of(request)
                groups.setdefault(variant, []).append((i, self.scorers[variant].prepare(request)))
            except RequestError as e:
                raise positioned(i, e) from None
        out: list[dict[str, Any]] = [{} for _ in requests]
        for variant, members in groups.items():
            responses = self.scorers[variant].score_batch([p for _, p in members])
            for (i, _), response in zip(members, responses):
                out[i] = self._tag(response, variant)
        return out

    def _tag(self, response: dict[str, Any], variant: str) -> dict[str, Any]:
        return {**response, "experiment": self.experiment.name, "variant": variant}


def _read_rules(path: Path, variant: str, base: RulesConfig) -> RulesConfig:
    """The bundle's rules with the file's keys in place of theirs. A variant file that names only what the test
    changes (say {"min_probability_by_kind": {"upsell": 0}}) must not reset every other rule to its code default:
    the two arms would then differ in rules nobody meant to test."""
    try:
        changes = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(changes, dict):
            raise ValueError(f"expected a JSON object, got {type(changes).__name__}")
        RulesConfig.from_dict(changes)  # name a bad key as the file's, before it is mixed with the bundle's
        return RulesConfig.from_dict({**base.to_dict(), **changes})
    except FileNotFoundError:
        raise BundleError(f"variant {variant!r}: rules file {path} not found") from None
    except ValueError as exc:  # JSON syntax or a rule the config refuses
        raise BundleError(f"variant {variant!r}: rules file {path}: {exc}") from None
