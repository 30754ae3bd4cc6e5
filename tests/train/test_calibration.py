import numpy as np
import pytest

from neurec.probability import calibrated_probability, check_calibration
from neurec.train.calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration_map,
    fit_platt,
    isotonic_knots,
    reliability,
    sample_pairs,
    top_k_pairs,
)


def _known_case(n=200_000, seed=0):
    """Labels drawn from a known P(y=1 | x) = sigmoid(2x - 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(2.0 * x - 1.0)))).astype(float)
    return x, y


def test_platt_recovers_a_known_map():
    x, y = _known_case()
    cal = fit_platt(x, y, np.ones_like(y))
    assert cal.temperature == pytest.approx(0.5, rel=0.03) and cal.bias == pytest.approx(-1.0, abs=0.03)


def test_calibrated_map_is_calibrated_and_strictly_increasing():
    x, y = _known_case()
    cal = fit_calibration_map(x, y)
    assert len(cal.knots_logit) > 10 and check_calibration(cal.to_dict()) is None
    grid = np.linspace(-12, 12, 2001)
    p = cal.apply(grid)
    assert np.all(np.diff(p) > 0) and p[0] > 0 and p[-1] < 1  # never reorders the model's ranking
    assert expected_calibration_error(cal.apply(x), y) < 0.01
    assert expected_calibration_error(1.0 / (1.0 + np.exp(-x)), y) > 0.05  # the raw sigmoid is not


def test_isotonic_pools_violators():
    x = np.arange(8, dtype=float)
    y = np.array([0, 1, 0, 0, 1, 1, 0, 1], dtype=float)
    kx, ky = isotonic_knots(x, y, min_block=2)
    # blocks of two: means 0.5, 0, 1, 0.5 -> pooled to 0.25 (x 0..3), 0.75 (x 4..7)
    assert kx.tolist() == [1.5, 5.5] and ky.tolist() == [0.25, 0.75]


def test_ece_and_reliability_hand_computed():
    prob = np.array([0.1, 0.1, 0.9, 0.9])
    label = np.array([0.0, 1.0, 1.0, 1.0])
    table = reliability(prob, label, n_bins=10)
    assert table["count"][1] == 2 and table["count"][9] == 2
    assert table["freq"][1] == 0.5 and table["freq"][9] == 1.0
    assert expected_calibration_error(prob, label, n_bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_pairs_for_fitting_and_scoring():
    logits = np.array([[0.0, 0.0, 3.0, 2.0, 1.0, 0.5], [0.0, 0.0, 1.0, 2.0, 3.0, 0.5]])
    x, bought = top_k_pairs(logits, np.array([3, 2]), k=2)
    assert sorted(x[:2]) == [2.0, 3.0] and bought[:2].sum() == 1  # row 0: 3 is in the top 2 and bought
    assert bought[2:].sum() == 0  # row 1 bought item 2, ranked third
    xs, ys, ws = sample_pairs(logits, np.array([3, 2]), 50, np.random.default_rng(0))
    assert ys.sum() == 2 and ws[:2].tolist() == [1.0, 1.0]
    assert np.allclose(ws[2:][ws[2:] > 0], 3 / 50)  # each sampled other item stands for (4 - 1) / 50 of them


def test_probability_checks_name_the_problem():
    assert "temperature" in check_calibration({"temperature": 0, "bias": 0})
    assert "strictly increasing" in check_calibration({"temperature": 1, "bias": 0, "knots_logit": [0, 1], "knots_prob": [0.5, 0.4]})
    plain = calibrated_probability(np.array([0.0]), {"temperature": 1.0, "bias": 0.0})
    assert plain[0] == pytest.approx(0.5)
    assert Calibration().apply(np.array([0.0]))[0] == pytest.approx(0.5)
