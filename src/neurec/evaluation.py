"""Evaluate a saved checkpoint on a data config's test period, as its own tracked run linked to the training run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from neurec.data.config import DataConfig
from neurec.data.prepare import prepare
from neurec.errors import ConfigError
from neurec.models.build import load_model
from neurec.pipeline import log_test_metrics, baselines_by_name
from neurec.train import plots
from neurec.train.calibration import Calibration
from neurec.train.compare import compare_on_test
from neurec.train.tracking import TrackingConfig, log_figure, make_tracker
from neurec.vocab import ItemVocab


@dataclass
class EvaluationResult:
    run_id: str | None
    training_run_id: str | None
    metrics: dict[str, dict[str, float]]


def evaluate_checkpoint(
    path: Path, data_cfg: DataConfig, tracking: TrackingConfig, out_dir: Path, resolved: dict,
    baselines: tuple[str, ...] = (), device: str = "cpu", run_name: str | None = None,
) -> EvaluationResult:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "vocab" not in ckpt or "calibration" not in ckpt:
        raise ConfigError(f"{path}: not a best.pt written by neurec-train (no vocabulary or calibration in it)")
    model = load_model(path).to(device).eval()
    vocab = ItemVocab(list(ckpt["vocab"]), ckpt.get("vocab_n_trained"))
    cal = Calibration(**{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["calibration"].items()})
    # Encoded with the model's own history length and summary size.
    data_cfg = replace(data_cfg, max_history=model.cfg.max_history, summary_size=model.cfg.summary_size)
    data = prepare(data_cfg, out_dir / "data", vocab=vocab)  # the model's own item ids, not a new vocabulary
    training_run = ckpt.get("training_run_id")
    tags = {"neurec.data": data_cfg.name, "neurec.method": "model", "neurec.evaluates": str(training_run)}
    tracker = make_tracker(tracking, run_name or f"evaluate-{data_cfg.name}", tags)
    try:
        tracker.log_params({**resolved, "checkpoint": str(path)})
        report = compare_on_test(model, data, cal, baselines_by_name(baselines), device)
        log_test_metrics(tracker, report)
        log_figure(tracker, plots.reliability_diagram(report.reliability, report.metrics["model"]["ece"]), "plots/reliability.png")
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end()
    return EvaluationResult(tracker.run_id, training_run, report.metrics)
