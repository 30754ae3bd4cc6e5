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


def test_delta_method_ratio_by_hand_and_against_welch():
    # Two customers per arm. A: revenue (100, 300) over orders (1, 3); B: (200, 200) over (2, 1).
    t = stats.cluster_ratio_ztest([100.0, 300.0], [1.0, 3.0], [200.0, 200.0], [2.0, 1.0])
    ra, rb = 400 / 4, 400 / 3
    # A: var x = 20000, var y = 2, cov = 200, mean y = 2, n = 2
    var_a = (20000 - 2 * ra * 200 + ra**2 * 2) / (2 * 2**2)
    var_b = (0 - 2 * rb * 0 + rb**2 * 0.5) / (2 * 1.5**2)
    assert float(t.ratio_a) == pytest.approx(ra) and float(t.ratio_b) == pytest.approx(rb)
    assert float(t.z) == pytest.approx((rb - ra) / np.sqrt(var_a + var_b))
    # One order per customer: the ratio is a mean, and the z statistic is Welch's t exactly.
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2, 40, 500), rng.gamma(2, 42, 700)
    z = stats.cluster_ratio_ztest(a, np.ones_like(a), b, np.ones_like(b))
    assert float(z.z) == pytest.approx(float(stats.welch_ttest(a, b).t), rel=1e-12)


def test_clustered_aov_holds_its_level_where_a_per_order_test_does_not():
    """A/A tests on customers whose orders share a customer-level spend: the per-order t-test rejects far too
    often; the delta method over customers stays near alpha."""
    rng = np.random.default_rng(7)
    reps, n = 400, 400
    orders = rng.poisson(3.0, size=(reps, 2, n)) + 1  # 1 to ~10 orders per customer
    level = rng.gamma(2.0, 40.0, size=(reps, 2, n))  # the customer's typical order value
    per_order, clustered = [], []
    for r in range(reps):
        arms = []
        for arm in range(2):
            k = orders[r, arm]
            values = np.repeat(level[r, arm], k) * rng.gamma(20.0, 1 / 20.0, k.sum())
            users = np.repeat(np.arange(n), k)
            arms.append((values, np.bincount(users, weights=values), k.astype(float)))
        per_order.append(stats.welch_ttest(arms[0][0], arms[1][0]).p_value < 0.05)
        clustered.append(stats.cluster_ratio_ztest(arms[0][1], arms[0][2], arms[1][1], arms[1][2]).p_value < 0.05)
    assert np.mean(per_order) > 0.15
    assert 0.025 <= np.mean(clustered) <= 0.08


def test_cluster_bootstrap_is_seeded_and_reduces_to_the_mean_bootstrap():
    rng = np.random.default_rng(5)
    a, b = rng.gamma(2, 40, 300), rng.gamma(2, 44, 300)
    one = stats.bootstrap_ratio_lift_ci(a, np.ones_like(a), b, np.ones_like(b), 500, 0.05, 1)
    assert one == stats.bootstrap_lift_ci(a, b, 500, 0.05, 1)
    assert one[0] < b.mean() / a.mean() - 1 < one[1]
