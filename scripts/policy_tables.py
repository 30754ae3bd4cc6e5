"""The markdown tables `bench_policy.py` prints: the policy table, acceptance by offer, the upsell fate, what each
rule costs, the A/B kit's checks and the targets."""

from __future__ import annotations

import math

import numpy as np

NAMES = {"none": "none", "popularity": "popularity", "fbt": "FBT only", "neurec_no_rules": "neurec without rules",
         "neurec": "neurec with rules",
         "neurec_val_thresholds": "neurec with rules, per-kind thresholds chosen on validation",
         "oracle_upsell_cross_sell": "oracle, upsell + cross-sell only (reads the truth)",
         "oracle": "oracle, any item (reads the truth)"}


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
    lines = ["| policy | conversion [95 % CI] | AOV € [95 % CI] | margin / order € | acceptance (in orders) "
             "| incremental acceptance | attach rate | AOV vs none [95 % CI] | AOV vs FBT [95 % CI] |",
             "|---|---|---|---:|---|---:|---:|---|---|"]
    for name, f in table.items():
        aov = f"{f['aov']:.2f} [{f['aov_ci'][0]:.2f}, {f['aov_ci'][1]:.2f}]"
        lines.append(
            f"| {NAMES.get(name, name)} | {pct(f['conversion'], False)} {span(f['conversion_ci'], False)} | {aov} | "
            f"{f['margin_per_order']:.2f} | {pct(f['acceptance'], False)} ({pct(f['acceptance_in_orders'], False)}) | "
            f"{pct(f['acceptance_incremental'], False)} | "
            f"{pct(f['attach_rate'], False)} | {pct(f['aov_lift_vs_none'])} {span(f['aov_lift_vs_none_ci'])} | "
            f"{pct(f['aov_lift_vs_fbt'])} {span(f['aov_lift_vs_fbt_ci'])} |")
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


def targets(table: dict, ab) -> list[tuple[str, str, bool]]:
    n, fbt = table["neurec"], table.get("fbt")
    conv_low = n["conversion_diff_vs_none_ci"][1] >= 0  # the CI of the difference reaches 0 or above
    fpr = ab.false_positive["conversion_customer"]
    return [
        ("neurec with rules: AOV ≥ +15 % over none", pct(n["aov_lift_vs_none"]), n["aov_lift_vs_none"] >= 0.15),
        ("neurec with rules: AOV ≥ +5 % over FBT only", pct(n["aov_lift_vs_fbt"]) if fbt else "n/a",
         bool(fbt) and n["aov_lift_vs_fbt"] >= 0.05),
        ("conversion not lower than none (CI of the difference)", span(n["conversion_diff_vs_none_ci"]), conv_low),
        ("acceptance within 15–30 %", pct(n["acceptance"], False), 0.15 <= n["acceptance"] <= 0.30),
        ("A/A false-positive rate within 3–7 % (customer conversion)", pct(fpr, False), 0.03 <= fpr <= 0.07),
        ("A/A false-positive rate within 3–7 % (AOV over customers, the kit's default)",
         pct(ab.false_positive["aov_customer"], False), 0.03 <= ab.false_positive["aov_customer"] <= 0.07),
        ("observed power within ±0.05 of planned", f"{ab.power_observed:.3f} vs {ab.power_predicted:.3f}",
         abs(ab.power_observed - ab.power_predicted) <= 0.05),
    ]


def rule_costs_markdown(table: dict) -> str:
    """`table`: policy_table figures of "neurec" and of each "off:<rule>" variant, with `fbt` set to "neurec", so
    the `_vs_fbt` lifts read "against neurec with every rule on" (paired, same sessions)."""
    lines = ["| rule switched off | AOV vs none | AOV vs all rules on [95 % CI] | acceptance | attach rate |",
             "|---|---:|---|---:|---:|"]
    for name, f in table.items():
        label = "(none: the rules as shipped)" if name == "neurec" else f"`{name.removeprefix('off:')}`"
        lines.append(f"| {label} | {pct(f['aov_lift_vs_none'])} | {pct(f['aov_lift_vs_fbt'])} "
                     f"{span(f['aov_lift_vs_fbt_ci'])} | {pct(f['acceptance'], False)} | {pct(f['attach_rate'], False)} |")
    return "\n".join(lines)


def thresholds_markdown(chosen: dict) -> str:
    lines = ["| upsell threshold | cross-sell threshold | validation AOV vs none | chosen |", "|---:|---:|---:|---|"]
    for name, lift in chosen["validation_aov_lift"].items():
        up, cross = (float(part.split("=")[1]) for part in name.split())
        mark = "yes" if (up, cross) == (chosen["upsell"], chosen["cross_sell"]) else ""
        lines.append(f"| {up:g} | {cross:g} | {pct(lift)} | {mark} |")
    return "\n".join(lines)
