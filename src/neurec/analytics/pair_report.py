"""Write a pair analysis to a folder: the two tables (Parquet or CSV), a short markdown report, and PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurec.analytics.pairs import SEGMENTS, PairAnalysis

_REPORT_COLUMNS = ["orders_ab", "confidence", "lift", "attach_same_order", "attach_within_days", "median_gap_days",
                   "excess_revenue"]


def write_pair_outputs(result: PairAnalysis, out_dir: str | Path, fmt: str = "parquet", source: str = "") -> dict[str, Path]:
    """pairs.<fmt>, category_pairs.<fmt>, report.md and plots/*.png under `out_dir`; returns the paths."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format {fmt!r}: use parquet or csv")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in (("pairs", result.pairs), ("category_pairs", result.category_pairs)):
        paths[name] = out / f"{name}.{fmt}"
        if fmt == "parquet":
            table.to_parquet(paths[name], index=False)
        else:
            table.to_csv(paths[name], index=False)
    paths.update(write_plots(result, out / "plots"))
    paths["report"] = out / "report.md"
    paths["report"].write_text(markdown_report(result, source, [p for k, p in paths.items() if k.startswith("plot_")], out))
    return paths


def _fmt(value: object, col: str) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "-"
        if col in ("confidence", "attach_same_order", "attach_within_days", "support"):
            return f"{100 * value:.1f} %"
        return f"{value:,.2f}" if col != "lift" else f"{value:.2f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" if c.endswith(("_a", "_b")) else "---:" for c in columns) + "|"
    rows = ["| " + " | ".join(_fmt(v, c) for c, v in zip(columns, r)) + " |" for r in frame[columns].itertuples(index=False)]
    return [head, rule, *rows]


def top_pairs(table: pd.DataFrame, segment: str = "all", n: int = 20, by: str = "lift", min_orders: int = 2) -> pd.DataFrame:
    """The strongest pairs of a segment: among pairs bought together in >= `min_orders` orders, by `by`."""
    rows = table[(table["segment"] == segment) & (table["orders_ab"] >= min_orders)]
    return rows.sort_values([by, "orders_ab"], ascending=False, kind="stable").head(n)


def lift_threshold(table: pd.DataFrame, cfg) -> int:
    """cfg.report_min_orders, lowered (to min_pair_orders at least) when too few pairs reach it in small data."""
    together = table.loc[table["segment"] == "all", "orders_ab"]
    for least in range(max(cfg.report_min_orders, cfg.min_pair_orders), cfg.min_pair_orders, -1):
        if (together >= least).sum() >= min(cfg.top, 5):
            return least
    return cfg.min_pair_orders


def markdown_report(result: PairAnalysis, source: str, plots: list[Path], base: Path) -> str:
    s, cfg = result.summary, result.config
    first, last = (pd.Timestamp(s[k], unit="s", tz="UTC").strftime("%Y-%m-%d") for k in ("first", "last"))
    what = "orders" if s["basis"] == "purchase" else f"sessions with a {s['basis']}"
    lines = [
        "# Pair analytics", "",
        f"Data: {source or 'events'}; {s['orders']:,} {what} of {s['customers']:,} customers, {s['items']:,} products, "
        f"{first} to {last}; {s['multi_item_orders']:,} hold two or more products.",
        f"Pairs kept: seen together in >= {cfg.min_pair_orders} orders (or bought within {cfg.window_days:g} days by that "
        f"many customers): {s['product_pairs']:,} product pairs, {s['category_pairs']:,} category pairs.", "",
    ]
    if result.notes:
        lines += ["Notes:", *[f"- {n}" for n in result.notes], ""]
    min_orders = lift_threshold(result.pairs, cfg)
    item_cols = ["item_a", "item_b", *(["category_a", "category_b"] if "category_a" in result.pairs.columns else [])]
    cat_min = lift_threshold(result.category_pairs, cfg)
    sections = [("Most frequent product pairs", result.pairs, item_cols, "orders_ab", 1),
                (f"Strongest product pairs by lift (together in >= {min_orders} orders)", result.pairs, item_cols, "lift",
                 min_orders),
                ("Product pairs by revenue above chance", result.pairs, item_cols, "excess_revenue", 1),
                (f"Category pairs by attachment within {cfg.window_days:g} days", result.category_pairs,
                 ["category_a", "category_b"], "attach_within_days", 0),
                (f"Strongest category pairs by lift (together in >= {cat_min} orders)", result.category_pairs,
                 ["category_a", "category_b"], "lift", cat_min)]
    for title, table, keys, by, least in sections:
        top = top_pairs(table, "all", cfg.top, by, least)
        lines += [f"## {title}", ""]
        lines += _markdown_table(top, [*keys, *_REPORT_COLUMNS]) if len(top) else ["(none)"]
        lines.append("")
    lines += ["## By segment", "",
              f"| segment | orders | pairs | top pair by lift (>= {min_orders} orders) | its lift | its attach rate |",
              "|---|---:|---:|---|---:|---:|"]
    for seg in SEGMENTS:
        rows = result.pairs[result.pairs["segment"] == seg]
        top = top_pairs(result.pairs, seg, 1, "lift", min_orders)  # the same support bar as the table above
        best = top.iloc[0] if len(top) else None
        n = int(rows["n_orders"].iloc[0]) if len(rows) else 0
        lines.append(f"| {seg} | {n:,} | {len(rows):,} | " + (f"{best['item_a']} -> {best['item_b']} | {best['lift']:.2f} | "
                     f"{100 * best['attach_same_order']:.1f} % |" if best is not None else "- | - | - |"))
    lines += ["", _DEFINITIONS.format(window=cfg.window_days, q=cfg.high_value_quantile)]
    if plots:
        lines += ["", "## Plots", "", *[f"![{p.stem}]({p.relative_to(base).as_posix()})" for p in plots]]
    return "\n".join(lines) + "\n"


_DEFINITIONS = """## Definitions

Directed pairs A -> B; N orders, n(A) orders with A, n(AB) orders with both.
support = n(AB)/N; confidence = n(AB)/n(A); lift = confidence / (n(B)/N);
attach_same_order = customers who bought A and B in one order / customers who bought A;
attach_within_days = customers who bought B with or up to {window:g} days after A / customers who bought A;
median_gap_days = median over those customers of the shortest A -> B gap (0 = same order);
excess_revenue = (n(AB) - n(A) n(B)/N) x B's mean line value: co-purchase revenue above chance.
Segments: first_time = a customer's first order; returning = later orders; high_value = orders of customers whose
total spend is at or above the {q:g} quantile. A's order decides the segment. Descriptive: computed with hindsight."""


def write_plots(result: PairAnalysis, folder: Path) -> dict[str, Path]:
    """Top pairs' attachment rates, the category lift matrix, and the A -> B time gaps. Headless (Agg)."""
    import matplotlib

    matplotlib.use("Agg")  # no display where reports are made
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    top = top_pairs(result.pairs, "all", 15, "lift", lift_threshold(result.pairs, result.config))
    if len(top):
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.5))
        labels = [f"{a} -> {b}" for a, b in zip(top["item_a"], top["item_b"])][::-1]
        y = np.arange(len(top))
        ax.barh(y + 0.2, top["attach_same_order"].to_numpy()[::-1] * 100, 0.4, label="same order")
        ax.barh(y - 0.2, top["attach_within_days"].to_numpy()[::-1] * 100, 0.4, label=f"within {result.config.window_days:g} days")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("share of A's buyers who also buy B (%)")
        ax.set_title("Attachment rate of the top pairs by lift")
        ax.legend(fontsize=7)
        paths["plot_attachment"] = _save(fig, folder / "attachment_top_pairs.png", plt)
    cats = result.category_pairs[result.category_pairs["segment"] == "all"]
    if len(cats):
        paths["plot_category_attach"] = _category_heatmap(cats, folder / "category_attach.png", result.config.window_days, plt)
    gaps = result.pairs.loc[result.pairs["segment"] == "all", "median_gap_days"].dropna()
    if len(gaps):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(np.log10(1 + gaps.to_numpy() * 24), bins=30)
        ax.set_xlabel("log10(1 + median A -> B gap in hours)  (0 = same order)")
        ax.set_ylabel("pairs")
        ax.set_title("How long after A customers buy B")
        paths["plot_gaps"] = _save(fig, folder / "gap_days.png", plt)
    return paths


def _category_heatmap(cats: pd.DataFrame, path: Path, window: float, plt) -> Path:
    """Share of A's buyers who buy B within the window: unlike lift, it also shows categories bought on later
    visits, which never share an order in shops where a visit is about one category."""
    volume = cats.groupby("category_a")["buyers_a"].first().sort_values(ascending=False)
    keep = list(volume.index[:15])
    grid = cats[cats["category_a"].isin(keep) & cats["category_b"].isin(keep)].pivot_table(
        index="category_a", columns="category_b", values="attach_within_days", aggfunc="first").reindex(index=keep, columns=keep)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(100 * grid.to_numpy(np.float64), cmap="Blues", vmin=0)
    ax.set_xticks(range(len(keep)), [str(k)[:14] for k in keep], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(keep)), [str(k)[:14] for k in keep], fontsize=7)
    ax.set_xlabel("B")
    ax.set_ylabel("A")
    ax.set_title(f"Category pairs: % of A's buyers who buy B within {window:g} days")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _save(fig, path, plt)


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
