"""The statistics an A/B test needs, in numpy and the standard library (no scipy at run time).

Every test takes arrays as well as scalars, so a simulation can run hundreds of A/A tests in one call: pass each
arm's per-test summaries (counts, means, variances) as arrays of the same shape.

Distributions: the normal CDF from math.erfc; Student's t CDF from the regularized incomplete beta function,
evaluated by its continued fraction (modified Lentz); quantiles by bisection on the CDF, which is monotone, so
bisection can't miss and 80 halvings reach double precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_erfc = np.frompyfunc(math.erfc, 1, 1)
_lgamma = np.frompyfunc(math.lgamma, 1, 1)
_TINY = 1e-300
_BIG_DF = 1e7  # beyond this, t and normal agree to ~1e-8 and the continued fraction needs too many steps


def norm_cdf(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(0.5 * _erfc(-x / math.sqrt(2.0)), dtype=np.float64)


def norm_sf(x) -> np.ndarray:
    """1 - cdf, computed directly so that tiny tail probabilities keep their digits."""
    return norm_cdf(-np.asarray(x, dtype=np.float64))


def _bisect(cdf, p: np.ndarray, lo: float, hi: float, steps: int = 80) -> np.ndarray:
    lo_arr, hi_arr = np.full(p.shape, lo), np.full(p.shape, hi)
    for _ in range(steps):
        mid = 0.5 * (lo_arr + hi_arr)
        below = cdf(mid) < p
        lo_arr, hi_arr = np.where(below, mid, lo_arr), np.where(below, hi_arr, mid)
    return 0.5 * (lo_arr + hi_arr)


def norm_ppf(p) -> np.ndarray | float:
    p = np.asarray(p, dtype=np.float64)
    out = _bisect(norm_cdf, p, -40.0, 40.0)
    out = np.where(p <= 0, -np.inf, np.where(p >= 1, np.inf, out))
    return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=64)
def _z_two_sided(alpha: float) -> float:
    """z_{1 - alpha/2}, cached: a simulation asks for the same alpha thousands of times."""
    return float(norm_ppf(1 - alpha / 2))


def betainc(a, b, x) -> np.ndarray:
    """Regularized incomplete beta I_x(a, b), elementwise. Continued fraction on the side where it converges fast."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, x)))
    flip = x > (a + 1.0) / (a + b + 2.0)  # I_x(a, b) = 1 - I_{1-x}(b, a)
    aa, bb, xx = np.where(flip, b, a), np.where(flip, a, b), np.where(flip, 1.0 - x, x)
    inner = np.clip(xx, _TINY, 1.0)
    log_front = (
        aa * np.log(inner) + bb * np.log1p(-np.minimum(inner, 1 - 1e-16))
        - np.asarray(_lgamma(aa) + _lgamma(bb) - _lgamma(aa + bb), dtype=np.float64)
    )
    value = np.exp(log_front) * _beta_fraction(aa, bb, xx) / aa
    value = np.where(xx <= 0, 0.0, np.where(xx >= 1, 1.0, value))
    return np.where(flip, 1.0 - value, value)


def _beta_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray, max_steps: int = 5000) -> np.ndarray:
    """The continued fraction of I_x(a, b) (Lentz's method). An element stops updating once it has converged:
    carried on, rounding makes a converged element drift by a few ulps and it would never be declared done."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    done = ~np.isfinite(h)
    for m in range(1, max_steps + 1):
        m2 = 2.0 * m
        step = np.ones_like(x)
        for coef in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + coef * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + coef / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            step = d * c
            h = np.where(done, h, h * step)
        done |= (np.abs(step - 1.0) < 3e-16) | ~np.isfinite(step)
        if done.all():
            break
    return h


def t_cdf(t, df) -> np.ndarray:
    """Student's t CDF: the two tails together are I_{df/(df+t^2)}(df/2, 1/2)."""
    t, df = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(df, dtype=np.float64))
    big = df > _BIG_DF
    safe_df = np.where(big, 1.0, df)
    tails = betainc(safe_df / 2.0, 0.5, safe_df / (safe_df + t * t))
    out = np.where(t > 0, 1.0 - 0.5 * tails, 0.5 * tails)
    return np.where(big, norm_cdf(t), out)


def t_pdf(t, df) -> np.ndarray:
    t, df = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(df, dtype=np.float64))
    log_c = np.asarray(_lgamma((df + 1) / 2) - _lgamma(df / 2), dtype=np.float64) - 0.5 * np.log(df * math.pi)
    return np.exp(log_c - (df + 1) / 2 * np.log1p(t * t / df))


def t_ppf(p, df) -> np.ndarray | float:
    """Newton's method from the Cornish-Fisher expansion (a few steps for df >= 3); bisection for any element
    Newton leaves unconverged (heavy tails at df 1-2)."""
    p, df = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(df, dtype=np.float64))
    z = np.asarray(norm_ppf(p), dtype=np.float64)
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    with np.errstate(all="ignore"):
        for _ in range(6):
            step = (t_cdf(t, df) - p) / t_pdf(t, df)
            t = t - step
        # 1e-8: the CDF's own accuracy at df ~ 1e6 limits the last step there; NaN counts as not converged
        bad = ~(np.abs(step) <= 1e-8 * (1 + np.abs(t)))
    if bad.any():
        t = np.where(bad, _bisect(lambda x: t_cdf(x, df), p, -1e7, 1e7, steps=110), t)
    return float(t) if t.ndim == 0 else t


@dataclass(frozen=True)
class ProportionTest:
    """Two-proportion z-test of B against A. Arrays when the inputs were arrays.

    z = (p_B - p_A) / sqrt(p (1 - p) (1/n_A + 1/n_B)), p = pooled rate (the variance under H0: no difference).
    CI of the difference: unpooled standard error. CI of the relative change p_B/p_A - 1: exp of the log-ratio
    CI, var(log p̂) = (1 - p) / (n p) (delta method), which stays inside (-100 %, +inf).
    """

    rate_a: np.ndarray
    rate_b: np.ndarray
    diff: np.ndarray
    diff_low: np.ndarray
    diff_high: np.ndarray
    rel: np.ndarray
    rel_low: np.ndarray
    rel_high: np.ndarray
    z: np.ndarray
    p_value: np.ndarray


def two_proportion_ztest(x_a, n_a, x_b, n_b, alpha: float = 0.05) -> ProportionTest:
    """Successes x out of n trials in each arm (scalars or arrays of one shape)."""
    x_a, n_a, x_b, n_b = (np.asarray(v, dtype=np.float64) for v in (x_a, n_a, x_b, n_b))
    pa, pb = _ratio(x_a, n_a), _ratio(x_b, n_b)
    pooled = _ratio(x_a + x_b, n_a + n_b)
    se0 = np.sqrt(pooled * (1 - pooled) * (_ratio(1, n_a) + _ratio(1, n_b)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se0 > 0, (pb - pa) / se0, 0.0)
        se1 = np.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
        se_log = np.sqrt((1 - pa) / (n_a * pa) + (1 - pb) / (n_b * pb))
        log_ratio = np.log(pb / pa)
    q = _z_two_sided(alpha)
    p_value = np.where(se0 > 0, 2 * norm_sf(np.abs(z)), 1.0)
    with np.errstate(invalid="ignore", over="ignore"):  # a zero rate has no relative CI: NaN, not a warning
        rel_low, rel_high = np.exp(log_ratio - q * se_log) - 1, np.exp(log_ratio + q * se_log) - 1
    return ProportionTest(
        rate_a=pa, rate_b=pb, diff=pb - pa, diff_low=pb - pa - q * se1, diff_high=pb - pa + q * se1,
        rel=_ratio(pb, pa) - 1, rel_low=rel_low, rel_high=rel_high, z=z, p_value=p_value,
    )


@dataclass(frozen=True)
class MeanTest:
    """Welch's t-test of mean B against mean A (unequal variances, Welch-Satterthwaite degrees of freedom).

    t = (m_B - m_A) / sqrt(v_A/n_A + v_B/n_B), df = (v_A/n_A + v_B/n_B)^2 / ((v_A/n_A)^2/(n_A-1) + (v_B/n_B)^2/(n_B-1)),
    with v the sample variances (ddof=1). rel = m_B/m_A - 1; its CI here is the difference's CI over m_A (which
    ignores m_A's own noise: use `bootstrap_lift_ci` for the relative lift).
    """

    mean_a: np.ndarray
    mean_b: np.ndarray
    diff: np.ndarray
    diff_low: np.ndarray
    diff_high: np.ndarray
    rel: np.ndarray
    t: np.ndarray
    df: np.ndarray
    p_value: np.ndarray


def welch_ttest_stats(mean_a, var_a, n_a, mean_b, var_b, n_b, alpha: float = 0.05) -> MeanTest:
    """From each arm's mean, sample variance (ddof=1) and size; scalars or arrays of one shape."""
    mean_a, var_a, n_a, mean_b, var_b, n_b = (np.asarray(v, dtype=np.float64) for v in (mean_a, var_a, n_a, mean_b, var_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        sa, sb = var_a / n_a, var_b / n_b
        se = np.sqrt(sa + sb)
        t = (mean_b - mean_a) / se
        df = (sa + sb) ** 2 / (sa**2 / (n_a - 1) + sb**2 / (n_b - 1))
    ok = (se > 0) & np.isfinite(df)
    df_safe = np.where(ok, df, 1.0)
    t_safe = np.where(ok, t, 0.0)
    p_value = np.where(ok, 2 * t_cdf(-np.abs(t_safe), df_safe), np.nan)
    q = t_ppf(np.full(np.shape(df_safe), 1 - alpha / 2), df_safe)
    diff = mean_b - mean_a
    return MeanTest(
        mean_a=mean_a, mean_b=mean_b, diff=diff,
        diff_low=np.where(ok, diff - q * se, np.nan), diff_high=np.where(ok, diff + q * se, np.nan),
        rel=_ratio(mean_b, mean_a) - 1, t=np.where(ok, t, np.nan), df=np.where(ok, df, np.nan), p_value=p_value,
    )


def welch_ttest(a, b, alpha: float = 0.05) -> MeanTest:
    """Welch's test on two samples (1-D arrays of observations, e.g. order values)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    var = [x.var(ddof=1) if len(x) > 1 else np.nan for x in (a, b)]
    return welch_ttest_stats(a.mean() if len(a) else np.nan, var[0], len(a), b.mean() if len(b) else np.nan, var[1], len(b), alpha)


def bootstrap_lift_ci(
    a, b, n_boot: int = 2000, alpha: float = 0.05, rng: np.random.Generator | int | None = 0, chunk_elems: int = 4_000_000
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(b)/mean(a) - 1, resampling each arm with replacement.

    Seeded (`rng` an int or a Generator) so a report can be rerun to the same digits. Resamples are drawn in
    chunks of about `chunk_elems` indices so that large arms don't need n_boot x n memory at once.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bootstrap_ratio_lift_ci(a, np.ones_like(a), b, np.ones_like(b), n_boot, alpha, rng, chunk_elems)


def bootstrap_ratio_lift_ci(
    num_a, den_a, num_b, den_b, n_boot: int = 2000, alpha: float = 0.05, rng: np.random.Generator | int | None = 0,
    chunk_elems: int = 4_000_000,
) -> tuple[float, float]:
    """Percentile bootstrap CI of (sum num_b / sum den_b) / (sum num_a / sum den_a) - 1, resampling clusters.

    One element per cluster (a customer: revenue and orders), resampled whole, so the correlation between one
    customer's orders stays inside each resample. With den = 1 it is the CI of a ratio of means.
    """
    cols = {"a": (np.asarray(num_a, np.float64), np.asarray(den_a, np.float64)),
            "b": (np.asarray(num_b, np.float64), np.asarray(den_b, np.float64))}
    if min(len(cols["a"][0]), len(cols["b"][0])) < 2 or n_boot < 1:
        return (math.nan, math.nan)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ratios = {}
    for name, (num, den) in cols.items():
        per_chunk = max(1, chunk_elems // len(num))
        parts = []
        for lo in range(0, n_boot, per_chunk):
            idx = gen.integers(0, len(num), size=(min(per_chunk, n_boot - lo), len(num)))
            with np.errstate(divide="ignore", invalid="ignore"):
                parts.append(num[idx].sum(axis=1) / den[idx].sum(axis=1))
        ratios[name] = np.concatenate(parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = ratios["b"] / ratios["a"] - 1
    low, high = np.quantile(lifts, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class RatioTest:
    """A ratio metric (sum of num / sum of den over clusters, e.g. AOV = revenue / orders over customers), B
    against A, with the delta-method variance over clusters:

        r = mean(x) / mean(y),  Var(r) ~ (Var(x) - 2 r Cov(x, y) + r^2 Var(y)) / (n mean(y)^2)

    The unit of the variance is the cluster (the randomised customer), not the order: orders of one customer are
    alike, and treating them as independent makes a per-order t-test reject too often.
    """

    ratio_a: np.ndarray
    ratio_b: np.ndarray
    rel: np.ndarray
    rel_low: np.ndarray
    rel_high: np.ndarray
    z: np.ndarray
    p_value: np.ndarray


def ratio_stats(num, den) -> tuple[float, float, float, float, float, float]:
    """(mean x, mean y, var x, var y, cov xy, n) over clusters: the inputs of `ratio_ztest_stats` for one arm."""
    x, y = np.asarray(num, np.float64), np.asarray(den, np.float64)
    n = len(x)
    if n < 2:
        return (math.nan,) * 5 + (float(n),)
    cov = np.cov(x, y, ddof=1)
    return float(x.mean()), float(y.mean()), float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1]), float(n)


def ratio_ztest_stats(a: tuple, b: tuple, alpha: float = 0.05) -> RatioTest:
    """From each arm's `ratio_stats` (each entry a scalar or an array, one element per test)."""
    (mxa, mya, vxa, vya, ca, na), (mxb, myb, vxb, vyb, cb, nb) = (
        [np.asarray(v, dtype=np.float64) for v in arm] for arm in (a, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        ra, rb = mxa / mya, mxb / myb
        var_a = (vxa - 2 * ra * ca + ra**2 * vya) / (na * mya**2)
        var_b = (vxb - 2 * rb * cb + rb**2 * vyb) / (nb * myb**2)
        se = np.sqrt(var_a + var_b)
        z = (rb - ra) / se
        se_log = np.sqrt(var_a / ra**2 + var_b / rb**2)
        log_ratio = np.log(rb / ra)
    ok = np.isfinite(z) & (se > 0)
    q = _z_two_sided(alpha)
    with np.errstate(invalid="ignore", over="ignore"):
        rel_low, rel_high = np.exp(log_ratio - q * se_log) - 1, np.exp(log_ratio + q * se_log) - 1
    return RatioTest(ratio_a=ra, ratio_b=rb, rel=_ratio(rb, ra) - 1, rel_low=np.where(ok, rel_low, np.nan),
                     rel_high=np.where(ok, rel_high, np.nan), z=np.where(ok, z, np.nan),
                     p_value=np.where(ok, 2 * norm_sf(np.abs(np.where(ok, z, 0.0))), np.nan))


def cluster_ratio_ztest(num_a, den_a, num_b, den_b, alpha: float = 0.05) -> RatioTest:
    """`ratio_ztest_stats` on per-cluster arrays (one element per customer: revenue, orders)."""
    return ratio_ztest_stats(ratio_stats(num_a, den_a), ratio_stats(num_b, den_b), alpha)


def sample_ratio_pvalue(n_a, n_b, share_b: float = 0.5) -> np.ndarray:
    """Sample ratio mismatch: P-value of n_B among n_A + n_B under Binomial(n, share_b) (normal approximation).

    A tiny p-value (< 0.001) means the split is not what the assignment promised: a bug in assignment or logging
    that makes the comparison untrustworthy, whatever the metrics say.
    """
    n_a, n_b = np.asarray(n_a, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    n = n_a + n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (n_b - n * share_b) / np.sqrt(n * share_b * (1 - share_b))
    return np.where(n > 0, 2 * norm_sf(np.abs(z)), 1.0)


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / den, np.nan)
