"""neurec-rank: the model's own top K for many customers, written to Parquet (campaign e-mails, offline checks).

    neurec-rank --bundle outputs/runs/<run>/bundle data=files data.events_path=events.csv --k 10 --out top10.parquet

Events are read and cleaned exactly as training reads them (any data preset and override). Each customer is
ranked as of their newest event, or as of --now (later events are then left out), against every item of the
bundle, by the model alone: no business rules. The file has one row per (customer, rank): user_id, rank,
item_id, probability. It is written to a temporary file and renamed, so an earlier file survives a failed run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from neurec.cli.analyze import data_config
from neurec.cli.config import friendly_errors

PROG = "neurec-rank"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra data overrides, e.g. data=taobao or data=files data.events_path=ev.csv")
    p.add_argument("--bundle", required=True, help="bundle folder, or models:/NAME@ALIAS or models:/NAME/VERSION")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for models:/ (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("--out", required=True, type=Path, help="the Parquet file to write")
    p.add_argument("--k", type=int, default=10, help="items per customer (default 10)")
    p.add_argument("--customers", type=Path, help="a text file with one user_id per line (default: everyone)")
    p.add_argument("--now", help="rank as of this moment (ISO-8601; default: each customer's newest event)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    return p


def _customers(events, wanted: set[str] | None, now: float | None):
    """Per customer (user_id order): their item ids, event types and times, oldest first, ranked as of `now`."""
    from neurec.serving import CustomerHistory

    if events.empty:
        return {}
    events = events.sort_values(["user_id", "ts"], kind="stable")
    users = events["user_id"].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    items, types, ts = events["item_id"].astype(str).to_numpy(), events["event_type"].to_numpy(), events["ts"].to_numpy()
    out = {}
    for lo, hi in zip(starts, ends):
        if wanted is None or users[lo] in wanted:
            out[users[lo]] = CustomerHistory(items[lo:hi].tolist(), types[lo:hi].astype(np.int64), ts[lo:hi], now)
    return out


def _write(path: Path, users: list[str], rankings) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    counts = [len(r.item_ids) for r in rankings]
    table = pa.table({
        "user_id": pa.array(np.repeat(np.array(users, dtype=object), counts), pa.string()),
        "rank": pa.array(np.concatenate([np.arange(1, n + 1) for n in counts] or [np.zeros(0)]).astype(np.int32)),
        "item_id": pa.array([i for r in rankings for i in r.item_ids], pa.string()),
        "probability": pa.array(np.concatenate([r.probability for r in rankings] or [np.zeros(0)]).astype(np.float32)),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)  # the earlier file stays whole until the new one is complete
    return table.num_rows


@friendly_errors(PROG)
def _run(args: argparse.Namespace) -> int:
    from hydra.errors import HydraException

    from neurec.data.prepare import load
    from neurec.serving import BundleError, Ranker
    from neurec.serving.request import RequestError, parse_timestamp

    try:
        now = parse_timestamp(args.now, "--now") if args.now is not None else None
        wanted = None
        if args.customers is not None:
            wanted = {line.strip() for line in args.customers.read_text(encoding="utf-8").splitlines() if line.strip()}
        ranker = Ranker.from_bundle(args.bundle, threads=args.threads, tracking_uri=args.tracking_uri)
        data_cfg = data_config(args.overrides)
    except (RequestError, BundleError, HydraException) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: --customers {args.customers}: cannot read ({e.strerror or e})", file=sys.stderr)
        return 2
    started = time.perf_counter()
    events = load(data_cfg).events
    if now is not None:
        events = events[events["ts"] <= now]
    customers = _customers(events, wanted, now)
    if not customers:
        print(f"{PROG}: error: no events of the requested customers{' before --now' if now else ''}", file=sys.stderr)
        return 2
    rankings = ranker.rank_many(list(customers.values()), k=args.k)
    rows = _write(args.out, list(customers), rankings)
    missing = len(wanted - set(customers)) if wanted is not None else 0
    print(f"{len(customers):,} customers x top {args.k} -> {rows:,} rows in {args.out} "
          f"({time.perf_counter() - started:.1f}s){f'; {missing:,} requested customers have no events' if missing else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be >= 1")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
