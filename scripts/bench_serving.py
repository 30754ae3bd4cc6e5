"""Serving benchmark: Scorer latency in-process, onnxruntime against torch eager, and a real neurec-serve under load.

    .venv/bin/python scripts/bench_serving.py                          # trains a 1-epoch bundle first (~1-2 min)
    .venv/bin/python scripts/bench_serving.py --bundle outputs/bench_serving/run/bundle --json bench_serving.json
    .venv/bin/python scripts/bench_serving.py --bundle DIR --duration 3 --reps 300    # a quick check

Without --bundle it trains the default model size (tracking off, no baselines, one epoch) on the simulator with
12 product lines per category (about 980 items, so that 500 distinct candidates exist) and `rules.allow_other=true`,
so explicit candidates reach the model as "other" instead of being dropped as neither upsell nor cross-sell.
With --bundle the bundle's own rules apply; the table says how many candidates the model actually scored. For the
figures you publish, train once and rerun with --bundle, so the timed process has not just trained a model.

Requests: a 50-event history and 100 (or 500) explicit candidates, known to the model and in stock. Everything
runs on one thread (onnxruntime intra-op 1, torch.set_num_threads(1)); timings come after a warm-up. The HTTP
part starts neurec-serve on 127.0.0.1, sends the 100-candidate request at a target rate from a fixed number of
keep-alive connections for a fixed time, and stops the server by its PID. The client runs in this process and
competes with the server for the CPUs, as a sidecar would.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from local_server import HOST, free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
TRAIN_OVERRIDES = ["tracking=none", "baselines=[]", "trainer.epochs=1", "trainer.progress=false",
                   "rules.allow_other=true", "data.simulator.lines_per_category=12"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, help="bundle folder (default: train one under --work)")
    p.add_argument("--checkpoint", type=Path, help="torch checkpoint (default: <bundle>/../checkpoints/best.pt)")
    p.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_serving", help="where a trained run goes")
    p.add_argument("--history", type=int, default=50, help="history events per request (default 50)")
    p.add_argument("--reps", type=int, default=3000, help="timed calls per in-process measurement (default 3000)")
    p.add_argument("--warmup", type=int, default=200, help="untimed calls before each measurement (default 200)")
    p.add_argument("--duration", type=float, default=20.0, help="HTTP load seconds (default 20)")
    p.add_argument("--concurrency", type=int, default=8, help="HTTP connections (default 8)")
    p.add_argument("--rate", type=float, default=200.0, help="target HTTP requests per second (default 200)")
    p.add_argument("--workers", type=int, default=1, help="neurec-serve --workers for the HTTP parts (default 1)")
    p.add_argument("--sweep", default="100,200,300,400,500,600,700,800,1000,1200,1500,2000",
                   help="target rates (req/s) for the capacity sweep, comma-separated; '' skips it")
    p.add_argument("--sweep-seconds", type=float, default=6.0, help="seconds per sweep rate (default 6)")
    p.add_argument("--p99-limit", type=float, default=20.0, help="the p99 (ms) the sweep looks for (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the headline figures here")
    args = p.parse_args()
    if min(args.history, args.reps, args.concurrency, args.workers) < 1 or args.warmup < 0 or args.duration * args.rate < 1:
        p.error("--history, --reps, --concurrency and --workers must be >= 1, --warmup >= 0, and --duration x --rate >= 1")
    return args


def train_bundle(work: Path) -> Path:
    """One training run in this process, from the real config shrunk to one epoch; returns the bundle folder."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from neurec.cli.config import config_dir, run_config
    from neurec.pipeline import run

    out = work / "run"
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            *TRAIN_OVERRIDES, f"paths.root_dir={ROOT}", f"paths.output_dir={out}", f"hydra.runtime.output_dir={out}"])
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")  # composed outside a Hydra app: nothing may resolve ${hydra:...} later
    print(f"training a bundle in {out} ({' '.join(TRAIN_OVERRIDES)}) ...", file=sys.stderr, flush=True)
    result = run(*run_config(cfg))
    print(f"bundle: {result.bundle_dir}  (reuse it with --bundle)", file=sys.stderr, flush=True)
    return Path(result.bundle_dir)


def make_request(scorer, n_history: int, n_candidates: int, rng: np.random.Generator) -> dict:
    """An n-event history and candidates that no hard rule drops for this request (known, in stock, not seen)."""
    cat = scorer.catalog
    known = np.flatnonzero(cat.model_idx >= 2)  # OOV rows would be dropped as unknown_item
    hist_rows = rng.choice(known, size=n_history)
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    gaps = np.cumsum(rng.exponential(600.0, size=n_history))  # seconds between events, ~10 minutes apart
    kinds = rng.choice(["view", "add_to_cart", "purchase"], size=n_history, p=[0.8, 0.15, 0.05])
    stamps = [(start + timedelta(seconds=float(g))).isoformat() for g in gaps]  # ISO, as a shop's JSON would send
    history = [{"item_id": str(cat.ids[r]), "event_type": str(k), "timestamp": ts}
               for r, k, ts in zip(hist_rows, kinds, stamps)]
    in_stock = ~(cat.stock <= 0)  # NaN (unknown) counts as in stock, like the rule
    pool = np.setdiff1d(known[in_stock[known]], hist_rows)
    cands = rng.choice(pool, size=min(n_candidates, pool.size), replace=False)
    return {"history": history, "candidates": [str(cat.ids[r]) for r in cands], "placement": "product_page"}


def timed(fn, reps: int, warmup: int) -> np.ndarray:
    """Milliseconds per call, after `warmup` untimed calls (the first runs pay for allocations and caches)."""
    for _ in range(warmup):
        fn()
    out = np.empty(reps)
    for i in range(reps):
        t = time.perf_counter_ns()
        fn()
        out[i] = time.perf_counter_ns() - t
    return out / 1e6


def p50_p99(ms: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def model_inputs(scorer, request: dict) -> tuple[np.ndarray, ...] | None:
    """The exact arrays the Scorer feeds onnxruntime for this request (its one private hook, `_run`, is wrapped)."""
    captured = []
    real = scorer._run
    scorer._run = lambda *arrays: captured.append(arrays) or real(*arrays)
    try:
        scorer.recommend(request)
    finally:
        del scorer._run  # the class's method again
    return captured[0] if captured else None


def stage_shares(scorer, request: dict, reps: int, warmup: int) -> dict[str, float]:
    """Share of Scorer.recommend's total time spent in the rules, in the onnxruntime call, and elsewhere.

    The rules are Policy.judge (hard drops, kinds, soft factors, before the model) and Scorer._respond (threshold,
    category cap, top-K and the response items, after it); "elsewhere" is parsing, history encoding, candidate
    lookup and calibration. Measured by wrapping those calls with timers in the real path, summed over `reps`.
    """
    spent = {"rules": 0, "model": 0}

    def timer(obj, name: str, stage: str) -> None:
        real = getattr(obj, name)

        def wrapped(*a, **kw):
            t = time.perf_counter_ns()
            try:
                return real(*a, **kw)
            finally:
                spent[stage] += time.perf_counter_ns() - t
        setattr(obj, name, wrapped)

    timer(scorer.policy, "judge", "rules")
    timer(scorer, "_respond", "rules")
    timer(scorer, "_run", "model")
    try:
        for _ in range(warmup):
            scorer.recommend(request)
        spent.update(rules=0, model=0)
        t = time.perf_counter_ns()
        for _ in range(reps):
            scorer.recommend(request)
        total = time.perf_counter_ns() - t
    finally:
        for obj, name in ((scorer.policy, "judge"), (scorer, "_respond"), (scorer, "_run")):
            delattr(obj, name)  # the class's methods again
    return {"rules": spent["rules"] / total, "model": spent["model"] / total,
            "other": 1.0 - (spent["rules"] + spent["model"]) / total}


def bench_scorer(bundle: Path, requests: dict[int, dict], reps: int, warmup: int) -> tuple[dict, dict, dict]:
    """Full Scorer.recommend and the onnxruntime call alone, per candidate count; also the model inputs and logits."""
    from neurec.schema import MODEL_INPUTS, MODEL_OUTPUT
    from neurec.serving import Scorer
    from neurec.serving.bundle import open_bundle

    scorer = Scorer.from_bundle(bundle, threads=1)
    _, session = open_bundle(bundle, threads=1)  # a second session like the Scorer's, to time the model alone
    rows, feeds, logits = {}, {}, {}
    for n, request in requests.items():
        feeds[n] = arrays = model_inputs(scorer, request)
        rows[("recommend", n)] = p50_p99(timed(lambda: scorer.recommend(request), reps, warmup))
        if arrays is not None:
            named = dict(zip(MODEL_INPUTS, arrays))
            rows[("onnxruntime", n)] = p50_p99(timed(lambda: session.run([MODEL_OUTPUT], named), reps, warmup))
            logits[n] = session.run([MODEL_OUTPUT], named)[0]
    shares = stage_shares(scorer, requests[100], reps, warmup)
    return rows, feeds, logits, shares


def bench_torch(checkpoint: Path, feeds: dict, reps: int, warmup: int) -> tuple[dict, dict]:
    """The same model in torch eager on the same arrays, one thread; also the largest |logit| difference to ORT."""
    import torch

    from neurec.models.build import load_model

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before torch's first parallel work
        pass
    model = load_model(checkpoint).eval()
    rows, diffs = {}, {}
    with torch.inference_mode():
        for n, arrays in feeds.items():
            if arrays is None:
                continue
            tensors = [torch.from_numpy(a) for a in arrays]
            rows[("torch", n)] = p50_p99(timed(lambda: model(*tensors), reps, warmup))
            diffs[n] = model(*tensors).numpy()
    return rows, diffs


def post(conn: http.client.HTTPConnection, body: bytes) -> int:
    conn.request("POST", "/recommend", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def start_server(bundle: Path, log_path: Path, workers: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "neurec.cli.serve", "--bundle", str(bundle), "--host", HOST, "--port", str(port),
           "--no-access-log", "--workers", str(workers)]
    with open(log_path, "w") as log:  # the child keeps its own copy of the file descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"neurec-serve exited with {proc.returncode}; see {log_path}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass  # not listening yet
        finally:
            conn.close()
        time.sleep(0.1)
    stop_process(proc)
    raise SystemExit(f"neurec-serve did not answer /healthz within 60 s; see {log_path}")


def http_load(port: int, body: bytes, duration: float, concurrency: int, rate: float) -> dict:
    """Request i is due at start + i / rate; each of `concurrency` keep-alive connections sends the next due one.

    When every connection is busy, requests go out late and the achieved rate falls below the target: that is
    the saturation signal. Bounded: at most duration x rate requests, and nothing starts after duration + 10 s.
    """
    total, counter, results, lock = int(duration * rate), itertools.count(), [], threading.Lock()
    start = time.perf_counter() + 0.05
    cutoff = start + duration + 10.0

    def worker() -> None:
        conn, mine = None, []
        for i in iter(lambda: next(counter), None):
            if i >= total or time.perf_counter() > cutoff:
                break
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            t = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection(HOST, port, timeout=10)
                ok = post(conn, body) == 200
            except (OSError, http.client.HTTPException):
                ok, conn = False, None  # a fresh connection for the next request
            mine.append((t, time.perf_counter() - t, ok, t - due))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lat = np.array([r[1] for r in results]) * 1e3
    ok = np.array([r[2] for r in results], dtype=bool)
    elapsed = max(r[0] + r[1] for r in results) - start
    p50, p99 = p50_p99(lat[ok]) if ok.any() else (float("nan"), float("nan"))
    late = float(np.percentile([r[3] for r in results], 99)) * 1e3  # queueing in the client: saturation shows here
    return {"p50": p50, "p99": p99, "rps": float(ok.sum() / elapsed), "errors": int((~ok).sum()),
            "sent": len(results), "planned": total, "late_p99": late}


def bench_http(bundle: Path, request: dict, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """The fixed-rate run, then the capacity sweep, against one server process (group)."""
    args.work.mkdir(parents=True, exist_ok=True)
    log_path = args.work / "neurec-serve.log"
    proc, port = start_server(bundle, log_path, args.workers)
    try:
        body = json.dumps(request).encode()
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        for _ in range(50 * args.workers):  # warm-up, and a check that the request is one the service accepts
            status = post(conn, body)
            if status != 200:
                raise SystemExit(f"neurec-serve answered {status} to the benchmark request; see {log_path}")
        conn.close()
        fixed = http_load(port, body, args.duration, args.concurrency, args.rate)
        sweep = []
        for rate in [float(r) for r in args.sweep.split(",") if r.strip()]:
            res = http_load(port, body, args.sweep_seconds, args.concurrency, rate)
            sweep.append({"target": rate, **res})
            # One step past the limit shows the knee; further steps only queue.
            if res["p99"] > args.p99_limit or res["errors"] or res["rps"] < 0.9 * rate:
                break
        return fixed, sweep
    finally:
        stop_process(proc)


def capacity(sweep: list[dict], limit_ms: float) -> float | None:
    """The highest achieved rate whose p99 stayed within the limit, with no errors and >= 90 % of its target."""
    good = [s["rps"] for s in sweep if s["p99"] <= limit_ms and not s["errors"] and s["rps"] >= 0.9 * s["target"]]
    return max(good, default=None)


def report(info: dict, rows: dict, shares: dict, scored: dict, http: dict, sweep: list[dict],
           args: argparse.Namespace) -> dict:
    # 100 candidates is the headline; 500 shows how cost grows with the candidate count.
    figures = {
        "p50_ms": rows[("recommend", 100)][0],
        "p99_ms": rows[("recommend", 100)][1],
        "p99_ms_500": rows[("recommend", 500)][1],
        "ort_speedup_vs_torch": ratio(rows.get(("torch", 100)), rows.get(("onnxruntime", 100))),
        "rules_share": shares["rules"],
        "model_share": shares["model"],
        "other_share": shares["other"],
        "http_p50_ms": http["p50"], "http_p99_ms": http["p99"], "http_rps": http["rps"], "http_errors": http["errors"],
        "workers": args.workers, "p99_limit_ms": args.p99_limit,
        "rps_within_p99_limit": capacity(sweep, args.p99_limit) or float("nan"),
    }
    print(f"\nbundle {info['bundle']}: {info['n_items']:,} model items, dim {info['dim']}, {info['layers']} layers; "
          f"history {args.history}; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"onnxruntime {info['ort']}, torch {info.get('torch', '-')}\n")
    print("| what | candidates sent / scored by the model | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    names = {"recommend": "Scorer.recommend (parse, rules, model, response)", "onnxruntime": "onnxruntime run alone",
             "torch": "torch eager forward, inference_mode"}
    order = list(names)
    for (what, n), (p50, p99) in sorted(rows.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        print(f"| {names[what]} | {scored[n][0]} / {scored[n][1]} | {p50:.3f} | {p99:.3f} |")
    print(f"| HTTP POST /recommend, {args.concurrency} connections, target {args.rate:g} req/s, {args.duration:g} s "
          f"| {scored[100][0]} / {scored[100][1]} | {http['p50']:.3f} | {http['p99']:.3f} |")
    print(f"\nHTTP: {http['rps']:.1f} req/s achieved ({http['sent']} of {http['planned']} planned sent), "
          f"{http['errors']} errors; p99 start delay behind schedule {http['late_p99']:.1f} ms")
    print(f"onnxruntime vs torch eager (p50, 100 candidates): {fmt(figures['ort_speedup_vs_torch'], 'x')}; "
          f"max |logit diff| {fmt(info.get('max_diff'), '', '.1e')}")
    if sweep:
        print(f"\nCapacity sweep ({args.workers} worker(s), {args.concurrency} connections, {args.sweep_seconds:g} s a rate; "
              f"the client shares the machine):\n")
        print("| target req/s | achieved req/s | p50 ms | p99 ms | errors |")
        print("|---:|---:|---:|---:|---:|")
        for s in sweep:
            print(f"| {s['target']:g} | {s['rps']:.0f} | {s['p50']:.2f} | {s['p99']:.2f} | {s['errors']} |")
        print(f"\nHighest rate with p99 <= {args.p99_limit:g} ms: {fmt(figures['rps_within_p99_limit'], ' req/s', '.0f')}")
    pct = {k: fmt(v * 100, "%", ".0f") for k, v in shares.items()}
    print(f"Scorer.recommend time (100 candidates): rules {pct['rules']}, onnxruntime call {pct['model']}, "
          f"parsing/encoding/candidates/calibration {pct['other']}")
    return figures


def ratio(num: tuple | None, den: tuple | None) -> float:
    return num[0] / den[0] if num and den else float("nan")


def fmt(x: float | None, unit: str, spec: str = ".2f") -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:{spec}}{unit}"


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    bundle = args.bundle or train_bundle(args.work)
    import onnxruntime

    from neurec.serving import Scorer

    rng = np.random.default_rng(args.seed)
    probe = Scorer.from_bundle(bundle)  # for the catalogue the requests are drawn from
    requests = {n: make_request(probe, args.history, n, rng) for n in (100, 500)}
    rows, feeds, ort_logits, shares = bench_scorer(bundle, requests, args.reps, args.warmup)
    # (sent, scored): rules may drop candidates before the model, and a small catalogue may not have n of them.
    scored = {n: (len(requests[n]["candidates"]), 0 if a is None else a[-1].shape[1]) for n, a in feeds.items()}
    manifest = probe.bundle.manifest
    cfg = manifest["model"]["config"]
    info = {"bundle": bundle, "n_items": manifest["n_items"], "dim": cfg.get("dim"), "layers": cfg.get("n_layers"),
            "ort": onnxruntime.__version__}
    checkpoint = args.checkpoint or bundle.parent / "checkpoints" / "best.pt"
    if checkpoint.is_file():
        torch_rows, torch_logits = bench_torch(checkpoint, feeds, args.reps, args.warmup)
        rows.update(torch_rows)
        info["torch"] = sys.modules["torch"].__version__
        diffs = [float(np.abs(torch_logits[n] - ort_logits[n]).max()) for n in torch_logits]
        info["max_diff"] = max(diffs, default=float("nan"))  # same model in both: a large value is a bug
    else:
        print(f"no checkpoint at {checkpoint}: torch comparison skipped (pass --checkpoint)", file=sys.stderr)
    http, sweep = bench_http(bundle, requests[100], args)
    figures = report(info, rows, shares, scored, http, sweep, args)
    if args.json:  # NaN (a part that could not run) as null: JSON has no NaN
        clean = {k: (v if np.isfinite(v) else None) for k, v in figures.items()}
        clean["sweep"] = [{k: (v if np.isfinite(v) else None) for k, v in s.items()} for s in sweep]
        args.json.write_text(json.dumps(clean, indent=2) + "\n")


if __name__ == "__main__":
    main()
