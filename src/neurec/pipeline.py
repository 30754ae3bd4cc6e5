"""One training run from typed configs: data -> model -> fit -> evaluate -> export -> bundle, all tracked.

The Hydra entry points build these configs and call `run`; nothing here sees a DictConfig.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from neurec.data.config import DataConfig
from neurec.data.prepare import PreparedData, prepare
from neurec.export.bundle import write_bundle
from neurec.export.onnx import check_parity, export_onnx
from neurec.models.purchase import PurchaseModel, PurchaseModelConfig
from neurec.train.evaluate import evaluate_model, evaluate_oracle, evaluate_popularity
from neurec.train.loop import FitResult, TrainerConfig, fit
from neurec.train.tracking import TrackingConfig, make_tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    enabled: bool = True
    parity_tol: float = 1e-4
    bundle_dir: str | None = None  # default: <run output folder>/bundle


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: dict  # PurchaseModelConfig fields except n_items, which the vocabulary decides
    trainer: TrainerConfig
    tracking: TrackingConfig
    export: ExportConfig
    rules: dict
    out_dir: Path
    seed: int = 42
    run_name: str | None = None


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
    seconds: dict[str, float] = field(default_factory=dict)
    model: PurchaseModel | None = None
    data: PreparedData | None = None


def test_metrics(model: PurchaseModel, data: PreparedData, device: str) -> dict[str, dict[str, float]]:
    """Model and baselines on the same test decisions, ranked against the same items."""
    out = {"model": evaluate_model(model, data.test, device), "popularity": evaluate_popularity(data.train_purchase_counts, data.test)}
    if data.propensity is not None:
        out["oracle"] = evaluate_oracle(data.propensity, data.test, data.vocab)
    return out


def run(cfg: RunConfig, resolved_config: dict) -> RunResult:
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare(cfg.data, cfg.out_dir / "data")
    seconds["data"] = time.perf_counter() - t0

    tracker = make_tracker(cfg.tracking, cfg.run_name, tags={"neurec.data": cfg.data.name})
    try:
        tracker.log_params(resolved_config)
        tracker.log_metrics({f"data_{k}": v for k, v in {**data.stats, **data.report.metrics()}.items()})
        model = PurchaseModel(PurchaseModelConfig(n_items=len(data.vocab), **cfg.model))
        result = fit(model, data.train, data.valid, cfg.trainer, cfg.out_dir / "checkpoints", on_epoch=lambda e, m: tracker.log_metrics(m, step=e))
        seconds["train"] = result.seconds

        t0 = time.perf_counter()
        metrics = test_metrics(model, data, cfg.trainer.device)
        for method, values in metrics.items():
            prefix = "test_" if method == "model" else f"test_{method}_"
            tracker.log_metrics({prefix + k: v for k, v in values.items()})
        tracker.log_metrics({"best_epoch": result.best_epoch, f"best_valid_{cfg.trainer.monitor}": result.best_metric})
        seconds["evaluate"] = time.perf_counter() - t0

        bundle_dir = None
        if cfg.export.enabled:
            t0 = time.perf_counter()
            bundle_dir = export_bundle(model, data, cfg, tracker.run_id)
            tracker.log_artifact(bundle_dir, "bundle")
            seconds["export"] = time.perf_counter() - t0
        tracker.log_artifact(result.checkpoint, "checkpoint")
        config_file = cfg.out_dir / "config.yaml"
        if config_file.exists():
            tracker.log_artifact(config_file)
        tracker.log_metrics({f"seconds_{k}": v for k, v in seconds.items()})
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end()
    return RunResult(tracker.run_id, tracker.uri, cfg.out_dir, result.checkpoint, bundle_dir, metrics, data.stats, result, seconds, model, data)


def export_bundle(model: PurchaseModel, data: PreparedData, cfg: RunConfig, run_id: str | None) -> Path:
    """ONNX export, parity against torch (refuses to write on failure), then the bundle."""
    onnx_path = export_onnx(model, cfg.out_dir / "model.onnx")
    diff = check_parity(model, onnx_path, cfg.export.parity_tol)
    log.info("exported %s (parity max |dp| %.1e)", onnx_path, diff)
    target = Path(cfg.export.bundle_dir) if cfg.export.bundle_dir else cfg.out_dir / "bundle"
    return write_bundle(target, onnx_path, data.vocab, data.catalog, dict(cfg.rules), model.cfg, run_id)
