"""Batches for the training loop, made ahead on a background thread so the model is not left waiting for them.

Cutting a batch out of a shard and converting it (NumPy fancy indexing, int32 -> int64) releases the GIL, so a
thread overlaps it with the step before. For a GPU the tensors are pinned, so the copy to the device can run
without blocking the host (non_blocking=True).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from neurec.data.examples import FLOAT_ARRAYS

_DONE = object()


def batch_tensors(arrays: dict[str, np.ndarray], pin: bool = False) -> dict[str, torch.Tensor]:
    out = {}
    for name, values in arrays.items():
        t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32 if name in FLOAT_ARRAYS else np.int64))
        out[name] = t.pin_memory() if pin and t.ndim else t
    return out


def to_device(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    if device == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def prefetched(batches: Iterable[dict[str, np.ndarray]], depth: int = 2, pin: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """The same batches, in the same order, as tensors, with up to `depth` of them made ahead. depth 0: inline.

    An error in the producer is raised here, in the training loop; stopping early (a budget, Ctrl-C) leaves the
    thread blocked on a full queue, which is a daemon and ends with the process.
    """
    if depth <= 0:
        for arrays in batches:
            yield batch_tensors(arrays, pin)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for arrays in batches:
                if stop.is_set():
                    return
                q.put(batch_tensors(arrays, pin))
            q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="neurec-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():  # unblock a producer waiting on a full queue so it sees `stop` and ends
            try:
                q.get_nowait()
            except queue.Empty:
                break
