"""The training loop: sampled-negative training, validation each epoch, best checkpoint, early stopping."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel
from neurec.train.evaluate import evaluate_model
from neurec.train.loss import candidate_loss, sample_negatives

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    loss: str = "bce"  # bce | softmax
    n_negatives: int = 128
    patience: int = 5  # epochs without a better validation NDCG@10 before stopping
    monitor: str = "ndcg_at_10"
    device: str = "cpu"
    num_threads: int | None = None  # torch intra-op threads; None leaves torch's default
    progress: bool = True
    seed: int = 42


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def save_atomic(obj: dict, path: Path) -> None:
    """Write then rename, so a crash mid-write never leaves a truncated checkpoint under the real name."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rank() -> tuple[int, int]:
    """(rank, world size) under torchrun, (0, 1) otherwise: each rank streams its own shards."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _train_epoch(
    model: PurchaseModel, data: ExampleSet, opt: torch.optim.Optimizer, cfg: TrainerConfig, gen: torch.Generator, epoch: int, negatives_end: int
) -> float:
    model.train()
    rank, world = _rank()
    rng = np.random.default_rng([cfg.seed, epoch])
    n_batches = sum(-(-size // cfg.batch_size) for i, size in enumerate(data.shard_sizes) if i % world == rank)
    total, batches = 0.0, 0
    bar = tqdm(data.shuffled_batches(cfg.batch_size, rng, rank, world), total=n_batches, desc=f"epoch {epoch}",
               unit="batch", disable=not cfg.progress or rank != 0, leave=False)
    for arrays in bar:
        items, types, gaps, target = (torch.as_tensor(arrays[k], dtype=torch.long, device=cfg.device) for k in ("items", "types", "gaps", "target"))
        neg = sample_negatives(target.cpu(), negatives_end, cfg.n_negatives, gen).to(cfg.device)
        candidates = torch.cat([target[:, None], neg], dim=1)  # (B, 1 + n_neg), positive first
        loss = candidate_loss(model(items, types, gaps, candidates), cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        total, batches = total + loss.item(), batches + 1
        bar.set_postfix(loss=f"{total / batches:.4f}")
    return total / max(batches, 1)


def fit(
    model: PurchaseModel,
    train: ExampleSet,
    valid: ExampleSet,
    cfg: TrainerConfig,
    ckpt_dir: Path,
    on_epoch: Callable[[int, dict], None] | None = None,
    negatives_end: int | None = None,
) -> FitResult:
    """Train, keep the epoch with the best validation metric, and leave the model holding its weights.

    Negatives are drawn from model ids below `negatives_end` (the items seen in training): catalogue-only items
    keep zero embeddings and are scored by their side features alone.
    """
    negatives_end = negatives_end or model.cfg.n_items
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    model.to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = FitResult(best_epoch=-1, best_metric=float("-inf"), checkpoint=ckpt_dir / "best.pt")
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, train, opt, cfg, gen, epoch, negatives_end)
        valid_metrics = evaluate_model(model, valid, cfg.device)[0]
        metrics = {"train_loss": train_loss, **{f"valid_{k}": v for k, v in valid_metrics.items() if np.isfinite(v)}}
        metrics["epoch_seconds"] = time.perf_counter() - t0
        best.history.append({"epoch": epoch, **metrics})
        score = metrics[f"valid_{cfg.monitor}"]
        log.info("epoch %d: loss %.4f, valid %s %.4f (%.1fs)", epoch, train_loss, cfg.monitor, score, metrics["epoch_seconds"])
        save_atomic(model.checkpoint(epoch=epoch, metrics=metrics), ckpt_dir / "last.pt")
        if score > best.best_metric:
            best.best_epoch, best.best_metric = epoch, score
            save_atomic(model.checkpoint(epoch=epoch, metrics=metrics), best.checkpoint)
        if on_epoch:
            on_epoch(epoch, metrics)
        if epoch - best.best_epoch >= cfg.patience:
            log.info("early stop: no better valid %s for %d epochs", cfg.monitor, cfg.patience)
            break
    model.load_state_dict(torch.load(best.checkpoint, map_location=cfg.device, weights_only=True)["state_dict"])
    best.seconds = time.perf_counter() - started
    return best
