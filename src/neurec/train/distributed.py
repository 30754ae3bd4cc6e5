"""One training over several processes: `torchrun --nproc_per_node=N neurec-train ...` (and `--nnodes` with a
rendezvous for several machines) opens one process group, and the processes train one model together.

Every rank reads the same shuffled global batches and trains on its own slice of each, DistributedDataParallel
averages the gradients, validation is scored in parts and gathered, and only rank 0 writes: the run folder,
checkpoints, MLflow, the bundle and the registry. Without torchrun's environment (WORLD_SIZE unset or 1) this is a
single process and nothing here opens a group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Started by torchrun (or another launcher that sets its variables) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    """This process's global rank from the launcher's environment, before any group exists (0 without one)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def start(device: str) -> Dist:
    """Open the process group once (gloo for CPU training, NCCL for CUDA) and say who this process is."""
    if not launched() or not dist.is_available():
        return Dist()
    if not dist.is_initialized():
        if device.startswith("cuda"):
            torch.cuda.set_device(local_rank())
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return current()


def current() -> Dist:
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), local_rank())
    return Dist()


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather(obj: object) -> list:
    """Every rank's `obj`, in rank order, on every rank (pickled: for per-decision arrays, not for weights)."""
    if not current().active:
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def any_rank(flag: bool, device: str = "cpu") -> bool:
    """True on every rank when it is true on any: decisions (stop now) that all ranks must take together."""
    if not current().active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def sum_all(t: torch.Tensor) -> torch.Tensor:
    """The sum of `t` over ranks, on every rank (`t` itself in one process)."""
    if current().active:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if current().active:
        dist.barrier()
