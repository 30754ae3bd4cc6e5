"""Real-basket cross-sell attachment on Online Retail: hide part of each test-period invoice, suggest for the rest.

    .venv/bin/python scripts/bench_attachment.py --json outputs/bench_attachment.json    # trains first: ~25 min
    .venv/bin/python scripts/bench_attachment.py --bundle outputs/bench_attachment/run/bundle \
        --rules configs/rules/default.yaml --json outputs/bench_attachment.json        # ~3 min
    .venv/bin/python scripts/bench_attachment.py --bundle outputs/bench_attachment/run/bundle --max-baskets 500

Without --bundle it trains the default model on `data=online_retail` (tracking off, no baselines) under --work,
stopped by `trainer.max_minutes` (--train-minutes, 15 as in the quality benchmark: the default 30 epochs take
about an hour on 2 cores). With --bundle it re-prepares the data with the bundle's own run config and checks that
the vocabulary is the bundle's. The model, FBT and popularity see only the training period.

Each test-period invoice with 2 or more distinct items is split (half hidden, seeded per invoice); every policy gets
the customer's earlier invoices plus the visible half as the cart and returns k items. Figures and definitions:
`neurec.analytics.attachment`. The policies: popularity, FBT (`analytics.policies`), neurec through the Scorer
without rules and with rules (the bundle's rules.json, or --rules), the model alone ranking every item it knows (no
candidate generation, no rules), and the next dearer size of each cart item (below). neurec is sent the customer's
newest 1,000 events, the most its history summary reads in training and serving, not only its 50-event window.
Revenue counts a hit at UnitPrice x Quantity of the hidden line, read from the raw file (the prepared events keep
no quantity). Price-ladder upsell candidates come from the descriptions: the catalogue neurec builds for this
preset has prices only (no product_line or tier), so its rules make no upsells. A second table switches each of
neurec's rules off alone. --json writes the facts, {policies: {name: figures}} and neurec_rule_costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT.parent / "shared" / "data" / "online_retail" / "OnlineRetail.csv.gz"
TARGET = 1.2  # neurec's attachment rate over FBT's, from the issue
# The rules that act on a catalogue of ids and prices.
RULES_SHOWN = ("top_k", "min_probability", "slot_cost", "slot_cost_by_placement", "slot_cost_free",
               "slot_cost_free_by_kind", "drop_already_bought", "free_shipping_threshold")
LABELS = {"popularity": "popularity", "fbt": "FBT", "neurec_no_rules": "neurec without rules",
          "neurec": "neurec with rules", "neurec_model": "neurec model alone, every item",
          "price_ladder": "price ladder (upsell: next dearer size)"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=Path, default=EVENTS, help="OnlineRetail.csv or .csv.gz (decompressed under --work)")
    p.add_argument("--bundle", type=Path, help="a bundle trained on this data (default: train one under --work)")
    p.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_attachment")
    p.add_argument("--rules", type=Path, help="a rules file (YAML or JSON, the keys of configs/rules/default.yaml) "
                   "to score neurec with instead of the bundle's rules.json, e.g. the current shipped defaults")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--k", type=int, default=4, help="suggestions per basket (default 4, the shipped rules' top_k)")
    p.add_argument("--seed", type=int, default=0, help="the baskets' split, the --max-baskets sample, the bootstrap")
    p.add_argument("--max-baskets", type=int, help="a seeded sample of this many baskets (quick runs)")
    p.add_argument("--period", choices=("test", "valid"), default="test",
                   help="whose baskets: the test period's (the report) or the validation period's (to choose rules on)")
    p.add_argument("--train-minutes", type=float, default=15.0, help="trainer.max_minutes when training (default 15)")
    p.add_argument("--threads", type=int, help="torch threads when training (default: the trainer's choice from the "
                   "cores other work leaves free; 1 holds up best on a machine others use too)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    args = p.parse_args()
    if args.k < 1 or args.n_boot < 1 or (args.max_baskets is not None and args.max_baskets < 1):
        p.error("--k, --n-boot and --max-baskets must be >= 1")
    if not args.events.is_file():
        p.error(f"--events {args.events}: not found")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def plain_csv(path: Path, work: Path) -> Path:
    """neurec reads plain files only: a .gz is decompressed once into the work folder."""
    if path.suffix != ".gz":
        return path
    import gzip
    import shutil

    out = work / path.stem
    if not out.is_file() or out.stat().st_mtime < path.stat().st_mtime:
        work.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return out


def train(csv: Path, args):
    from bench_policy import compose_config

    from neurec.cli.config import run_config
    from neurec.pipeline import run

    threads = [f"trainer.num_threads={args.threads}"] if args.threads else []
    overrides = ["data=online_retail", f"data.events_path={csv}", "tracking=none", "baselines=[]",
                 "trainer.progress=false", f"trainer.max_minutes={args.train_minutes}", *threads]
    out = args.work / "run"
    log(f"training a bundle in {out} ({' '.join(overrides[2:])}) ...")
    result = run(*run_config(compose_config(overrides, out)))
    fit = result.fit
    log(f"bundle: {result.bundle_dir}  (reuse it with --bundle); {len(fit.history)} epoch(s) in {fit.seconds:.0f} s, "
        f"best epoch {fit.best_epoch} (validation {fit.best_metric:.4f}), budget: {fit.budget or 'none hit'}")
    return Path(result.bundle_dir), result.data, {"epochs": len(fit.history), "best_epoch": fit.best_epoch,
                                                   "valid_ndcg_at_10": fit.best_metric, "train_seconds": fit.seconds}


def data_of(bundle: Path, csv: Path):
    """The bundle's data, re-prepared with its run's config.yaml and this events file."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from neurec.data.prepare import prepare

    saved = bundle.parent / "config.yaml"
    if not saved.is_file():
        sys.exit(f"bench_attachment: {saved} not found; pass a bundle inside its training run folder")
    cfg = OmegaConf.load(saved).data
    cfg.events_path = str(csv)
    with tempfile.TemporaryDirectory() as tmp:
        return prepare(instantiate(cfg, _convert_="all"), Path(tmp))


def raw_lines(csv: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Units per (invoice, stock code) over the sale lines, and each stock code's usual description."""
    from neurec.data.validate import ids_as_str

    raw = pd.read_csv(csv, usecols=["InvoiceNo", "StockCode", "Description", "Quantity"],
                      dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw.loc[raw["Quantity"] > 0]
    raw = raw.assign(session_id=ids_as_str(raw["InvoiceNo"]), item_id=ids_as_str(raw["StockCode"]))
    # The prepared events keep one line per (invoice, item) and no quantity: the units of all its lines.
    units = raw.groupby(["session_id", "item_id"], as_index=False)["Quantity"].sum()
    desc = raw.dropna(subset=["Description"]).groupby("item_id")["Description"].agg(lambda s: s.mode().iloc[0])
    return units.rename(columns={"Quantity": "quantity"}), desc


class ModelRanking:
    """The model alone over every item it knows: no candidate generation and no rules; the cart is left out."""

    name = "neurec_model"

    def __init__(self, ranker, batch: int = 256):
        self.ranker, self.batch = ranker, batch

    def recommend(self, slots, k: int) -> list[list[str]]:
        from neurec.history_summary import SUMMARY_EVENTS
        from neurec.serving.ranker import CustomerHistory

        out = []
        for lo in range(0, len(slots), self.batch):  # a few hundred rows x every item bounds the model's memory
            part = slots[lo : lo + self.batch]
            customers = [CustomerHistory(list(s.hist_items[-SUMMARY_EVENTS:]), s.hist_types[-SUMMARY_EVENTS:],
                                         s.hist_ts[-SUMMARY_EVENTS:], s.now) for s in part]
            ranked = self.ranker.rank_many(customers, k + max(len(s.cart) for s in part))
            for r, s in zip(ranked, part):
                cart = set(s.cart)
                out.append([i for i in r.item_ids if i not in cart][:k])
        return out


def load_rules(path: Path | None):
    if path is None:
        return None
    from omegaconf import OmegaConf

    from neurec.serving.rules_config import RulesConfig

    try:
        return RulesConfig.from_dict(OmegaConf.to_container(OmegaConf.load(path), resolve=True))
    except (OSError, ValueError) as e:
        sys.exit(f"bench_attachment: --rules {path}: {e}")


def policies(bundle: Path, data, desc: pd.Series, args) -> tuple[list, dict]:
    from neurec.analytics.attachment import LadderUpsell, size_ladders
    from neurec.analytics.policies import (Fbt, Popularity, ScorerPolicy, fbt_partners, neutral_rules,
                                           popularity_ranking)
    from neurec.models.baselines import FrequentlyBoughtTogether
    from neurec.serving.ranker import Ranker
    from neurec.train.compare import train_view

    ids = data.vocab.decode(range(len(data.vocab)))
    shipped = ScorerPolicy.from_bundle(bundle, "neurec", rules=load_rules(args.rules))
    if shipped.scorer.bundle.vocab.sha256() != data.vocab.sha256():
        sys.exit("bench_attachment: the re-prepared data's vocabulary differs from the bundle's; another events file?")
    bare = shipped.with_rules("neurec_no_rules", neutral_rules(shipped.scorer.bundle.rules))
    train = data.events.loc[data.events["ts"] < data.boundaries.valid_start]
    ladders = size_ladders(desc.to_dict(), train.groupby("item_id")["price"].median().to_dict())
    pols = [Popularity(popularity_ranking(data.train_purchase_counts, ids)),
            Fbt(fbt_partners(FrequentlyBoughtTogether().fit(train_view(data)), ids)),
            bare, shipped, ModelRanking(Ranker.from_bundle(bundle, threads=args.threads or 1)), LadderUpsell(ladders)]
    columns = sorted(c for c in shipped.scorer.catalog.columns if c != "index")
    in_effect = shipped.scorer.rules.to_dict()  # with this catalogue; plain JSON values
    rules = {k: in_effect[k] for k in RULES_SHOWN}
    source = _shown(args.rules) if args.rules else "the bundle's rules.json"
    info = {"ladder_items": len(ladders), "catalogue_columns": columns, "rules": source, "rules_in_effect": rules}
    return pols, info


def rule_costs(shipped, shipped_run, baskets, slots, args) -> dict:
    """neurec with each shipped rule switched off alone, against the rules as shipped, on the same baskets."""
    from neurec.analytics.attachment import attachment_table, run_policy
    from neurec.analytics.policies import rule_ablations

    runs = [shipped_run]
    for name, rules in rule_ablations(shipped.scorer.bundle.rules).items():
        runs.append(run_policy(shipped.with_rules(name, rules), baskets, slots, args.k))
    return attachment_table(runs, baskets, ref="neurec", n_boot=args.n_boot, seed=args.seed)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("neurec.data", "onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from neurec.analytics.attachment import attachment_table, basket_slots, run_policy, holdout_baskets

    t0 = time.perf_counter()
    csv = plain_csv(args.events, args.work)
    bundle, data, fit = (args.bundle, data_of(args.bundle, csv), {}) if args.bundle else train(csv, args)
    units, desc = raw_lines(csv)
    events = data.events.merge(units, on=["session_id", "item_id"], how="left")  # left merge keeps the row order
    b = data.boundaries  # rules are chosen on the validation period's baskets, reported on the test period's
    start, end = (b.valid_start, b.test_start) if args.period == "valid" else (b.test_start, None)
    baskets = holdout_baskets(events, start, args.seed, max_baskets=args.max_baskets, end=end)
    slots = basket_slots(baskets, data.events)
    log(f"{len(baskets):,} {args.period} baskets, {len({b.user_id for b in baskets}):,} customers; suggesting k={args.k} ...")
    pols, info = policies(bundle, data, desc, args)
    runs = []
    for policy in pols:
        runs.append(run_policy(policy, baskets, slots, args.k))
        log(f"  {policy.name}: {runs[-1].seconds:.1f}s")
    table = attachment_table(runs, baskets, n_boot=args.n_boot, seed=args.seed)
    log("neurec with one rule off at a time ...")
    costs = rule_costs(next(p for p in pols if p.name == "neurec"), next(r for r in runs if r.policy == "neurec"),
                       baskets, slots, args)
    test_lines = events.loc[(events["ts"] >= start) & (events["ts"] < (np.inf if end is None else end))]
    facts = {"period": args.period, "baskets": len(baskets), "customers": len({b.user_id for b in baskets}), "k": args.k, "seed": args.seed,
             "visible_items": sum(len(b.visible) for b in baskets),
             "hidden_items": sum(len(b.held_out) for b in baskets),
             "revenue_basis": "UnitPrice x Quantity of the hidden line (x 1 where the quantity is missing)",
             "lines_without_quantity": int(test_lines["quantity"].isna().sum()), "bundle": _shown(bundle),
             "train_minutes_budget": None if args.bundle else args.train_minutes, "training": fit, **info}
    report(args, table, costs, facts, time.perf_counter() - t0)


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _ci(low_high, fmt) -> str:
    return f"[{fmt(low_high[0])}, {fmt(low_high[1])}]"


def _ratio(f: dict, key: str) -> str:
    return f"{f[key]:.2f}× {_ci(f[key + '_ci'], '{:.2f}'.format)}" if key in f else ""


def markdown(table: dict) -> str:
    rows = ["| policy | suggestions / basket | attachment rate [95 % CI] | vs FBT [95 % CI] | precision | revenue "
            "added / basket £ [95 % CI] | repeat share of hits | new-item attachment [95 % CI] | new-item vs FBT "
            "[95 % CI] |",
            "|---|---:|---|---|---:|---|---:|---|---|"]
    for name, f in table.items():
        repeat = _pct(f["repeat_share_of_hits"]) if np.isfinite(f["repeat_share_of_hits"]) else "-"
        rows.append(f"| {LABELS.get(name, name)} | {f['suggestions'] / f['baskets']:.2f} | "
                    f"{_pct(f['attachment_rate'])} "
                    f"{_ci(f['attachment_rate_ci'], _pct)} | {_ratio(f, 'ratio_to_fbt')} | {_pct(f['precision'])} | "
                    f"{f['revenue_per_basket']:.2f} {_ci(f['revenue_per_basket_ci'], '{:.2f}'.format)} | {repeat} | "
                    f"{_pct(f['new_item_attachment_rate'])} {_ci(f['new_item_attachment_rate_ci'], _pct)} | "
                    f"{_ratio(f, 'new_item_ratio_to_fbt')} |")
    return "\n".join(rows)


def costs_markdown(costs: dict) -> str:
    rows = ["| rule switched off | suggestions / basket | attachment rate | vs the rules as shipped [95 % CI] "
            "| precision |",
            "|---|---:|---:|---|---:|"]
    for name, f in costs.items():
        label = "(none: the rules as shipped)" if name == "neurec" else f"`{name}`"
        rows.append(f"| {label} | {f['suggestions'] / f['baskets']:.2f} | {_pct(f['attachment_rate'])} | "
                    f"{_ratio(f, 'ratio_to_neurec')} | {_pct(f['precision'])} |")
    return "\n".join(rows)


def verdict(ratio: float, ci) -> str:
    if ci[0] >= TARGET:
        return "met"
    return "not shown (the interval reaches below it)" if ratio >= TARGET else "not met"


def report(args, table: dict, costs: dict, facts: dict, seconds: float) -> None:
    budget = facts["train_minutes_budget"]
    period = "test" if facts["period"] == "test" else "validation-period"
    print(f"## Cross-sell attachment on {facts['baskets']:,} Online Retail {period} baskets "
          f"({facts['customers']:,} customers; k = {facts['k']}; seed {facts['seed']})\n")
    print(f"{facts['visible_items']:,} items visible as the cart, {facts['hidden_items']:,} hidden. Bundle: "
          f"{facts['bundle']}{f' (trained here, {budget:g}-minute budget)' if budget else ''}. Revenue: "
          f"{facts['revenue_basis']}; {facts['lines_without_quantity']:,} test lines lack one. Intervals: customers "
          f"resampled with all their baskets, {args.n_boot:,} times, one draw for every policy (paired).\n")
    print(markdown(table))
    rules = ", ".join(f"{k} {v}" for k, v in facts["rules_in_effect"].items())
    print(f"\nneurec with rules: {facts['rules']} ({rules}; the rules that need stock, margin, category or product "
          "lines are off: this catalogue has none).")
    targets = {}
    for name in ("neurec", "neurec_no_rules"):
        ratio, ci = table[name]["ratio_to_fbt"], table[name]["ratio_to_fbt_ci"]
        targets[name] = {"ratio": TARGET, "measured": ratio, "ci": list(ci), "verdict": verdict(ratio, ci)}
        print(f"Target, {LABELS[name]}: attachment rate >= {TARGET}× FBT's: {ratio:.2f}× "
              f"[95 % CI {ci[0]:.2f}, {ci[1]:.2f}]: {targets[name]['verdict']}.")
    print("\n## neurec: each shipped rule switched off alone (the others on), same baskets\n")
    print(costs_markdown(costs))
    print(f"\nPrice ladder: the catalogue neurec builds here has the columns {facts['catalogue_columns']}: no "
          "product_line or tier, so the shipped rules generate no upsells. From the descriptions, "
          f"{facts['ladder_items']:,} items have a dearer size of the same product (one size word apart, ordered by "
          "training-period price); the ladder row shows how often that dearer size was among the hidden items.")
    print(f"\n{seconds:.0f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {**facts, "target": targets["neurec"], "target_without_rules": targets["neurec_no_rules"],
               "seconds": seconds, "policies": table, "neurec_rule_costs": costs}
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
        log(f"wrote {args.json}")

if __name__ == "__main__":
    main()
