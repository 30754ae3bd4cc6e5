"""neurec-promote NAME VERSION --alias champion: point a registry alias at a model version.

The scorer and the service load `models:/NAME@champion`, so promoting is how a new model goes live (and
promoting the previous version is how it rolls back).
"""

from __future__ import annotations

import argparse
import os
import sys

from neurec.cli.config import friendly_errors

PROG = "neurec-promote"
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"  # neurec-train's local store, from the project folder


@friendly_errors(PROG)
def _promote(args: argparse.Namespace) -> int:
    from neurec.train.registry import promote
    from neurec.train.tracking import TrackingConfig, check_reachable

    check_reachable(TrackingConfig(uri=args.tracking_uri))
    before = promote(args.tracking_uri, args.name, args.version, args.alias)
    moved = f"(was version {before})" if before else "(new alias)"
    print(f"models:/{args.name}@{args.alias} -> version {args.version} {moved}  [{args.tracking_uri}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("name", help="registered model name (export.registered_model_name, default neurec)")
    p.add_argument("version", help="model version number")
    p.add_argument("--alias", default="champion", help="alias to move (default: champion)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI),
                   help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or {DEFAULT_URI})")
    args = p.parse_args(argv)
    if not args.version.isdigit():
        p.error(f"version: expected a number, got {args.version!r}")
    return _promote(args)


if __name__ == "__main__":
    sys.exit(main())
