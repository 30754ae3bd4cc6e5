"""Policy simulation benchmark: what recommendations earn in the shop simulator, and whether the A/B kit can be trusted.

    .venv/bin/python scripts/bench_policy.py --json outputs/bench_policy.json      # trains a bundle first: ~20 min
    .venv/bin/python scripts/bench_policy.py --bundle outputs/bench_policy/run/bundle --json outputs/bench_policy.json
    .venv/bin/python scripts/bench_policy.py --quick                                # small shop, 200 tests

Times are for two cores with one other core's worth of work: training ~2 min, choosing the rules on validation
(342 replays) ~14 min, the replays ~3 min, the 400 A/A + A/B tests ~1 min.

Without --bundle it trains the default model on the default simulated shop (the data `make demo` uses; tracking
off, no baselines) under --work. With --bundle it reuses a trained bundle and re-creates its data from the run's
config.yaml next to the bundle folder. The model, popularity and frequently-bought-together are fit on the training
period; only the test period's sessions are replayed. "neurec with rules" uses the bundle's shipped rules, untouched.

Part 1 replays every test-period session under seven policies (none, popularity, FBT-only, the catalogue ladder,
neurec without rules, neurec with rules, and neurec with the relevance and display rules chosen on a replay of the
validation period) and two
oracles that read the ground truth (references, not policies) with `neurec.analytics.policy_sim`: the customer's
answers come from the simulator's ground truth, with common random numbers across policies. Beside them it prints
the exact expected ceiling of any upsell + cross-sell policy (`neurec.analytics.policy_bound`). It then replays
neurec with each shipped rule switched off in turn: what each rule costs. Part 2 runs A/A and A/B tests on freshly
simulated shops (`neurec.analytics.policy_stats.simulate_ab`). All print markdown tables; --json writes
{policy: {aov, conversion, acceptance, margin_per_order, aov_lift_vs_none, aov_lift_vs_fbt, ... with _ci}},
aa_false_positive_rate (customer conversion), power_predicted, power_observed, and the details
(upsell_cross_sell_ceiling, neurec_rule_costs, neurec_val_thresholds_choice, neurec_upsell_fate, ab_details).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from neurec.serving.rules_config import KINDS, RulesConfig
from policy_tables import (RIVALS, ab_markdown, fate_markdown, offers_markdown, pct, policy_markdown,
                           rule_costs_markdown, rules_choice_markdown, sensitivity_markdown, targets)

ROOT = Path(__file__).resolve().parents[1]
TRAIN_OVERRIDES = ["tracking=none", "baselines=[]", "trainer.progress=false"]
QUICK_OVERRIDES = ["data.simulator.n_customers=1500", "trainer.epochs=8"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, help="a trained bundle folder (default: train one under --work)")
    p.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_policy", help="where a trained run goes")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--quick", action="store_true", help="a smaller shop, fewer epochs and 200 A/A + A/B tests")
    p.add_argument("--reps", type=int, help="A/A tests, and as many A/B tests (default 400; --quick 200)")
    p.add_argument("--lift", type=float, default=0.2, help="A/B: relative change of the simulator's buy rate (default 0.2)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the intervals (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the replay's random numbers and the bootstrap")
    p.add_argument("--cost", default="mild", choices=("none", "mild", "strong"),
                   help="the choice cost of the main tables, the targets and the validation choice (default mild); "
                        "the sensitivity table shows every setting")
    args = p.parse_args()
    args.reps = args.reps or (200 if args.quick else 400)
    if args.reps < 1 or args.n_boot < 1 or args.lift <= -1:
        p.error("--reps and --n-boot must be >= 1 and --lift > -1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compose_config(overrides: list[str], out: Path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from neurec.cli.config import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            *overrides, f"paths.root_dir={ROOT}", f"paths.output_dir={out}", f"hydra.runtime.output_dir={out}"])
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")  # composed outside a Hydra app: nothing may resolve ${hydra:...} later
    return cfg


def train(work: Path, quick: bool):
    """One training run on the default simulated shop; returns (bundle folder, PreparedData)."""
    from neurec.cli.config import run_config
    from neurec.pipeline import run

    overrides = TRAIN_OVERRIDES + (QUICK_OVERRIDES if quick else [])
    out = work / ("run_quick" if quick else "run")
    log(f"training a bundle in {out} ({' '.join(overrides)}) ...")
    result = run(*run_config(compose_config(overrides, out)))
    log(f"bundle: {result.bundle_dir}  (reuse it with --bundle)")
    return Path(result.bundle_dir), result.data


def data_of(bundle: Path):
    """The bundle's own data, re-created from the run's config.yaml (the simulator is seeded)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from neurec.data.prepare import prepare

    saved = bundle.parent / "config.yaml"
    if not saved.is_file():
        sys.exit(f"bench_policy: {saved} not found; pass a bundle inside its training run folder")
    data_cfg = instantiate(OmegaConf.load(saved).data, _convert_="all")
    if data_cfg.source != "simulator":
        sys.exit("bench_policy: the bundle was not trained on the simulator; the replay needs its ground truth")
    with tempfile.TemporaryDirectory() as tmp:
        return prepare(data_cfg, Path(tmp))


def policies(with_rules, data, truth):
    """The policies a shop could run. `with_rules`: the bundle as shipped (a ScorerPolicy named "neurec"); the other
    neurec policies share it."""
    from neurec.analytics.policies import (CatalogueLadder, Fbt, NoRecs, Popularity, fbt_partners, neutral_rules,
                                           popularity_ranking)
    from neurec.models.baselines import FrequentlyBoughtTogether
    from neurec.train.compare import train_view

    ids = data.vocab.decode(range(len(data.vocab)))
    empty = frozenset(i for i, it in truth.items.items() if not it.in_stock)
    if with_rules.scorer.bundle.vocab.sha256() != data.vocab.sha256():
        sys.exit("bench_policy: the re-created data's vocabulary differs from the bundle's; wrong config.yaml?")
    return [NoRecs(), Popularity(popularity_ranking(data.train_purchase_counts, ids), empty),
            Fbt(fbt_partners(FrequentlyBoughtTogether().fit(train_view(data)), ids), empty),
            CatalogueLadder.from_catalog(data.catalog),
            with_rules.with_rules("neurec_no_rules", neutral_rules(with_rules.scorer.bundle.rules)), with_rules]


def oracles(truth, sessions, cost):
    """The two references that read the truth. They keep state per replay, so every replay gets fresh ones; they
    weigh `cost` as the customers do."""
    from neurec.analytics.policies import TruthOracle
    from neurec.analytics.policy_sim import SessionTruth

    return [TruthOracle(sessions, SessionTruth(truth), alternatives=False, name="oracle_upsell_cross_sell", cost=cost),
            TruthOracle(sessions, SessionTruth(truth), cost=cost)]


class ProductPages:
    """A policy that shows nothing and keeps the product-page slots it is asked about."""

    name = "product_pages"

    def __init__(self):
        self.slots = []

    def recommend(self, slots, k: int) -> list[list[str]]:
        self.slots += [s for s in slots if s.placement == "product_page"]
        return [[] for _ in slots]


def upsell_fate(policy, sessions, events, truth, k: int = 4) -> dict[str, list[float]]:
    """What the shipped rules do with the one-tier-up upgrade of each order's main item on its product page, with
    the ground truth's probability that the customer switches to it if it is shown: explains the upsell counts."""
    from neurec.analytics.policy_sim import SessionTruth, replay

    pages, model = ProductPages(), SessionTruth(truth)
    replay(pages, sessions, events, truth)
    ladder = {(it.line, it.tier): i for i, it in truth.items.items() if it.main}
    fate: dict[str, list[float]] = {}
    for slot in pages.slots:
        s, anchor = sessions[slot.session], truth.items.get(slot.anchor)
        up = ladder.get((anchor.line, anchor.tier + 1)) if anchor is not None and anchor.main else None
        if s.main is None or up is None:
            continue
        prepared = policy.scorer.prepare({**policy.request(slot, k), "explain": True})
        response = policy.scorer.score_batch([prepared])[0]
        dropped = {d["item_id"]: d["reason"] for d in response["dropped"]}
        if up in [x["item_id"] for x in response["items"]]:
            reason = "shown"
        elif up not in prepared.candidates:
            reason = "not generated (outside the upsell band)"
        else:
            reason = dropped.get(up, "kept, ranked below the top k")
        added = model.added_weight(s, model.opening_state(s, slot.anchor), up)
        fate.setdefault(reason, []).append(added / (1.0 + added))
    return fate


def main() -> None:
    args = parse_args()
    from neurec.analytics.policies import ScorerPolicy
    from neurec.analytics.policy_bound import expected_ceiling
    from neurec.analytics.policy_sim import COSTS, ReplayConfig, replay, sessions_in, simulator_truth
    from neurec.analytics.policy_stats import AbSimConfig, by_offer, policy_table, simulate_ab

    t0 = time.perf_counter()
    bundle, data = (args.bundle, data_of(args.bundle)) if args.bundle else train(args.work, args.quick)
    sim_cfg = _simulator_config(bundle)
    truth = simulator_truth(sim_cfg)
    sessions = sessions_in(data.events, data.boundaries.test_start, truth)
    customers = [x.user_id for x in sessions]
    log(f"replaying {len(sessions):,} test-period sessions ({sum(bool(s.bought) for s in sessions):,} with an order) ...")
    shipped = ScorerPolicy.from_bundle(bundle, "neurec")  # opened once; every neurec variant shares its session
    chosen = choose_rules(shipped, data, truth, sessions, args)
    shop = [*policies(shipped, data, truth), shipped.with_rules("neurec_validated", chosen["rules"])]
    runs = {}
    for name, cost in COSTS.items():
        outcomes = []
        for policy in [*shop, *oracles(truth, sessions, cost)]:
            t = time.perf_counter()
            outcomes.append(replay(policy, sessions, data.events, truth, ReplayConfig(seed=args.seed, cost=cost)))
            log(f"  {name} cost, {policy.name}: {time.perf_counter() - t:.1f}s")
        runs[name] = {"outcomes": outcomes, "ceiling": expected_ceiling(sessions, truth, cost=cost),
                      "table": policy_table(outcomes, n_boot=args.n_boot, seed=args.seed, customers=customers)}
    main_run = runs[args.cost]
    fate = upsell_fate(shipped, sessions, data.events, truth)
    costs = rule_costs(shipped, main_run["outcomes"], sessions, data.events, truth, args)
    offers = {o.policy: by_offer(o) for o in main_run["outcomes"]}
    log(f"A/A and A/B tests on {args.reps} simulated shops ...")
    ab = simulate_ab(sim_cfg, AbSimConfig(reps=args.reps, lift=args.lift),
                     progress=lambda r: r % 50 == 0 and log(f"  {r} / {args.reps}"))
    report(args, runs, offers, fate, costs, chosen, ab, len(sessions), time.perf_counter() - t0)


# The validation grid of the relevance rules: a probability floor, the economics of a slot (rules slot_cost, and
# a dearer product page: slot_cost_by_placement), how many of the best suggestions are shown without paying for their
# slot, of the placement (slot_cost_free) or of each kind (slot_cost_free_by_kind), which kinds' re-offers may still
# be free (slot_cost_free_reoffers), how far up the product line an upsell may go (upsell_tiers with the price band
# that the steps need: one tier is 20-40 % dearer, two about 70 %), and the two display rules that decide which of
# the kept items fill the slots: the per-category cap (max_per_category) and the demotion of items shown earlier in
# the visit (shown_factor). Settings that never came near the best in earlier runs of this grid are left out to keep
# it at a quarter of an hour: floors of 0.01 and 0.02, 0 or 2 free of the placement, a slot cost of 0.005 (5.8 %
# against 6.1 % in the best), one free upsell (5.3 %), one upsell step (4.7 %), and a demotion of 0.5.
MIN_PROBABILITIES, SLOT_COSTS, FREE_SLOTS = (0.0,), (0.01, 0.02, 0.05), (1,)
# (`other` suggestions are off on a catalogue with product lines, as the simulated shop's: its count changes nothing
# here and is kept at the shipped 1, for shops whose suggestions are all `other`.)
FREE_BY_KIND = tuple((("cross_sell", c), ("other", 1), ("upsell", 2)) for c in (1, 2))
REOFFERS_FREE = (KINDS, ("upsell",))  # every kind's re-offers may be free, or only upgrades'
PAGE_COSTS = (None, (("product_page", 0.1),), (("product_page", 0.2),))  # None: the product page at slot_cost
LADDERS = ((2, (1.2, 1.8)),)
DISPLAY = tuple((cap, shown) for cap in (3, None) for shown in (0.2, 0.05, 0.01))
TOP_K = 4  # the grid above shows up to the shipped four
# Settings that risk fewer orders, for the conversion constraint (`conversion_constrained`): fewer suggestions (the
# top_k; the mild cost's first two per placement are free) and dearer slots, the other rules as shipped.
FEWER = [(0.0, c, 0, FREE_BY_KIND[0], ("upsell",), page, *LADDERS[0], None, 0.01, k)
         for k in (2, 3) for c in (0.05, 0.2, 0.5) for page in (None, (("product_page", 1.0),))]
RELEVANCE_KEYS = ("min_probability", "slot_cost", "slot_cost_free", "slot_cost_free_by_kind",
                  "slot_cost_free_reoffers", "slot_cost_by_placement", "upsell_tiers", "upsell_band",
                  "max_per_category", "shown_factor", "top_k")


def relevance_grid() -> list[tuple]:
    """Tuples in RELEVANCE_KEYS order. Without a slot cost nothing is exempt from it, so that is tried once; with
    exemptions by kind the placement's count is not read, so it is 0."""
    costs = [(c, page) for c in SLOT_COSTS for page in PAGE_COSTS]
    relevance = [(f, None, 0, None, KINDS, None) for f in MIN_PROBABILITIES] + [
        (f, c, n, None, r, page)
        for f in MIN_PROBABILITIES for c, page in costs for n in FREE_SLOTS for r in REOFFERS_FREE] + [
        (f, c, 0, k, r, page)
        for f in MIN_PROBABILITIES for c, page in costs for k in FREE_BY_KIND for r in REOFFERS_FREE]
    return [(*r, *ladder, *display, TOP_K) for r in relevance for ladder in LADDERS for display in DISPLAY] + FEWER


def _setting(key: tuple) -> dict:
    """A grid tuple as plain JSON values, as rules.json writes them (the per-kind pairs as an object)."""
    rules = RulesConfig(**dict(zip(RELEVANCE_KEYS, key))).to_dict()
    return {k: rules[k] for k in RELEVANCE_KEYS}


def choose_rules(policy, data, truth, test_sessions, args) -> dict:
    """The relevance rules (RELEVANCE_KEYS; the other rules as shipped) with the best revenue per session on a replay
    of the validation period under the --cost setting; the model was not trained on those sessions and the test
    period is not looked at. Ties keep the shipped values. Beside it, `conversion_constrained`: the best setting
    whose expected orders lost are no more than any baseline policy's on the same sessions."""
    from dataclasses import replace

    from neurec.analytics.policy_sim import COSTS, ReplayConfig, replay, sessions_in

    test_keys = {s.key for s in test_sessions}
    val = [s for s in sessions_in(data.events, data.boundaries.valid_start, truth) if s.key not in test_keys]
    shipped = policy.scorer.bundle.rules
    cfg = ReplayConfig(seed=args.seed, cost=COSTS[args.cost])
    grid = relevance_grid()
    log(f"choosing the relevance rules on {len(val):,} validation-period sessions ({args.cost} cost, {len(grid)} replays) ...")
    shop = {p.name: replay(p, val, data.events, truth, cfg) for p in policies(policy, data, truth)
            if p.name in ("none", *RIVALS)}  # the shipped rules are replayed as a grid setting
    base = shop["none"].value.sum()
    outcomes, lifts = {}, {}
    for key in grid:
        rules = replace(shipped, min_probability_by_kind=None, **dict(zip(RELEVANCE_KEYS, key)))
        outcomes[key] = replay(policy.with_rules("v", rules), val, data.events, truth, cfg)
        lifts[key] = outcomes[key].value.sum() / base - 1
    current = tuple(getattr(shipped, k) for k in RELEVANCE_KEYS)
    if shipped.slot_cost_free_by_kind is not None:  # the placement's count is then not read: as in the grid
        current = (*current[:2], 0, *current[3:])
    best = max(lifts, key=lambda key: (lifts[key], key == current))
    return {"rules": replace(shipped, min_probability_by_kind=None, **dict(zip(RELEVANCE_KEYS, best))),
            "chosen": _setting(best), "shipped": _setting(current),
            "cost": args.cost, "validation_sessions": len(val),
            "validation_revenue_lift": [{**_setting(key), "revenue_lift": lift,
                                         "orders_lost_expected": float(outcomes[key].at_risk.sum())}
                                        for key, lift in lifts.items()],
            "conversion_constrained": conversion_constrained(shop, outcomes, lifts, best, val, args)}


def conversion_constrained(shop: dict, outcomes: dict, lifts: dict, best: tuple, sessions, args) -> dict:
    """The validation grid's best revenue among the settings that lose no more orders in expectation than any
    baseline policy, against the best of those policies and beside the chosen setting (paired intervals): whether
    "more revenue than every baseline" and "conversion not lower" can both hold on the validation period."""
    from dataclasses import replace

    from neurec.analytics.policy_stats import policy_table

    rivals = {name: o for name, o in shop.items() if name in RIVALS}
    bound = min(o.at_risk.sum() for o in rivals.values())
    within = [key for key in lifts if outcomes[key].at_risk.sum() <= bound]
    top = max(within, key=lambda key: lifts[key]) if within else None
    richest = max(rivals, key=lambda name: rivals[name].value.sum())
    picked = {"chosen": best, **({"constrained": top} if top is not None else {})}
    renamed = [replace(outcomes[key], policy=label) for label, key in picked.items()]
    table = policy_table([shop["none"], rivals[richest], *renamed], fbt=richest, n_boot=args.n_boot, seed=args.seed,
                         customers=[s.user_id for s in sessions])
    figures = {label: {"setting": _setting(key), "revenue_lift": lifts[key],
                       "orders_lost_expected": float(outcomes[key].at_risk.sum()),
                       "revenue_vs_rival": table[label]["revenue_lift_vs_fbt"],
                       "revenue_vs_rival_ci": table[label]["revenue_lift_vs_fbt_ci"]} for label, key in picked.items()}
    return {"rival": richest, "rivals_orders_lost_expected": {n: float(o.at_risk.sum()) for n, o in rivals.items()},
            "bound": float(bound), **figures}


def rule_costs(policy, outcomes, sessions, events, truth, args) -> dict:
    """neurec with each shipped rule switched off in turn, against the rules as shipped, on the same sessions."""
    from neurec.analytics.policies import rule_ablations
    from neurec.analytics.policy_sim import COSTS, ReplayConfig, replay
    from neurec.analytics.policy_stats import policy_table

    shipped = {o.policy: o for o in outcomes}
    rules = policy.scorer.bundle.rules
    log(f"neurec with one rule off at a time ({args.cost} cost) ...")
    cfg = ReplayConfig(seed=args.seed, cost=COSTS[args.cost])
    variants = [replay(policy.with_rules(f"off:{name}", changed), sessions, events, truth, cfg)
                for name, changed in rule_ablations(rules).items()]
    table = policy_table([shipped["none"], shipped["neurec"], *variants], fbt="neurec", n_boot=args.n_boot,
                         seed=args.seed, customers=[x.user_id for x in sessions])
    table.pop("none")
    return table


def _simulator_config(bundle: Path):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.load(bundle.parent / "config.yaml").data.simulator)


def report(args, runs: dict, offers: dict, fate: dict, costs: dict, chosen: dict, ab, n_sessions: int,
           seconds: float) -> None:
    table, ceiling = runs[args.cost]["table"], runs[args.cost]["ceiling"]
    print(f"## Policies on {n_sessions:,} test-period sessions, {args.cost} choice cost (ground truth: the simulator; "
          "common random numbers)\n")
    print(policy_markdown(table))
    print(f"\nCeiling: the highest expected lift any upsell + cross-sell policy can reach on these sessions is "
          f"{pct(ceiling.aov_lift)} in AOV without a cost (upsells {ceiling.upsell_gain:,.0f} €, cross-sells "
          f"{ceiling.cross_sell_gain:,.0f} € over {ceiling.base_value:,.0f} € in {ceiling.sessions:,} orders) and at "
          f"most {pct(ceiling.revenue_lift)} in revenue per session under the {args.cost} cost "
          "(neurec.analytics.policy_bound). The table's lifts are one draw of the customers' answers, shared by every policy.")
    print("\n## Sensitivity: revenue per session against none, under each choice cost (`choice_cost.COSTS`)\n")
    print(sensitivity_markdown({name: (run["table"], run["ceiling"]) for name, run in runs.items()}))
    print(f"\n## Acceptance by placement and kind ({args.cost} cost)\n")
    print(offers_markdown(offers))
    print("\n## neurec with rules: the one-tier-up upgrade on the product page of each order's main item\n")
    print(fate_markdown(fate))
    print(f"\n## neurec: what each shipped rule costs (switched off alone, the others on; {args.cost} cost)\n")
    print(rule_costs_markdown(costs))
    print(f"\n## Relevance rules chosen on {chosen['validation_sessions']:,} validation-period sessions ({args.cost} cost)\n")
    print(rules_choice_markdown(chosen))
    print("\n## The A/B kit on simulated traffic\n")
    print(ab_markdown(ab))
    print(f"\n## Targets ({args.cost} cost)\n\n| target | measured | met |\n|---|---|---|")
    for name, value, ok in targets(table, ceiling, ab):
        print(f"| {name} | {value} | {'yes' if ok else 'no'} |")
    print(f"\n{seconds:.0f} s in all")
    if args.json:
        out: dict = {name: {**f, "by_offer": offers[name]} for name, f in table.items()}
        out.update(aa_false_positive_rate=ab.false_positive["conversion_customer"], power_predicted=ab.power_predicted,
                   power_observed=ab.power_observed, cost=args.cost)
        out["ab_details"] = {"false_positive_by_test": ab.false_positive, "power_observed_se": ab.se(ab.power_observed),
                             "reps": ab.reps, "buy_rate_lift": ab.lift, "customer_conversion": list(ab.rates),
                             "customers_per_arm": list(ab.n_per_arm), "seconds": seconds}
        out["upsell_cross_sell_ceiling"] = {"aov_lift": ceiling.aov_lift, "revenue_lift": ceiling.revenue_lift,
                                            "cost": ceiling.cost, "upsell_gain": ceiling.upsell_gain,
                                            "cross_sell_gain": ceiling.cross_sell_gain, "base_value": ceiling.base_value,
                                            "orders": ceiling.sessions}
        out["sensitivity"] = {name: {"ceiling_revenue_lift": run["ceiling"].revenue_lift, "policies": {
            policy: {key: f[key] for key in SENSITIVITY_KEYS} for policy, f in run["table"].items()}}
            for name, run in runs.items()}
        out["neurec_rule_costs"] = {name.removeprefix("off:"): {
            "revenue_lift_vs_none": f["revenue_lift_vs_none"], "revenue_change_vs_shipped": f["revenue_lift_vs_fbt"],
            "revenue_change_vs_shipped_ci": f["revenue_lift_vs_fbt_ci"], "acceptance": f["acceptance"]}
            for name, f in costs.items() if name != "neurec"}
        out["neurec_rules_choice"] = {k: v for k, v in chosen.items() if k != "rules"}
        out["neurec_upsell_fate"] = {why: {"offers": len(p), "mean_truth_p": float(np.mean(p))} for why, p in fate.items()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
        log(f"wrote {args.json}")


SENSITIVITY_KEYS = ("conversion", "orders_lost", "orders_lost_expected", "aov_lift_vs_none", "revenue_lift_vs_none",
                    "revenue_lift_vs_none_ci", "margin_lift_vs_none", "impressions")


if __name__ == "__main__":
    main()
