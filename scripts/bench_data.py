"""Data-stage benchmark: simulated shops written as CSV and Parquet, then read → validate → split → encode.

    .venv/bin/python scripts/bench_data.py                 # 0.5 M and 5 M events (several minutes on 2 cores)
    .venv/bin/python scripts/bench_data.py --events 200000 --json bench_data.json

Each (size, format) runs in a fresh process, so one run's memory does not inflate the next one's peak. Peak RSS
per stage is sampled from /proc every 20 ms while the stage runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EVENTS_PER_CUSTOMER = 37.0  # the simulator's default shop makes about this many events per customer


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class PeakRss:
    """Highest RSS seen while the block runs."""

    def __enter__(self):
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def make_files(n_events: int, folder: Path) -> dict[str, Path]:
    from neurec.data.simulate import SimulatorConfig, simulate

    shop = simulate(SimulatorConfig(n_customers=max(50, int(n_events / EVENTS_PER_CUSTOMER)), seed=1))
    events = shop.events
    paths = {"csv": folder / "events.csv", "parquet": folder / "events.parquet"}
    events.to_csv(paths["csv"], index=False)
    events.to_parquet(paths["parquet"], index=False)
    return paths


def run_stages(path: str, work: str) -> list[dict]:
    """In this process: every data stage on one file, timed, with its peak RSS."""
    from neurec.data.config import DataConfig
    from neurec.data.examples import write_examples
    from neurec.data.formats import read_events
    from neurec.data.prepare import split
    from neurec.data.split import user_starts
    from neurec.data.validate import validate_events
    from neurec.schema import EVENT_TYPE, ITEM_ID
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
        vocab = ItemVocab.fit(ev.loc[ev["ts"] < bounds.valid_start, ITEM_ID].to_numpy())
        state.update(targets=targets, period=period, item_idx=vocab.encode(ev[ITEM_ID].to_numpy()), starts=user_starts(ev))

    stage("split", do_split)

    def do_encode():
        ev, t = state["events"], state["targets"]
        types, ts = ev[EVENT_TYPE].to_numpy(), ev["ts"].to_numpy()
        for p, name in enumerate(("train", "valid", "test")):
            part = t.select(state["period"] == p)
            write_examples(Path(work) / name, state["item_idx"], types, ts, state["starts"], part, state["item_idx"][part.position], 50)

    stage("encode", do_encode)
    n = len(state["events"])
    total = sum(r["seconds"] for r in rows)
    rows.append({"stage": "all", "seconds": total, "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)})
    for r in rows:
        r["events"] = n
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[500_000, 5_000_000])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_stages(*args.child)))
        return
    results = []
    for n in args.events:
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_files(n, Path(tmp))
            for fmt, path in paths.items():
                out = subprocess.run([sys.executable, __file__, "--child", str(path), str(Path(tmp) / f"work-{fmt}")],
                                     capture_output=True, text=True, check=True)
                for row in json.loads(out.stdout.strip().splitlines()[-1]):
                    results.append({"format": fmt, **row})
    print(f"| {'events':>10} | {'format':<7} | {'stage':<8} | {'seconds':>8} | {'rows/s':>12} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 12}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 14}|{'-' * 13}|")
    for r in results:
        rate = r["events"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {r['events']:>10,} | {r['format']:<7} | {r['stage']:<8} | {r['seconds']:>8.2f} | {rate:>12,.0f} | {r['peak_rss_mb']:>11,.0f} |")
    if args.json:
        keys = ("events", "format", "stage", "seconds", "peak_rss_mb")
        args.json.write_text(json.dumps([{k: r[k] for k in keys} for r in results], indent=2))


if __name__ == "__main__":
    main()
