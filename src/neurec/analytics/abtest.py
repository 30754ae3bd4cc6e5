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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

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
    when known, its customer (any ids), so that AOV is tested over customers rather than orders."""

    name: str
    converted: np.ndarray
    carted: np.ndarray
    order_values: np.ndarray
    order_users: np.ndarray | None = None


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
    guardrails: tuple[Guardrail, ...]
    srm_p: float
    winner: str | None  # the treatment, the control, or None (no difference, a failed guardrail, or SRM)
    verdict: str

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
    flags = pd.DataFrame({key: log[key], "variant": log["variant"], "converted": ev == "purchase",
                          "carted": ev.isin(["add_to_cart", "purchase"])})
    units = flags.groupby(key).agg(variant=("variant", "first"), converted=("converted", "any"), carted=("carted", "any"))
    buys = log[ev == "purchase"]
    by_visit = buys.groupby("visit")
    orders = by_visit.agg(variant=("variant", "first"), user=("user_id", "first"))
    orders = orders.assign(value=by_visit["price"].sum(min_count=1))
    arms = {}
    for name, part in units.groupby("variant"):
        mine = orders[orders["variant"] == name]
        arms[str(name)] = ArmData(str(name), part["converted"].to_numpy(bool), part["carted"].to_numpy(bool),
                                  mine["value"].to_numpy(np.float64), mine["user"].to_numpy())
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
    va, vb = a.order_values, b.order_values
    if np.isnan(va).any() or np.isnan(vb).any():
        raise DataError("AOV needs a price on every purchase; the log has none: use the conversion metric (--primary conversion)")
    if a.order_users is not None and b.order_users is not None:
        return _aov_by_customer(a, b, cfg)
    w = welch_ttest(va, vb, cfg.alpha)
    if cfg.n_boot > 0:
        low, high = bootstrap_lift_ci(va, vb, cfg.n_boot, cfg.alpha, cfg.seed)
        method = f"Welch's t-test over orders (taken as independent); CI: bootstrap ({cfg.n_boot} resamples, seed {cfg.seed})"
    else:
        low, high = float(w.diff_low / w.mean_a), float(w.diff_high / w.mean_a)
        method = "Welch's t-test over orders (taken as independent); CI: Welch difference / control mean"
    return MetricResult("aov", float(w.mean_a), float(w.mean_b), float(w.rel), low, high, float(w.p_value), method)


def _per_customer(arm: ArmData) -> tuple[np.ndarray, np.ndarray]:
    """(revenue, orders) per customer with at least one order."""
    _, idx = np.unique(np.asarray(arm.order_users).astype(str), return_inverse=True)
    return np.bincount(idx, weights=arm.order_values), np.bincount(idx).astype(np.float64)


def _aov_by_customer(a: ArmData, b: ArmData, cfg: AnalysisConfig) -> MetricResult:
    (ra, oa), (rb, ob) = _per_customer(a), _per_customer(b)
    t = cluster_ratio_ztest(ra, oa, rb, ob, cfg.alpha)
    if cfg.n_boot > 0:
        low, high = bootstrap_ratio_lift_ci(ra, oa, rb, ob, cfg.n_boot, cfg.alpha, cfg.seed)
        ci = f"customer bootstrap ({cfg.n_boot} resamples, seed {cfg.seed})"
    else:
        low, high, ci = float(t.rel_low), float(t.rel_high), "delta method, log ratio"
    return MetricResult("aov", float(t.ratio_a), float(t.ratio_b), float(t.rel), low, high, float(t.p_value),
                        f"delta-method z-test over customers; CI: {ci}")


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
    guards = [(_abandonment(control, treatment, cfg.alpha), False)]
    if cfg.primary != "conversion":
        guards.insert(0, (conv, True))
    guardrails = tuple(_guardrail(r, hib, cfg.guardrail_tolerance) for r, hib in guards)
    units = (len(control.converted), len(treatment.converted))
    srm_p = float(sample_ratio_pvalue(units[0], units[1], expected_treatment_share))
    winner, verdict = _verdict(control.name, treatment.name, primary, secondary, guardrails, srm_p, units, cfg)
    return AbResult(control.name, treatment.name, units, (len(control.order_values), len(treatment.order_values)),
                    primary, secondary, guardrails, srm_p, winner, verdict)


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


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %" if np.isfinite(x) else "n/a"


def _describe(r: MetricResult, alpha: float) -> str:
    label = {"aov": "AOV", "conversion": "conversion", "cart_abandonment": "cart abandonment"}[r.metric]
    level = f"{100 * (1 - alpha):g} % CI"
    return f"{label} {_pct(r.rel)} [{level} {_pct(r.rel_low)}, {_pct(r.rel_high)}], p = {_p(r.p_value)}"


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _change(r: MetricResult, alpha: float) -> str:
    word = "unchanged" if not r.p_value < alpha else ("up" if r.rel > 0 else "down")
    text = _describe(r, alpha)
    head, _, rest = text.partition(" ")
    if r.metric == "cart_abandonment":
        head, rest = "cart abandonment", text.removeprefix("cart abandonment ")
    return f"{head} {word} ({rest})"


def _verdict(a: str, b: str, primary: MetricResult, secondary: MetricResult | None, guardrails: tuple[Guardrail, ...],
             srm_p: float, units: tuple[int, int], cfg: AnalysisConfig) -> tuple[str | None, str]:
    others = [secondary] if secondary is not None else []
    others += [g.result for g in guardrails if g.result.metric != (secondary.metric if secondary else None)]
    tail = "; ".join(_change(r, cfg.alpha) for r in others)
    main = _describe(primary, cfg.alpha)
    if srm_p < cfg.srm_alpha:
        return None, (f"Sample ratio mismatch: {units[0]:,} vs {units[1]:,} units, p = {_p(srm_p)}. Check assignment and "
                      f"logging before reading the result ({main}; {tail}).")
    failed = [g for g in guardrails if g.status == "fail"]
    if failed:
        names = ", ".join(_describe(g.result, cfg.alpha) for g in failed)
        return None, f"Do not ship {b}: guardrail failed: {names}. Primary: {main}."
    significant = primary.p_value < cfg.alpha
    if significant and primary.rel > 0:
        return b, f"{b} wins: {main}; {tail}."
    if significant:
        return a, f"{a} wins ({b} is worse): {main}; {tail}."
    return None, f"No significant difference between {a} and {b}: {main}; {tail}."


def format_result(r: AbResult) -> str:
    lines = [f"{r.treatment} vs {r.control}: units {r.units[0]:,} / {r.units[1]:,}, orders {r.orders[0]:,} / {r.orders[1]:,}, "
             f"sample-ratio p = {_p(r.srm_p)}",
             f"{'metric':<18}{r.control:>14}{r.treatment:>14}{'change':>10}{'CI low':>10}{'CI high':>10}{'p':>9}  test"]
    rows = {m.metric: m for m in (r.primary, r.secondary, *(g.result for g in r.guardrails)) if m is not None}
    for m in rows.values():
        show = (lambda v: f"{100 * v:.2f} %") if m.metric != "aov" else (lambda v: f"{v:,.2f}")
        lines.append(f"{m.metric:<18}{show(m.control):>14}{show(m.treatment):>14}{_pct(m.rel):>10}{_pct(m.rel_low):>10}"
                     f"{_pct(m.rel_high):>10}{_p(m.p_value):>9}  {m.method}")
    for g in r.guardrails:
        lines.append(f"guardrail {g.metric}: {g.status} ({g.note})")
    lines.append(r.verdict)
    return "\n".join(lines)
