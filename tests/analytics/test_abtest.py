"""Reading an A/B test from a log: verdicts, guardrails, sample-ratio check, and the array API."""

from dataclasses import replace

import numpy as np
import pytest

from neurec.analytics.abtest import AnalysisConfig, ArmData, analyze_arms, analyze_log, arms_from_log, format_result
from neurec.analytics.reclog import validate_reclog
from neurec.data.errors import DataError

scipy_stats = pytest.importorskip("scipy.stats")


def test_arms_from_the_small_log(small_log):
    arms = arms_from_log(validate_reclog(small_log), unit="session")
    assert sorted(arms) == ["A", "B"]
    assert arms["A"].converted.tolist().count(True) == 2 and len(arms["A"].converted) == 3
    assert sorted(arms["A"].order_values) == [120.0, 150.0] and sorted(arms["B"].order_values) == [20.0, 140.0]
    assert arms["A"].carted.sum() == 3 and arms["B"].carted.sum() == 2
    users = arms_from_log(validate_reclog(small_log))  # customers by default: the randomised unit
    assert len(users["A"].converted) == 2 and users["A"].converted.all()
    assert len(users["A"].order_users) == len(users["A"].order_values)


def test_treatment_wins_on_aov(ab_log):
    log = validate_reclog(ab_log(n_users=20_000, conv=(0.1, 0.1), aov=(80.0, 92.0)))
    (result,) = analyze_log(log, cfg=AnalysisConfig(n_boot=500))
    assert result.winner == "B" and result.verdict.startswith("B wins: AOV +")
    assert "conversion unchanged" in result.verdict and "cart abandonment unchanged" in result.verdict
    assert result.primary.method.startswith("delta-method z-test over customers")
    assert result.primary.rel_low < result.primary.rel < result.primary.rel_high
    assert all(g.status == "pass" for g in result.guardrails)
    text = format_result(result)
    assert "delta-method" in text and "two-proportion z-test" in text and text.endswith(result.verdict)
    # Without customers per order, AOV falls back to Welch's test over orders: scipy's numbers.
    arms = {k: replace(v, order_users=None) for k, v in arms_from_log(log).items()}
    by_order = analyze_arms(arms["A"], arms["B"], AnalysisConfig(n_boot=0))
    ref = scipy_stats.ttest_ind(arms["B"].order_values, arms["A"].order_values, equal_var=False)
    assert by_order.primary.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert "taken as independent" in by_order.primary.method


def test_guardrail_stops_a_treatment_that_loses_customers(ab_log):
    log = validate_reclog(ab_log(n_users=20_000, conv=(0.12, 0.08), aov=(80.0, 92.0)))
    (result,) = analyze_log(log, cfg=AnalysisConfig(n_boot=0))
    assert result.winner is None and result.verdict.startswith("Do not ship B: guardrail failed: conversion -")
    conv = next(g for g in result.guardrails if g.metric == "conversion")
    assert conv.status == "fail" and conv.result.rel_high < 0
    relaxed = analyze_log(log, cfg=AnalysisConfig(n_boot=0, guardrail_tolerance=0.5))[0]
    assert next(g for g in relaxed.guardrails if g.metric == "conversion").status == "pass"


def test_aa_test_finds_nothing_and_conversion_primary(ab_log):
    log = validate_reclog(ab_log(n_users=6000, conv=(0.1, 0.1), aov=(80.0, 80.0), seed=11))
    (result,) = analyze_log(log, cfg=AnalysisConfig(primary="conversion", n_boot=200))
    assert result.primary.metric == "conversion" and result.secondary.metric == "aov"
    assert result.winner is None and result.verdict.startswith("No significant difference between A and B: conversion")
    assert result.to_dict()["primary"]["metric"] == "conversion"


def test_sample_ratio_mismatch_overrides_the_verdict():
    rng = np.random.default_rng(0)
    arm = lambda name, n, conv: ArmData(name, rng.random(n) < conv, rng.random(n) < 0.5, rng.gamma(2, 40, int(n * conv)))  # noqa: E731
    result = analyze_arms(arm("A", 10_000, 0.1), arm("B", 11_000, 0.1), AnalysisConfig(n_boot=0))
    assert result.srm_p < 0.001 and result.winner is None and result.verdict.startswith("Sample ratio mismatch")
    assert analyze_arms(arm("A", 9_000, 0.1), arm("B", 1_000, 0.1), AnalysisConfig(n_boot=0), 0.1).srm_p > 0.001


def test_analysis_errors(small_log):
    with pytest.raises(DataError, match="no 'variant' column"):
        analyze_log(validate_reclog(small_log.drop(columns="variant")))
    with pytest.raises(DataError, match="variant 'C' is not in the log"):
        analyze_log(validate_reclog(small_log), control="A", treatment="C")
    with pytest.raises(DataError, match="price on every purchase"):
        analyze_log(validate_reclog(small_log.drop(columns="price")))
    assert analyze_log(validate_reclog(small_log.drop(columns="price")), cfg=AnalysisConfig(primary="conversion"))[0].secondary is None
