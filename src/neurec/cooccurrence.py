"""Bought together: pair counts over baskets and their lift, the one definition every part of neurec uses.

    lift(a, b) = P(a and b in a basket) / (P(a) P(b)) = n(ab) N / (n(a) n(b))

over N baskets, n(a) of them holding a. The "frequently bought together" baseline, the bundle's co-purchase
partners (`neurec.export.copurchase`) and the pair analytics (`neurec.analytics.pairs`) all compute it here, so a
pair that one of them calls complementary the others score the same. numpy / scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def lift(both: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, n_baskets: int | np.ndarray) -> np.ndarray:
    """n(ab) N / (n(a) n(b)) elementwise; NaN where n(a) or n(b) is 0 (a pair without evidence has no lift)."""
    both, n_a, n_b = (np.asarray(x, dtype=np.float64) for x in (both, n_a, n_b))
    denom = n_a * n_b
    out = np.full(np.broadcast(both, denom).shape, np.nan)
    return np.divide(both * n_baskets, denom, out=out, where=denom > 0)


@dataclass(frozen=True)
class BasketPairs:
    """Every ordered pair (a, b), a != b, found together in at least one basket."""

    a: np.ndarray  # item codes
    b: np.ndarray
    both: np.ndarray  # baskets holding a and b
    in_baskets: np.ndarray  # (n_items,) baskets holding each item
    n_baskets: int

    def lift(self) -> np.ndarray:
        return lift(self.both, self.in_baskets[self.a], self.in_baskets[self.b], self.n_baskets)

    def keep(self, mask: np.ndarray) -> "BasketPairs":
        return BasketPairs(self.a[mask], self.b[mask], self.both[mask], self.in_baskets, self.n_baskets)


def binary_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """0/1 csr matrix with a one wherever (row, col) occurs at least once."""
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def basket_pairs(basket: np.ndarray, item: np.ndarray, n_items: int) -> BasketPairs:
    """Pair counts from one row per (basket code, item code) line; repeated lines count once per basket."""
    basket, item = np.asarray(basket, dtype=np.int64), np.asarray(item, dtype=np.int64)
    codes, basket = np.unique(basket, return_inverse=True)  # only baskets that hold something count in N
    m = binary_matrix(basket, item, (len(codes), n_items))
    in_baskets = np.asarray(m.sum(axis=0)).ravel().astype(np.int64)
    co = (m.T @ m).tocoo()  # (items, items): baskets holding both
    off = co.row != co.col
    return BasketPairs(co.row[off].astype(np.int64), co.col[off].astype(np.int64), co.data[off].astype(np.int64),
                       in_baskets, len(codes))
