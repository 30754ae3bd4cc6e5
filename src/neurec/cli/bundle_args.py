"""The options neurec-serve and neurec-recommend share: which bundle, which registry, which experiment.

Serving side of the import fence: nothing here may pull in torch, Hydra or mlflow.
"""

from __future__ import annotations

import argparse
import os


def add_bundle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle",
                   help="bundle folder written by the export stage, or a registered model: models:/NAME@ALIAS, "
                        "models:/NAME/VERSION (with --experiment: the bundle of variants that name none)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI of the registry, for models:/ (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("--experiment", default=None,
                   help="A/B experiment file (JSON or YAML): variants, weights, and each variant's bundle or rules; "
                        "requests then need customer_id and responses name their variant")
    p.add_argument("--require-signature", action="store_true",
                   help="refuse bundles without a valid manifest.sig, checked with the key in $NEUREC_BUNDLE_KEY "
                        "(default: $NEUREC_REQUIRE_SIGNATURE)")


def check_bundle_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.bundle and not args.experiment:
        parser.error("--bundle is required (or --experiment with a bundle for every variant)")


def open_scorer(args: argparse.Namespace):
    """A Scorer, or an ExperimentScorer when --experiment is given."""
    from neurec.serving import Scorer

    from neurec.serving.signing import REQUIRE_ENV

    require = True if args.require_signature else None  # None: the environment decides
    if args.experiment:
        from neurec.serving.experiments import ExperimentScorer

        if require:  # the variants' bundles are opened deep inside; the environment reaches every one of them
            os.environ[REQUIRE_ENV] = "1"
        return ExperimentScorer.from_files(args.experiment, args.bundle, args.threads, args.tracking_uri)
    return Scorer.from_bundle(args.bundle, threads=args.threads, tracking_uri=args.tracking_uri,
                              require_signature=require)
