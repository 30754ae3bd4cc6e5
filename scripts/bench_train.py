"""Training speed: examples per second and seconds per epoch on a grocery-sized shop, beside RecBole's SASRec.

    .venv/bin/python scripts/bench_train.py --json bench_train.json            # neurec only (~10 minutes)
    .venv/bin/python scripts/bench_train.py --recbole --time-to-best          # + RecBole, + a full default run

The shop is generated here (no download): 600 customers with long, repeat-heavy purchase histories, about 146k
purchase lines over 4,000 items, like the grocery shop the speed issue was measured on. Rows:

- neurec at the default config and at the old fixed batch of 64 (2 epochs each, the median epoch);
- neurec under torchrun with 2 CPU processes (gloo), one thread each, against 1 process with one thread (1 epoch);
- with --recbole: RecBole's SASRec at the same model size (64 dims, 2 layers, 2 heads, 50 events) on the same
  purchases, at batch 256 and at its default 2048 (1 epoch each, with as many threads as neurec's default got),
  installed by this script into its own environment (.bench/recbole) so neurec's stays as it is;
- with --time-to-best: a whole default training run (capped at 25 minutes of training), and the minutes until its
  best validation epoch ended, data preparation included.

Each configuration runs in a fresh process. The machine's load is printed with the figures: on a shared 2-core
box compare rows of one run as ratios, never against another run's absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RECBOLE_ENV = ROOT / ".bench" / "recbole"
# RecBole 1.2 with the torch this project pins (a bare `torch` would pull a multi-GB CUDA build), and the
# NumPy, pandas and SciPy it was written for.
RECBOLE_REQUIREMENTS = ["recbole==1.2.0", "torch>=2.6,<2.14", "numpy<2", "pandas<2.3", "scipy<1.14"]


def grocery_shop(n_customers: int = 600, n_items: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Baskets: each customer has 20-60 favourites that make 60 % of their lines, the rest from a long tail."""
    rng = np.random.default_rng(seed)
    pop = rng.permutation(1.0 / np.arange(1, n_items + 1) ** 0.9)
    pop /= pop.sum()
    rows = []
    start = int(pd.Timestamp("2025-06-01").timestamp())  # all in the past: no implausible timestamps
    for u in range(n_customers):
        favourites = rng.choice(n_items, size=rng.integers(20, 60), replace=False, p=pop)
        t = start + int(rng.integers(0, 30 * 86400))
        for o in range(int(rng.integers(18, 45))):
            k = int(rng.integers(4, 14))
            own = rng.random(k) < 0.6
            items = np.where(own, rng.choice(favourites, size=k), rng.choice(n_items, size=k, p=pop))
            for j, item in enumerate(np.unique(items)):
                rows.append((f"u{u}", f"o{u}_{o}", f"i{item}", "purchase", t + j))
            t += int(rng.exponential(6 * 86400)) + 3600
    return pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "timestamp"])


def data_overrides(events: Path) -> list[str]:
    return ["data=files", f"data.events_path={events}", "data.name=grocery"]


def neurec_child(events: str, work: str, overrides: list[str]) -> dict:
    """One training run in this process; what it measured."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from neurec.cli.config import config_dir, run_config
    from neurec.pipeline import run

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            *data_overrides(Path(events)), "tracking=none", "export.enabled=false", "trainer.progress=false",
            "baselines=[own_recent]", f"paths.root_dir={ROOT}", f"paths.output_dir={work}",
            f"hydra.runtime.output_dir={work}", *overrides])
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    result = run(run_cfg, resolved)
    history = result.fit.history
    best = result.fit.best_epoch
    return {
        "examples": len(result.data.train), "batch_size": run_cfg.trainer.batch_size,
        "threads": __import__("torch").get_num_threads(), "epochs": len(history), "best_epoch": best,
        "best_valid_ndcg_at_10": result.fit.best_metric,
        "epoch_seconds": [h["epoch_seconds"] for h in history],
        "examples_per_second": [h["examples_per_second"] for h in history],
        "seconds_data": result.seconds["data"],
        "seconds_to_best": result.seconds["data"] + sum(h["epoch_seconds"] for h in history[:best]),
    }


def run_child(args: list[str], timeout: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def neurec(events: Path, work: Path, name: str, overrides: list[str], timeout: float = 3600) -> dict:
    return run_child([str(events), str(work / name), json.dumps(overrides)], timeout)


EPOCH_LINE = re.compile(r"epoch (\d+): .*\(([\d.]+)s, (\d+) examples/s\)")


def neurec_ddp(events: Path, work: Path, processes: int, epochs: int = 1) -> dict:
    """torchrun with `processes` CPU processes, one thread each: rank 0's epoch lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m",
           "neurec.cli.train", *data_overrides(events), "tracking=none", "export.enabled=false", "trainer.progress=false",
           "baselines=[own_recent]", "trainer.num_threads=1", f"trainer.epochs={epochs}", f"paths.log_dir={work / f'ddp{processes}'}"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    found = EPOCH_LINE.findall(out.stdout + out.stderr)
    return {"processes": processes, "epoch_seconds": [float(s) for _, s, _ in found],
            "examples_per_second": [float(x) for _, _, x in found]}


RECBOLE_CHILD = r'''
import json, sys, time, torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender import SASRec
from recbole.trainer import Trainer
from recbole.utils import init_seed
data_path, batch, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
config = Config(model="SASRec", dataset="grocery", config_dict={
    "data_path": data_path, "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "hidden_size": 64, "inner_size": 256,
    "n_layers": 2, "n_heads": 2, "MAX_ITEM_LIST_LENGTH": 50, "train_batch_size": batch, "loss_type": "CE",
    "train_neg_sample_args": None, "epochs": epochs, "device": "cpu", "use_gpu": False, "show_progress": False,
    "checkpoint_dir": data_path, "worker": 0, "seed": 42, "reproducibility": True,
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"}})
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train, valid, test = data_preparation(config, dataset)
model = SASRec(config, train._dataset).to("cpu")
trainer = Trainer(config, model)
seconds = []
for epoch in range(epochs):
    t0 = time.perf_counter()
    trainer._train_epoch(train, epoch, show_progress=False)
    seconds.append(time.perf_counter() - t0)
print(json.dumps({"examples": len(train._dataset), "batch_size": batch, "threads": threads, "epoch_seconds": seconds}))
'''


def recbole_env() -> Path:
    python = RECBOLE_ENV / "bin" / "python"
    if not python.exists():
        print(f"installing RecBole into {RECBOLE_ENV.relative_to(ROOT)} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(RECBOLE_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *RECBOLE_REQUIREMENTS], check=True)
    return python


def recbole(events: pd.DataFrame, work: Path, batch: int, threads: int, epochs: int = 1) -> dict:
    folder = work / "recbole" / "grocery"
    folder.mkdir(parents=True, exist_ok=True)
    inter = events.rename(columns={"user_id": "user_id:token", "item_id": "item_id:token", "timestamp": "timestamp:float"})
    inter[["user_id:token", "item_id:token", "timestamp:float"]].to_csv(folder / "grocery.inter", sep="\t", index=False)
    script = work / "recbole_child.py"
    script.write_text(RECBOLE_CHILD)
    out = subprocess.run([str(recbole_env()), str(script), str(folder.parent), str(batch), str(epochs), str(threads)],
                         capture_output=True, text=True, timeout=7200, cwd=work)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["examples_per_second"] = [result["examples"] / s for s in result["epoch_seconds"]]
    return result


FULL_RUN_MINUTES = 25  # the whole default run, capped: its best epoch is what the time-to-best target is about


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--recbole", action="store_true", help="also RecBole's SASRec (installs it once, ~2 GB)")
    parser.add_argument("--time-to-best", action="store_true", help="also a whole default run (up to 30 minutes)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(neurec_child(args.child[0], args.child[1], json.loads(args.child[2]))))
        return

    load_before = os.getloadavg()[0]
    rows: list[dict] = []

    def save() -> None:  # after every row, so a long run that is stopped still leaves its figures
        if args.json:
            args.json.write_text(json.dumps({"load_average_before": load_before, "cores": os.cpu_count(), "rows": rows}, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="neurec-bench-train-") as tmp:
        work = Path(tmp)
        events = grocery_shop()
        path = work / "grocery.csv"
        events.to_csv(path, index=False)
        print(f"shop: {len(events):,} purchases, {events.user_id.nunique()} customers, {events.item_id.nunique():,} items; "
              f"load average {load_before:.2f} on {os.cpu_count()} cores", file=sys.stderr)
        two = ["trainer.epochs=2"]
        for name, extra in (("neurec, default", []), ("neurec, batch 64", ["trainer.batch_size=64"])):
            r = neurec(path, work, name.replace(", ", "-").replace(" ", ""), two + extra)
            rows.append({"method": name, **_summary(r)})
            save()
        if args.recbole:
            for batch in (256, 2048):
                r = recbole(events, work, batch, threads=rows[0]["threads"])
                rows.append({"method": f"RecBole SASRec, batch {batch}", **_summary(r)})
                save()
        for processes in (1, 2):
            r = neurec_ddp(path, work, processes)
            rows.append({"method": f"neurec, torchrun {processes} process(es) x 1 thread", "batch_size": 256,
                         "threads": 1, "examples": None, "seconds_per_epoch": median(r["epoch_seconds"]),
                         "examples_per_second": median(r["examples_per_second"])})
            save()
        if args.time_to_best:
            r = neurec(path, work, "full", [f"trainer.max_minutes={FULL_RUN_MINUTES}"], timeout=3 * 3600)
            rows.append({"method": "neurec, default, whole run", **_summary(r), "epochs": r["epochs"],
                         "best_epoch": r["best_epoch"], "best_valid_ndcg_at_10": r["best_valid_ndcg_at_10"],
                         "minutes_to_best": r["seconds_to_best"] / 60})
    base = rows[0]["examples_per_second"]
    for row in rows:
        row["speed_vs_default"] = row["examples_per_second"] / base
    report = {"load_average_before": load_before, "load_average_after": os.getloadavg()[0], "cores": os.cpu_count(),
              "rows": rows}
    cols = ["method", "batch_size", "threads", "seconds_per_epoch", "examples_per_second", "speed_vs_default",
            "best_epoch", "minutes_to_best"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
    print(f"load average: {load_before:.2f} before, {report['load_average_after']:.2f} after, {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def _summary(r: dict) -> dict:
    return {"batch_size": r["batch_size"], "threads": r["threads"], "examples": r["examples"],
            "seconds_per_epoch": median(r["epoch_seconds"]), "examples_per_second": median(r["examples_per_second"])}


def _cell(v) -> str:
    if v is None:
        return ""
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
