"""neurec-analyze: business analytics on shop events.

  neurec-analyze pairs [data=PRESET] [overrides...] [--out DIR]   product and category pairs: support, attachment,
                                                                   lift, revenue, time gaps, by segment
  neurec-analyze programme LOG [--json]                            recommendation-programme metrics from a log
                                                                   with impressions (see neurec.analytics.reclog)

`pairs` reads any data preset (default: the built-in shop simulator), e.g. `data=taobao` or
`data=files data.events_path=events.csv data.catalog_path=catalog.csv`. When an MLflow run is active (in-process,
or MLFLOW_RUN_ID in the environment), the outputs are logged to it as artifacts under `analyze/`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from neurec.cli.config import config_dir, friendly_errors


def data_config(overrides: list[str]):
    """The data config a preset and overrides give, as training would read it (neurec-analyze, neurec-rank)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    preset = [o for o in overrides if o.startswith("data=")] or ["data=simulator"]
    rest = [o for o in overrides if not o.startswith("data=")]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[*preset, "paths.root_dir=.", *rest])
    return instantiate(cfg.data, _convert_="all")


def log_to_active_mlflow_run(folder: Path, metrics: dict[str, float]) -> str | None:
    """Log `folder` as artifacts (and `metrics`) to the active MLflow run; the run id, or None when none is active.

    mlflow is imported only when a run can be active (already imported by the caller, or MLFLOW_RUN_ID set),
    because importing it costs seconds.
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if "mlflow" not in sys.modules and not run_id:
        return None
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        mlflow.log_artifacts(str(folder), artifact_path="analyze")
        mlflow.log_metrics(metrics)
        return active.info.run_id
    if run_id:  # a run started by a parent process: log to it without taking over its lifecycle
        client = mlflow.tracking.MlflowClient()
        client.log_artifacts(run_id, str(folder), "analyze")
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        return run_id
    return None


@friendly_errors("neurec-analyze")
def _pairs(args: argparse.Namespace) -> int:
    from hydra.errors import HydraException

    from neurec.analytics.orders import PairConfig
    from neurec.analytics.pair_report import write_pair_outputs
    from neurec.analytics.pairs import analyze_pairs
    from neurec.data.prepare import load

    cfg = PairConfig(window_days=args.window_days, min_pair_orders=args.min_pair_orders, max_basket=args.max_basket,
                     max_customer_lines=args.max_customer_lines, high_value_quantile=args.high_value_quantile,
                     basis=args.basis, top=args.top)
    try:
        data_cfg = data_config(args.overrides)
    except HydraException as exc:
        print(f"neurec-analyze: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    loaded = load(data_cfg)
    result = analyze_pairs(loaded.events, loaded.catalog, cfg)
    out = Path(args.out or Path("outputs") / "analyze" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    paths = write_pair_outputs(result, out, args.format, source=f"{loaded.source} ({data_cfg.name})")
    s = result.summary
    baskets = "orders" if s["basis"] == "purchase" else f"sessions with a {s['basis']}"
    print(f"{s['orders']:,} {baskets}, {s['customers']:,} customers: {s['product_pairs']:,} product pairs, "
          f"{s['category_pairs']:,} category pairs in {time.perf_counter() - started:.1f}s")
    for note in result.notes:
        print(f"  note: {note}")
    for name, path in paths.items():
        print(f"  {name:<21} {path}")
    metrics = {f"pairs_{k}": float(s[k]) for k in ("orders", "customers", "product_pairs", "category_pairs")}
    run_id = log_to_active_mlflow_run(out, metrics)
    if run_id:
        print(f"logged to MLflow run {run_id} (artifacts under analyze/)")
    return 0


@friendly_errors("neurec-analyze")
def _programme(args: argparse.Namespace) -> int:
    from neurec.analytics.programme import format_programme, programme_metrics
    from neurec.analytics.reclog import read_reclog

    report = programme_metrics(read_reclog(args.log, args.timestamp_unit), control=args.control)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_programme(report))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurec-analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs", help="product and category pair statistics, report and plots")
    p.add_argument("overrides", nargs="*", help="Hydra data overrides, e.g. data=taobao or data=files data.events_path=ev.csv")
    p.add_argument("--out", help="output folder (default outputs/analyze/<time>)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--window-days", type=float, default=30.0, help="attachment within this many days (default 30)")
    p.add_argument("--min-pair-orders", type=int, default=2, help="keep pairs seen in at least this many orders (default 2)")
    p.add_argument("--max-basket", type=int, default=50, help="lines of an order that are paired (default 50)")
    p.add_argument("--max-customer-lines", type=int, default=200, help="lines of a customer that are paired (default 200)")
    p.add_argument("--high-value-quantile", type=float, default=0.9, help="high-value customers: spend at or above it")
    p.add_argument("--basis", choices=("auto", "purchase", "add_to_cart", "view"), default="auto",
                   help="events that make a basket (auto: purchases, else carts, else views)")
    p.add_argument("--top", type=int, default=20, help="pairs listed per table in report.md")
    p = sub.add_parser("programme", help="upsell/cross-sell programme metrics from a recommendation log")
    p.add_argument("log", help="recommendation log (CSV, Parquet, JSON-lines)")
    p.add_argument("--control", help="variant the AOV lift is measured against (default: first in sorted order)")
    p.add_argument("--timestamp-unit", choices=("s", "ms"), default="s", help="unit of numeric timestamps")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-")]
    if unknown or (extra and args.command != "pairs"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "pairs":
        args.overrides += extra  # overrides after a flag land here
        return _pairs(args)
    return _programme(args)


if __name__ == "__main__":
    sys.exit(main())
