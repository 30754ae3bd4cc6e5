"""The markdown tables `bench_policy.py` prints: the policy table, acceptance by offer, the upsell fate, what each
rule costs, the A/B kit's checks and the targets."""

from __future__ import annotations

import math

import numpy as np

NAMES = {"none": "none", "popularity": "popularity", "fbt": "FBT only",
         "catalogue_ladder": "catalogue ladder (higher tiers + dearest complement, no model)",
         "neurec_no_rules": "neurec without rules",
         "neurec": "neurec with rules",
         "neurec_validated": "neurec with rules, relevance rules chosen on validation",
         "oracle_upsell_cross_sell": "oracle, upsell + cross-sell only (reads the truth)",
         "oracle": "oracle, any item (reads the truth)"}
RIVALS = ("popularity", "fbt", "catalogue_ladder", "neurec_no_rules")  # the baseline policies the targets name


def fate_markdown(fate: dict[str, list[float]]) -> str:
    lines = ["| what the rules did with the upgrade | offers | mean truth p if shown |", "|---|---:|---:|"]
    for reason, p in sorted(fate.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"| {reason} | {len(p):,} | {pct(float(np.mean(p)), False)} |")
    return "\n".join(lines)


def pct(x: float, signed: bool = True) -> str:
    return "n/a" if not math.isfinite(x) else (f"{100 * x:+.1f} %" if signed else f"{100 * x:.1f} %")


def span(ci, signed: bool = True) -> str:
    return f"[{pct(ci[0], signed)}, {pct(ci[1], signed)}]"


def policy_markdown(table: dict) -> str:
    lines = ["| policy | conversion [95 % CI] | orders lost (expected) | AOV € | revenue / session € "
             "| margin / session € | acceptance (in orders) | attach rate | AOV vs none | revenue / session vs none [95 % CI] "
             "| margin / session vs none | revenue / session vs FBT [95 % CI] |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---|"]
    for name, f in table.items():
        lines.append(
            f"| {NAMES.get(name, name)} | {pct(f['conversion'], False)} {span(f['conversion_ci'], False)} | "
            f"{f['orders_lost']:,} ({f['orders_lost_expected']:.1f}) | {f['aov']:.2f} | {f['revenue_per_session']:.2f} | "
            f"{f['margin_per_session']:.2f} | "
            f"{pct(f['acceptance'], False)} ({pct(f['acceptance_in_orders'], False)}) | {pct(f['attach_rate'], False)} | "
            f"{pct(f['aov_lift_vs_none'])} | {pct(f['revenue_lift_vs_none'])} {span(f['revenue_lift_vs_none_ci'])} | "
            f"{pct(f['margin_lift_vs_none'])} | {pct(f['revenue_lift_vs_fbt'])} {span(f['revenue_lift_vs_fbt_ci'])} |")
    return "\n".join(lines)


def sensitivity_markdown(runs: dict) -> str:
    """`runs`: cost name -> (policy table, Ceiling). One row per policy: revenue per session against none (and the
    orders the suggestions cost) under each cost, then the ceiling."""
    names = list(runs)
    lines = ["| policy | " + " | ".join(f"{n} cost: revenue vs none (orders lost)" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for policy in next(iter(runs.values()))[0]:
        cells = [f"{pct(runs[n][0][policy]['revenue_lift_vs_none'])} ({runs[n][0][policy]['orders_lost']:,})" for n in names]
        lines.append(f"| {NAMES.get(policy, policy)} | " + " | ".join(cells) + " |")
    lines.append("| ceiling, upsell + cross-sell (an upper bound; `policy_bound`) | "
                 + " | ".join(pct(runs[n][1].revenue_lift) for n in names) + " |")
    return "\n".join(lines)


def offers_markdown(rows: dict[str, list[dict]]) -> str:
    lines = ["| policy | placement | kind | impressions | acceptance | incremental | mean truth p |",
             "|---|---|---|---:|---:|---:|---:|"]
    for name, part in rows.items():
        for r in part:
            lines.append(f"| {NAMES.get(name, name)} | {r['placement']} | {r['kind']} | {r['impressions']:,} | "
                         f"{pct(r['acceptance'], False)} | {pct(r['acceptance_incremental'], False)} | "
                         f"{pct(r['mean_truth_p'], False)} |")
    return "\n".join(lines)


def ab_markdown(ab) -> str:
    se = ab.se
    lines = [f"{ab.reps} simulated shops (seeded), each split by `assign_variant` with its own salt; alpha {ab.alpha:g}.",
             "", "| check | expected | observed (± binomial SE) |", "|---|---:|---:|"]
    for test, share in ab.false_positive.items():
        lines.append(f"| A/A false positives, {test.replace('_', ' ')} | {pct(ab.alpha, False)} | "
                     f"{pct(share, False)} ± {pct(se(share), False)} |")
    lines.append(f"| A/B power, customer conversion {pct(ab.rates[0], False)} → {pct(ab.rates[1], False)} "
                 f"(buy rate × {1 + ab.lift:g}), {ab.n_per_arm[0]:,.0f} / {ab.n_per_arm[1]:,.0f} customers per arm "
                 f"| {ab.power_predicted:.3f} (planner) | {ab.power_observed:.3f} ± {se(ab.power_observed):.3f} |")
    return "\n".join(lines)


def targets(table: dict, ceiling, ab) -> list[tuple[str, str, bool]]:
    n = table["neurec"]
    share = n["revenue_lift_vs_none"] / ceiling.revenue_lift if ceiling.revenue_lift > 0 else math.nan
    rivals = [name for name in RIVALS if name in table]
    beaten = [name for name in rivals if n["revenue_per_session"] > table[name]["revenue_per_session"]]
    conv_ok = [name for name in rivals if n["conversion"] >= table[name]["conversion"]]
    fpr = ab.false_positive["conversion_customer"]
    return [
        ("neurec with rules: ≥ 80 % of the ceiling's revenue-per-session lift", f"{pct(share, False)} "
         f"({pct(n['revenue_lift_vs_none'])} of {pct(ceiling.revenue_lift)})", share >= 0.8),
        ("neurec with rules: more revenue per session than every baseline policy",
         f"beats {len(beaten)} of {len(rivals)}" + (f" (not {', '.join(sorted(set(rivals) - set(beaten)))})"
                                                    if len(beaten) < len(rivals) else ""), len(beaten) == len(rivals)),
        ("neurec with rules: conversion not lower than any baseline policy's",
         f"{len(conv_ok)} of {len(rivals)}" + "".join(
             f" (not {name}: {pct(table[name]['conversion'], False)}, {table[name]['orders_lost']} orders lost "
             f"against {n['orders_lost']}; in expectation {table[name]['orders_lost_expected']:.1f} against "
             f"{n['orders_lost_expected']:.1f})" for name in rivals if name not in conv_ok)
         + f"; {span(n['conversion_diff_vs_none_ci'])} against none", len(conv_ok) == len(rivals)),
        ("margin per session against none (reported)", pct(n["margin_lift_vs_none"]), True),
        ("A/A false-positive rate within 3–7 % (customer conversion)", pct(fpr, False), 0.03 <= fpr <= 0.07),
        ("A/A false-positive rate within 3–7 % (AOV over customers, the kit's default)",
         pct(ab.false_positive["aov_customer"], False), 0.03 <= ab.false_positive["aov_customer"] <= 0.07),
        ("observed power within ±0.05 of planned", f"{ab.power_observed:.3f} vs {ab.power_predicted:.3f}",
         abs(ab.power_observed - ab.power_predicted) <= 0.05),
    ]


def rule_costs_markdown(table: dict) -> str:
    """`table`: policy_table figures of "neurec" and of each "off:<rule>" variant, with `fbt` set to "neurec", so
    the `_vs_fbt` lifts read "against neurec with every rule on" (paired, same sessions)."""
    lines = ["| rule switched off | revenue / session vs none | against all rules on [95 % CI] | orders lost "
             "| acceptance | attach rate |", "|---|---:|---|---:|---:|---:|"]
    for name, f in table.items():
        label = "(none: the rules as shipped)" if name == "neurec" else f"`{name.removeprefix('off:')}`"
        lines.append(f"| {label} | {pct(f['revenue_lift_vs_none'])} | {pct(f['revenue_lift_vs_fbt'])} "
                     f"{span(f['revenue_lift_vs_fbt_ci'])} | {f['orders_lost']:,} | {pct(f['acceptance'], False)} | "
                     f"{pct(f['attach_rate'], False)} |")
    return "\n".join(lines)


def rules_choice_markdown(chosen: dict, top: int = 12) -> str:
    """The best `top` settings of the validation grid by revenue, and the shipped one wherever it ranks."""
    keys = tuple(chosen["shipped"])
    rows = sorted(chosen["validation_revenue_lift"], key=lambda r: -r["revenue_lift"])
    lines = [f"{len(rows)} settings tried; the best {top}, and the shipped one:", "",
             "| probability floor | slot cost | free of it | re-offers that may be free | upsell steps (price band) "
             "| per-category cap | shown again × | at most | validation revenue / session vs none | expected orders lost | |",
             "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for rank, row in enumerate(rows):
        marks = [m for m in ("chosen", "shipped") if all(row[k] == chosen[m][k] for k in keys)]
        if rank >= top and "shipped" not in marks:
            continue
        slot = slot_label(row)
        by_kind = row["slot_cost_free_by_kind"]
        free = ("—" if row["slot_cost"] is None else f"{row['slot_cost_free']} per placement" if by_kind is None
                else ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in sorted(by_kind.items(), reverse=True)))
        reoffers = ("—" if row["slot_cost"] is None else
                    ", ".join(k.replace("_", "-") for k in row["slot_cost_free_reoffers"]) or "none")
        low, high = row["upsell_band"]
        ladder = f"{row['upsell_tiers']} ({low:g}–{high:g}×)"
        cap = "off" if row["max_per_category"] is None else str(row["max_per_category"])
        lost = f"{row['orders_lost_expected']:.1f}" if "orders_lost_expected" in row else ""  # older JSON lacks it
        lines.append(f"| {row['min_probability']:g} | {slot} | {free} | {reoffers} | {ladder} | {cap} | "
                     f"{row['shown_factor']:g} | {row.get('top_k', 4)} | {pct(row['revenue_lift'])} | {lost} | "
                     f"{', '.join(marks)} |")
    if "conversion_constrained" in chosen:
        lines += ["", constrained_lines(chosen["conversion_constrained"])]
    return "\n".join(lines)


def slot_label(row: dict) -> str:
    """A grid setting's slot cost, with any placement's own."""
    slot = "off" if row["slot_cost"] is None else f"{row['slot_cost']:g}"
    if row.get("slot_cost_by_placement"):  # absent from the JSON of runs before the key existed
        slot += " (" + ", ".join(f"{where.replace('_', ' ')} {'off' if c is None else f'{c:g}'}"
                                 for where, c in row["slot_cost_by_placement"].items()) + ")"
    return slot


def constrained_lines(c: dict) -> str:
    """Whether the validation grid holds a setting that keeps conversion and still earns more than every baseline."""
    rivals = ", ".join(f"{NAMES.get(n, n).split(' (')[0]} {v:.1f}" for n, v in c["rivals_orders_lost_expected"].items())
    rival = NAMES.get(c["rival"], c["rival"]).split(" (")[0]

    def said(label: str) -> str:
        f = c[label]
        return (f"{pct(f['revenue_lift'])} against none, {pct(f['revenue_vs_rival'])} {span(f['revenue_vs_rival_ci'])} "
                f"against the {rival}, {f['orders_lost_expected']:.1f} orders lost in expectation")

    out = [f"Conversion on validation: the baselines lose {rivals} orders in expectation. Chosen: {said('chosen')}."]
    if "constrained" in c:
        s = c["constrained"]
        out.append(f"The best setting that loses no more than any of them (at most {s['setting']['top_k']} shown, slot "
                   f"cost {slot_label(s['setting'])}): {said('constrained')}.")
    else:
        out.append("No setting of the grid loses as few orders as every baseline.")
    return " ".join(out)
