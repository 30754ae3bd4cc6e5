"""Reading an A/B test from a log: verdicts, guardrails, sample-ratio check, and the array API."""

import math
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


# Unit margins for the small log: X 30, Y 8, Z -5 (a loss leader). Orders: A a1 {X, Y} = 38, a2 {Z, X} = 25;
# B b1 {X, Y, Y} = 46, b2 {Y} = 8. Sessions: A a1 s1, a1 s2, a2 s1; B b1 s1, b2 s1, b2 s2.
UNIT_MARGIN = {"X": 30.0, "Y": 8.0, "Z": -5.0}


def _with_margin(log, rate=None):
    """The log with a margin column on purchase rows: UNIT_MARGIN, or rate[variant] x price."""
    buys = log["event_type"] == "purchase"
    margin = log["item_id"].map(UNIT_MARGIN) if rate is None else log["price"] * log["variant"].map(rate)
    return log.assign(margin=margin.where(buys))


def test_margin_figures_by_hand(small_log):
    log = validate_reclog(_with_margin(small_log))
    arms = arms_from_log(log)
    assert sorted(arms["A"].order_margins) == [25.0, 38.0] and sorted(arms["B"].order_margins) == [8.0, 46.0]
    by_user = analyze_log(log, cfg=AnalysisConfig(n_boot=0))[0]
    per_order, per_visitor = by_user.margin
    assert (per_order.metric, per_order.control, per_order.treatment) == ("margin_per_order", 31.5, 27.0)
    assert per_order.rel == pytest.approx(27 / 31.5 - 1)
    # One order per customer here, so the delta method is a z-test of means with sample variances (ddof 1).
    z = (27.0 - 31.5) / math.sqrt(np.var([38, 25], ddof=1) / 2 + np.var([46, 8], ddof=1) / 2)
    assert per_order.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert (per_visitor.metric, per_visitor.control, per_visitor.treatment) == ("margin_per_visitor", 31.5, 27.0)
    by_session = analyze_log(log, cfg=AnalysisConfig(n_boot=0, unit="session"))[0].margin[1]
    assert (by_session.metric, by_session.control, by_session.treatment) == ("margin_per_session", 21.0, 18.0)
    assert by_user.notes == () and by_user.to_dict()["margin"][0]["control"] == 31.5


def test_margin_lift_is_found_and_an_aa_log_shows_none(ab_log):
    base = ab_log(n_users=20_000, conv=(0.1, 0.1), aov=(80.0, 80.0), seed=4)
    lift = analyze_log(validate_reclog(_with_margin(base, {"A": 0.20, "B": 0.25})), cfg=AnalysisConfig(n_boot=300))[0]
    per_order, per_visitor = lift.margin
    assert per_order.p_value < 0.001 and per_order.rel_low > 0 and per_order.rel == pytest.approx(0.25, abs=0.06)
    assert per_visitor.p_value < 0.05 and per_visitor.rel_low > 0
    assert per_order.method.startswith("delta-method z-test over customers; CI: customer bootstrap (300")
    assert lift.primary.p_value > 0.05 and lift.winner is None  # AOV is unchanged, and it decides: margin only reports
    assert lift.verdict.startswith("No significant difference") and "margin per order up (+" in lift.verdict
    same = analyze_log(validate_reclog(_with_margin(base, {"A": 0.20, "B": 0.20})), cfg=AnalysisConfig(n_boot=300))[0]
    assert all(m.p_value > 0.05 and m.rel_low < 0 < m.rel_high for m in same.margin)
    text = format_result(lift)
    lines = text.splitlines()
    assert [ln.split()[0] for ln in lines[2:5]] == ["aov", "margin_per_order", "margin_per_visitor"]
    assert f"{per_order.control:,.2f}" in lines[3] and "note:" not in text


def test_no_margin_column_no_margin_figures(small_log):
    (result,) = analyze_log(validate_reclog(small_log), cfg=AnalysisConfig(n_boot=0))
    assert result.margin == () and arms_from_log(validate_reclog(small_log))["A"].order_margins is None
    text = format_result(result)
    assert text.count("note: margin per order and per visit: not reported") == 1 and "margin_per" not in text
    assert result.to_dict()["margin"] == [] and "'margin' column" in result.to_dict()["notes"][0]


@pytest.mark.parametrize("bad", [np.nan, None, "", "n/a", "12,5", "inf", -np.inf])
def test_bad_margin_on_a_purchase_row_names_it(small_log, bad):
    log = _with_margin(small_log).astype({"margin": object})
    log.loc[4, "margin"] = bad  # row 5 of the file: a1's purchase of X
    with pytest.raises(DataError, match=r"1 purchase row\(s\) with a missing, non-numeric or infinite margin.*row 5: "):
        validate_reclog(log, "log.csv")


def test_margin_may_be_negative_and_empty_off_purchases(small_log):
    log = _with_margin(small_log).astype({"margin": object})
    log.loc[log["event_type"] == "view", "margin"] = "text on a view row is not read"
    clean = validate_reclog(log)
    assert clean.loc[clean["event_type"] == "purchase", "margin"].min() == -5.0


def test_margin_from_arrays_without_customers():
    rng = np.random.default_rng(2)
    arm = lambda name, m: ArmData(name, rng.random(2000) < 0.1, rng.random(2000) < 0.5,  # noqa: E731
                                  rng.gamma(2, 40, 200), order_margins=rng.gamma(2, m, 200))
    result = analyze_arms(arm("A", 10.0), arm("B", 10.0), AnalysisConfig(n_boot=0))
    (per_order,) = result.margin
    assert "taken as independent" in per_order.method and result.notes[0].startswith("margin per visit: not reported")
    users = np.array(["u1", "u2"])
    stray = ArmData("A", np.ones(2, bool), np.ones(2, bool), np.array([10.0, 20.0]), np.array(["u1", "u9"]),
                    np.array([1.0, 2.0]), users)
    with pytest.raises(ValueError, match="order_users has customers that unit_users lacks"):
        analyze_arms(stray, replace(stray, name="B", order_users=users), AnalysisConfig(n_boot=0))
