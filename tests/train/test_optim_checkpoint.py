"""The learning-rate schedule, optimizer config validation, and checkpoints that survive a crash mid-write."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurec.errors import ConfigError
from neurec.train import loop
from neurec.train.optim import OptimConfig, lr_factor, make_optimizer, make_scheduler


def test_constant_and_cosine_schedules_with_warmup():
    assert [lr_factor(e, OptimConfig(), 5) for e in range(5)] == [1.0] * 5
    cfg = OptimConfig(schedule="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    got = [lr_factor(e, cfg, 5) for e in range(5)]
    # warm-up 1/2, then cosine from 1 down to 0.1 over epochs 1..4 (span 3)
    expected = [0.5] + [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / 3)) for k in range(4)]
    assert got == pytest.approx(expected)
    assert got[1] == pytest.approx(1.0) and got[-1] == pytest.approx(0.1)


def test_scheduler_state_round_trips():
    model = torch.nn.Linear(2, 1)
    cfg = OptimConfig(schedule="cosine", lr=0.01)
    opt = make_optimizer(model.parameters(), cfg)
    sched = make_scheduler(opt, cfg, 6)
    for _ in range(3):
        opt.step()
        sched.step()
    opt2 = make_optimizer(model.parameters(), cfg)
    sched2 = make_scheduler(opt2, cfg, 6)
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"]) != pytest.approx(0.01)


@pytest.mark.parametrize("bad", [{"name": "sgdd"}, {"schedule": "step"}, {"lr": 0.0}, {"lr": float("nan")},
                                 {"warmup_epochs": -1}, {"min_lr_ratio": 2.0}])
def test_bad_optim_config_names_the_field(bad):
    with pytest.raises(ConfigError, match="optim"):
        OptimConfig(**bad)


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    gen = torch.Generator().manual_seed(3)
    np.random.seed(5)
    loop.save_atomic({"rng": loop.rng_states(gen)}, tmp_path / "s.pt")
    want = (torch.rand(3), torch.rand(2, generator=gen), np.random.rand(2))
    loop.restore_rng_states(torch.load(tmp_path / "s.pt", weights_only=True)["rng"], gen)
    got = (torch.rand(3), torch.rand(2, generator=gen), np.random.rand(2))
    assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1]) and np.array_equal(want[2], got[2])


def test_a_crash_while_writing_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    loop.save_atomic({"epoch": 1}, path)

    def crash(obj, f):  # half a file, then the process "dies"
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        loop.save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_fit_stopped_after_a_checkpoint_resumes_to_the_same_curve(tmp_path):
    """In-process twin of the SIGKILL test: a fit that dies after epoch 1's checkpoints resumes exactly."""
    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare
    from neurec.data.simulate import SimulatorConfig
    from neurec.pipeline import build_model

    data = prepare(DataConfig(simulator=SimulatorConfig(seed=3, n_customers=300, days=60)), tmp_path / "data")
    cfg = loop.TrainerConfig(epochs=3, progress=False, patience=10, num_threads=1)
    optim = OptimConfig(schedule="cosine", warmup_epochs=1)

    def run(folder, on_epoch=None, resume=False):
        torch.manual_seed(0)
        model = build_model({"dim": 16, "n_layers": 1, "n_heads": 1, "max_history": 50}, data)
        return loop.fit(model, data.train, data.valid, cfg, tmp_path / folder, on_epoch=on_epoch,
                        negatives_end=data.vocab.trained_end, optim=optim, resume=resume)

    def crash(epoch, metrics, history):
        raise KeyboardInterrupt  # after last.pt of epoch 1 is on disk

    reference = run("ref")
    with pytest.raises(KeyboardInterrupt):
        run("crashed", on_epoch=crash)
    resumed = run("crashed", resume=True)
    assert resumed.resumed_from == 1
    assert [h["valid_ndcg_at_10"] for h in resumed.history] == [h["valid_ndcg_at_10"] for h in reference.history]
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in reference.history]  # the schedule went on


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # the stand-in epoch takes no optimizer step
def test_fit_keeps_the_untrained_model_when_no_epoch_beats_it_on_validation(tmp_path, monkeypatch):
    """Epoch 0, the model as built, is the first candidate for best.pt: an epoch that makes validation worse
    (here one that scrambles the item biases) never replaces it, and fit ends holding the untrained weights."""
    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare
    from neurec.data.simulate import SimulatorConfig
    from neurec.pipeline import build_model

    data = prepare(DataConfig(simulator=SimulatorConfig(seed=3, n_customers=300, days=60)), tmp_path / "data")
    torch.manual_seed(0)
    model = build_model({"dim": 16, "n_layers": 1, "n_heads": 1, "max_history": 50}, data)
    untrained = {k: v.clone() for k, v in model.state_dict().items()}

    def scramble(model, data, step, cfg, epoch, done):
        with torch.no_grad():
            model.item_bias.weight.copy_(20.0 * torch.randn_like(model.item_bias.weight))
        return 1.0, done + 1, None

    monkeypatch.setattr(loop, "_train_epoch", scramble)
    cfg = loop.TrainerConfig(epochs=3, progress=False, patience=2, num_threads=1)
    result = loop.fit(model, data.train, data.valid, cfg, tmp_path / "ck", negatives_end=data.vocab.trained_end)
    assert result.best_epoch == 0 and result.best_metric == result.untrained_metric > 0
    assert [h["epoch"] for h in result.history] == [1, 2]  # patience 2 counted from epoch 0
    assert all(h["valid_ndcg_at_10"] < result.untrained_metric for h in result.history)
    assert all(torch.equal(v, untrained[k]) for k, v in model.state_dict().items())
    assert torch.load(tmp_path / "ck" / "best.pt", weights_only=True)["epoch"] == 0


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
def test_a_trained_epoch_must_beat_the_untrained_one_by_one_standard_error(tmp_path, monkeypatch):
    """Validation scripted: untrained 0.30 ± 0.02. Epoch 1 (0.31) is within the noise and not kept; epoch 2 (0.33)
    is; after that any better epoch counts, with no margin (epoch 4, 0.335)."""
    from neurec.models.purchase import PurchaseModel, PurchaseModelConfig

    scores = iter([0.30, 0.31, 0.33, 0.325, 0.335])
    monkeypatch.setattr(loop, "evaluate_model", lambda *a, **k: ({"ndcg_at_10": (v := next(scores)), "ndcg_at_10_se": 0.02,
                                                                  "hr_at_10": v}, None, None))
    monkeypatch.setattr(loop, "_train_epoch", lambda model, data, step, cfg, epoch, done: (1.0, done + 1, None))
    model = PurchaseModel(PurchaseModelConfig(n_items=10, max_history=4, dim=8, n_layers=1, n_heads=1))
    cfg = loop.TrainerConfig(epochs=4, progress=False, patience=10, num_threads=1)
    result = loop.fit(model, [], [], cfg, tmp_path / "ck")
    assert (result.untrained_metric, result.untrained_margin) == (0.30, 0.02)
    assert (result.best_epoch, result.best_metric) == (4, 0.335)
    scores = iter([0.30, 0.31, 0.31, 0.31, 0.31])
    result = loop.fit(model, [], [], cfg, tmp_path / "ck2")
    assert (result.best_epoch, result.best_metric) == (0, 0.30)
    assert torch.load(tmp_path / "ck2" / "best.pt", weights_only=True)["epoch"] == 0
