"""Recommendation-programme metrics from a recommendation log (see `neurec.analytics.reclog`), overall and per
variant, with the formulas shops use.

Definitions (a session = one user_id + session_id; an order = a session with at least one purchase):

- accepted recommendation: a purchase of an item that was shown as a recommendation (impression) in the same
  session at or before the purchase. It is credited to the latest such impression (last touch), so each
  purchase is credited at most once and an impression is "accepted" when some purchase was credited to it.
- conversion_rate            = orders / sessions                                             (guardrail)
- cart_abandonment_rate      = sessions with a cart and no purchase / sessions with a cart   (guardrail; a
                               purchase implies a cart, so carted = add_to_cart or purchase)
- aov                        = revenue / orders; revenue = sum of purchase-row prices (one row = one unit)
- rec_conversion_rate        = orders with >= 1 accepted recommendation / orders
  (upsell_ and cross_sell_conversion_rate: the same, counting only that offer kind)
- attachment_rate            = orders with >= 1 accepted recommendation / orders whose session showed >= 1 recommendation
- rec_revenue                = revenue of accepted purchases; rec_revenue_share = rec_revenue / revenue
- aov_lift_with_rec          = AOV of orders with an accepted recommendation / AOV of the other orders - 1
                               (descriptive: customers who accept may differ; only an A/B test shows causation)
- ctr                        = clicks / impressions; acceptance_rate = accepted impressions / impressions;
  decline_rate               = declines / impressions
- aov_lift_vs_control        = AOV of the variant / AOV of the control - 1 (significance: `neurec.analytics.abtest`)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ALL = "all"


@dataclass(frozen=True)
class ProgrammeReport:
    summary: pd.DataFrame  # one row per variant ("all" first), one column per metric
    by_offer: pd.DataFrame  # variant, offer_kind, placement -> impressions, clicks, ctr, accepted, acceptance_rate, ...
    control: str | None

    def to_dict(self) -> dict:
        clean = lambda df: df.astype(object).where(df.notna(), None).to_dict("records")  # noqa: E731  NaN -> null
        return {"control": self.control, "summary": clean(self.summary.reset_index()), "by_offer": clean(self.by_offer)}


def attribute_purchases(log: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(purchases, impressions), each with an `accepted` flag; purchases carry the credited impression's
    offer_kind and placement. `log` is a validated recommendation log."""
    imp = log.loc[log["event_type"] == "impression", ["visit", "item_id", "ts", "variant", "placement", "offer_kind", "rank"]]
    imp = imp.assign(imp_id=np.arange(len(imp), dtype=np.float64))
    pur = log.loc[log["event_type"] == "purchase", ["visit", "item_id", "ts", "variant", "price"]]
    # merge_asof: for each purchase the latest impression of the same item in the same visit at or before it
    credited = pd.merge_asof(
        pur.sort_values("ts"), imp[["visit", "item_id", "ts", "imp_id", "placement", "offer_kind"]].sort_values("ts"),
        on="ts", by=["visit", "item_id"], direction="backward",
    )
    credited["accepted"] = credited["imp_id"].notna()
    revenue = credited.loc[credited["accepted"]].groupby("imp_id")["price"].agg(["size", "sum"])
    imp["accepted"] = imp["imp_id"].isin(revenue.index)
    imp["rec_revenue"] = imp["imp_id"].map(revenue["sum"]).fillna(0.0)
    return credited, imp


def _visits(log: pd.DataFrame, purchases: pd.DataFrame) -> pd.DataFrame:
    ev = log["event_type"]
    flags = pd.DataFrame({
        "visit": log["visit"], "variant": log["variant"],
        "purchased": ev == "purchase", "carted": ev.isin(["add_to_cart", "purchase"]), "shown": ev == "impression",
    })
    visits = flags.groupby("visit").agg(variant=("variant", "first"), purchased=("purchased", "any"),
                                        carted=("carted", "any"), shown=("shown", "any"))
    visits["revenue"] = purchases.groupby("visit")["price"].sum(min_count=1).reindex(visits.index)
    acc = purchases.loc[purchases["accepted"]]
    visits["accepted"] = visits.index.isin(acc["visit"])
    for kind in ("upsell", "cross_sell"):
        visits[f"accepted_{kind}"] = visits.index.isin(acc.loc[acc["offer_kind"] == kind, "visit"])
    return visits


def _div(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _summary(visits: pd.DataFrame, purchases: pd.DataFrame, imp: pd.DataFrame, log: pd.DataFrame) -> dict[str, float]:
    orders = visits[visits["purchased"]]
    revenue = purchases["price"].sum(min_count=1)
    accepted = purchases.loc[purchases["accepted"], "price"].sum(min_count=1) if purchases["accepted"].any() else 0.0
    with_rec, without = orders[orders["accepted"]], orders[~orders["accepted"]]
    aov_with = _div(with_rec["revenue"].sum(min_count=1), len(with_rec))
    aov_without = _div(without["revenue"].sum(min_count=1), len(without))
    clicks, declines = int((log["event_type"] == "click").sum()), int((log["event_type"] == "decline").sum())
    carted = visits[visits["carted"]]
    return {
        "sessions": len(visits), "orders": len(orders),
        "conversion_rate": _div(len(orders), len(visits)),
        "cart_abandonment_rate": _div((~carted["purchased"]).sum(), len(carted)),
        "revenue": float(revenue), "aov": _div(revenue, len(orders)),
        "rec_conversion_rate": _div(orders["accepted"].sum(), len(orders)),
        "upsell_conversion_rate": _div(orders["accepted_upsell"].sum(), len(orders)),
        "cross_sell_conversion_rate": _div(orders["accepted_cross_sell"].sum(), len(orders)),
        "attachment_rate": _div(orders["accepted"].sum(), orders["shown"].sum()),
        "rec_revenue": float(accepted), "rec_revenue_share": _div(accepted, revenue),
        "aov_with_rec": aov_with, "aov_without_rec": aov_without, "aov_lift_with_rec": _div(aov_with, aov_without) - 1,
        "impressions": len(imp), "clicks": clicks, "ctr": _div(clicks, len(imp)),
        "accepted_impressions": int(imp["accepted"].sum()), "acceptance_rate": _div(imp["accepted"].sum(), len(imp)),
        "declines": declines, "decline_rate": _div(declines, len(imp)),
    }


def _by_offer(log: pd.DataFrame, imp: pd.DataFrame, variant: str) -> pd.DataFrame:
    keys = ["offer_kind", "placement"]
    table = imp.groupby(keys).agg(impressions=("imp_id", "size"), accepted=("accepted", "sum"), rec_revenue=("rec_revenue", "sum"))
    for event in ("click", "decline"):
        rows = log[log["event_type"] == event]
        table[f"{event}s"] = rows.groupby(keys).size().reindex(table.index).fillna(0).astype(int) if len(rows) else 0
    table["ctr"] = table["clicks"] / table["impressions"]
    table["acceptance_rate"] = table["accepted"] / table["impressions"]
    table["decline_rate"] = table["declines"] / table["impressions"]
    return table.reset_index().assign(variant=variant)[["variant", *keys, "impressions", "clicks", "ctr", "accepted",
                                                         "acceptance_rate", "declines", "decline_rate", "rec_revenue"]]


def programme_metrics(log: pd.DataFrame, control: str | None = None) -> ProgrammeReport:
    """All metrics, for the whole log and for each variant. `control`: the variant the AOV lift is measured
    against (default: the first variant in sorted order when the log has several)."""
    purchases, imp = attribute_purchases(log)
    visits = _visits(log, purchases)
    variants = sorted(log["variant"].unique())
    control = control if control is not None else (variants[0] if len(variants) > 1 else None)
    if control is not None and control not in variants:
        from neurec.data.errors import DataError

        raise DataError(f"control variant {control!r} is not in the log; variants there: {variants}")
    groups = [(ALL, slice(None))] + ([(v, v) for v in variants] if len(variants) > 1 else [])
    rows, offers = {}, []
    for name, sel in groups:
        pick = (lambda f: f) if name == ALL else (lambda f, v=sel: f[f["variant"] == v])
        rows[name] = _summary(pick(visits), pick(purchases), pick(imp), pick(log))
        offers.append(_by_offer(pick(log), pick(imp), name))
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "variant"
    if control is not None:
        summary["aov_lift_vs_control"] = summary["aov"] / summary.loc[control, "aov"] - 1
        summary.loc[ALL, "aov_lift_vs_control"] = np.nan
    return ProgrammeReport(summary, pd.concat(offers, ignore_index=True), control)


_COUNTS = {"sessions", "orders", "impressions", "clicks", "accepted_impressions", "declines"}
_PERCENT = {"conversion_rate", "cart_abandonment_rate", "rec_conversion_rate", "upsell_conversion_rate",
            "cross_sell_conversion_rate", "attachment_rate", "rec_revenue_share", "aov_lift_with_rec", "ctr",
            "acceptance_rate", "decline_rate", "aov_lift_vs_control"}


def _cell(metric: str, value: float) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if metric in _PERCENT:
        return f"{100 * value:+.2f} %" if "lift" in metric else f"{100 * value:.2f} %"
    return f"{value:,.0f}" if metric in _COUNTS else f"{value:,.2f}"


def format_programme(report: ProgrammeReport) -> str:
    """Metrics as rows, variants as columns; then acceptance by offer kind and placement."""
    s = report.summary
    width = max(12, *(len(str(v)) + 2 for v in s.index))
    lines = [f"{'metric':<28}" + "".join(f"{str(v):>{width}}" for v in s.index)]
    for metric in s.columns:
        lines.append(f"{metric:<28}" + "".join(f"{_cell(metric, s.loc[v, metric]):>{width}}" for v in s.index))
    lines += ["", "by offer kind and placement:",
              f"{'variant':<12}{'offer_kind':<12}{'placement':<16}{'impressions':>12}{'ctr':>10}{'accepted':>10}"
              f"{'accept %':>10}{'rec revenue':>14}"]
    for r in report.by_offer.itertuples(index=False):
        lines.append(f"{str(r.variant):<12}{str(r.offer_kind):<12}{str(r.placement):<16}{r.impressions:>12,}"
                     f"{_cell('ctr', r.ctr):>10}{int(r.accepted):>10,}{_cell('ctr', r.acceptance_rate):>10}{r.rec_revenue:>14,.2f}")
    return "\n".join(lines)
