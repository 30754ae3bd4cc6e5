"""From canonical events (`neurec.data.prepare.load`) to order lines: one row per (order, item), with value,
margin and the customer segments pair analytics splits by.

An order is one customer's purchases in one session; its time is its first purchase's. Definitions:

- value of a line: the sum of its purchase events' prices, a missing event price taken from the catalog; NaN
  when neither has one. margin: units x the catalog's absolute margin per unit; NaN without a margin column.
- segments (descriptive, over the whole period analysed, so they use hindsight):
  first_time  the customer's first order in the data;
  returning   any later order;
  high_value  every order of a customer whose total value over the period is at or above the
              `high_value_quantile` (default 0.9) of customers' totals, i.e. the top 10 % of spenders; by
              units bought when prices are unknown. It overlaps the other two.
- caps, so a handful of huge baskets (B2B orders, bots) can't dominate the pair count or the memory: only the
  first `max_basket` lines of an order, and the first `max_customer_lines` lines of a customer, are paired. They
  all still count in the order and item totals. The notes say how many lines each cap left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.data.errors import DataError
from neurec.schema import EventType

BASES = ("auto", "purchase", "add_to_cart", "view")
_JOIN_BUDGET = 30_000_000  # pair rows at most: ~2 GB of join; a lower per-customer cap is chosen to stay under it


@dataclass(frozen=True)
class PairConfig:
    window_days: float = 30.0  # attachment "within N days" of buying A
    min_pair_orders: int = 2  # keep pairs seen in at least this many orders (or customers within the window)
    max_basket: int = 50
    max_customer_lines: int = 200
    high_value_quantile: float = 0.9
    basis: str = "auto"  # purchase | add_to_cart | view | auto: purchases, else carts, else views
    top: int = 20  # pairs listed in the report
    report_min_orders: int = 5  # the report ranks by lift only pairs bought together this often (tiny counts give huge lifts)

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise DataError(f"basis {self.basis!r}: use one of {list(BASES)}")
        if not 0 < self.high_value_quantile < 1:
            raise DataError(f"high_value_quantile {self.high_value_quantile}: must be between 0 and 1")
        if self.window_days < 0 or self.min_pair_orders < 1 or self.max_basket < 2 or self.max_customer_lines < 2:
            raise DataError("window_days >= 0, min_pair_orders >= 1, max_basket >= 2 and max_customer_lines >= 2 are required")


@dataclass(frozen=True)
class OrderLines:
    lines: pd.DataFrame  # order, user, item_id, category, ts, units, value, margin, first_order, high_value, paired
    basis: str
    notes: tuple[str, ...]


def _basis(events: pd.DataFrame, basis: str) -> tuple[str, list[str]]:
    counts = events["event_type"].value_counts()
    if basis != "auto":
        if not counts.get(int(EventType.from_label(basis)), 0):
            raise DataError(f"no {basis} events in the data: pick another basis (purchase, add_to_cart, view)")
        return basis, []
    for label in ("purchase", "add_to_cart", "view"):
        if counts.get(int(EventType.from_label(label)), 0):
            notes = [] if label == "purchase" else [f"no purchases in the data: pairs are from {label} events per session "
                                                    f"(co-{label.replace('_', '-')}s), not orders"]
            return label, notes
    raise DataError("no view, add_to_cart or purchase events: nothing to pair")


def order_lines(events: pd.DataFrame, catalog: pd.DataFrame, cfg: PairConfig) -> OrderLines:
    basis, notes = _basis(events, cfg.basis)
    rows = events.loc[events["event_type"] == int(EventType.from_label(basis))]
    cat = catalog.set_index("item_id") if "item_id" in catalog.columns else pd.DataFrame()
    price = rows["price"] if "price" in rows.columns else pd.Series(np.nan, index=rows.index)
    if "price" in cat.columns:
        price = price.fillna(rows["item_id"].map(cat["price"]))
    frame = pd.DataFrame({
        "order": rows.groupby(["user_id", "session_id"], sort=False).ngroup().to_numpy(),
        "user": rows["user_id"].astype(str).to_numpy(), "item_id": rows["item_id"].astype(str).to_numpy(),
        "ts": rows["ts"].to_numpy(), "price": price.to_numpy(np.float64),
    })
    frame["order_ts"] = frame.groupby("order")["ts"].transform("min")
    groups = frame.groupby(["order", "item_id"], sort=False)
    lines = groups.agg(user=("user", "first"), ts=("order_ts", "first"), line_ts=("ts", "min"), units=("ts", "size"))
    lines = lines.assign(value=groups["price"].sum(min_count=1)).reset_index()  # NaN, not 0, when no price is known
    lines["margin"] = lines["units"] * lines["item_id"].map(cat["margin"]) if "margin" in cat.columns else np.nan
    lines["category"] = _categories(lines["item_id"], cat, events)
    if lines["value"].isna().all():
        notes.append("no prices (events or catalog): revenue columns are NaN")
    if lines["margin"].isna().all():
        notes.append("no margin column in the catalog: margin columns are NaN")
    lines = _segments(lines, cfg.high_value_quantile, basis, notes)
    lines = _caps(lines, cfg, notes)
    return OrderLines(lines.drop(columns="line_ts"), basis, tuple(notes))


def _categories(items: pd.Series, cat: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    if "category" in cat.columns:
        mapped = items.map(cat["category"])
    elif "category" in events.columns:
        mapped = items.map(events.groupby("item_id")["category"].last())
    else:
        return pd.Series(pd.NA, index=items.index, dtype="string")
    return mapped.astype("string").replace("", pd.NA)


def _segments(lines: pd.DataFrame, quantile: float, basis: str, notes: list[str]) -> pd.DataFrame:
    orders = lines.groupby("order").agg(user=("user", "first"), ts=("ts", "first"))
    first = orders.sort_values(["ts"], kind="stable").groupby("user").head(1).index
    lines["first_order"] = lines["order"].isin(first)
    priced = lines["value"].notna().any()
    spend = lines["value"] if priced else lines["units"].astype(np.float64)
    totals = spend.groupby(lines["user"]).sum()
    threshold = float(totals.quantile(quantile))
    strict = threshold <= float(totals.min())  # spend hardly varies (everyone bought one unit): ">=" would pick all
    high = totals > threshold if strict else totals >= threshold
    lines["high_value"] = lines["user"].map(high).astype(bool)
    what = "spend" if priced else f"units ({basis} events; no prices)"
    rule = "above" if strict else "at or above"
    notes.append(f"high_value: customers whose total {what} is {rule} the {quantile:g} quantile ({threshold:,.2f}): "
                 f"{int(high.sum()):,} of {len(totals):,} customers")
    return lines


def _caps(lines: pd.DataFrame, cfg: PairConfig, notes: list[str]) -> pd.DataFrame:
    lines = lines.sort_values(["user", "ts", "order", "line_ts", "item_id"], kind="stable").reset_index(drop=True)
    in_basket = lines.groupby("order").cumcount() < cfg.max_basket
    capped_orders = int(lines.loc[~in_basket, "order"].nunique())
    if capped_orders:
        notes.append(f"max_basket={cfg.max_basket}: {capped_orders:,} order(s) larger than that; "
                     f"{int((~in_basket).sum()):,} of their lines not paired")
    per_user = lines[in_basket].groupby("user").size().to_numpy()
    cap = _customer_cap(per_user, cfg.max_customer_lines)
    rank = lines[in_basket].groupby("user").cumcount().reindex(lines.index)
    paired = in_basket & (rank < cap)
    cut = int((in_basket & ~paired).sum())
    if cut:
        lowered = cap < cfg.max_customer_lines
        why = f" (lowered from {cfg.max_customer_lines} to keep the pair join under {_JOIN_BUDGET:,} rows)" if lowered else ""
        notes.append(f"max_customer_lines={cap}{why}: {int((per_user > cap).sum()):,} customer(s) above it; "
                     f"{cut:,} of their later lines not paired")
    return lines.assign(paired=paired.to_numpy())


def _customer_cap(per_user: np.ndarray, cap: int) -> int:
    """The largest cap <= `cap` whose self-join (sum over customers of min(lines, cap)^2) fits the budget."""
    def size(c: int) -> int:
        return int((np.minimum(per_user, c).astype(np.int64) ** 2).sum())

    if size(cap) <= _JOIN_BUDGET:
        return cap
    lo, hi = 2, cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if size(mid) <= _JOIN_BUDGET else (lo, mid - 1)
    return lo
