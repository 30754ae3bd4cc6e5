"""How many customers (sessions) and orders an A/B test needs, and how many days of traffic that is.

Normal-approximation formulas as in Fleiss, Levin & Paik (Statistical Methods for Rates and Proportions, 2003)
and Chow, Shao & Wang (Sample Size Calculations in Clinical Research), for a two-sided test at level alpha and
the given power, with n_B = ratio * n_A:

conversion (two proportions p_A -> p_B, p̄ = (p_A + ratio * p_B) / (1 + ratio)):
    n_A = [z_{1-α/2} sqrt(p̄ (1 - p̄) (1 + 1/ratio)) + z_{1-β} sqrt(p_A (1 - p_A) + p_B (1 - p_B) / ratio)]^2 / (p_B - p_A)^2
    (pooled variance under H0, unpooled under H1); with `continuity=True` Fleiss' correction
    n_A' = n_A / 4 * (1 + sqrt(1 + 2 (1 + 1/ratio) / (n_A |p_B - p_A|)))^2.
AOV (two means, common standard deviation σ, difference δ):
    n_A = (z_{1-α/2} + z_{1-β})^2 σ^2 (1 + 1/ratio) / δ^2    (ratio 1: 2 (z + z)^2 σ^2 / δ^2, Lehr's 16 σ^2/δ^2)

Days: conversion samples are sessions (or visitors: whatever `daily_traffic` counts), AOV samples are orders, of
which there are daily_traffic * baseline_rate a day. Shops sell differently on weekdays and weekends, so a test
shorter than two full weeks may measure the calendar rather than the change: the plan says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neurec.analytics.stats import norm_ppf
from neurec.errors import ConfigError

MIN_DAYS = 14  # two full weekly cycles


def _z(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha}: must be between 0 and 1, e.g. 0.05")
    if not 0 < power < 1:
        raise ConfigError(f"power={power}: must be between 0 and 1, e.g. 0.8")
    return float(norm_ppf(1 - alpha / 2)), float(norm_ppf(power))


def target_rate(baseline_rate: float, mde: float, relative: bool) -> float:
    """The treatment's rate the test should detect: baseline * (1 + mde) or baseline + mde."""
    if not 0 < baseline_rate < 1:
        raise ConfigError(f"baseline rate {baseline_rate}: must be a share between 0 and 1, e.g. 0.05 for 5 %")
    if mde == 0:
        raise ConfigError("minimum detectable effect is 0: no sample size can detect no change")
    p_b = baseline_rate * (1 + mde) if relative else baseline_rate + mde
    if not 0 < p_b < 1:
        kind = "relative" if relative else "absolute"
        raise ConfigError(f"baseline {baseline_rate} with {kind} MDE {mde} gives a rate of {p_b:.4g}, outside (0, 1)")
    return p_b


def sample_size_proportions(
    baseline_rate: float, mde: float, *, relative: bool = False, alpha: float = 0.05, power: float = 0.8,
    ratio: float = 1.0, continuity: bool = False,
) -> tuple[int, int]:
    """(n_A, n_B): units per arm to detect baseline -> target rate (see the module docstring for the formula)."""
    z_a, z_b = _z(alpha, power)
    p_a = baseline_rate
    p_b = target_rate(baseline_rate, mde, relative)
    _check_ratio(ratio)
    p_bar = (p_a + ratio * p_b) / (1 + ratio)
    delta = abs(p_b - p_a)
    root = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / ratio)) + z_b * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b) / ratio)
    n_a = root**2 / delta**2
    if continuity:
        n_a = n_a / 4 * (1 + math.sqrt(1 + 2 * (1 + 1 / ratio) / (n_a * delta))) ** 2
    return math.ceil(n_a), math.ceil(n_a * ratio)


def sample_size_means(std: float, delta: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> tuple[int, int]:
    """(n_A, n_B): observations per arm to detect a difference `delta` in means with standard deviation `std`."""
    z_a, z_b = _z(alpha, power)
    _check_ratio(ratio)
    if not std > 0:
        raise ConfigError(f"standard deviation {std}: must be positive")
    if delta == 0:
        raise ConfigError("minimum detectable effect is 0: no sample size can detect no change")
    n_a = (z_a + z_b) ** 2 * std**2 * (1 + 1 / ratio) / delta**2
    return math.ceil(n_a), math.ceil(n_a * ratio)


def _check_ratio(ratio: float) -> None:
    if not (math.isfinite(ratio) and ratio > 0):
        raise ConfigError(f"allocation ratio {ratio}: must be positive (1 = equal split)")


@dataclass(frozen=True)
class PlanInput:
    baseline_rate: float
    mde: float  # minimum detectable effect on the conversion rate
    relative: bool = False  # mde as a share of the baseline (0.1 = +10 %) instead of rate points
    alpha: float = 0.05
    power: float = 0.8
    daily_traffic: float | None = None  # sessions (or visitors) a day entering the experiment, all arms together
    treatment_share: float = 0.5
    aov_mean: float | None = None
    aov_std: float | None = None
    aov_mde: float | None = None  # relative (0.05 = +5 % AOV); default: mde when relative
    continuity: bool = False


@dataclass(frozen=True)
class PlanRow:
    metric: str  # conversion | aov
    unit: str  # sessions | orders
    baseline: float
    target: float
    n_control: int
    n_treatment: int
    n_total: int
    days: float | None  # None when daily traffic is not given
    note: str


@dataclass(frozen=True)
class ExperimentPlan:
    inputs: PlanInput
    rows: tuple[PlanRow, ...]

    @property
    def days_needed(self) -> float | None:
        days = [r.days for r in self.rows if r.days is not None]
        return max(days) if days else None

    def to_dict(self) -> dict:
        return {"inputs": vars(self.inputs), "rows": [vars(r) for r in self.rows], "days_needed": self.days_needed}


def plan_experiment(inp: PlanInput) -> ExperimentPlan:
    """Sample sizes for conversion (and AOV when its mean and std are given), and the days of traffic each needs."""
    if not 0 < inp.treatment_share < 1:
        raise ConfigError(f"treatment share {inp.treatment_share}: must be between 0 and 1")
    ratio = inp.treatment_share / (1 - inp.treatment_share)
    n_a, n_b = sample_size_proportions(inp.baseline_rate, inp.mde, relative=inp.relative, alpha=inp.alpha,
                                       power=inp.power, ratio=ratio, continuity=inp.continuity)
    target = target_rate(inp.baseline_rate, inp.mde, inp.relative)
    rows = [_row("conversion", "sessions", inp.baseline_rate, target, n_a, n_b, inp.daily_traffic)]
    if inp.aov_mean is not None or inp.aov_std is not None:
        rows.append(_aov_row(inp, ratio))
    return ExperimentPlan(inp, tuple(rows))


def _aov_row(inp: PlanInput, ratio: float) -> PlanRow:
    if inp.aov_mean is None or inp.aov_std is None or inp.aov_mean <= 0:
        raise ConfigError("AOV planning needs both a positive --aov-mean and an --aov-std (in currency)")
    mde = inp.aov_mde if inp.aov_mde is not None else (inp.mde if inp.relative else None)
    if mde is None:
        raise ConfigError("AOV planning needs --aov-mde (relative, e.g. 0.05 for +5 %) when the conversion MDE is absolute")
    n_a, n_b = sample_size_means(inp.aov_std, inp.aov_mean * mde, alpha=inp.alpha, power=inp.power, ratio=ratio)
    orders_a_day = inp.daily_traffic * inp.baseline_rate if inp.daily_traffic else None
    return _row("aov", "orders", inp.aov_mean, inp.aov_mean * (1 + mde), n_a, n_b, orders_a_day)


def _row(metric: str, unit: str, baseline: float, target: float, n_a: int, n_b: int, per_day: float | None) -> PlanRow:
    n_total = n_a + n_b
    days = n_total / per_day if per_day else None
    if days is None:
        note = "give --daily-traffic for the duration"
    elif days < MIN_DAYS:
        note = f"under two weekly cycles: run {MIN_DAYS} days anyway, so each weekday counts twice"
    else:
        note = f"round up to whole weeks: {7 * math.ceil(days / 7)} days"
    return PlanRow(metric, unit, baseline, target, n_a, n_b, n_total, days, note)


def format_plan(plan: ExperimentPlan) -> str:
    inp = plan.inputs
    lines = [
        f"A/B test plan: two-sided alpha {inp.alpha:g}, power {inp.power:g}, treatment share {inp.treatment_share:g}",
        f"{'metric':<11}{'baseline':>12}{'target':>12}{'control':>12}{'treatment':>12}{'total':>12}  {'unit':<9}{'days':>8}  note",
    ]
    for r in plan.rows:
        fmt = (lambda v: f"{100 * v:.2f} %") if r.metric == "conversion" else (lambda v: f"{v:,.2f}")
        days = f"{r.days:.1f}" if r.days is not None else "-"
        lines.append(f"{r.metric:<11}{fmt(r.baseline):>12}{fmt(r.target):>12}{r.n_control:>12,}{r.n_treatment:>12,}"
                     f"{r.n_total:>12,}  {r.unit:<9}{days:>8}  {r.note}")
    if plan.days_needed is not None:
        days = max(MIN_DAYS, 7 * math.ceil(plan.days_needed / 7))
        lines.append(f"run for {days} days (the longer of the metrics' needs, in whole weeks, at least {MIN_DAYS})")
    return "\n".join(lines)
