"""Optimizer and learning-rate schedule, built from a frozen config (the `optim` config group)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine (per epoch, after warm-up, down to min_lr_ratio x lr)
    warmup_epochs: int = 0  # linear warm-up from lr / (warmup_epochs + 1)
    min_lr_ratio: float = 0.1
    # lr is the rate for this many examples per step; another trainer.batch_size scales it by the square root of
    # the ratio (Adam's noise scale grows so), so changing the batch does not silently retune the learning rate.
    reference_batch: int = 64

    def __post_init__(self) -> None:
        from neurec.errors import ConfigError

        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optim.name: {self.name!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule: {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"optim.lr: expected a positive number, got {self.lr!r}")
        if self.reference_batch < 1:
            raise ConfigError(f"optim.reference_batch: expected a whole number >= 1, got {self.reference_batch!r}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("optim: weight_decay and warmup_epochs must be >= 0, min_lr_ratio in [0, 1]")


def scaled_lr(cfg: OptimConfig, batch_size: int) -> float:
    return cfg.lr * math.sqrt(batch_size / cfg.reference_batch)


def make_optimizer(params, cfg: OptimConfig, batch_size: int | None = None) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=scaled_lr(cfg, batch_size or cfg.reference_batch), weight_decay=cfg.weight_decay)


def lr_factor(epoch: int, cfg: OptimConfig, epochs: int) -> float:
    """Multiplier of cfg.lr for 0-based `epoch` out of `epochs`."""
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule == "constant":
        return 1.0
    span = max(epochs - cfg.warmup_epochs - 1, 1)
    progress = min((epoch - cfg.warmup_epochs) / span, 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per epoch. Its state (the epoch count) goes into every checkpoint, so a resumed run continues
    the same curve instead of restarting the warm-up."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, cfg, epochs))
