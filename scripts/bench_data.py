"""Data-preparation benchmark: the in-memory path (pandas) against the out-of-core path (DuckDB, chunks), seconds
and peak RSS per stage, on tiled simulator events of 5 M, 50 M and 200 M rows written to disk block by block.

    .venv/bin/python scripts/bench_data.py                                  # 5 M, 50 M, 200 M (about 40 min, 2 cores)
    .venv/bin/python scripts/bench_data.py --events 1000000 --json bench_data.json

Stages. In memory: read (the whole file into pandas), validate, split (time split, vocabulary, model ids), encode
(the shards). Out of core: clean (read and check rows, a chunk at a time, into Parquet parts), sort (the
whole-table steps in DuckDB: implausible times, duplicates, split, vocabulary, sorted partitions), encode (whole
customers a chunk at a time into shards). Each (size, format, path) runs in a fresh process, so one run's memory
does not inflate the next one's peak; peak RSS is sampled from /proc every 20 ms, and a run above --max-rss-gb is
killed and reported as such. Where both paths ran on a file, their shards are compared byte for byte.

The in-memory path is not run above --pandas-max-events (its RSS grows with the data: the table says what it
would need, from the largest size it ran), nor CSV above --csv-max-events (the file alone is 50 bytes an event).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_proc import PeakRss, run_child  # noqa: E402

PERIODS = ("train", "valid", "test")
TARGETS = {"ooc_50m_seconds": 300.0, "ooc_peak_rss_mb": 4096.0}  # issue 17


def in_memory(path: str, work: str) -> list[dict]:
    """In this process: `neurec.data.prepare.prepare`'s steps, one stage at a time, timed, with peak RSS."""
    from neurec.data.config import DataConfig
    from neurec.data.examples import write_examples
    from neurec.data.formats import read_events
    from neurec.data.prepare import split
    from neurec.data.split import user_starts
    from neurec.data.validate import validate_events
    from neurec.schema import EVENT_TYPE, ITEM_ID, N_RESERVED_IDS
    from neurec.vocab import ItemVocab

    cfg = DataConfig(source="files", events_path=path)
    rows, state = [], {}

    def stage(name, fn):
        with PeakRss() as peak:
            t0 = time.perf_counter()
            fn()
            seconds = time.perf_counter() - t0
        rows.append({"stage": name, "seconds": seconds, "peak_rss_mb": peak.peak})

    stage("read", lambda: state.update(raw=read_events(cfg)))
    stage("validate", lambda: state.update(events=validate_events(state.pop("raw").events, path, cfg)[0]))

    def do_split():
        ev = state["events"]
        bounds, targets, period = split(ev, cfg)
        vocab = ItemVocab.fit(ev.loc[ev["ts"] < bounds.valid_start, ITEM_ID].to_numpy(), min_count=cfg.min_item_count)
        state.update(targets=targets, period=period, item_idx=vocab.encode(ev[ITEM_ID].to_numpy()), starts=user_starts(ev))

    stage("split", do_split)

    def do_encode():
        ev, t, item_idx = state["events"], state["targets"], state["item_idx"]
        types, ts = ev[EVENT_TYPE].to_numpy(), ev["ts"].to_numpy()
        for p, name in enumerate(PERIODS):
            part = t.select(state["period"] == p)
            target = item_idx[part.position]
            if name == "train":  # as `prepare` does
                part, target = part.select(target >= N_RESERVED_IDS), target[target >= N_RESERVED_IDS]
            write_examples(Path(work) / name, item_idx, types, ts, state["starts"], part, target, cfg.max_history, cfg.summary_size)

    stage("encode", do_encode)
    return _with_total(rows, len(state["events"]))


def out_of_core(path: str, work: str) -> list[dict]:
    """In this process: `prepare_out_of_core` with the default settings, each stage timed, with peak RSS."""
    from neurec.data.config import DataConfig
    from neurec.data.outofcore.run import prepare_out_of_core

    peaks: dict[str, float] = {}

    class Stage:
        def __init__(self, name):
            self.name, self.peak = name, PeakRss()

        def __enter__(self):
            self.peak.__enter__()

        def __exit__(self, *exc):
            self.peak.__exit__(*exc)
            peaks[self.name] = self.peak.peak

    result = prepare_out_of_core(DataConfig(source="files", events_path=path), Path(work), stage=Stage)
    rows = [{"stage": k, "seconds": v, "peak_rss_mb": peaks[k]} for k, v in result.seconds.items()]
    return _with_total(rows, result.stats["events"])


def _with_total(rows: list[dict], events: int) -> list[dict]:
    rows.append({"stage": "all", "seconds": sum(r["seconds"] for r in rows), "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)})
    return [{**r, "events": events} for r in rows]


def shard_digests(root: Path) -> dict[str, str]:
    """sha256 of every shard file (and meta.json) of the three periods."""
    files = sorted(p for period in PERIODS for p in (root / period).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[5_000_000, 50_000_000, 200_000_000])
    parser.add_argument("--formats", nargs="+", choices=("csv", "parquet"), default=["csv", "parquet"])
    parser.add_argument("--paths", nargs="+", choices=("pandas", "ooc"), default=["pandas", "ooc"])
    parser.add_argument("--pandas-max-events", type=int, default=50_000_000)
    parser.add_argument("--csv-max-events", type=int, default=50_000_000)
    parser.add_argument("--max-rss-gb", type=float, default=18.0, help="kill a run above this (the machine has 23 GB)")
    parser.add_argument("--tmp", type=Path, default=None, help="where the files go (default: the system's temp folder)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path_kind, src, work = args.child
        print(json.dumps({"rows": (in_memory if path_kind == "pandas" else out_of_core)(src, work)}))
        return
    from neurec.data.tiled import write_tiled_events

    load_before = os.getloadavg()  # timings on a shared 2-core box are only comparable at a similar load
    results, notes = [], []
    for n in args.events:
        with tempfile.TemporaryDirectory(prefix="neurec-bench-data-", dir=args.tmp) as tmp:
            folder = Path(tmp)
            for fmt in args.formats:
                if fmt == "csv" and n > args.csv_max_events:
                    notes.append(f"{n:,} events: CSV not run (above --csv-max-events)")
                    continue
                made = write_tiled_events(n, folder / f"events.{fmt}", fmt)
                print(f"{n:,} events as {fmt}: {made['bytes'] / 1e9:.2f} GB written in {made['seconds']:.0f} s", flush=True)
                works = {}
                for kind in args.paths:
                    if kind == "pandas" and n > args.pandas_max_events:
                        notes.append(f"{n:,} events, {fmt}: the in-memory path not run (above --pandas-max-events)")
                        continue
                    work = folder / f"work-{kind}-{fmt}"
                    out = run_child(__file__, ["--child", kind, str(folder / f"events.{fmt}"), str(work)],
                                    folder / f"{kind}-{fmt}.log", args.max_rss_gb * 1024)
                    if out["status"] != "ok":
                        results.append({"events": n, "format": fmt, "path": kind, "stage": "all", "seconds": None,
                                        "peak_rss_mb": out["peak_rss_mb"], "status": out["status"]})
                        continue
                    works[kind] = work
                    for row in out["rows"]:
                        results.append({"format": fmt, "path": kind, "status": "ok", **row})
                    print(f"  {kind}: {results[-1]['seconds']:.0f} s, peak {results[-1]['peak_rss_mb']:,.0f} MB", flush=True)
                if len(works) == 2:
                    same = shard_digests(works["pandas"]) == shard_digests(works["ooc"])
                    notes.append(f"{n:,} events, {fmt}: shards of the two paths {'identical, byte for byte' if same else 'DIFFER'}")
                for w in works.values():
                    shutil.rmtree(w, ignore_errors=True)
                (folder / f"events.{fmt}").unlink()
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    notes.append(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    _print(results, notes)
    if args.json:
        args.json.write_text(json.dumps({"rows": results, "notes": notes, "targets": TARGETS, "load": load}, indent=2))


def _print(results: list[dict], notes: list[str]) -> None:
    print(f"\n| {'events':>11} | {'format':<7} | {'path':<6} | {'stage':<8} | {'seconds':>8} | {'events/s':>10} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 13}|{'-' * 9}|{'-' * 8}|{'-' * 10}|{'-' * 10}|{'-' * 12}|{'-' * 13}|")
    for r in results:
        if r["seconds"] is None:
            print(f"| {r['events']:>11,} | {r['format']:<7} | {r['path']:<6} | {'all':<8} | {r['status']:>8} | {'':>10} | {r['peak_rss_mb']:>11,.0f} |")
            continue
        rate = r["events"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {r['events']:>11,} | {r['format']:<7} | {r['path']:<6} | {r['stage']:<8} | {r['seconds']:>8.1f} | {rate:>10,.0f} | {r['peak_rss_mb']:>11,.0f} |")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
