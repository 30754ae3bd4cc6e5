"""neurec-data: look at your events, and prepare them for training.

    neurec-data summary FILE [data=PRESET] [overrides...]      the first thing to run on your own events
    neurec-data prepare FILE --out DIR [--engine local|spark] [data=PRESET] [overrides...]
                                                               shards for training, out of core (memory bounded
                                                               by data.out_of_core, not by the file's size)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import instantiate

from neurec.cli.config import config_dir, friendly_errors
from neurec.data.errors import DataError


def _data_config(path: str, overrides: list[str]):
    preset = [o for o in overrides if o.startswith("data=")] or ["data=files"]
    rest = [o for o in overrides if not o.startswith("data=")]
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("train", overrides=[*preset, f"data.events_path={path}", "paths.root_dir=.", *rest])
    except HydraException as exc:  # a bad override: one line and exit code 2, like every other bad input
        raise DataError(str(exc)) from None
    data = instantiate(cfg.data, _convert_="all")
    # The shards are encoded with the model's history length and summary size, as training encodes them.
    return dataclasses.replace(data, max_history=int(cfg.model.max_history), summary_size=int(cfg.model.summary_size))


@friendly_errors("neurec-data")
def _prepare(args: argparse.Namespace) -> int:
    from neurec.data.outofcore.run import prepare_out_of_core, run_locally
    from neurec.data.prepare import PERIODS

    cfg = _data_config(args.file, args.overrides)
    runner = run_locally
    if args.engine == "spark":
        from neurec.data.outofcore.spark import run_on_spark as runner
    result = prepare_out_of_core(cfg, Path(args.out), runner=runner)
    figures = {"out": args.out, "partitions": result.partitions, **result.stats,
               **{f"seconds_{k}": round(v, 1) for k, v in result.seconds.items()},
               "dropped": result.report.dropped, "fixed": result.report.fixed}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"prepared {result.stats['events']:,} events of {result.stats['users']:,} customers into {args.out} "
              f"({result.partitions} partition(s)): " + ", ".join(f"{p} {result.stats[p + '_targets']:,}" for p in PERIODS)
              + " decisions; " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
        for problem in result.report.problems():
            print(f"  {problem}")
    return 0


@friendly_errors("neurec-data")
def _summary(args: argparse.Namespace) -> int:
    from neurec.data.prepare import load
    from neurec.data.summary import format_summary, summarize

    cfg = _data_config(args.file, args.overrides)
    summary = summarize(load(cfg), cfg)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neurec-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="users, sessions, items, funnel, dates, sparsity, cold items, problems")
    p.add_argument("file", help="events file (CSV, Parquet, JSON-lines)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=rees46 data.policies.duplicate=keep")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p = sub.add_parser("prepare", help="shards for training, prepared out of core (DuckDB), optionally on Spark")
    p.add_argument("file", help="events file (CSV or Parquet)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=rees46 data.out_of_core.partitions=8")
    p.add_argument("--out", required=True, help="output folder (replaced only once the new one is complete)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="where the partitions are encoded: here, one after another, or as Spark tasks")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides += extra  # overrides after a flag land here
    return _prepare(args) if args.command == "prepare" else _summary(args)


if __name__ == "__main__":
    sys.exit(main())
