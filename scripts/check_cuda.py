"""A short check of the CUDA path on a machine with a GPU: train, kill, resume, export, and time against CPU.

    python3 scripts/check_cuda.py --json cuda_check.json       # PYTHONPATH=src where neurec is not installed

Needs torch with CUDA, numpy, pandas, pyarrow, onnx and onnxruntime; not Hydra or MLflow (it calls the library
directly), so it runs on a bare GPU image. On the default simulated shop it:

1. trains `--epochs` epochs on the GPU (the reference) and the same on 2 threads of the machine's CPU, the
   2-core box the project is developed on (epoch-time ratio);
2. trains again on the GPU, stops after `--stop-after` epochs as a crash would, resumes from last.pt, and compares
   the validation curve with the reference (GPU kernels are not bit-deterministic, so it reports the largest
   difference instead of asserting equality);
3. mixed precision (bf16 autocast, and fp16 with loss scaling), a larger batch, and torch.compile: epoch time and
   validation curve of each beside the fp32 reference;
4. DistributedDataParallel over every visible GPU (NCCL), when there are two or more: one process per GPU;
5. exports the GPU-trained model to ONNX and checks parity with torch on the CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


# The default model (configs/model/sasrec.yaml), spelled out: this script runs without Hydra.
MODEL = {"max_history": 50, "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "match_prior": 2.0,
         "side_features": ["category", "brand", "product_line", "complement_of", "price_bucket"],
         "match": [["category", "category"], ["product_line", "product_line"], ["complement_of", "product_line"]],
         "summary_size": 32, "use_summary": True, "summary_hidden": 32, "summary_prior": 1.0}


def _epoch_seconds(result) -> float:
    """Mean epoch time after the first (which pays CUDA start-up, allocator growth and compilation)."""
    return sum(h["epoch_seconds"] for h in result.history[1:]) / max(len(result.history) - 1, 1)


def _ddp_rank(rank: int, world: int, port: int, work: str, epochs: int, out: str) -> None:
    """One process of the multi-GPU check, as torchrun would start it."""
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from neurec.train import distributed

    distributed.start("cuda")
    data = _data(Path(work) / f"rank{rank}")
    result, _ = _fit(data, f"cuda:{rank}", epochs, Path(work) / f"ckpt{rank}")
    if rank == 0:
        Path(out).write_text(json.dumps({"epoch_seconds": _epoch_seconds(result),
                                         "valid_ndcg": [h["valid_ndcg_at_10"] for h in result.history]}))
    distributed.stop()


class _Stop(Exception):
    """Raised from on_epoch to end a fit the way a crash after a checkpoint would."""


def _data(work: Path):
    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare
    from neurec.data.simulate import SimulatorConfig

    return prepare(DataConfig(simulator=SimulatorConfig(seed=42)), work / "data")


def _fit(data, device: str, epochs: int, ckpt: Path, stop_after: int | None = None, resume: bool = False, **trainer):
    from neurec.pipeline import build_model
    from neurec.train.loop import TrainerConfig, fit

    torch.manual_seed(42)
    model = build_model(MODEL, data)
    cfg = TrainerConfig(epochs=epochs, device=device, progress=False, patience=epochs + 1, **trainer)

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
        cpu, _ = _fit(data, "cpu", args.epochs, work / "cpu", num_threads=2)
        gpu_epoch, cpu_epoch = _epoch_seconds(ref), _epoch_seconds(cpu)
        out.update(gpu_epoch_seconds=gpu_epoch, cpu_2_threads_epoch_seconds=cpu_epoch, cpu_over_gpu=cpu_epoch / gpu_epoch)
        out["valid_ndcg_gpu"] = [h["valid_ndcg_at_10"] for h in ref.history]
        out["valid_ndcg_cpu"] = [h["valid_ndcg_at_10"] for h in cpu.history]
        _fit(data, "cuda", args.epochs, work / "killed", stop_after=args.stop_after)
        resumed, _ = _fit(data, "cuda", args.epochs, work / "killed", resume=True)
        out["resumed_from"] = resumed.resumed_from
        out["valid_ndcg_resumed"] = [h["valid_ndcg_at_10"] for h in resumed.history]
        out["max_abs_diff_resumed_vs_reference"] = max(
            abs(a - b) for a, b in zip(out["valid_ndcg_resumed"], out["valid_ndcg_gpu"]))
        variants = {"bf16": {"precision": "bf16"}, "fp16": {"precision": "fp16"}, "batch_2048": {"batch_size": 2048},
                    "compile": {"compile": True}}
        for name, trainer in variants.items():
            if name == "bf16" and not torch.cuda.is_bf16_supported():
                continue
            r, _ = _fit(data, "cuda", args.epochs, work / name, **trainer)
            out[f"{name}_epoch_seconds"] = _epoch_seconds(r)
            out[f"{name}_valid_ndcg"] = [h["valid_ndcg_at_10"] for h in r.history]
        gpus = torch.cuda.device_count()
        out["gpus"] = gpus
        if gpus >= 2:
            import torch.multiprocessing as mp

            result_file = work / "ddp.json"
            mp.spawn(_ddp_rank, args=(gpus, 29517, str(work / "ddp"), args.epochs, str(result_file)), nprocs=gpus)
            ddp = json.loads(result_file.read_text())
            out.update(ddp_epoch_seconds=ddp["epoch_seconds"], ddp_valid_ndcg=ddp["valid_ndcg"],
                       ddp_speedup_over_one_gpu=gpu_epoch / ddp["epoch_seconds"])
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
