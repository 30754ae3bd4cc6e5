"""Assignment: deterministic, close to the configured splits, independent across salts; configs validate."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from neurec.analytics.experiment import ExperimentConfig, assign_variant, assign_variants, hash_unit, load_experiment
from neurec.errors import ConfigError


def test_hash_is_sha256_of_salt_and_id():
    expected = int.from_bytes(hashlib.sha256(b"exp-1:42").digest()[:8], "big") / 2**64
    assert hash_unit(42, "exp-1") == expected == hash_unit("42", "exp-1")


def test_assignment_is_deterministic_and_process_independent():
    ids = [f"c{i}" for i in range(200)]
    first = [assign_variant(c, "salt-1", {"A": 1, "B": 1}) for c in ids]
    assert first == [assign_variant(c, "salt-1", {"A": 1, "B": 1}) for c in ids]
    assert list(assign_variants(ids, "salt-1", {"A": 1, "B": 1})) == first
    code = ("from neurec.analytics.experiment import assign_variant;"
            "print(''.join(assign_variant(f'c{i}', 'salt-1', {'A': 1, 'B': 1}) for i in range(200)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert other == "".join(first)


@pytest.mark.parametrize("splits", [{"A": 0.5, "B": 0.5}, {"A": 0.9, "B": 0.1}, {"A": 1, "B": 1, "C": 2}])
def test_split_ratios(splits):
    n = 60_000
    got = assign_variants(range(n), "ratio-test", splits)
    total = sum(splits.values())
    for name, weight in splits.items():
        share = weight / total
        sigma = np.sqrt(n * share * (1 - share))
        assert abs((got == name).sum() - n * share) < 4 * sigma, name


def test_salts_reshuffle_customers():
    a = assign_variants(range(20_000), "exp-1", {"A": 1, "B": 1})
    b = assign_variants(range(20_000), "exp-2", {"A": 1, "B": 1})
    assert 0.48 < (a == b).mean() < 0.52


def test_config_loads_json_and_yaml(tmp_path):
    raw = {"name": "recs-v2", "salt": "9f3c", "variants": [{"name": "control", "weight": 0.5, "bundle": "bundles/v1"},
                                                          {"name": "new", "weight": 0.5, "bundle": "bundles/v2", "rules": "r.json"}]}
    (tmp_path / "e.json").write_text(json.dumps(raw))
    (tmp_path / "e.yaml").write_text("name: recs-v2\nsalt: '9f3c'\nvariants:\n  control: {weight: 0.5, bundle: bundles/v1}\n"
                                     "  new: {weight: 0.5, bundle: bundles/v2, rules: r.json}\n")
    cfg = load_experiment(tmp_path / "e.json")
    assert cfg == load_experiment(tmp_path / "e.yaml")
    assert cfg.control == "control" and cfg.variant("new").rules == "r.json" and cfg.shares() == {"control": 0.5, "new": 0.5}
    assert cfg.assign("c-1") == assign_variant("c-1", "9f3c", {"control": 0.5, "new": 0.5})
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("raw, message", [
    ({"name": "x", "variants": {"A": 1, "B": 1}}, "missing key"),
    ({"name": "x", "salt": "", "variants": {"A": 1, "B": 1}}, "'salt' is empty"),
    ({"name": "x", "salt": "s", "variants": {"A": 1}}, "at least two variants"),
    ({"name": "x", "salt": "s", "variants": {"A": 1, "B": 0}}, "positive weight"),
    ({"name": "x", "salt": "s", "variants": [{"name": "A"}, {"name": "A"}]}, "repeat"),
    ({"name": "x", "salt": "s", "variants": {"A": 1, "B": 1}, "control": "C"}, "control 'C' is not a variant"),
    ({"name": "x", "salt": "s", "variants": {"A": {"weight": 1, "model": "m"}, "B": 1}}, "unknown key"),
])
def test_config_errors_name_the_problem(raw, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig.from_dict(raw)


def test_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_experiment(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "missing.yaml")


def test_module_stays_light():
    code = ("import sys, neurec.analytics.experiment as e; e.assign_variant('c', 's', {'A': 1, 'B': 1});"
            "heavy = [m for m in ('pandas', 'torch', 'hydra', 'mlflow', 'scipy', 'yaml') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
