"""neurec-serve: load a bundle once, then answer HTTP requests with it (uvicorn).

One process holds one onnxruntime session with one intra-op thread and scores one request at a time. To use more
cores, run more processes: `--workers N` starts N of them on one port (uvicorn's supervisor; each loads the
bundle), or run one per port behind a load balancer. Stays on the serving side of the import fence (no Hydra,
no torch), so it starts in about a second and runs in a serving image.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

from neurec.cli.bundle_args import add_bundle_arguments, check_bundle_arguments, open_scorer
from neurec.serving import BundleError

PROG = "neurec-serve"


def _parser() -> argparse.ArgumentParser:
    from neurec.serving.service import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES

    p = argparse.ArgumentParser(prog=PROG, description="Serve recommendations from a neurec bundle over HTTP.")
    add_bundle_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--threads", type=int, default=1,
                   help="onnxruntime intra-op threads (default 1; scale by processes instead)")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help=f"larger request bodies get 413 (default {DEFAULT_MAX_BODY_BYTES})")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help=f"most requests in one /recommend/batch call (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--limit-concurrency", type=int, default=None,
                   help="answer 503 beyond this many open connections and tasks (default: no limit)")
    p.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this port, each with its own copy of the bundle (default 1)")
    p.add_argument("--graceful-seconds", type=float, default=10.0,
                   help="on SIGTERM, how long in-flight requests may finish before the server stops (default 10)")
    return p


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_bundle_arguments(parser, args)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.graceful_seconds < 0:
        parser.error("--graceful-seconds must be >= 0")
    for name in ("threads", "max_body_bytes", "max_batch", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.limit_concurrency is not None and args.limit_concurrency < 1:
        parser.error("--limit-concurrency must be >= 1")


# With --workers, uvicorn starts each worker from an import string; the options reach it through the environment.
WORKER_OPTIONS = "NEUREC_SERVE_OPTIONS"
_WORKER_KEYS = ("bundle", "tracking_uri", "experiment", "require_signature", "threads", "max_body_bytes", "max_batch")


def worker_app():
    """One worker's app (uvicorn factory): the same bundle and limits as the command line gave the parent."""
    from neurec.serving.service import create_app

    args = argparse.Namespace(**json.loads(os.environ[WORKER_OPTIONS]))
    return create_app(open_scorer(args), max_body_bytes=args.max_body_bytes, max_batch=args.max_batch)


def _serve_workers(args: argparse.Namespace) -> None:
    import uvicorn

    os.environ[WORKER_OPTIONS] = json.dumps({k: getattr(args, k) for k in _WORKER_KEYS})
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=args.workers, host=args.host, port=args.port,
                access_log=not args.no_access_log, limit_concurrency=args.limit_concurrency,
                timeout_graceful_shutdown=args.graceful_seconds, log_level="info")


def _serve(app, args: argparse.Namespace) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, host=args.host, port=args.port, workers=1, access_log=not args.no_access_log,
        limit_concurrency=args.limit_concurrency, timeout_graceful_shutdown=args.graceful_seconds, log_level="info",
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler it found.
    # Record it here instead, so a requested stop ends with exit 0 and no KeyboardInterrupt traceback.
    stopped: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopped.append(signum))
    server.run()
    if stopped:
        print(f"{PROG}: stopped ({signal.Signals(stopped[-1]).name})", file=sys.stderr)
    elif not server.started:  # e.g. the port is taken; uvicorn has logged why
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    try:
        from neurec.serving.service import create_app
    except ImportError as e:  # before loading the bundle: say what to install, not a traceback
        print(f"{PROG}: error: {e.name or e} is not installed; pip install 'neurec[serve]'", file=sys.stderr)
        return 2
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    try:
        scorer = open_scorer(args)  # once, before the first request; with workers, a check before they start
    except BundleError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    if args.workers > 1:
        del scorer
        _serve_workers(args)
        return 0
    app = create_app(scorer, max_body_bytes=args.max_body_bytes, max_batch=args.max_batch)
    _serve(app, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
