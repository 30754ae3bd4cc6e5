"""Bought together: pair counts over baskets and their lift, the one definition every part of neurec uses.

    lift(a, b) = P(a and b in a basket) / (P(a) P(b)) = n(ab) N / (n(a) n(b))

over N baskets, n(a) of them holding a. The "frequently bought together" baseline, the bundle's co-purchase
partners (`neurec.export.copurchase`) and the pair analytics (`neurec.analytics.pairs`) all compute it here, so a
pair that one of them calls complementary the others score the same.

Also the item-to-item cosine over customers (or visits) that the item-kNN baseline ranks with and the model reads
as its neighbour table (`item_neighbours`): one definition of "customers who touched a also touched b".
numpy / scipy only.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
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


def top_k_per_row(m: sp.coo_matrix, k: int) -> sp.coo_matrix:
    """The k largest entries of each row (ties: lower column first, so the result is deterministic)."""
    order = np.lexsort((m.col, -m.data, m.row))
    row, col, val = m.row[order], m.col[order], m.data[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row, side="left")
    keep = rank < k
    return sp.coo_matrix((val[keep], (row[keep], col[keep])), shape=m.shape)


def cosine_top_k(x: sp.csr_matrix, k: int, chunk: int = 512) -> sp.csr_matrix:
    """Item-item cosine on a binary (users, items) matrix, the `k` nearest neighbours per item, self excluded.

    Computed a block of item rows at a time: the full co-occurrence matrix of a large catalogue with a few heavy
    customers can be far denser than the k-nearest result that is kept."""
    n_items = x.shape[1]
    norm = np.sqrt(np.asarray(x.sum(axis=0)).ravel())  # binary, so the norm is sqrt(#customers)
    xt = x.T.tocsr()
    parts = []
    for lo in range(0, n_items, chunk):
        co = (xt[lo : lo + chunk] @ x).tocoo()  # (chunk, items) customers in common
        row = co.row + lo
        ok = row != co.col
        sim = co.data[ok] / (norm[row[ok]] * norm[co.col[ok]])
        block = sp.coo_matrix((sim, (co.row[ok], co.col[ok])), shape=co.shape)
        parts.append(top_k_per_row(block, k).tocsr())
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, n_items))


def item_neighbours(rows: np.ndarray, items: np.ndarray, n_items: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest items of every item by cosine over (row, item) occurrences (rows: any hashable ids) -> ids (n_items, k) int64 and
    similarities (n_items, k) float32, best first; unused slots hold id 0 with similarity 0 (id 0 is padding, so
    they add nothing wherever the table is read)."""
    rows, uniques = pd.factorize(np.asarray(rows, dtype=object))  # customer ids of any kind ("u17", 17, ...)
    x = binary_matrix(rows, np.asarray(items, dtype=np.int64), (len(uniques), n_items))
    sim = cosine_top_k(x, k).tocoo()
    order = np.lexsort((sim.col, -sim.data, sim.row))  # best first within each item, ties by id
    row, col, val = sim.row[order], sim.col[order], sim.data[order]
    slot = np.arange(len(row)) - np.searchsorted(row, row, side="left")
    ids = np.zeros((n_items, k), dtype=np.int64)
    weights = np.zeros((n_items, k), dtype=np.float32)
    ids[row, slot] = col
    weights[row, slot] = val
    return ids, weights


# Folds of customers for out-of-fold neighbour tables: a training decision reads the table built without its
# own customer. Built from everyone, the table holds the decision's own co-occurrences, target included (a pair
# seen in one session has cosine 1 in that session), so the model learns to trust it far more than it deserves
# on new customers. Measured on YOOCHOOSE's validation period: 0.364 with the in-sample table, below the 0.383
# of no table at all; 0.384 out of fold. Part of the example files (`fold.npy`), so it is fixed here, not configured.
N_FOLDS = 4


def customer_folds(users: np.ndarray) -> np.ndarray:
    """(N,) raw customer ids -> (N,) int8 fold in [0, N_FOLDS): a hash of the id's text, the same in every
    process and run, whatever the id's type or order."""
    codes, uniques = pd.factorize(np.asarray(users, dtype=object))
    folds = np.fromiter((zlib.crc32(str(u).encode()) % N_FOLDS for u in uniques), dtype=np.int8, count=len(uniques))
    return folds[codes] if len(codes) else np.zeros(0, dtype=np.int8)


def out_of_fold_neighbours(rows: np.ndarray, items: np.ndarray, folds: np.ndarray, n_items: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`item_neighbours` once per fold f from the rows not in fold f -> ids and similarities (N_FOLDS, n_items, k)."""
    rows, items, folds = np.asarray(rows), np.asarray(items), np.asarray(folds)
    tables = [item_neighbours(rows[folds != f], items[folds != f], n_items, k) for f in range(N_FOLDS)]
    return np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])
