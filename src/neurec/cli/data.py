"""neurec-data summary FILE [data=PRESET] [overrides...]: the first thing to run on your own events."""

from __future__ import annotations

import argparse
import json
import sys

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import instantiate

from neurec.cli.config import config_dir, friendly_errors


def _data_config(path: str, overrides: list[str]):
    preset = [o for o in overrides if o.startswith("data=")] or ["data=files"]
    rest = [o for o in overrides if not o.startswith("data=")]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[*preset, f"data.events_path={path}", "paths.root_dir=.", *rest])
    return instantiate(cfg.data, _convert_="all")


@friendly_errors("neurec-data")
def _summary(args: argparse.Namespace) -> int:
    from neurec.data.prepare import load
    from neurec.data.summary import format_summary, summarize

    try:
        cfg = _data_config(args.file, args.overrides)
    except HydraException as exc:
        print(f"neurec-data: error: {exc}", file=sys.stderr)
        return 2
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
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides += extra  # overrides after a flag land here
    return _summary(args)


if __name__ == "__main__":
    sys.exit(main())
