"""The statistics against scipy (a test-only reference) and textbook values."""

import numpy as np
import pytest

from neurec.analytics import stats

scipy_stats = pytest.importorskip("scipy.stats")
special = pytest.importorskip("scipy.special")


def test_normal_quantiles_match_textbook_tables():
    assert stats.norm_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-12)
    assert stats.norm_ppf(0.8) == pytest.approx(0.8416212335729143, abs=1e-12)
    p = np.array([1e-8, 0.01, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(stats.norm_ppf(p), scipy_stats.norm.ppf(p), atol=1e-10)
    np.testing.assert_allclose(stats.norm_cdf([-3, 0, 1.5]), scipy_stats.norm.cdf([-3, 0, 1.5]), atol=1e-15)


def test_incomplete_beta_matches_scipy():
    rng = np.random.default_rng(0)
    a, b, x = rng.uniform(0.1, 60, 500), rng.uniform(0.1, 60, 500), rng.uniform(0, 1, 500)
    np.testing.assert_allclose(stats.betainc(a, b, x), special.betainc(a, b, x), atol=1e-12)


@pytest.mark.parametrize("df", [1, 2, 3.5, 10, 30, 250, 5_000, 2e5])
def test_t_distribution_matches_scipy(df):
    t = np.linspace(-8, 8, 33)
    np.testing.assert_allclose(stats.t_cdf(t, df), scipy_stats.t.cdf(t, df), atol=1e-10)
    for p in (0.9, 0.975, 0.995):
        assert stats.t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), abs=1e-8)


def test_t_quantiles_from_textbook_table():
    # Student's t table: two-sided 95 % critical values
    for df, value in [(1, 12.706), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)]:
        assert stats.t_ppf(0.975, df) == pytest.approx(value, abs=5e-4)


def test_two_proportion_z_test_by_hand():
    # 200/2000 vs 250/2000: pooled p = 0.1125, se = sqrt(.1125 * .8875 * (2/2000)) = 0.009992, z = 0.025 / se
    t = stats.two_proportion_ztest(200, 2000, 250, 2000)
    se = np.sqrt(0.1125 * 0.8875 * 2 / 2000)
    assert float(t.z) == pytest.approx(0.025 / se, rel=1e-12)
    assert float(t.p_value) == pytest.approx(2 * scipy_stats.norm.sf(0.025 / se), rel=1e-9)
    assert float(t.rel) == pytest.approx(0.25)
    se1 = np.sqrt(0.1 * 0.9 / 2000 + 0.125 * 0.875 / 2000)
    assert float(t.diff_low) == pytest.approx(0.025 - 1.959963984540054 * se1, rel=1e-9)
    assert float(t.rel_low) < 0.25 < float(t.rel_high)


def test_two_proportion_test_agrees_with_chi_square():
    # a 2x2 chi-square test without continuity correction is the square of the pooled z-test
    table = np.array([[120, 880], [150, 850]])
    chi2, p, _, _ = scipy_stats.chi2_contingency(table, correction=False)
    t = stats.two_proportion_ztest(120, 1000, 150, 1000)
    assert float(t.z) ** 2 == pytest.approx(chi2, rel=1e-10)
    assert float(t.p_value) == pytest.approx(p, rel=1e-8)


def test_welch_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(2.0, 40.0, 300), rng.gamma(2.0, 45.0, 260)
    mine = stats.welch_ttest(a, b)
    ref = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert float(mine.t) == pytest.approx(ref.statistic, rel=1e-10)
    assert float(mine.p_value) == pytest.approx(ref.pvalue, rel=1e-8)
    assert float(mine.df) == pytest.approx(ref.df, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (float(mine.diff_low), float(mine.diff_high)) == pytest.approx((ci.low, ci.high), rel=1e-8)


def test_vectorised_aa_tests_match_scipy_and_hold_their_level():
    """300 A/A tests in one call: each equals scipy's, and about 5 % come out significant."""
    rng = np.random.default_rng(2)
    values = rng.gamma(2.0, 40.0, size=(300, 2, 400))
    mean, var = values.mean(axis=2), values.var(axis=2, ddof=1)
    res = stats.welch_ttest_stats(mean[:, 0], var[:, 0], 400, mean[:, 1], var[:, 1], 400)
    ref = scipy_stats.ttest_ind(values[:, 1], values[:, 0], axis=1, equal_var=False)
    np.testing.assert_allclose(res.p_value, ref.pvalue, rtol=1e-7)
    conv = rng.binomial(5000, 0.05, size=(300, 2))
    z = stats.two_proportion_ztest(conv[:, 0], 5000, conv[:, 1], 5000)
    for p in (res.p_value, z.p_value):
        assert 0.02 < (p < 0.05).mean() < 0.09


def test_bootstrap_ci_is_seeded_and_covers_the_lift():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 40.0, 2000), rng.gamma(2.0, 44.0, 2000)
    ci = stats.bootstrap_lift_ci(a, b, n_boot=1000, rng=5)
    assert ci == stats.bootstrap_lift_ci(a, b, n_boot=1000, rng=5)
    assert ci[0] < b.mean() / a.mean() - 1 < ci[1]
    small_chunks = stats.bootstrap_lift_ci(a, b, n_boot=1000, rng=5, chunk_elems=10_000)
    assert small_chunks[0] == pytest.approx(ci[0], abs=0.02) and small_chunks[1] == pytest.approx(ci[1], abs=0.02)
    # the percentile CI is close to the delta-method one for a large sample
    se = np.sqrt(a.var(ddof=1) / len(a) / a.mean() ** 2 + b.var(ddof=1) / len(b) / a.mean() ** 2) * b.mean() / a.mean()
    assert ci[1] - ci[0] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_sample_ratio_check():
    assert float(stats.sample_ratio_pvalue(5000, 5050)) > 0.5
    assert float(stats.sample_ratio_pvalue(5000, 5600)) < 0.001
    assert float(stats.sample_ratio_pvalue(9000, 1000, share_b=0.1)) == pytest.approx(1.0)
