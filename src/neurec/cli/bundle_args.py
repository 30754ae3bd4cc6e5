"""The options neurec-serve and neurec-recommend share: which bundle, which registry, which experiment.

Serving side of the import fence: nothing here may pull in torch, Hydra or mlflow.
"""

from __future__ import annotations

import argparse


def add_bundle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle",
                   help="bundle folder written by the export stage, or a registered model: models:/NAME@ALIAS, "
                        "models:/NAME/VERSION (with --experiment: the bundle of variants that name none)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI of the registry, for models:/ (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("--experiment", default=None,
                   help="A/B experiment file (JSON or YAML): variants, weights, and each variant's bundle or rules; "
                        "requests then need customer_id and responses name their variant")


def check_bundle_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.bundle and not args.experiment:
        parser.error("--bundle is required (or --experiment with a bundle for every variant)")


def open_scorer(args: argparse.Namespace):
    """A Scorer, or an ExperimentScorer when --experiment is given."""
    from neurec.serving import Scorer

    if args.experiment:
        from neurec.serving.experiments import ExperimentScorer

        return ExperimentScorer.from_files(args.experiment, args.bundle, args.threads, args.tracking_uri)
    return Scorer.from_bundle(args.bundle, threads=args.threads, tracking_uri=args.tracking_uri)
