"""torch -> ONNX with dynamic batch, history length and candidate count, and a parity check against torch.

The summary axis is fixed at `model.summary_size`: the scorer always pads summaries to it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from neurec.history_summary import summarize_history
from neurec.models.purchase import PurchaseModel
from neurec.schema import MODEL_INPUTS, MODEL_OUTPUT, N_RESERVED_IDS

log = logging.getLogger(__name__)


class ParityError(RuntimeError):
    """The exported graph disagrees with the torch model: the bundle is not written."""


def _example(model: PurchaseModel, batch: int, length: int, n_cand: int, pad: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    items = torch.randint(N_RESERVED_IDS, cfg.n_items, (batch, length), generator=g)
    types = torch.randint(1, cfg.n_event_types, (batch, length), generator=g)
    gaps = torch.randint(1, cfg.n_gap_buckets, (batch, length), generator=g)
    for t in (items, types, gaps):
        t[:, :pad] = 0  # left padding, the way histories arrive
    cand = torch.randint(N_RESERVED_IDS, cfg.n_items, (batch, n_cand), generator=g)
    return items, types, gaps, *_example_summaries(cfg, batch, seed), cand


def _example_summaries(cfg, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Summaries computed the way serving computes them, from long random histories with repeats (a few items
    many times, so counts, decays and re-buy ages all vary) and some customers with few items (padded slots)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(batch):
        n = int(rng.integers(0, 3 * cfg.summary_size)) if b else 0  # row 0: an empty history
        pool = rng.integers(N_RESERVED_IDS, cfg.n_items, max(1, n // 3))
        ts = np.cumsum(rng.exponential(86_400.0, n))
        rows.append(summarize_history(rng.choice(pool, n), rng.integers(1, 4, n), ts, float(ts[-1] if n else 0) + 3600.0,
                                      cfg.summary_size))
    return (torch.as_tensor(np.stack([r[0] for r in rows])), torch.as_tensor(np.stack([r[1] for r in rows])))


def export_onnx(model: PurchaseModel, path: Path) -> Path:
    """Export `forward` (eval mode, CPU). Example dims avoid size 1 so the exporter keeps them symbolic."""
    model = model.cpu().eval()
    batch = torch.export.Dim("batch", min=1, max=65536)
    history = {0: batch}
    if model.cfg.max_history > 1:
        # A dimension that can only ever be 1 cannot be symbolic (torch.export refuses min == max), so a model
        # with max_history=1 gets a fixed history axis: the scorer always sends exactly one (maybe padded) event.
        history[1] = torch.export.Dim("history", min=1, max=model.cfg.max_history)
    shapes = {
        "hist_items": history,
        "hist_types": history,
        "hist_gaps": history,
        "sum_items": {0: batch},
        "sum_feats": {0: batch},
        "candidates": {0: batch, 1: torch.export.Dim("candidates", min=1, max=10_000_000)},
    }
    example = _example(model, 2, min(4, model.cfg.max_history), 3, 1, 0)
    # The exporter and its optimiser log every pass at INFO, which buries the run's own report.
    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), input_names=list(MODEL_INPUTS), output_names=[MODEL_OUTPUT],
            dynamic_shapes=shapes, dynamo=True, external_data=False, verbose=False,
        )
    return path


def parity_shapes(max_history: int) -> list[tuple[int, int, int, int]]:
    """(batch, history, candidates, left padding): the edges (1, 1, 1), full windows, padding, a fully padded row."""
    short = min(7, max_history)
    return [(1, 1, 1, 0), (3, max_history, 17, 0), (4, short, 1, min(2, short)), (2, max_history, 250, max_history - 1),
            (5, min(12, max_history), 9, min(12, max_history))]


def check_parity(model: PurchaseModel, onnx_path: Path, tol: float = 1e-4) -> float:
    """Largest |p_torch - p_onnx| over several shapes; raises ParityError above `tol`."""
    import onnxruntime as ort

    model = model.cpu().eval()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, (b, length, c, pad) in enumerate(parity_shapes(model.cfg.max_history)):
        inputs = _example(model, b, length, c, pad, seed=100 + i)
        with torch.inference_mode():
            ref = torch.sigmoid(model(*inputs)).numpy()
        got = session.run([MODEL_OUTPUT], {n: t.numpy() for n, t in zip(MODEL_INPUTS, inputs)})[0]
        got = 1.0 / (1.0 + np.exp(-got.astype(np.float64)))
        if got.shape != ref.shape or not np.all(np.isfinite(got)):
            raise ParityError(f"ONNX output for shape (B={b}, L={length}, C={c}, pad={pad}) is {got.shape} or not finite")
        worst = max(worst, float(np.max(np.abs(got - ref))))
    if worst > tol:
        raise ParityError(f"ONNX and torch probabilities differ by {worst:.2e} (> {tol:.0e}); not writing the bundle")
    log.info("ONNX parity: max |dp| = %.2e over %d shapes", worst, len(parity_shapes(model.cfg.max_history)))
    return worst
