"""The training loop: sampled-negative training, validation each epoch, checkpoints, early stopping, budgets,
resume, and one training over several processes under torchrun (neurec.train.distributed).

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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neurec.data.examples import ExampleSet
from neurec.models.purchase import PurchaseModel, model_inputs
from neurec.train import distributed as dist
from neurec.train.evaluate import evaluate_model
from neurec.train.hardware import process_threads, resolve_device
from neurec.train.loader import prefetched, to_device
from neurec.train.loss import Objective, sample_negatives
from neurec.train.optim import OptimConfig, make_optimizer, make_scheduler
from neurec.train.stopping import raise_pending

log = logging.getLogger(__name__)


PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 256  # examples per step, across all processes under torchrun
    loss: str = "bce"  # bce | softmax (against n_negatives sampled items) | full_softmax (against every item)
    n_negatives: int = 128
    # Negatives beside the uniform ones: history (the customer's own summary items), batch (other rows' targets).
    extra_negatives: tuple[str, ...] = ()
    batch_negatives: int = 32  # other rows' targets per example when extra_negatives has "batch"
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    monitor: str = "ndcg_at_10"
    device: str = "auto"  # auto (the GPU when there is one) | cpu | cuda | cuda:N
    num_threads: int | None = None  # torch intra-op threads; None: from the machine (1 when deterministic)
    progress: bool = True
    seed: int = 42
    deterministic: bool = False  # bit-identical weights and model.onnx for the same config, data and machine
    max_minutes: float | None = None  # stop training after this long (at the next log point), keep the best epoch
    max_steps: int | None = None  # stop after this many optimizer steps in all, keep the best epoch
    log_every: int = 50  # steps between reads of the loss (each read waits for the device)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling)
    compile: bool = False  # torch.compile the training step
    prefetch: int = 2  # batches made ahead on a background thread; 0 makes them inline

    def __post_init__(self) -> None:
        from neurec.errors import ConfigError

        if self.precision not in PRECISIONS:
            raise ConfigError(f"trainer.precision: {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        from neurec.train.loss import EXTRA_NEGATIVES

        object.__setattr__(self, "extra_negatives", tuple(self.extra_negatives))  # a Hydra list, kept hashable
        unknown = [k for k in self.extra_negatives if k not in EXTRA_NEGATIVES]
        if unknown:
            raise ConfigError(f"trainer.extra_negatives: unknown {unknown}; choose from {', '.join(EXTRA_NEGATIVES)}")
        for key in ("epochs", "batch_size", "n_negatives", "patience", "log_every", "batch_negatives"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key}: expected a whole number >= 1, got {getattr(self, key)!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"trainer.max_steps: expected a whole number >= 1 or null, got {self.max_steps!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"trainer.max_minutes: expected a positive number or null, got {self.max_minutes!r}")


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0  # the epoch last.pt held when this fit resumed; 0 for a fresh start
    steps: int = 0  # optimizer steps taken, over all epochs (and across a resume)
    budget: str | None = None  # "max_steps" or "max_minutes" when a budget ended training
    untrained_metric: float = float("nan")  # the validation metric before any step ("epoch 0")
    untrained_margin: float = 0.0  # what a trained epoch must beat epoch 0 by: one standard error of its metric


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
    Otherwise the threads follow what the machine has free (neurec.train.hardware), with a warning when busy.
    """
    torch.set_num_threads(cfg.num_threads or (1 if cfg.deterministic else process_threads()))
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


@dataclass
class _Step:
    """What the epoch loop needs besides the model: the wrapped objective, its optimizer and precision tools."""

    objective: torch.nn.Module  # Objective, perhaps inside DistributedDataParallel and/or torch.compile
    opt: torch.optim.Optimizer
    gen: torch.Generator
    scaler: torch.amp.GradScaler  # loss scaling for fp16 on a GPU; disabled, it changes nothing
    autocast_dtype: torch.dtype | None
    negatives_end: int
    started: float  # perf_counter at the start of fit, for max_minutes


def _train_epoch(model: PurchaseModel, data: ExampleSet, step: _Step, cfg: TrainerConfig, epoch: int, done: int) -> tuple[float, int, str | None]:
    """One pass over the training decisions: (mean loss, steps taken in all, the budget that stopped it or None).

    The loss is summed on the device and read every `log_every` steps, not every step: each read waits for the
    device to finish. Budgets are checked at the same points, so all ranks stop at the same step.
    """
    model.train()
    world = dist.current()
    rng = np.random.default_rng([cfg.seed, epoch])
    n_batches = sum(-(-size // cfg.batch_size) for size in data.shard_sizes)
    cuda = cfg.device.startswith("cuda")
    batches = prefetched(data.shuffled_batches(cfg.batch_size, rng, world.rank, world.world), cfg.prefetch, pin=cuda)
    bar = tqdm(batches, total=n_batches, desc=f"epoch {epoch}", unit="batch", disable=not cfg.progress or not world.main,
               leave=False, mininterval=1.0)
    total, batches_done, stopped = torch.zeros((), device=cfg.device), 0, None
    for batch in bar:
        global_rows, offset = int(batch.pop("global_rows")), int(batch.pop("row_offset"))  # read on the host: no sync
        batch = to_device(batch, cfg.device)
        inputs, target = model_inputs(batch, cfg.device), batch["target"]
        neg = None
        if cfg.loss != "full_softmax":
            neg = sample_negatives(target, step.negatives_end, cfg.n_negatives, step.gen, global_rows, offset)
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=step.autocast_dtype or torch.float32,
                            enabled=step.autocast_dtype is not None):
            loss = step.objective(inputs, target, neg, batch["fold"])
        # Each rank's mean is over its own rows; DDP averages ranks, so weighting by the slice's share of the
        # global batch makes the gradient the global batch's mean, as in one process, also for uneven slices.
        weight = target.shape[0] * world.world / global_rows
        step.opt.zero_grad(set_to_none=True)
        step.scaler.scale(loss * weight).backward()  # a disabled scaler (all but fp16 on a GPU) passes through
        step.scaler.unscale_(step.opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        step.scaler.step(step.opt)
        step.scaler.update()
        raise_pending()  # a stop whose exception a finaliser swallowed (neurec.train.stopping)
        total += loss.detach().float() * (weight / world.world)  # this rank's share of the global batch's mean
        batches_done, done = batches_done + 1, done + 1
        if cfg.max_steps is not None and done >= cfg.max_steps:
            stopped = "max_steps"
        elif batches_done % cfg.log_every == 0:
            bar.set_postfix(loss=f"{total.item() * world.world / batches_done:.4f}")  # rank 0's part, scaled up
            if cfg.max_minutes is not None and dist.any_rank(time.perf_counter() - step.started >= 60 * cfg.max_minutes):
                stopped = "max_minutes"
        if stopped:
            break
    return dist.sum_all(total).item() / max(batches_done, 1), done, stopped


def _make_step(model: PurchaseModel, cfg: TrainerConfig, optim: OptimConfig, negatives_end: int, world: dist.Dist) -> _Step:
    objective: torch.nn.Module = Objective(model, cfg.loss, negatives_end, cfg.extra_negatives, cfg.batch_negatives)
    if world.active:
        from torch.nn.parallel import DistributedDataParallel

        # The window-only model (use_summary=false) leaves the summary's weights without gradients, and
        # neighbours=0 the neighbour term's. Buffers are not broadcast: every rank builds the same constant tables
        # (side features, neighbour tables and their out-of-fold copies) from the same data, and sending them
        # every step would cost megabytes a step for nothing.
        unused = not model.cfg.use_summary or not getattr(model.cfg, "neighbours", 1)
        objective = DistributedDataParallel(objective, device_ids=[world.local_rank] if cfg.device.startswith("cuda") else None,
                                            find_unused_parameters=unused, broadcast_buffers=False)
    if cfg.compile:
        objective = torch.compile(objective)
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision]
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.precision == "fp16" and cfg.device.startswith("cuda"))
    return _Step(objective, make_optimizer(model.parameters(), optim, cfg.batch_size), gen, scaler, dtype, negatives_end, time.perf_counter())


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

    `on_epoch(epoch, metrics, history)` runs after each epoch's checkpoints are written (on rank 0 only).

    Negatives are drawn from model ids below `negatives_end` (the items seen in training): catalogue-only items
    keep zero embeddings and are scored by their side features alone. With `resume`, training continues from
    `ckpt_dir/last.pt` when there is one. `checkpoint_extra` (e.g. the MLflow run id) goes into every checkpoint.
    Under torchrun every rank calls this; only rank 0 writes checkpoints, and only rank 0 ends holding the best
    weights (the others stop after the last epoch).
    """
    negatives_end = negatives_end or model.cfg.n_items
    optim = optim or OptimConfig()
    world = dist.current()
    cfg = replace(cfg, device=resolve_device(cfg.device, world.local_rank))
    configure_torch(cfg)
    # Every draw has a seeded source: negatives `gen`, shuffling a generator per (seed, epoch), dropout torch's
    # global generator, seeded here after model building drew its initial weights; all are saved in last.pt.
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if world.main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    model.to(cfg.device)
    step = _make_step(model, cfg, optim, negatives_end, world)
    sched = make_scheduler(step.opt, optim, cfg.epochs)
    best = FitResult(best_epoch=-1, best_metric=float("-inf"), checkpoint=ckpt_dir / BEST)
    start = 1
    if resume and (ckpt_dir / LAST).is_file():
        start = _restore(ckpt_dir / LAST, model, step.opt, sched, step.gen, best, cfg.device)
    else:
        _untrained(model, valid, cfg, best, world, checkpoint_extra)
    for epoch in range(start, cfg.epochs + 1):
        if _stopped(best, epoch - 1, cfg) or best.budget:
            break
        metrics = _epoch(model, train, valid, step, cfg, epoch, best)
        sched.step()
        best.history.append({"epoch": epoch, **metrics})
        score = metrics[f"valid_{cfg.monitor}"]
        log.log(logging.INFO if world.main else logging.DEBUG, "epoch %d: loss %.4f, valid %s %.4f (%.1fs, %.0f examples/s)", epoch, metrics["train_loss"], cfg.monitor,
                 score, metrics["epoch_seconds"], metrics["examples_per_second"])
        if score > best.best_metric + (best.untrained_margin if best.best_epoch == 0 else 0.0):
            best.best_epoch, best.best_metric = epoch, score
            if world.main:
                save_atomic(model.checkpoint(epoch=epoch, metrics=metrics, **(checkpoint_extra or {})), best.checkpoint)
        if world.main:  # last.pt after best.pt: a crash between the two replays this epoch, rewriting the same best.pt
            save_atomic(model.checkpoint(epoch=epoch, metrics=metrics, optimizer=step.opt.state_dict(), scheduler=sched.state_dict(),
                                         rng=rng_states(step.gen), best_epoch=best.best_epoch, best_metric=best.best_metric,
                                         history=best.history, steps=best.steps, untrained_metric=best.untrained_metric,
                                         untrained_margin=best.untrained_margin,
                                         **(checkpoint_extra or {})), ckpt_dir / LAST)
            if on_epoch:
                on_epoch(epoch, metrics, best.history)
        raise_pending()
    if best.budget:
        log.info("budget reached (trainer.%s) after %d steps; keeping the best epoch, %d", best.budget, best.steps, best.best_epoch)
    elif _stopped(best, len(best.history), cfg) and len(best.history) < cfg.epochs:
        log.info("early stop: no better valid %s for %d epochs", cfg.monitor, cfg.patience)
    if world.main:
        model.load_state_dict(torch.load(best.checkpoint, map_location=cfg.device, weights_only=True)["state_dict"])
    best.seconds = time.perf_counter() - step.started
    return best


def _epoch(model: PurchaseModel, train: ExampleSet, valid: ExampleSet, step: _Step, cfg: TrainerConfig, epoch: int,
           best: FitResult) -> dict:
    t0 = time.perf_counter()
    before = best.steps
    train_loss, best.steps, best.budget = _train_epoch(model, train, step, cfg, epoch, best.steps)
    train_seconds = time.perf_counter() - t0
    # valid_loss is the training loss's own quantity (BCE), so the two curves can be read against each other.
    valid_metrics = evaluate_model(model, valid, cfg.device, loss_negatives=cfg.n_negatives if cfg.loss == "bce" else None)[0]
    examples = min(len(train), (best.steps - before) * cfg.batch_size)
    metrics = {"train_loss": train_loss, "lr": step.opt.param_groups[0]["lr"],
               **{f"valid_{k}": v for k, v in valid_metrics.items() if np.isfinite(v)},
               "examples_per_second": examples / max(train_seconds, 1e-9), "steps": best.steps}
    metrics["epoch_seconds"] = time.perf_counter() - t0
    return metrics


def _untrained(model: PurchaseModel, valid: ExampleSet, cfg: TrainerConfig, best: FitResult, world, checkpoint_extra: dict | None) -> None:
    """Epoch 0: the model as built, before any step, is the first candidate for the best checkpoint.

    The match, neighbour and summary terms start at the counting rules' weights (with model.embedding_std 0 the
    untrained model is exactly those rules). Where training never beats them on validation, as on small or
    click-only samples, where the item embeddings learn noise faster than signal, the run keeps the rules
    rather than a worse trained model. A trained epoch must beat them by one standard error of the validation
    metric (the one-standard-error rule: the simpler model unless the evidence says otherwise), since a
    validation period of a few hundred decisions ranks two close models by chance."""
    metrics = evaluate_model(model, valid, cfg.device)[0]
    score = metrics[cfg.monitor]
    best.untrained_metric = score
    margin = metrics.get(f"{cfg.monitor}_se", float("nan"))
    best.untrained_margin = margin if np.isfinite(margin) else 0.0
    log.log(logging.INFO if world.main else logging.DEBUG, "epoch 0 (untrained): valid %s %.4f; a trained epoch is kept above %.4f",
            cfg.monitor, score, score + best.untrained_margin)
    if np.isfinite(score):
        best.best_epoch, best.best_metric = 0, score
        if world.main:
            save_atomic(model.checkpoint(epoch=0, metrics={f"valid_{cfg.monitor}": score}, **(checkpoint_extra or {})), best.checkpoint)


def _stopped(best: FitResult, epoch: int, cfg: TrainerConfig) -> bool:
    """Early stopping after `epoch`: patience epochs without a better validation metric (epoch 0 counts)."""
    return best.best_epoch >= 0 and epoch - best.best_epoch >= cfg.patience


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
    best.steps = int(ckpt.get("steps", 0))
    best.untrained_metric = float(ckpt.get("untrained_metric", float("nan")))
    best.untrained_margin = float(ckpt.get("untrained_margin", 0.0))
    log.info("resumed from %s: epoch %d done, best valid metric %.4f at epoch %d", path, best.resumed_from,
             best.best_metric, best.best_epoch)
    return best.resumed_from + 1
