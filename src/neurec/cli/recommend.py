"""neurec-recommend: score one JSON request against a bundle and print the JSON response.

Stays on the serving side of the import fence (no Hydra, no torch), so it starts fast and runs in a serving image.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from neurec.cli.bundle_args import add_bundle_arguments, check_bundle_arguments, open_scorer
from neurec.serving import BundleError, RequestError

PROG = "neurec-recommend"


class _UsageError(Exception):
    """A mistake in what the user passed; reported in one line, exit code 2."""


def _read_request(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise _UsageError(f"request {source}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise _UsageError(f"request {source}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = "stdin" if source == "-" else source
        raise _UsageError(f"request {where}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Recommend items for one request with a neurec bundle.")
    add_bundle_arguments(p)
    p.add_argument("--request", required=True, help="request JSON file, or - to read it from stdin")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--compact", action="store_true", help="print the response on one line")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_bundle_arguments(parser, args)
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    try:
        request = _read_request(args.request)
        scorer = open_scorer(args)
        response = scorer.recommend(request)
    except RequestError as e:
        print(f"{PROG}: error: request {'stdin' if args.request == '-' else args.request}: {e}", file=sys.stderr)
        return 2
    except (_UsageError, BundleError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(response, indent=None if args.compact else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
