"""What this machine offers a training process: the device (`trainer.device=auto`) and the CPU threads.

Threads matter more than they look on a small shared box: torch starts one intra-op thread per core, and when
other work already keeps those cores busy every parallel kernel waits for a thread that is not running. A step
measured 0.14 s with one thread and 1.9-2.9 s with the default on a busy 2-core machine.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def resolve_device(value: str, local_rank: int = 0) -> str:
    """auto: the GPU when there is one, else the CPU. Under torchrun each process on a machine takes its own GPU."""
    if value == "auto":
        value = "cuda" if torch.cuda.is_available() else "cpu"
    if value == "cuda" and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        return f"cuda:{local_rank}"
    return value


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def others_load(processes: int = 1) -> float | None:
    """Runnable threads of other work: the 1-minute load average less the training processes' own (one each, busy
    since data preparation); None where the system has no load average."""
    try:
        return max(0.0, os.getloadavg()[0] - processes)
    except (AttributeError, OSError):
        return None


def default_threads(cores: int | None = None, load: float | None = None, processes: int | None = None) -> int:
    """Intra-op threads for one training process: its share of the cores that other work leaves free, at least 1.
    Warns when the machine is oversubscribed, because the run will be slower than the same run on a quiet box."""
    cores = cores or usable_cores()
    processes = processes or int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    share = max(1, cores // processes)
    if load is None:
        load = others_load(processes)
    if load is None:
        return share
    free = cores - load
    threads = max(1, min(share, int(free / processes + 0.5)))
    if free < share * processes - 0.5:
        log.warning("busy machine: other work keeps %.1f of %d cores busy; training with %d thread(s) per process "
                    "(%d process(es)). Expect slower epochs; set trainer.num_threads to override.",
                    load, cores, threads, processes)
    return threads
