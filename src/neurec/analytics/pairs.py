"""Pair statistics for products and categories: which B goes with A, how often, and what it is worth.

Directed pairs A -> B over orders (see `neurec.analytics.orders` for orders, lines, segments and caps). With N
orders, n(A) orders containing A, n(AB) orders containing both, and buyers(A) the customers who bought A:

    support            = n(AB) / N
    confidence         = n(AB) / n(A)                        P(B in the order | A in the order)
    lift               = confidence / (n(B) / N)             > 1: bought together more often than chance
    attach_same_order  = customers with an order holding A and B / buyers(A)
    attach_within_days = customers who bought B at most `window_days` after (or with) A / buyers(A)
    median_gap_days    = median over those customers who bought B with or after A of their shortest A -> B gap
                         (0 = same order; later purchases count from the A order's time)
    revenue_b, margin_b = B's value and margin in the orders that hold A and B
    excess_revenue     = (n(AB) - n(A) n(B) / N) * B's mean line value: the co-purchase revenue above chance
    excess_margin      = the same with B's mean line margin

Per segment (all, first_time, returning, high_value) A's order decides the segment; N, n(A), n(B) and buyers(A)
count that segment's orders, and B may come in any later order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.analytics.orders import PairConfig, order_lines
from neurec.cooccurrence import lift

SEGMENTS = ("all", "first_time", "returning", "high_value")
_DAY = 86400.0


@dataclass(frozen=True)
class PairAnalysis:
    pairs: pd.DataFrame  # product pairs: segment, item_a, item_b, category_a, category_b, the statistics
    category_pairs: pd.DataFrame  # segment, category_a, category_b, the statistics
    summary: dict  # orders, customers, lines, basis, period
    notes: tuple[str, ...]
    config: PairConfig


def analyze_pairs(events: pd.DataFrame, catalog: pd.DataFrame, cfg: PairConfig = PairConfig()) -> PairAnalysis:
    """Product and category pair tables from canonical events and their catalog."""
    ol = order_lines(events, catalog, cfg)
    lines = ol.lines
    notes = list(ol.notes)
    pairs = pair_table(lines, "item_id", cfg)
    if "category" in lines.columns and lines["category"].notna().any():
        cats = pairs_categories(lines)
        category_pairs = pair_table(cats, "category", cfg)
        item_cat = lines.drop_duplicates("item_id").set_index("item_id")["category"]
        pairs.insert(3, "category_a", pairs["item_a"].map(item_cat))
        pairs.insert(4, "category_b", pairs["item_b"].map(item_cat))
    else:
        category_pairs = pair_table(lines.iloc[:0].assign(category=pd.Series(dtype="string")), "category", cfg)
        notes.append("no categories (catalog or events): no category pairs")
    summary = {
        "basis": ol.basis, "orders": int(lines["order"].nunique()), "customers": int(lines["user"].nunique()),
        "lines": len(lines), "items": int(lines["item_id"].nunique()),
        "first": float(lines["ts"].min()), "last": float(lines["ts"].max()),
        "multi_item_orders": int((lines.groupby("order").size() > 1).sum()),
        "product_pairs": int((pairs["segment"] == "all").sum()),
        "category_pairs": int((category_pairs["segment"] == "all").sum()),
    }
    return PairAnalysis(pairs, category_pairs, summary, tuple(notes), cfg)


def pairs_categories(lines: pd.DataFrame) -> pd.DataFrame:
    """Order lines collapsed to one line per (order, category); lines without a category are left out."""
    known = lines[lines["category"].notna()]
    out = known.groupby(["order", "category"], sort=False).agg(
        user=("user", "first"), ts=("ts", "first"), units=("units", "sum"), first_order=("first_order", "first"),
        high_value=("high_value", "first"), paired=("paired", "any"),
    )
    sums = known.groupby(["order", "category"], sort=False)[["value", "margin"]].sum(min_count=1)
    return out.join(sums).reset_index()


def pair_table(lines: pd.DataFrame, key: str, cfg: PairConfig) -> pd.DataFrame:
    """All segments' pair statistics for one key column (item_id or category)."""
    joined = _join(lines, key)
    masks = {"all": None, "first_time": "first_order", "returning": "first_order", "high_value": "high_value"}
    parts = []
    for segment in SEGMENTS:
        flag = masks[segment]
        keep = np.ones(len(lines), bool) if flag is None else lines[flag].to_numpy() ^ (segment == "returning")
        keep_j = np.ones(len(joined), bool) if flag is None else joined[f"{flag}_a"].to_numpy() ^ (segment == "returning")
        parts.append(_segment_stats(lines[keep], joined[keep_j], key, cfg).assign(segment=segment))
    out = pd.concat(parts, ignore_index=True)
    name = "item" if key == "item_id" else key
    out = out.rename(columns={"a": f"{name}_a", "b": f"{name}_b"})
    return out[["segment", *[c for c in out.columns if c != "segment"]]]


def _join(lines: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every (A line, B line) of one customer with B at or after A, A != B: the base of all pair counts."""
    p = lines.loc[lines["paired"], ["user", "order", key, "ts", "value", "margin", "first_order", "high_value"]]
    a = p.rename(columns={key: "a", "order": "order_a", "ts": "ts_a", "first_order": "first_order_a", "high_value": "high_value_a"})
    b = p[["user", "order", key, "ts", "value", "margin"]].rename(columns={key: "b", "order": "order_b", "ts": "ts_b"})
    j = a.drop(columns=["value", "margin"]).merge(b, on="user")
    return j[(j["a"] != j["b"]) & (j["ts_b"] >= j["ts_a"])]


def _segment_stats(lines: pd.DataFrame, joined: pd.DataFrame, key: str, cfg: PairConfig) -> pd.DataFrame:
    n_orders = lines["order"].nunique()
    per_key = lines.groupby(key).agg(orders=("order", "nunique"), buyers=("user", "nunique"),
                                     mean_value=("value", "mean"), mean_margin=("margin", "mean"))
    same = joined[joined["order_a"] == joined["order_b"]]
    together = same.groupby(["a", "b"]).agg(orders_ab=("order_a", "size"), buyers_same=("user", "nunique"))
    together = together.join(same.groupby(["a", "b"])[["value", "margin"]].sum(min_count=1)
                             .rename(columns={"value": "revenue_b", "margin": "margin_b"}))
    gaps = (joined["ts_b"] - joined["ts_a"]).groupby([joined["user"], joined["a"], joined["b"]]).min() / _DAY
    seq = gaps.groupby(level=["a", "b"]).agg(["size", "median"])
    seq["within"] = (gaps <= cfg.window_days).groupby(level=["a", "b"]).sum()
    out = together.join(seq.rename(columns={"size": "customers_seq", "median": "median_gap_days"}), how="outer")
    out = out.reset_index().rename(columns={"within": "buyers_within"})
    for col in ("orders_ab", "buyers_same", "buyers_within", "customers_seq"):
        out[col] = out[col].fillna(0).astype(np.int64)
    out = out[np.maximum(out["orders_ab"], out["buyers_within"]) >= cfg.min_pair_orders]
    return _ratios(out, per_key, n_orders, cfg)


def _ratios(out: pd.DataFrame, per_key: pd.DataFrame, n_orders: int, cfg: PairConfig) -> pd.DataFrame:
    a, b = per_key.reindex(out["a"]), per_key.reindex(out["b"])
    # B may appear only in orders outside the segment (a later order of a first-time buyer): n(B) = 0 there
    orders_a, orders_b = a["orders"].to_numpy(np.float64), b["orders"].fillna(0).to_numpy(np.float64)
    buyers_a = a["buyers"].to_numpy(np.float64)
    ab = out["orders_ab"].to_numpy(np.float64)
    expected = orders_a * orders_b / n_orders if n_orders else np.full(len(out), np.nan)
    table = pd.DataFrame({
        "a": out["a"].to_numpy(), "b": out["b"].to_numpy(), "n_orders": n_orders,
        "orders_a": orders_a.astype(np.int64), "orders_b": orders_b.astype(np.int64), "orders_ab": ab.astype(np.int64),
        "support": ab / n_orders if n_orders else np.nan, "confidence": ab / orders_a,
        "lift": lift(ab, orders_a, orders_b, n_orders),
        "buyers_a": buyers_a.astype(np.int64),
        "attach_same_order": out["buyers_same"].to_numpy() / buyers_a,
        "attach_within_days": out["buyers_within"].to_numpy() / buyers_a, "window_days": cfg.window_days,
        "median_gap_days": out["median_gap_days"].to_numpy(np.float64),
        "revenue_b": out["revenue_b"].to_numpy(np.float64), "margin_b": out["margin_b"].to_numpy(np.float64),
        "excess_revenue": (ab - expected) * b["mean_value"].to_numpy(np.float64),
        "excess_margin": (ab - expected) * b["mean_margin"].to_numpy(np.float64),
    })
    return table.sort_values(["orders_ab", "lift", "a", "b"], ascending=[False, False, True, True], kind="stable")
