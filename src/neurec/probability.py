"""Logits to calibrated purchase probabilities: the one function training's evaluation and serving both use.

numpy only (serving imports it). The map is a Platt sigmoid, sigmoid(logit / temperature + bias), optionally
corrected by monotone knots (logit -> probability) from isotonic regression on the validation period. Between
knots it interpolates linearly; beyond them it follows the sigmoid's shape, so the map stays strictly increasing
everywhere and never reorders what the model ranked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))  # no overflow warning for large |x|


def check_calibration(cal: Mapping) -> str | None:
    """None when usable, else what is wrong (the bundle reader turns it into a BundleError)."""
    t, b = cal.get("temperature"), cal.get("bias")
    if not (isinstance(t, (int, float)) and np.isfinite(t) and t > 0):
        return f"'calibration.temperature' must be a positive number, got {t!r}"
    if not (isinstance(b, (int, float)) and np.isfinite(b)):
        return f"'calibration.bias' must be a number, got {b!r}"
    kx, ky = cal.get("knots_logit", []), cal.get("knots_prob", [])
    if len(kx) != len(ky):
        return "'calibration.knots_logit' and 'knots_prob' must have the same length"
    if len(kx):
        x, y = np.asarray(kx, dtype=np.float64), np.asarray(ky, dtype=np.float64)
        if not (np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0) and y[0] > 0 and y[-1] < 1):
            return "'calibration' knots must be strictly increasing, with probabilities inside (0, 1)"
    return None


def calibrated_probability(logits: np.ndarray, cal: Mapping) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    t, b = float(cal.get("temperature", 1.0)), float(cal.get("bias", 0.0))
    base = sigmoid(x / t + b)
    kx, ky = np.asarray(cal.get("knots_logit", []), dtype=np.float64), np.asarray(cal.get("knots_prob", []), dtype=np.float64)
    if kx.size == 0:
        return base
    p = np.interp(x, kx, ky)
    lo, hi = x < kx[0], x > kx[-1]
    b0, b1 = sigmoid(kx[0] / t + b), sigmoid(kx[-1] / t + b)
    p[lo] = ky[0] * base[lo] / b0  # scaled sigmoid toward 0
    p[hi] = ky[-1] + (1.0 - ky[-1]) * (base[hi] - b1) / (1.0 - b1)  # the remaining room toward 1
    return p
