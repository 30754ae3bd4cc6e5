"""Encoded training examples on disk: NumPy shards that the training loader streams and evaluation walks.

Encoding histories for every decision at once would need (N, L) arrays in memory; for a click-only dataset with
millions of targets that is gigabytes. Encoding chunk by chunk into shards keeps memory flat, and the loader
reads one shard at a time (memory-mapped), so several readers (ranks) can share one copy on disk.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurec.cooccurrence import customer_folds
from neurec.data.split import Targets, histories_before
from neurec.fsutil import swap_in_dir
from neurec.history_summary import summaries_before
from neurec.schema import HISTORY_INPUTS

# The newest-L window (hist_items, hist_types, hist_gaps), the whole-history summary (sum_items, sum_feats), the
# target, and the customer's fold (which out-of-fold neighbour table training reads, cooccurrence.customer_folds).
ARRAYS = (*HISTORY_INPUTS, "target", "fold")  # each an .npy file per shard, and a key of every batch
FLOAT_ARRAYS = ("sum_feats",)
SHARD_ROWS = 65_536


@dataclass(frozen=True)
class ExampleSet:
    """Decisions of one period: encoded histories in shards under `root`, their metadata in memory."""

    root: Path
    shard_sizes: tuple[int, ...]
    target: np.ndarray  # (N,) model id of each decision's item (OOV_ID if unseen in training)
    targets: Targets

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def shard(self, i: int) -> dict[str, np.ndarray]:
        return {name: np.load(self.root / f"{i:05d}" / f"{name}.npy", mmap_mode="r") for name in ARRAYS}

    def batches(self, batch_size: int, rank: int = 0, world_size: int = 1) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """In file order: (offset of the batch's first row, arrays). For evaluation; with `world_size` > 1, rank r
        gets batches r, r + W, ... (their offsets say where they belong)."""
        offset, n = 0, 0
        for i, size in enumerate(self.shard_sizes):
            arrays = self.shard(i)
            for lo in range(0, size, batch_size):
                if n % world_size == rank:
                    yield offset + lo, {k: as_batch_array(k, v[lo : lo + batch_size]) for k, v in arrays.items()}
                n += 1
            offset += size

    def shuffled_batches(self, batch_size: int, rng: np.random.Generator, rank: int = 0, world_size: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """For training: shards in random order, rows shuffled within each, in global batches of `batch_size`.

        Every rank walks the same global batches and takes its own contiguous slice of each (rank r of W: the
        r-th of W near-equal parts), so W processes see exactly the rows one process would, in the same steps,
        and every rank takes the same number of steps. A global batch with fewer rows than ranks is skipped by
        all of them. Each batch carries `global_rows` (the global batch's size) and `row_offset` (where this slice
        starts in it), so per-row draws (negatives) and the loss's weight match the single-process run.
        """
        for i in rng.permutation(len(self.shard_sizes)):
            arrays = {k: np.asarray(v) for k, v in self.shard(int(i)).items()}
            order = rng.permutation(self.shard_sizes[i])
            for lo in range(0, len(order), batch_size):
                idx = order[lo : lo + batch_size]
                if len(idx) < world_size:
                    continue
                bounds = np.cumsum([0] + [len(p) for p in np.array_split(idx, world_size)])
                part = idx[bounds[rank] : bounds[rank + 1]]
                out = {k: as_batch_array(k, v[part]) for k, v in arrays.items()}
                out["global_rows"], out["row_offset"] = np.int64(len(idx)), np.int64(bounds[rank])
                yield out


def as_batch_array(name: str, values: np.ndarray) -> np.ndarray:
    """Shards store small dtypes (int8 types, int32 ids); a batch is int64 ids and float32 features."""
    return np.array(values, dtype=np.float32 if name in FLOAT_ARRAYS else np.int64)


def encode_rows(item_idx: np.ndarray, types: np.ndarray, ts: np.ndarray, starts: np.ndarray, positions: np.ndarray,
                target: np.ndarray, users: np.ndarray, max_len: int, summary_size: int) -> dict[str, np.ndarray]:
    """The stored arrays of the decisions at `positions` (rows of events sorted by customer and time), in the
    small dtypes shards keep. Every path that writes shards (in memory, out of core, per partition) calls this,
    which is what keeps their shards byte for byte the same."""
    items, ev, gaps = histories_before(item_idx, types, ts, starts, positions, max_len)
    sum_items, sum_feats = summaries_before(item_idx, types, ts, starts, positions, summary_size)
    return {"hist_items": items.astype(np.int32), "hist_types": ev.astype(np.int8), "hist_gaps": gaps.astype(np.int8),
            "sum_items": sum_items.astype(np.int32), "sum_feats": sum_feats.astype(np.float32),
            "target": np.asarray(target).astype(np.int32), "fold": customer_folds(users)}


class ShardWriter:
    """Rows in, shards of exactly `shard_rows` out (the last one shorter), in a temporary folder that `close`
    swaps in complete. Rows may come in any number of pieces: the shards depend only on the rows and their order."""

    def __init__(self, root: Path, max_len: int, summary_size: int, shard_rows: int = SHARD_ROWS):
        self.root, self.max_len, self.summary_size, self.shard_rows = Path(root), max_len, summary_size, shard_rows
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.root.name}-", dir=self.root.parent))
        self.sizes: list[int] = []
        self._parts: list[dict[str, np.ndarray]] = []
        self._buffered = 0
        self._empty: dict[str, np.ndarray] | None = None

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        if self._empty is None:
            self._empty = {k: v[:0] for k, v in arrays.items()}
        n = len(arrays["target"])
        if n:
            self._parts.append(arrays)
            self._buffered += n
        while self._buffered >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, rows: int) -> None:
        joined = {k: np.concatenate([p[k] for p in self._parts]) if self._parts else self._empty[k] for k in ARRAYS}
        shard = self.tmp / f"{len(self.sizes):05d}"
        shard.mkdir()
        for name in ARRAYS:
            np.save(shard / f"{name}.npy", np.ascontiguousarray(joined[name][:rows]))
        self.sizes.append(rows)
        self._buffered -= rows
        self._parts = [{k: v[rows:] for k, v in joined.items()}] if self._buffered else []

    def close(self) -> tuple[int, ...]:
        """Write what is left (an empty shard when no row came at all) and meta.json, then swap the folder in."""
        try:
            if self._buffered or not self.sizes:
                if self._empty is None:
                    raise ValueError("ShardWriter.close: no rows were ever added, not even an empty batch")
                self._flush(self._buffered)
            (self.tmp / "meta.json").write_text(json.dumps({"rows": int(sum(self.sizes)), "shard_sizes": self.sizes,
                                                            "max_len": self.max_len, "summary_size": self.summary_size,
                                                            "arrays": list(ARRAYS)}))
            swap_in_dir(self.tmp, self.root)
        except BaseException:
            self.abort()
            raise
        return tuple(self.sizes)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_examples(
    root: Path, item_idx: np.ndarray, types: np.ndarray, ts: np.ndarray, starts: np.ndarray,
    targets: Targets, target: np.ndarray, max_len: int, summary_size: int, shard_rows: int = SHARD_ROWS,
) -> ExampleSet:
    """Encode histories chunk by chunk into shards, in a temporary folder swapped in at the end."""
    writer = ShardWriter(root, max_len, summary_size, shard_rows)
    try:
        for lo in range(0, max(len(targets), 1), shard_rows):
            pos = targets.position[lo : lo + shard_rows]
            writer.add(encode_rows(item_idx, types, ts, starts, pos, target[lo : lo + shard_rows],
                                   targets.user[lo : lo + shard_rows], max_len, summary_size))
    except BaseException:
        writer.abort()
        raise
    sizes = writer.close()
    return ExampleSet(Path(root), sizes, target.astype(np.int64), targets)
