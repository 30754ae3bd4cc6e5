"""Read an A/B test: conversion (two-proportion z-test), AOV (Welch's t-test and a bootstrap CI of the relative
lift), guardrails (conversion and cart abandonment must not be significantly worse), a sample-ratio check, and a
plain verdict with its numbers.

Two ways in: `analyze_log` reads a validated recommendation log (`neurec.analytics.reclog`); `analyze_arms` takes
per-arm arrays directly, for a simulation that never writes a log. For hundreds of A/A tests at once, call the
array functions in `neurec.analytics.stats` (`two_proportion_ztest`, `welch_ttest_stats`) with one element per
test: they are vectorised.

Units: customers are assigned by a hash of their id, so the independent unit is the customer. Conversion is
counted over customers by default (`unit="user"`: converted customers / customers); `unit="session"` counts
visits, as many shops report it, but treats a customer's visits as independent, and in simulated A/A tests that
rejected 7.5 % of the time at alpha 0.05. AOV is revenue / orders over customers, tested with the delta method
and a customer bootstrap (a per-order t-test rejected 9.5 % of the time in the same A/A tests, because one
customer's orders are alike). `ArmData` without `order_users` falls back to the per-order test, and says so.

Profit beside revenue, when the log has a `margin` column: margin per order (tested as AOV is) and margin per
visitor or session (total margin / units, buyers or not: what a visit earns the shop, so it moves with conversion
and with margin per order). Both are ratios over customers, like AOV; they are reported, not decided on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from neurec.analytics.abtest_text import format_result, verdict_of  # noqa: F401  (format_result: the public name)
from neurec.analytics.reclog import NO_VARIANT
from neurec.analytics.stats import (
    bootstrap_lift_ci,
    bootstrap_ratio_lift_ci,
    cluster_ratio_ztest,
    sample_ratio_pvalue,
    two_proportion_ztest,
    welch_ttest,
)
from neurec.data.errors import DataError
from neurec.errors import ConfigError


@dataclass(frozen=True)
class AnalysisConfig:
    alpha: float = 0.05
    primary: str = "aov"  # aov | conversion: the metric the verdict is about
    guardrail_tolerance: float = 0.0  # relative harm allowed before a guardrail fails (0.02 = 2 %)
    n_boot: int = 2000  # bootstrap resamples for the AOV lift CI; 0 = use Welch's CI (faster)
    seed: int = 0
    unit: str = "user"  # user | session: what a conversion is counted over (the customer is what is randomised)
    srm_alpha: float = 0.001  # sample-ratio mismatch alarm

    def __post_init__(self) -> None:
        if self.primary not in ("aov", "conversion"):
            raise ConfigError(f"primary metric {self.primary!r}: use 'aov' or 'conversion'")
        if self.unit not in ("session", "user"):
            raise ConfigError(f"unit {self.unit!r}: use 'session' or 'user'")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha}: must be between 0 and 1")
        if self.guardrail_tolerance < 0:
            raise ConfigError(f"guardrail tolerance {self.guardrail_tolerance}: must be >= 0")


@dataclass(frozen=True)
class ArmData:
    """One arm's raw outcomes: per unit (session or customer) converted and carted flags, per order its value and,
    when known, its customer (any ids), so that AOV is tested over customers rather than orders. Optional margin:
    per order its margin, and per unit its customer (margin per visit counts the units that bought nothing)."""

    name: str
    converted: np.ndarray
    carted: np.ndarray
    order_values: np.ndarray
    order_users: np.ndarray | None = None
    order_margins: np.ndarray | None = None
    unit_users: np.ndarray | None = None


@dataclass(frozen=True)
class MetricResult:
    metric: str
    control: float
    treatment: float
    rel: float  # treatment / control - 1
    rel_low: float
    rel_high: float
    p_value: float
    method: str


@dataclass(frozen=True)
class Guardrail:
    metric: str
    higher_is_better: bool
    result: MetricResult
    status: str  # pass | fail
    note: str


@dataclass(frozen=True)
class AbResult:
    control: str
    treatment: str
    units: tuple[int, int]
    orders: tuple[int, int]
    primary: MetricResult
    secondary: MetricResult | None  # the other of aov / conversion
    margin: tuple[MetricResult, ...]  # margin per order, per visitor (or session); empty when the log has no margin
    guardrails: tuple[Guardrail, ...]
    srm_p: float
    winner: str | None  # the treatment, the control, or None (no difference, a failed guardrail, or SRM)
    verdict: str
    notes: tuple[str, ...] = ()  # what was left out, and why

    def to_dict(self) -> dict:
        out = asdict(self)
        return _json_safe(out)


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def arms_from_log(log: pd.DataFrame, unit: str = "user") -> dict[str, ArmData]:
    """Each variant's outcomes from a validated recommendation log. Customers without a variant are left out."""
    if (log["variant"] == NO_VARIANT).all():
        raise DataError("the log has no 'variant' column (or it is empty): an A/B analysis needs each customer's variant")
    log = log[log["variant"] != NO_VARIANT]
    ev = log["event_type"]
    key = "visit" if unit == "session" else "user_id"
    flags = pd.DataFrame({key: log[key], "user": log["user_id"], "variant": log["variant"], "converted": ev == "purchase",
                          "carted": ev.isin(["add_to_cart", "purchase"])})
    units = flags.groupby(key).agg(variant=("variant", "first"), user=("user", "first"), converted=("converted", "any"),
                                   carted=("carted", "any"))
    buys = log[ev == "purchase"]
    by_visit = buys.groupby("visit")
    orders = by_visit.agg(variant=("variant", "first"), user=("user_id", "first"))
    orders = orders.assign(value=by_visit["price"].sum(min_count=1))
    # Validation makes margin all-or-nothing on purchase rows, so one look at the whole log decides for every arm.
    has_margin = "margin" in log.columns and len(buys) > 0 and bool(buys["margin"].notna().all())
    if has_margin:
        orders = orders.assign(margin=by_visit["margin"].sum())
    arms = {}
    for name, part in units.groupby("variant"):
        mine = orders[orders["variant"] == name]
        arms[str(name)] = ArmData(str(name), part["converted"].to_numpy(bool), part["carted"].to_numpy(bool),
                                  mine["value"].to_numpy(np.float64), mine["user"].to_numpy(),
                                  mine["margin"].to_numpy(np.float64) if has_margin else None, part["user"].to_numpy())
    return arms


def _conversion(a: ArmData, b: ArmData, alpha: float) -> MetricResult:
    t = two_proportion_ztest(a.converted.sum(), len(a.converted), b.converted.sum(), len(b.converted), alpha)
    return MetricResult("conversion", float(t.rate_a), float(t.rate_b), float(t.rel), float(t.rel_low), float(t.rel_high),
                        float(t.p_value), "two-proportion z-test; CI: log ratio")


def _abandonment(a: ArmData, b: ArmData, alpha: float) -> MetricResult:
    """Cart abandonment = carted units without a purchase / carted units."""
    counts = [(int((x.carted & ~x.converted).sum()), int(x.carted.sum())) for x in (a, b)]
    t = two_proportion_ztest(counts[0][0], counts[0][1], counts[1][0], counts[1][1], alpha)
    return MetricResult("cart_abandonment", float(t.rate_a), float(t.rate_b), float(t.rel), float(t.rel_low),
                        float(t.rel_high), float(t.p_value), "two-proportion z-test; CI: log ratio")


def _aov(a: ArmData, b: ArmData, cfg: AnalysisConfig) -> MetricResult:
    if np.isnan(a.order_values).any() or np.isnan(b.order_values).any():
        raise DataError("AOV needs a price on every purchase; the log has none: use the conversion metric (--primary conversion)")
    return _per_order("aov", a, b, a.order_values, b.order_values, cfg)


def _per_order(metric: str, a: ArmData, b: ArmData, va: np.ndarray, vb: np.ndarray, cfg: AnalysisConfig) -> MetricResult:
    """An average per order (AOV, margin per order): over customers when each order's customer is known."""
    if a.order_users is not None and b.order_users is not None:
        return _customer_ratio(metric, _per_customer(a.order_users, va), _per_customer(b.order_users, vb), cfg)
    w = welch_ttest(va, vb, cfg.alpha)
    if cfg.n_boot > 0:
        low, high = bootstrap_lift_ci(va, vb, cfg.n_boot, cfg.alpha, cfg.seed)
        method = f"Welch's t-test over orders (taken as independent); CI: bootstrap ({cfg.n_boot} resamples, seed {cfg.seed})"
    else:
        low, high = float(w.diff_low / w.mean_a), float(w.diff_high / w.mean_a)
        method = "Welch's t-test over orders (taken as independent); CI: Welch difference / control mean"
    return MetricResult(metric, float(w.mean_a), float(w.mean_b), float(w.rel), low, high, float(w.p_value), method)


def _per_customer(order_users: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum of the values, orders) per customer with at least one order."""
    _, idx = np.unique(np.asarray(order_users).astype(str), return_inverse=True)
    return np.bincount(idx, weights=values), np.bincount(idx).astype(np.float64)


def _per_visiting_customer(arm: ArmData) -> tuple[np.ndarray, np.ndarray]:
    """(margin, units) per customer of the arm, buyers or not: margin per visit must count the visits that earned 0."""
    users, units = np.unique(np.asarray(arm.unit_users).astype(str), return_counts=True)
    buyers = np.asarray(arm.order_users).astype(str)
    pos = np.minimum(np.searchsorted(users, buyers), max(len(users) - 1, 0))
    if len(buyers) and (len(users) == 0 or not np.array_equal(users[pos], buyers)):
        raise ValueError(f"arm {arm.name!r}: order_users has customers that unit_users lacks")
    return np.bincount(pos, weights=arm.order_margins, minlength=len(users)), units.astype(np.float64)


def _customer_ratio(metric: str, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                    cfg: AnalysisConfig) -> MetricResult:
    """sum(num) / sum(den) per arm from per-customer (num, den): customers are what is randomised, so they are the
    independent unit of the variance (delta method) and of the bootstrap."""
    t = cluster_ratio_ztest(*a, *b, cfg.alpha)
    if cfg.n_boot > 0:
        low, high = bootstrap_ratio_lift_ci(*a, *b, cfg.n_boot, cfg.alpha, cfg.seed)
        ci = f"customer bootstrap ({cfg.n_boot} resamples, seed {cfg.seed})"
    else:
        low, high, ci = float(t.rel_low), float(t.rel_high), "delta method, log ratio"
    return MetricResult(metric, float(t.ratio_a), float(t.ratio_b), float(t.rel), low, high, float(t.p_value),
                        f"delta-method z-test over customers; CI: {ci}")


NO_MARGIN = ("margin per order and per visit: not reported (the log has no 'margin' column with the unit margin of "
             "each purchase)")


def _margins(a: ArmData, b: ArmData, cfg: AnalysisConfig) -> tuple[tuple[MetricResult, ...], tuple[str, ...]]:
    """(margin metrics, notes). Absent, not zero, without margins: a shop that never logged them earns something."""
    if a.order_margins is None or b.order_margins is None:
        return (), (NO_MARGIN,)
    per_order = _per_order("margin_per_order", a, b, a.order_margins, b.order_margins, cfg)
    if any(x.unit_users is None or x.order_users is None for x in (a, b)):
        return (per_order,), ("margin per visit: not reported (needs each unit's and each order's customer)",)
    per_visit = "margin_per_visitor" if cfg.unit == "user" else "margin_per_session"
    return (per_order, _customer_ratio(per_visit, _per_visiting_customer(a), _per_visiting_customer(b), cfg)), ()


def _guardrail(result: MetricResult, higher_is_better: bool, tol: float) -> Guardrail:
    """Fails when the whole CI of the relative change lies on the harmful side beyond the tolerance."""
    worst, best = (result.rel_low, result.rel_high) if higher_is_better else (-result.rel_high, -result.rel_low)
    if not np.isfinite(worst) or not np.isfinite(best):
        return Guardrail(result.metric, higher_is_better, result, "pass", "not enough data to check")
    if best < -tol:
        note = f"significantly worse (beyond the {100 * tol:g} % tolerance)"
        return Guardrail(result.metric, higher_is_better, result, "fail", note)
    harm = "drop" if higher_is_better else "rise"
    note = f"can't rule out a {harm} of up to {100 * abs(worst):.1f} %" if worst < -tol else "no harm detected"
    return Guardrail(result.metric, higher_is_better, result, "pass", note)


def analyze_arms(control: ArmData, treatment: ArmData, cfg: AnalysisConfig = AnalysisConfig(),
                 expected_treatment_share: float = 0.5) -> AbResult:
    """The full reading of one treatment against the control."""
    conv = _conversion(control, treatment, cfg.alpha)
    aov = _aov(control, treatment, cfg) if cfg.primary == "aov" or _has_prices(control, treatment) else None
    primary, secondary = (aov, conv) if cfg.primary == "aov" else (conv, aov)
    margin, notes = _margins(control, treatment, cfg)
    guards = [(_abandonment(control, treatment, cfg.alpha), False)]
    if cfg.primary != "conversion":
        guards.insert(0, (conv, True))
    guardrails = tuple(_guardrail(r, hib, cfg.guardrail_tolerance) for r, hib in guards)
    units = (len(control.converted), len(treatment.converted))
    srm_p = float(sample_ratio_pvalue(units[0], units[1], expected_treatment_share))
    winner, verdict = verdict_of(control.name, treatment.name, primary, (secondary, *margin), guardrails, srm_p, units, cfg)
    return AbResult(control.name, treatment.name, units, (len(control.order_values), len(treatment.order_values)),
                    primary, secondary, margin, guardrails, srm_p, winner, verdict, notes)


def _has_prices(a: ArmData, b: ArmData) -> bool:
    return all(len(x.order_values) > 1 and not np.isnan(x.order_values).any() for x in (a, b))


def analyze_log(log: pd.DataFrame, control: str | None = None, treatment: str | None = None,
                cfg: AnalysisConfig = AnalysisConfig(), shares: dict[str, float] | None = None) -> list[AbResult]:
    """Each treatment against the control (default control: the first variant in sorted order; default
    treatments: all others). `shares`: each variant's expected share of units, for the sample-ratio check
    (default: equal)."""
    arms = arms_from_log(log, cfg.unit)
    names = sorted(arms)
    control = control or names[0]
    treatments = [treatment] if treatment else [n for n in names if n != control]
    for name in [control, *treatments]:
        if name not in arms:
            raise DataError(f"variant {name!r} is not in the log; variants there: {names}")
    if not treatments:
        raise DataError(f"the log has only one variant ({names}): nothing to compare")
    results = []
    for name in treatments:
        if shares is not None and not {name, control} <= set(shares):
            extra = sorted({name, control} - set(shares))
            raise DataError(f"variants {extra} are in the log but not in the experiment {sorted(shares)}")
        share = 0.5 if shares is None else shares[name] / (shares[name] + shares[control])
        results.append(analyze_arms(arms[control], arms[name], cfg, share))
    return results
