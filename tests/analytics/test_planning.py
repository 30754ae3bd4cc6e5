"""Sample sizes against textbook values and against the power they promise (scipy as the reference)."""

import math

import pytest

from neurec.analytics.planning import PlanInput, format_plan, plan_experiment, sample_size_means, sample_size_proportions
from neurec.errors import ConfigError

norm = pytest.importorskip("scipy.stats").norm


def _power(p_a: float, p_b: float, n: int, alpha: float = 0.05) -> float:
    """Power of the pooled two-proportion z-test with n per arm (the normal approximation the formula inverts)."""
    p_bar = (p_a + p_b) / 2
    se0, se1 = math.sqrt(2 * p_bar * (1 - p_bar) / n), math.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / n)
    return norm.cdf((abs(p_b - p_a) - norm.ppf(1 - alpha / 2) * se0) / se1)


def test_lehr_rule_for_means():
    # 2 (1.96 + 0.84)^2 = 15.7: Lehr's "16 / (delta/sigma)^2" per group at alpha 0.05, power 0.8
    assert sample_size_means(1.0, 1.0) == (16, 16)
    assert sample_size_means(10.0, 5.0) == (63, 63)  # 15.7 * 4 = 62.8


def test_conversion_sample_size_known_value():
    # 5 % baseline, +10 % relative: the widely quoted 31,234 per variant (Evan Miller's calculator, same formula)
    assert sample_size_proportions(0.05, 0.10, relative=True) == (31234, 31234)
    assert sample_size_proportions(0.05, 0.01) == sample_size_proportions(0.05, 0.2, relative=True)


@pytest.mark.parametrize("p_a, p_b, alpha, power", [(0.05, 0.055, 0.05, 0.8), (0.2, 0.25, 0.01, 0.9), (0.5, 0.45, 0.1, 0.8)])
def test_sample_size_is_the_smallest_with_the_power(p_a, p_b, alpha, power):
    n, _ = sample_size_proportions(p_a, p_b - p_a, alpha=alpha, power=power, relative=False)
    assert _power(p_a, p_b, n, alpha) >= power > _power(p_a, p_b, n - 1, alpha)


def test_continuity_correction_and_unequal_split():
    z_a, z_b = norm.ppf(0.975), norm.ppf(0.8)
    raw = (z_a * math.sqrt(2 * 0.055 * 0.945) + z_b * math.sqrt(0.05 * 0.95 + 0.06 * 0.94)) ** 2 / 0.01**2
    assert sample_size_proportions(0.05, 0.01) == (math.ceil(raw), math.ceil(raw))
    fleiss = raw / 4 * (1 + math.sqrt(1 + 4 / (raw * 0.01))) ** 2  # Fleiss, Levin & Paik (2003): continuity-corrected n
    assert sample_size_proportions(0.05, 0.01, continuity=True)[0] == math.ceil(fleiss)
    n_a, n_b = sample_size_proportions(0.05, 0.01, ratio=3.0)
    assert n_b == pytest.approx(3 * n_a, abs=1) and n_a + n_b > 2 * math.ceil(raw)  # unequal splits need more in all


def test_plan_days_and_weekly_cycles():
    plan = plan_experiment(PlanInput(baseline_rate=0.05, mde=0.1, relative=True, daily_traffic=5000, aov_mean=80, aov_std=60))
    conv, aov = plan.rows
    assert conv.n_total == 2 * 31234 and conv.days == pytest.approx(62468 / 5000)
    assert aov.unit == "orders" and aov.days == pytest.approx(aov.n_total / (5000 * 0.05))
    assert "under two weekly cycles" in conv.note
    text = format_plan(plan)
    assert "31,234" in text and "run for 14 days" in text
    long = plan_experiment(PlanInput(baseline_rate=0.05, mde=0.05, relative=True, daily_traffic=2000))
    assert long.rows[0].days > 14 and "whole weeks" in long.rows[0].note
    assert f"run for {7 * math.ceil(long.rows[0].days / 7)} days" in format_plan(long)


@pytest.mark.parametrize("kwargs, message", [
    ({"baseline_rate": 1.2, "mde": 0.1}, "between 0 and 1"),
    ({"baseline_rate": 0.05, "mde": 0.0}, "no sample size"),
    ({"baseline_rate": 0.95, "mde": 0.1}, "outside"),
    ({"baseline_rate": 0.05, "mde": 0.01, "aov_mean": 80}, "aov-std"),
    ({"baseline_rate": 0.05, "mde": 0.01, "aov_mean": 80, "aov_std": 50}, "aov-mde"),
    ({"baseline_rate": 0.05, "mde": 0.01, "power": 1.5}, "power"),
])
def test_plan_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan_experiment(PlanInput(**kwargs))
