"""The training loop's speed options change speed, not results: prefetching, budgets, threads, precision."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from neurec.data.examples import write_examples
from neurec.data.split import Targets
from neurec.errors import ConfigError
from neurec.models.purchase import PurchaseModel, PurchaseModelConfig
from neurec.train.hardware import default_threads, resolve_device
from neurec.train.loader import prefetched
from neurec.train.loop import TrainerConfig, fit
from neurec.train.optim import OptimConfig, scaled_lr


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ex")
    rng = np.random.default_rng(0)
    n = 600
    item_idx = rng.integers(2, 40, n)
    types = rng.integers(1, 4, n).astype(np.int8)
    ts = np.arange(n) * 60.0
    starts = np.zeros(n, dtype=np.int64)
    pos = np.arange(20, n, 2)
    targets = Targets(pos, item_idx[pos].astype(str), ts[pos], ts[pos], np.zeros(len(pos)).astype(str))
    return write_examples(tmp / "train", item_idx, types, ts, starts, targets, item_idx[pos], max_len=8,
                          summary_size=4, shard_rows=128)


def _fit(examples, tmp_path, **trainer):
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=40, max_history=8, dim=16, summary_size=4, dropout=0.0))
    cfg = TrainerConfig(**{"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False, "deterministic": True, **trainer})
    return fit(model, examples, examples, cfg, tmp_path / "ckpt")


def _curve(result) -> list[float]:
    return [h["valid_ndcg_at_10"] for h in result.history] + [h["train_loss"] for h in result.history]


def test_prefetching_on_a_thread_gives_the_same_training(examples, tmp_path):
    inline = _fit(examples, tmp_path / "a", prefetch=0)
    ahead = _fit(examples, tmp_path / "b", prefetch=3)
    assert _curve(inline) == _curve(ahead)


def test_reading_the_loss_every_step_or_rarely_gives_the_same_training(examples, tmp_path):
    assert _curve(_fit(examples, tmp_path / "a", log_every=1)) == _curve(_fit(examples, tmp_path / "b", log_every=1000))


def test_bf16_autocast_trains_on_the_cpu(examples, tmp_path):
    result = _fit(examples, tmp_path, precision="bf16")
    assert all(np.isfinite(h["train_loss"]) for h in result.history)


def test_a_time_budget_stops_after_the_first_log_point(examples, tmp_path):
    result = _fit(examples, tmp_path, epochs=5, max_minutes=1e-9, log_every=2)
    assert result.budget == "max_minutes" and result.steps == 2 and len(result.history) == 1
    assert (tmp_path / "ckpt" / "best.pt").is_file()


def test_a_step_budget_stops_mid_epoch_and_keeps_the_best_epoch(examples, tmp_path):
    result = _fit(examples, tmp_path, epochs=10, max_steps=12)
    # 290 decisions in batches of 32: 3 shards of 128, 128 and 34 rows make 4 + 4 + 2 = 10 steps an epoch.
    assert result.budget == "max_steps" and result.steps == 12 and len(result.history) == 2
    assert (tmp_path / "ckpt" / "best.pt").is_file() and result.best_epoch in (0, 1, 2)  # 0: no trained epoch beat the untrained one


def test_an_error_while_making_batches_reaches_the_training_loop():
    def broken():
        yield {"target": np.arange(3)}
        raise OSError("shard 00003 unreadable")

    got = prefetched(broken(), depth=2)
    assert next(got)["target"].tolist() == [0, 1, 2]
    with pytest.raises(OSError, match="shard 00003"):
        next(got)


@pytest.mark.parametrize("bad", [{"precision": "fp8"}, {"max_steps": 0}, {"max_minutes": -1.0}, {"batch_size": 0}])
def test_bad_trainer_settings_are_named(bad):
    with pytest.raises(ConfigError, match="trainer." + next(iter(bad))):
        TrainerConfig(**bad)


def test_threads_follow_what_the_machine_has_free(caplog, monkeypatch):
    assert default_threads(cores=2, load=0.1, processes=1) == 2  # a quiet 2-core box: both cores
    with caplog.at_level(logging.WARNING):
        assert default_threads(cores=2, load=0.2, processes=1) == 2
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert default_threads(cores=2, load=2.5, processes=1) == 1  # others keep both cores busy
    assert "busy machine" in caplog.text and "trainer.num_threads" in caplog.text
    assert default_threads(cores=16, load=0.0, processes=4) == 4  # torchrun: a share per process
    monkeypatch.setattr("neurec.train.hardware.others_load", lambda processes: None)
    assert default_threads(cores=8, processes=1) == 8  # no load average (not Linux or macOS): every usable core


def test_device_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_device("auto", local_rank=1) == "cuda:1"  # torchrun: one GPU per process


def test_the_learning_rate_scales_with_the_square_root_of_the_batch():
    cfg = OptimConfig(lr=0.002, reference_batch=64)
    assert scaled_lr(cfg, 64) == pytest.approx(0.002)
    assert scaled_lr(cfg, 256) == pytest.approx(0.004)


def test_a_stop_that_a_finaliser_swallowed_is_raised_at_the_next_step(examples, tmp_path):
    from neurec.train import stopping

    stopping.request(KeyboardInterrupt())  # as the signal handler records it before raising
    with pytest.raises(KeyboardInterrupt):
        _fit(examples, tmp_path)
    stopping.raise_pending()  # raised once, then nothing is left
