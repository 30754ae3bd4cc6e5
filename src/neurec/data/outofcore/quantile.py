"""numpy's default ("linear") quantile from two order statistics, so that a quantile over a table too big to load
equals, bit for bit, what `np.quantile` gives the in-memory path. The database finds the k-th values; this does
numpy's arithmetic on them (a test holds it to `np.quantile`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def linear_quantile(n: int, q: float, order_stat: Callable[[int], float]) -> float:
    """The q-quantile of n values, `order_stat(k)` giving the k-th smallest (0-based)."""
    if n < 1:
        raise ValueError("the quantile of no values")
    virtual = np.float64(n - 1) * np.float64(q)
    below = np.floor(virtual)
    if virtual >= n - 1:
        return float(order_stat(n - 1))
    lo = 0 if virtual < 0 else int(below)
    hi = 0 if virtual < 0 else lo + 1
    gamma = virtual - below
    a, b = np.float64(order_stat(lo)), np.float64(order_stat(hi))
    diff = b - a
    return float(b - diff * (np.float64(1.0) - gamma)) if gamma >= 0.5 else float(a + diff * gamma)
