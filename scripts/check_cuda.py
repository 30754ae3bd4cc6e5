"""A short check of the CUDA path on a machine with a GPU: train, kill, resume, export, and time against CPU.

    python3 scripts/check_cuda.py --json cuda_check.json       # PYTHONPATH=src where neurec is not installed

Needs torch with CUDA, numpy, pandas, pyarrow, onnx and onnxruntime; not Hydra or MLflow (it calls the library
directly), so it runs on a bare GPU image. On the default simulated shop it:

1. trains `--epochs` epochs on the GPU (the reference) and the same on the CPU of the same machine (epoch-time ratio);
2. trains again on the GPU, stops after `--stop-after` epochs as a crash would, resumes from last.pt, and compares
   the validation curve with the reference (GPU kernels are not bit-deterministic, so it reports the largest
   difference instead of asserting equality);
3. exports the GPU-trained model to ONNX and checks parity with torch on the CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


class _Stop(Exception):
    """Raised from on_epoch to end a fit the way a crash after a checkpoint would."""


def _data(work: Path):
    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare
    from neurec.data.simulate import SimulatorConfig

    return prepare(DataConfig(simulator=SimulatorConfig(seed=42)), work / "data")


def _fit(data, device: str, epochs: int, ckpt: Path, stop_after: int | None = None, resume: bool = False):
    from neurec.pipeline import build_model
    from neurec.train.loop import TrainerConfig, fit

    torch.manual_seed(42)
    model = build_model({"max_history": 50, "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2,
                         "match_prior": 2.0, "side_features": ["category", "brand", "product_line", "complement_of",
                                                               "price_bucket"],
                         "match": [["category", "category"], ["product_line", "product_line"],
                                   ["complement_of", "product_line"]]}, data)
    cfg = TrainerConfig(epochs=epochs, device=device, progress=False, patience=epochs + 1)

    def on_epoch(epoch, metrics, history):
        if stop_after is not None and epoch == stop_after:
            raise _Stop

    try:
        result = fit(model, data.train, data.valid, cfg, ckpt, on_epoch=on_epoch,
                     negatives_end=data.vocab.trained_end, resume=resume)
    except _Stop:
        return None, model
    return result, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--stop-after", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch")
    out: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        data = _data(work)
        out["data_seconds"] = time.perf_counter() - t
        ref, model = _fit(data, "cuda", args.epochs, work / "ref")
        cpu, _ = _fit(data, "cpu", args.epochs, work / "cpu")
        gpu_epoch = sum(h["epoch_seconds"] for h in ref.history[1:]) / max(len(ref.history) - 1, 1)
        cpu_epoch = sum(h["epoch_seconds"] for h in cpu.history[1:]) / max(len(cpu.history) - 1, 1)
        out.update(gpu_epoch_seconds=gpu_epoch, cpu_epoch_seconds=cpu_epoch, cpu_over_gpu=cpu_epoch / gpu_epoch,
                   cpu_threads=torch.get_num_threads())
        out["valid_ndcg_gpu"] = [h["valid_ndcg_at_10"] for h in ref.history]
        out["valid_ndcg_cpu"] = [h["valid_ndcg_at_10"] for h in cpu.history]
        _fit(data, "cuda", args.epochs, work / "killed", stop_after=args.stop_after)
        resumed, _ = _fit(data, "cuda", args.epochs, work / "killed", resume=True)
        out["resumed_from"] = resumed.resumed_from
        out["valid_ndcg_resumed"] = [h["valid_ndcg_at_10"] for h in resumed.history]
        out["max_abs_diff_resumed_vs_reference"] = max(
            abs(a - b) for a, b in zip(out["valid_ndcg_resumed"], out["valid_ndcg_gpu"]))
        from neurec.export.onnx import check_parity, export_onnx

        cpu_model = model.to("cpu").eval()
        onnx_path = export_onnx(cpu_model, work / "model.onnx")
        out["onnx_parity_max_abs_dp"] = float(check_parity(cpu_model, onnx_path, 1e-4))
    width = max(len(k) for k in out)
    print("| check | value |\n|---|---|")
    for k, v in out.items():
        shown = f"{v:.4g}" if isinstance(v, float) else (
            "[" + ", ".join(f"{x:.4f}" for x in v) + "]" if isinstance(v, list) else str(v))
        print(f"| {k:<{width}} | {shown} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
