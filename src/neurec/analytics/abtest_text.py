"""The words of an A/B result: the table `neurec-abtest analyze` prints and the one-sentence verdict.

Kept apart from the statistics in `neurec.analytics.abtest`, which builds the results this module only reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from neurec.analytics.abtest import AbResult, AnalysisConfig, Guardrail, MetricResult


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %" if np.isfinite(x) else "n/a"


_LABELS = {"aov": "AOV", "conversion": "conversion", "cart_abandonment": "cart abandonment",
           "margin_per_order": "margin per order", "margin_per_visitor": "margin per visitor",
           "margin_per_session": "margin per session"}
_RATES = ("conversion", "cart_abandonment")  # shown in %; the others are money


def _numbers(r: MetricResult, alpha: float) -> str:
    level = f"{100 * (1 - alpha):g} % CI"
    return f"{_pct(r.rel)} [{level} {_pct(r.rel_low)}, {_pct(r.rel_high)}], p = {_p(r.p_value)}"


def _describe(r: MetricResult, alpha: float) -> str:
    return f"{_LABELS[r.metric]} {_numbers(r, alpha)}"


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _change(r: MetricResult, alpha: float) -> str:
    word = "unchanged" if not r.p_value < alpha else ("up" if r.rel > 0 else "down")
    return f"{_LABELS[r.metric]} {word} ({_numbers(r, alpha)})"


def verdict_of(a: str, b: str, primary: MetricResult, reported: tuple[MetricResult | None, ...],
             guardrails: tuple[Guardrail, ...], srm_p: float, units: tuple[int, int],
             cfg: AnalysisConfig) -> tuple[str | None, str]:
    """`reported`: the secondary metric and the margins, named in the verdict (profit that moved must not hide behind
    "no significant difference" in AOV) but never deciding it."""
    others = [r for r in reported if r is not None]
    others += [g.result for g in guardrails if g.result.metric not in {r.metric for r in others}]
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
             f"{'metric':<20}{r.control:>14}{r.treatment:>14}{'change':>10}{'CI low':>10}{'CI high':>10}{'p':>9}  test"]
    ordered = [m for m in (r.primary, r.secondary) if m is not None]
    at = next((i + 1 for i, m in enumerate(ordered) if m.metric == "aov"), len(ordered))
    ordered[at:at] = r.margin  # profit right under revenue
    rows = {m.metric: m for m in (*ordered, *(g.result for g in r.guardrails))}
    for m in rows.values():
        show = (lambda v: f"{100 * v:.2f} %") if m.metric in _RATES else (lambda v: f"{v:,.2f}")
        lines.append(f"{m.metric:<20}{show(m.control):>14}{show(m.treatment):>14}{_pct(m.rel):>10}{_pct(m.rel_low):>10}"
                     f"{_pct(m.rel_high):>10}{_p(m.p_value):>9}  {m.method}")
    lines += [f"note: {n}" for n in r.notes]
    for g in r.guardrails:
        lines.append(f"guardrail {g.metric}: {g.status} ({g.note})")
    lines.append(r.verdict)
    return "\n".join(lines)
