"""Model quality beside the baselines, on the simulator and on each real sample in ../shared/data.

    .venv/bin/python scripts/benchmark_quality.py                       # all datasets, markdown table
    .venv/bin/python scripts/benchmark_quality.py --datasets simulator rees46 --json quality.json

Fixed seeds; the same split and the same candidates (all items) for every method. Runs are tracked in the
project's MLflow store under the experiment "benchmark" (pass --no-tracking to skip). Real samples that are
absent are skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = {
    "simulator": ([], None),
    "rees46": (["data=rees46"], SHARED / "rees46_multicategory" / "2019-Oct_head.csv"),
    "taobao": (["data=taobao"], SHARED / "taobao_userbehavior" / "UserBehavior.csv"),
    "yoochoose": (["data=yoochoose"], SHARED / "yoochoose_rsc15" / "yoochoose-clicks-100k_train_full.txt"),
    "online_retail": (["data=online_retail"], SHARED / "online_retail" / "OnlineRetail.csv.gz"),
}
COLUMNS = ("valid_ndcg_at_10", "ndcg_at_10", "hr_at_10", "repeat_hr_at_10", "explore_hr_at_10", "repeat_slot_share",
           "coverage_at_10", "ece", "train_seconds")


def run_dataset(name: str, overrides: list[str], path: Path | None, tracking: bool, work: Path,
                extra_overrides: tuple[str, ...] = ()) -> dict:
    from neurec.cli.config import config_dir, run_config
    from neurec.pipeline import run

    if path is not None and path.suffix == ".gz":  # neurec reads plain files: decompress into the work folder
        path = _gunzip(path, work / name)
    extra = [f"data.events_path={path}"] if path else []
    track = ["tracking.experiment=benchmark", f"run_name=benchmark-{name}"] if tracking else ["tracking=none"]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            *overrides, *extra, *track, f"paths.root_dir={ROOT}", f"paths.output_dir={work / name}",
            f"hydra.runtime.output_dir={work / name}", "export.enabled=false", "trainer.progress=false",
            *extra_overrides,
        ])
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    result = run(run_cfg, resolved)
    out = {method: dict(values) for method, values in result.metrics.items()}
    out["model"]["train_seconds"] = result.fit.seconds
    out["model"]["valid_ndcg_at_10"] = result.fit.best_metric  # what defaults are chosen on; test is only reported
    # The epoch kept, 0 being the untrained model (its counting terms), and that model's validation figure.
    out["model"]["best_epoch"] = result.fit.best_epoch
    out["model"]["untrained_valid_ndcg_at_10"] = result.fit.untrained_metric
    out["_stats"] = result.stats
    del result  # the next dataset starts with this one's arrays freed
    return out


def _gunzip(path: Path, folder: Path) -> Path:
    import gzip
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / path.stem
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return out


def table(results: dict) -> str:
    from neurec.cli.report import cell

    lines = ["| dataset | method | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * len(COLUMNS)]
    for dataset, methods in results.items():
        for method, m in methods.items():
            if method.startswith("_"):
                continue
            cells = [cell(m, c) if c != "train_seconds" else (f"{m[c]:.0f}" if c in m else "") for c in COLUMNS]
            lines.append(f"| {dataset} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("overrides", nargs="*", help="config overrides for every dataset, e.g. trainer.loss=full_softmax")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("neurec.data", "onnx_ir", "onnxscript"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            overrides, path = DATASETS[name]
            if path is not None and not path.exists():
                print(f"skip {name}: {path} not found")
                continue
            results[name] = run_dataset(name, overrides, path, not args.no_tracking, Path(tmp), tuple(args.overrides))
            if args.json:  # after every dataset, so a long run that is stopped still leaves its figures
                args.json.write_text(json.dumps(results, indent=2, default=str))  # _stats: the data's counts
    print(table(results))
    from neurec.cli.report import comparison_line

    for name, methods in results.items():
        stats, model = methods["_stats"], methods["model"]
        print(f"{name}: {stats['valid_targets']:,} validation and {stats['test_targets']:,} test decisions, "
              f"{model.get('repeat_target_share', float('nan')):.0%} of test decisions repeat; best epoch "
              f"{model.get('best_epoch')} (untrained: valid {model.get('untrained_valid_ndcg_at_10', float('nan')):.4f}); "
              f"{comparison_line({m: v for m, v in methods.items() if not m.startswith('_')})}")


if __name__ == "__main__":
    main()
