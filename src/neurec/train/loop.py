"""The training loop: sampled-negative training, validation each epoch, checkpoints, early stopping, resume.

Every epoch ends with `last.pt`: weights, optimizer and schedule state, every random number generator the loop
draws from, and the early-stopping bookkeeping. Resuming from it replays the remaining epochs exactly as an
uninterrupted run would have, so a killed run that is resumed ends with the same metrics.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel, model_inputs
from neurec.train.evaluate import evaluate_model
from neurec.train.loss import candidate_loss, catalogue_loss, sample_negatives
from neurec.train.optim import OptimConfig, make_optimizer, make_scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 64
    loss: str = "bce"  # bce | softmax (against n_negatives sampled items) | full_softmax (against every item)
    n_negatives: int = 128
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    monitor: str = "ndcg_at_10"
    device: str = "cpu"
    num_threads: int | None = None  # torch intra-op threads; None leaves torch's default (1 when deterministic)
    progress: bool = True
    seed: int = 42
    deterministic: bool = False  # bit-identical weights and model.onnx for the same config, data and machine


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0  # the epoch last.pt held when this fit resumed; 0 for a fresh start


LAST = "last.pt"
BEST = "best.pt"


def save_atomic(obj: dict, path: Path) -> None:
    """Write then rename, so a crash mid-write never leaves a truncated checkpoint under the real name."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:  # a stop mid-write (Ctrl-C, SIGTERM) too: no half-written .tmp left beside the real one
        tmp.unlink(missing_ok=True)
        raise


def configure_torch(cfg: TrainerConfig) -> None:
    """Threads and algorithms for this process, before anything is computed.

    Under `deterministic`, the intra-op thread count is pinned (to `num_threads`, else 1): a parallel reduction
    splits its sum into one chunk per thread, so the rounding, and the last bits of every weight, follow the thread
    count, which by default follows the machine (its cores, OMP_NUM_THREADS, the container's CPU quota). One thread
    gives the same order everywhere. Deterministic algorithms make GPU kernels that add with atomics (embedding and
    index_add backward) use their ordered versions, and refuse, naming the op, any kernel that has none.
    """
    threads = cfg.num_threads or (1 if cfg.deterministic else None)
    if threads:
        torch.set_num_threads(threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS is only reproducible with it
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def rng_states(gen: torch.Generator) -> dict:
    """Every generator training draws from, in a form torch.load(weights_only=True) accepts. On a GPU, dropout
    draws from the CUDA generators, so theirs are saved too."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "negatives": gen.get_state(), "python": random.getstate(),
              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    gen.set_state(states["negatives"])
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


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
        inputs = model_inputs(arrays, cfg.device)
        target = torch.as_tensor(arrays["target"], dtype=torch.long, device=cfg.device)
        if cfg.loss == "full_softmax":
            loss = catalogue_loss(model.score_all(*inputs), target, negatives_end)
        else:
            neg = sample_negatives(target.cpu(), negatives_end, cfg.n_negatives, gen).to(cfg.device)
            candidates = torch.cat([target[:, None], neg], dim=1)  # (B, 1 + n_neg), positive first
            loss = candidate_loss(model(*inputs, candidates), cfg.loss)
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
    on_epoch: Callable[[int, dict, list[dict]], None] | None = None,
    negatives_end: int | None = None,
    optim: OptimConfig | None = None,
    resume: bool = False,
    checkpoint_extra: dict | None = None,
) -> FitResult:
    """Train, keep the epoch with the best validation metric, and leave the model holding its weights.

    `on_epoch(epoch, metrics, history)` runs after each epoch's checkpoints are written.

    Negatives are drawn from model ids below `negatives_end` (the items seen in training): catalogue-only items
    keep zero embeddings and are scored by their side features alone. With `resume`, training continues from
    `ckpt_dir/last.pt` when there is one. `checkpoint_extra` (e.g. the MLflow run id) goes into every checkpoint.
    """
    negatives_end = negatives_end or model.cfg.n_items
    optim = optim or OptimConfig()
    configure_torch(cfg)
    # Every draw has a seeded source: negatives `gen`, shuffling a generator per (seed, epoch), dropout torch's
    # global generator, seeded here after model building drew its initial weights; all are saved in last.pt.
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    model.to(cfg.device)
    opt = make_optimizer(model.parameters(), optim)
    sched = make_scheduler(opt, optim, cfg.epochs)
    best = FitResult(best_epoch=-1, best_metric=float("-inf"), checkpoint=ckpt_dir / BEST)
    start = 1
    if resume and (ckpt_dir / LAST).is_file():
        start = _restore(ckpt_dir / LAST, model, opt, sched, gen, best, cfg.device)
    started = time.perf_counter()
    for epoch in range(start, cfg.epochs + 1):
        if _stopped(best, epoch - 1, cfg):
            break
        metrics = _epoch(model, train, valid, opt, cfg, gen, epoch, negatives_end)
        sched.step()
        best.history.append({"epoch": epoch, **metrics})
        score = metrics[f"valid_{cfg.monitor}"]
        log.info("epoch %d: loss %.4f, valid %s %.4f (%.1fs)", epoch, metrics["train_loss"], cfg.monitor, score,
                 metrics["epoch_seconds"])
        if score > best.best_metric:
            best.best_epoch, best.best_metric = epoch, score
            save_atomic(model.checkpoint(epoch=epoch, metrics=metrics, **(checkpoint_extra or {})), best.checkpoint)
        # last.pt after best.pt: a crash between the two replays this epoch, which rewrites the same best.pt.
        save_atomic(model.checkpoint(epoch=epoch, metrics=metrics, optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                                     rng=rng_states(gen), best_epoch=best.best_epoch, best_metric=best.best_metric,
                                     history=best.history, **(checkpoint_extra or {})), ckpt_dir / LAST)
        if on_epoch:
            on_epoch(epoch, metrics, best.history)
    if _stopped(best, len(best.history), cfg) and len(best.history) < cfg.epochs:
        log.info("early stop: no better valid %s for %d epochs", cfg.monitor, cfg.patience)
    model.load_state_dict(torch.load(best.checkpoint, map_location=cfg.device, weights_only=True)["state_dict"])
    best.seconds = time.perf_counter() - started
    return best


def _epoch(model, train, valid, opt, cfg: TrainerConfig, gen, epoch: int, negatives_end: int) -> dict:
    t0 = time.perf_counter()
    train_loss = _train_epoch(model, train, opt, cfg, gen, epoch, negatives_end)
    valid_metrics = evaluate_model(model, valid, cfg.device)[0]
    metrics = {"train_loss": train_loss, "lr": opt.param_groups[0]["lr"],
               **{f"valid_{k}": v for k, v in valid_metrics.items() if np.isfinite(v)}}
    metrics["epoch_seconds"] = time.perf_counter() - t0
    return metrics


def _stopped(best: FitResult, epoch: int, cfg: TrainerConfig) -> bool:
    """Early stopping after `epoch`: patience epochs without a better validation metric."""
    return best.best_epoch > 0 and epoch - best.best_epoch >= cfg.patience


def _restore(path: Path, model, opt, sched, gen, best: FitResult, device: str) -> int:
    """Load last.pt into the model, optimizer, schedule, generators and bookkeeping; return the next epoch."""
    # On the CPU: RNG states must stay CPU tensors; load_state_dict moves weights and optimizer state to the device.
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "optimizer" not in ckpt:
        from neurec.errors import ConfigError

        raise ConfigError(f"{path}: not a resumable checkpoint (no optimizer state); start a new run instead")
    model.load_state_dict(ckpt["state_dict"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    restore_rng_states(ckpt["rng"], gen)
    best.best_epoch, best.best_metric = int(ckpt["best_epoch"]), float(ckpt["best_metric"])
    best.history = list(ckpt["history"])
    best.resumed_from = int(ckpt["epoch"])
    log.info("resumed from %s: epoch %d done, best valid metric %.4f at epoch %d", path, best.resumed_from,
             best.best_metric, best.best_epoch)
    return best.resumed_from + 1
