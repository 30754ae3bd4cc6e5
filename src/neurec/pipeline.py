"""One training run from typed configs: data -> model -> fit -> calibrate -> compare on test -> export, tracked.

The Hydra entry points build these configs and call `run`; nothing here sees a DictConfig.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neurec.data.config import DataConfig
from neurec.data.prepare import PreparedData, prepare
from neurec.errors import ConfigError
from neurec.export.bundle import write_bundle
from neurec.export.onnx import check_parity, export_onnx
from neurec.models.build import build_model  # noqa: F401 - also the tests' and scripts' way in
from neurec.models.purchase import PurchaseModel
from neurec.provenance import provenance, provenance_tags
from neurec.train import distributed as dist
from neurec.train import plots
from neurec.train.calibration import Calibration
from neurec.train.compare import TestReport, best_baseline, compare_on_test
from neurec.train.evaluate import fit_calibration
from neurec.train.loop import FitResult, TrainerConfig, configure_torch, fit, save_atomic
from neurec.train.optim import OptimConfig
from neurec.train.tracking import TrackingConfig, check_reachable, ending, log_figure, make_tracker, run_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    enabled: bool = True
    parity_tol: float = 1e-4
    bundle_dir: str | None = None  # default: <run output folder>/bundle
    register: bool = False  # register the bundle as a new model version (the demo turns it on)
    registered_model_name: str | None = "neurec"


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: dict  # the model group: `_target_` (neurec.models.build) and the keys its class takes
    trainer: TrainerConfig
    tracking: TrackingConfig
    export: ExportConfig
    rules: dict
    out_dir: Path
    seed: int = 42
    run_name: str | None = None
    baselines: tuple[str, ...] = ("popularity_recent", "fbt", "item_knn", "repeat", "own_events", "own_recent", "tifu_knn", "session_knn", "als")
    optim: OptimConfig = field(default_factory=OptimConfig)
    resume: bool = False  # continue the run in out_dir from its last.pt, in the same MLflow run
    parent_run_id: str | None = None  # a sweep's parent MLflow run
    project_root: Path | None = None  # where the git commit is read; None: this package's checkout


RUN_STATE = "run.json"  # in the run folder: the MLflow run a resumed run continues


@dataclass
class RunResult:
    run_id: str | None
    tracking_uri: str | None
    out_dir: Path
    checkpoint: Path
    bundle_dir: Path | None
    metrics: dict[str, dict[str, float]]  # method -> test metrics
    stats: dict
    fit: FitResult
    calibration: Calibration
    seconds: dict[str, float] = field(default_factory=dict)
    model: PurchaseModel | None = None
    data: PreparedData | None = None
    baseline_runs: dict[str, str] = field(default_factory=dict)  # method -> MLflow run id
    registered_version: str | None = None  # NAME/VERSION in the model registry


def baselines_by_name(names: tuple[str, ...]):
    from neurec.models.baselines import make_baselines

    available = make_baselines()
    unknown = set(names) - {b.name for b in available}
    if unknown:
        raise ConfigError(f"baselines: unknown {sorted(unknown)}; choose from {[b.name for b in available]}")
    return [b for b in available if b.name in names]


def run(cfg: RunConfig, resolved_config: dict) -> RunResult | None:
    """The whole run on rank 0 (or the only process); under torchrun the other ranks train with it and return None."""
    world = dist.start(cfg.trainer.device)
    if not world.main:
        return _train_with_rank_0(cfg)
    try:
        return _run(cfg, resolved_config)
    finally:
        dist.stop()


def _train_with_rank_0(cfg: RunConfig) -> None:
    """A rank other than 0: the same data and model (the data prepared again, into a folder of its own, which is
    deterministic), its share of every step, then nothing else: rank 0 alone writes, logs, exports and registers."""
    logging.getLogger("neurec").setLevel(logging.WARNING)  # rank 0 tells the story once
    configure_torch(cfg.trainer)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="neurec-rank-") as tmp:
            data = prepare(cfg.data, Path(tmp) / "data")
            model = build_model(cfg.model, data)
            # A resumed run reads rank 0's last.pt (the run folder is shared); a new one has nothing to read.
            ckpt_dir = cfg.out_dir / "checkpoints" if cfg.resume else Path(tmp) / "checkpoints"
            fit(model, data.train, data.valid, cfg.trainer, ckpt_dir, negatives_end=data.vocab.trained_end,
                optim=cfg.optim, resume=cfg.resume)
    finally:
        dist.stop()
    return None


def _run(cfg: RunConfig, resolved_config: dict) -> RunResult:
    check_reachable(cfg.tracking)  # a wrong server URI fails here, before any data is read
    previous = _previous_run(cfg) if cfg.resume else None
    configure_torch(cfg.trainer)  # for the whole run: calibration and export must compute as training did
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare(cfg.data, cfg.out_dir / "data")
    seconds["data"] = time.perf_counter() - t0
    info = provenance(cfg.project_root or Path(__file__).resolve().parents[2], cfg.data)
    (cfg.out_dir / "provenance.json").write_text(json.dumps(info, indent=2) + "\n")

    tags = {"neurec.data": cfg.data.name, "neurec.method": "model", **provenance_tags(info)}
    tracker = make_tracker(cfg.tracking, cfg.run_name, tags=tags, run_id=previous, parent_run_id=cfg.parent_run_id)
    with ending(tracker):  # a stop (Ctrl-C, SIGTERM) marks the run KILLED, an error FAILED: never left RUNNING
        (cfg.out_dir / RUN_STATE).write_text(json.dumps({"mlflow_run_id": tracker.run_id, "tracking_uri": tracker.uri}) + "\n")
        if previous:
            tracker.set_tags({"neurec.resumed": "true"})
        else:  # a resumed run already holds these; MLflow refuses to log a param twice with another value
            tracker.log_params(run_params(resolved_config))
            # The data's shape is a fact of the run, not a curve: a table artifact, with the decision counts and
            # any cleaning (dropped or fixed rows) as metrics, since those are what runs are compared on.
            _log_json(tracker, "data.json", {**data.stats, **data.report.metrics()})
            tracker.log_metrics({f"data_{k}": v for k, v in data.stats.items() if k in DATA_METRICS})
            tracker.log_metrics({f"data_{k}": v for k, v in data.report.metrics().items() if v})
        model = build_model(cfg.model, data)
        result = fit(model, data.train, data.valid, cfg.trainer, cfg.out_dir / "checkpoints",
                     on_epoch=lambda e, m, h: _on_epoch(tracker, e, m, h, cfg.trainer.monitor), negatives_end=data.vocab.trained_end,
                     optim=cfg.optim, resume=cfg.resume, checkpoint_extra={"training_run_id": tracker.run_id})
        dist.stop()  # the other ranks are done; what follows (calibration, test, export) is rank 0's alone
        seconds["train"] = result.seconds
        if result.resumed_from:
            tracker.log_metrics({"resumed_from_epoch": result.resumed_from})

        t0 = time.perf_counter()
        cal = fit_calibration(model, data.valid, cfg.trainer.device)
        # The best checkpoint becomes self-sufficient for neurec-evaluate: weights, config, vocabulary, calibration.
        save_atomic(model.checkpoint(epoch=result.best_epoch, calibration=cal.to_dict(), vocab=data.vocab.items,
                                     vocab_n_trained=data.vocab.n_trained, training_run_id=tracker.run_id), result.checkpoint)
        report = compare_on_test(model, data, cal, baselines_by_name(tuple(cfg.baselines)), cfg.trainer.device)
        report.metrics["model"]["train_seconds"] = result.seconds
        seconds["evaluate"] = time.perf_counter() - t0
        _log_test(tracker, report, result, cal, cfg)
        baseline_runs = _log_baseline_runs(report, cfg, tracker.run_id)

        bundle_dir, version = None, None
        if cfg.export.enabled:
            t0 = time.perf_counter()
            bundle_dir = export_bundle(model, data, cfg, tracker.run_id, cal)
            tracker.log_artifact(bundle_dir, "bundle")
            version = _register(cfg, tracker, bundle_dir, result.checkpoint)
            seconds["export"] = time.perf_counter() - t0
        tracker.log_artifact(result.checkpoint, "checkpoint")
        for name in ("config.yaml", "provenance.json"):
            if (cfg.out_dir / name).exists():
                tracker.log_artifact(cfg.out_dir / name)
        _log_json(tracker, "seconds.json", seconds)
        tracker.log_metrics({"seconds_total": sum(seconds.values())})
    return RunResult(tracker.run_id, tracker.uri, cfg.out_dir, result.checkpoint, bundle_dir, report.metrics, data.stats,
                     result, cal, seconds, model, data, baseline_runs, version)


def _previous_run(cfg: RunConfig) -> str | None:
    """The MLflow run a resumed run continues: recorded in the run folder when the run started."""
    state = cfg.out_dir / RUN_STATE
    if not (cfg.out_dir / "checkpoints" / "last.pt").is_file():
        raise ConfigError(f"resume: {cfg.out_dir} has no checkpoints/last.pt; nothing to resume")
    if not state.is_file():
        return None
    return json.loads(state.read_text()).get("mlflow_run_id")


def _on_epoch(tracker, epoch: int, metrics: dict, history: list[dict], monitor: str) -> None:
    # Curves a person reads per epoch, and the monitored one; every figure of every epoch stays in the checkpoint's
    # history.
    tracker.log_metrics({k: v for k, v in metrics.items() if k in EPOCH_METRICS or k == f"valid_{monitor}"}, step=epoch)
    # Redrawn every epoch, so a run still training already tells its story on its MLflow page.
    log_figure(tracker, plots.learning_curves(history), "plots/learning_curves.png")


def _register(cfg: RunConfig, tracker, bundle_dir: Path, checkpoint: Path) -> str | None:
    name = cfg.export.registered_model_name
    if not cfg.export.register or not name or tracker.run_id is None:
        return None
    from neurec.train.registry import register_bundle

    version = register_bundle(tracker.uri, tracker.run_id, bundle_dir, checkpoint, name,
                              tags={"neurec.data": cfg.data.name})
    tracker.set_tags({"neurec.registered_model": f"{name}/{version}"})
    return f"{name}/{version}"


# What a model run keeps as metrics (about 35, so the learning curves stay easy to find); every method's every
# figure is in comparison.json, the data's shape in data.json, the stage timings in seconds.json.
EPOCH_METRICS = ("train_loss", "valid_loss", "lr", "epoch_seconds", "examples_per_second",
                 "valid_ndcg_at_10", "valid_hr_at_10", "valid_mrr_at_10")
TEST_METRICS = ("ndcg_at_10", "ndcg_at_10_se", "hr_at_10", "mrr_at_10", "auc", "logloss", "ece", "coverage_at_10",
                "decisions", "repeat_hr_at_10", "explore_hr_at_10", "repeat_slot_share", "repeat_target_share",
                "customer_new_ndcg_at_10", "customer_returning_ndcg_at_10", "item_cold_ndcg_at_10",
                "item_warm_ndcg_at_10")
DATA_METRICS = ("train_targets", "valid_targets", "test_targets")


def _finite(value: object) -> object:
    """A number as JSON can hold it: NaN and infinities (a metric with nothing to measure) become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value) if np.isfinite(value) else None
    return value


def _log_json(tracker, name: str, values: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="neurec-artifact-") as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(_finite(values), indent=1, sort_keys=True, default=str) + "\n")
        tracker.log_artifact(path)


def log_test_metrics(tracker, report: TestReport) -> None:
    """The model run: its own test metrics, the best baseline and popularity (and the oracle, on the simulator) on
    the headline metrics, and the whole table as `comparison.json`. Each baseline's full metrics are on its own
    child run; copying them all here buried the learning curves under hundreds of metrics."""
    tracker.log_metrics({f"test_{k}": v for k, v in report.metrics["model"].items() if k in TEST_METRICS and np.isfinite(v)})
    headline = {}
    best = best_baseline(report.metrics)
    if best is not None:
        tracker.set_tags({"neurec.best_baseline": best})
        ref = report.metrics[best].get("ndcg_at_10", float("nan"))
        headline["test_best_baseline_ndcg_at_10"] = ref
        headline["test_model_over_best_baseline"] = report.metrics["model"]["ndcg_at_10"] / ref if ref > 0 else float("nan")
    for method in ("popularity", "oracle"):
        headline[f"test_{method}_ndcg_at_10"] = report.metrics.get(method, {}).get("ndcg_at_10", float("nan"))
    tracker.log_metrics({k: v for k, v in headline.items() if np.isfinite(v)})
    _log_json(tracker, "comparison.json", report.metrics)


def _log_test(tracker, report: TestReport, result: FitResult, cal: Calibration, cfg: RunConfig) -> None:
    log_test_metrics(tracker, report)
    # untrained_valid_*: the model before any step (epoch 0), what training has to beat; absent after a resume of
    # a run from before it was recorded.
    fit_metrics = {"best_epoch": result.best_epoch, f"best_valid_{cfg.trainer.monitor}": result.best_metric,
                   f"untrained_valid_{cfg.trainer.monitor}": result.untrained_metric, "calibration_temperature": cal.temperature}
    tracker.log_metrics({k: v for k, v in fit_metrics.items() if np.isfinite(v)})
    log_figure(tracker, plots.learning_curves(result.history), "plots/learning_curves.png")
    log_figure(tracker, plots.reliability_diagram(report.reliability, report.metrics["model"]["ece"]), "plots/reliability.png")


def _log_baseline_runs(report: TestReport, cfg: RunConfig, model_run: str | None) -> dict[str, str]:
    """Each baseline as its own run in the same experiment, with the same metric names as the model's run, so the
    MLflow compare view lines them up column by column."""
    if not cfg.tracking.enabled:
        return {}
    runs = {}
    for method, values in report.metrics.items():
        if method == "model":
            continue
        # Children of the training run: the runs table shows one row per training, the baselines one click away,
        # each named for its method first (names that began with the run's own name truncated to nine equal rows).
        child = make_tracker(cfg.tracking, f"{method} ({cfg.data.name})",
                             tags={"neurec.data": cfg.data.name, "neurec.method": method, "neurec.model_run": str(model_run)},
                             parent_run_id=model_run)
        with ending(child):
            child.log_params({"method": method, "data.name": cfg.data.name, "seed": cfg.seed})
            child.log_metrics({f"test_{k}": v for k, v in values.items() if np.isfinite(v)})
        runs[method] = child.run_id
    return runs


def export_bundle(model: PurchaseModel, data: PreparedData, cfg: RunConfig, run_id: str | None, cal: Calibration) -> Path:
    """ONNX export, parity against torch (refuses to write on failure), then the bundle with the calibration."""
    onnx_path = export_onnx(model, cfg.out_dir / "model.onnx")
    diff = check_parity(model, onnx_path, cfg.export.parity_tol)
    log.info("exported %s (parity max |dp| %.1e)", onnx_path, diff)
    target = Path(cfg.export.bundle_dir) if cfg.export.bundle_dir else cfg.out_dir / "bundle"
    from neurec.export.copurchase import copurchase_stats

    # Training period only, like the vocabulary: the suggestions are judged on the later periods.
    train_events = data.events[data.events["ts"] < data.boundaries.valid_start]
    copurchase = copurchase_stats(train_events, data.vocab, data.catalog)
    log.info("co-purchase statistics: %d baskets, %d items with partners, %d with re-buy intervals",
             copurchase["n_baskets"], len(copurchase["partners"]), len(copurchase["replenish_days"]))
    return write_bundle(target, onnx_path, data.vocab, data.catalog, dict(cfg.rules), model.cfg, run_id,
                        cal.to_dict(), copurchase=copurchase)
