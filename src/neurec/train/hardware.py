"""What this machine offers a training process: the device (`trainer.device=auto`) and the CPU threads.

Threads matter more than they look on a small shared box: torch starts one intra-op thread per core, and when
other work already keeps those cores busy every parallel kernel waits for a thread that is not running. A step
measured 0.14 s with one thread and 1.9-2.9 s with the default on a busy 2-core machine.
"""

from __future__ import annotations

import functools
import logging
import os
import time

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
    return len(_affinity())


def others_load(processes: int = 1, window: float = 0.2) -> float | None:
    """Cores that other work keeps busy now, on the cores this process may use.

    Measured over `window` seconds from /proc/stat (busy time of those cores) less this process's own CPU time,
    so work that just ended does not count; the 1-minute load average lags by a minute and made a run that
    started right after another one train on a single thread. The other ranks of a torchrun on this machine
    (`processes` - 1, busy preparing the same data) are not "other work". Elsewhere, the load average less the
    training processes' own (one each). None where neither exists.
    """
    cores = _affinity()
    try:
        before, own_before = _busy_jiffies(cores), time.process_time()
        time.sleep(window)
        after, own_after = _busy_jiffies(cores), time.process_time()
    except (OSError, ValueError):
        try:
            return max(0.0, os.getloadavg()[0] - processes)
        except (AttributeError, OSError):
            return None
    busy = (after[0] - before[0]) / max(after[1] - before[1], 1) * len(cores)  # busy cores, all work
    return max(0.0, busy - (own_after - own_before) / window - (processes - 1))


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def _busy_jiffies(cores: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies summed over `cores`, from /proc/stat's per-CPU lines."""
    busy = total = 0
    with open("/proc/stat") as fh:
        for line in fh:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cores:
                continue
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(values)
            busy += sum(values) - values[3] - values[4]
    if total == 0:
        raise ValueError("no per-CPU lines in /proc/stat")
    return busy, total


@functools.cache
def process_threads() -> int:
    """default_threads(), measured at the first call in this process and kept: a run asks before its data and
    again before training, and its own data preparation must not count as other work the second time."""
    return default_threads()


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
