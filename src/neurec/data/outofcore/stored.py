"""Read a prepared folder's shards where they lie: a local folder, or fsspec storage (s3://, gs://, memory://, ...),
across its partitions, as one `ExampleSet` per period, so the training loader and the DDP ranks walk them as they
walk the in-memory path's shards (`ExampleSet.batches`, `ExampleSet.shuffled_batches`).

Local shards are memory-mapped; remote ones are read a shard at a time (one shard is the unit a rank holds in
memory, 65,536 decisions by default), so a rank never needs the whole period on its own disk.
`prepare_to_storage` and `fetch_prepared` copy a prepared folder to and from such storage.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from neurec.data.errors import DataError
from neurec.data.examples import ARRAYS, ExampleSet
from neurec.data.outofcore.run import partition_folder, prepare_out_of_core
from neurec.data.split import Targets
from neurec.fsutil import swap_in_dir


@dataclass(frozen=True)
class StoredExamples(ExampleSet):
    """An ExampleSet whose shards are listed explicitly (several partitions) and may live on fsspec storage."""

    shard_paths: tuple[str, ...] = ()
    fs: object = None  # an fsspec filesystem; None = the local disk

    def shard(self, i: int) -> dict[str, np.ndarray]:
        base = self.shard_paths[i]
        if self.fs is None:
            return {name: np.load(Path(base) / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        return {name: np.load(io.BytesIO(self.fs.cat_file(f"{base}/{name}.npy"))) for name in ARRAYS}


def open_prepared(url: str | Path, period: str) -> StoredExamples:
    """The `period` (train, valid or test) of a folder written by `prepare_out_of_core`, at a path or an fsspec URL."""
    fs, root = _filesystem(url)
    info = json.loads(_read(fs, f"{root}/prepared.json"))
    # PurePosixPath: fsspec paths use forward slashes on every system.
    parts = [str(partition_folder(PurePosixPath(root), p, info["partitions"])) for p in range(info["partitions"])]
    paths, sizes, frames = [], [], []
    for part in parts:
        meta = json.loads(_read(fs, f"{part}/{period}/meta.json"))
        if meta.get("arrays") != list(ARRAYS):  # shards name their arrays as the graph's inputs since meta had "arrays"
            raise DataError(f"{url}: {part}/{period} was prepared by another neurec version (arrays "
                            f"{meta.get('arrays', 'items, types, gaps, ...')}, this one reads {list(ARRAYS)}); "
                            "run neurec-data prepare again")
        for i, size in enumerate(meta["shard_sizes"]):
            if size:  # an empty partition's placeholder shard holds nothing to walk
                paths.append(f"{part}/{period}/{i:05d}")
                sizes.append(int(size))
        if meta["rows"]:
            frames.append(pd.read_parquet(io.BytesIO(_read(fs, f"{part}/targets/{period}.parquet", binary=True))))
    rows = pd.concat(frames, ignore_index=True)
    targets = Targets(rows["position"].to_numpy(), rows["item"].to_numpy(object), rows["ts"].to_numpy(),
                      rows["purchase_ts"].to_numpy(), rows["user"].to_numpy(object))
    return StoredExamples(Path(str(root)), tuple(sizes), rows["target"].to_numpy(np.int64), targets, tuple(paths), fs)


def _filesystem(url: str | Path):
    text = str(url)
    if "://" not in text:
        return None, str(Path(text))
    import fsspec

    fs, root = fsspec.core.url_to_fs(text)
    return fs, root.rstrip("/")


def _read(fs, path: str, binary: bool = False):
    if fs is None:
        return Path(path).read_bytes() if binary else Path(path).read_text()
    data = fs.cat_file(path)
    return data if binary else data.decode()


def prepare_to_storage(cfg, url: str, settings=None, runner=None, **kwargs):
    """Prepare into a local temporary folder, then upload the finished folder to `url` (any fsspec URL, e.g.
    s3://bucket/prepared with s3fs installed). Returns the OutOfCoreResult for its stats; its `root` is gone.

    Not atomic: an earlier folder at `url` is deleted first, and readers must wait until this returns."""
    import fsspec

    fs, remote = fsspec.core.url_to_fs(url)
    with tempfile.TemporaryDirectory(prefix="neurec-prepare-") as tmp:
        result = prepare_out_of_core(cfg, Path(tmp) / "prepared", settings, runner, **kwargs)
        if fs.exists(remote):
            fs.rm(remote, recursive=True)
        # Trailing slashes: copy the folder's contents into `remote`, not the folder into it.
        fs.put(f"{result.root}/", remote.rstrip("/") + "/", recursive=True)
    return result


def fetch_prepared(url: str, local: Path) -> Path:
    """Download a prepared folder from `url` into the local folder `local`, swapped in complete."""
    import fsspec

    fs, remote = fsspec.core.url_to_fs(url)
    local = Path(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{local.name}.tmp-", dir=local.parent))
    try:
        fs.get(remote.rstrip("/") + "/", f"{tmp}/", recursive=True)
        swap_in_dir(tmp, local)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return local
