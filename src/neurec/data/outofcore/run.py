"""Out-of-core preparation, end to end: clean in chunks → whole-table steps in DuckDB → encode per partition.

    from neurec.data.outofcore.run import prepare_out_of_core
    result = prepare_out_of_core(data_cfg, Path("outputs/prepared"))

With one partition (the default) the output's train/, valid/ and test/ folders hold the same shards, byte for
byte, as the in-memory path's (`neurec.data.prepare.prepare`). With more, each partition has its own
part-NNNNN/{train,valid,test} folders: the same decisions, grouped by customer hash, so that each can be encoded
on its own, here one after another or on a distributed engine (`runner`, e.g. `spark.run_on_spark`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neurec.data.catalog import validate_catalog
from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.outofcore.encode import PERIODS, EncodePlan, encode_partition
from neurec.data.outofcore.read import estimated_rows, raw_chunks
from neurec.data.outofcore.settings import OutOfCoreSettings
from neurec.data.outofcore.stage import Database, Finisher, Stager, buckets_for
from neurec.data.prepare import check_decisions, read_catalog_file
from neurec.data.split import Boundaries
from neurec.data.validate import CleaningReport
from neurec.fsutil import swap_in_dir
from neurec.schema import ITEM_ID, EventType
from neurec.vocab import ItemVocab

log = logging.getLogger(__name__)
PREPARED = "prepared.json"

# A runner encodes every partition: [(events file, output folder, plan as JSON)] -> one result dict each.
Runner = Callable[[list[tuple[str, str, str]]], list[dict]]


def run_locally(tasks: list[tuple[str, str, str]]) -> list[dict]:
    """One partition after another, in this process: memory is one chunk of customers at a time."""
    return [encode_partition(*task) for task in tasks]


@dataclass(frozen=True)
class OutOfCoreResult:
    root: Path
    boundaries: Boundaries
    vocab: ItemVocab
    report: CleaningReport
    stats: dict
    partitions: int
    seconds: dict = field(default_factory=dict)  # per stage

    def shard_roots(self, period: str) -> list[Path]:
        """The shard folders of a period, in partition order."""
        return [partition_folder(self.root, p, self.partitions) / period for p in range(self.partitions)]


def partition_folder(root: Path, p: int, partitions: int) -> Path:
    """Partition p's folder under a prepared root (Path or PurePosixPath); the root itself when there is one."""
    return root if partitions == 1 else root / f"part-{p:05d}"


def prepare_out_of_core(cfg: DataConfig, out_dir: Path, settings: OutOfCoreSettings | None = None,
                        runner: Runner | None = None, stage: Callable[[str], object] | None = None,
                        shard_rows: int | None = None) -> OutOfCoreResult:
    """Prepare `cfg`'s events file into `out_dir` (swapped in complete; an earlier one stays until then).

    `stage(name)`: a context manager around each stage (the benchmark times them and samples memory)."""
    settings = settings or OutOfCoreSettings.from_config(getattr(cfg, "out_of_core", None))
    stage = stage or (lambda name: nullcontext())
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    work = Path(tempfile.mkdtemp(prefix="neurec-ooc-", dir=settings.temp_dir)) if settings.temp_dir else tmp / ".work"
    seconds: dict[str, float] = {}
    try:
        report = CleaningReport()
        source = str(cfg.events_path)
        with _timed("clean", stage, seconds):
            buckets = buckets_for(estimated_rows(cfg), settings.memory_limit_mb)
            stager = Stager(work / "staged", cfg, source, report, settings.partitions, buckets)
            for chunk in raw_chunks(cfg, settings.chunk_events, report.dropped):
                stager.add(chunk)
        db = Database(work, settings)
        try:
            with _timed("sort", stage, seconds):
                fin = Finisher(db, stager, cfg, report)
                fin.keep()
                given: tuple | np.ndarray = ()
                if cfg.catalog_path:  # as `prepare.load`: a real catalogue's items get ids even unseen in training
                    catalog = validate_catalog(read_catalog_file(cfg, report), str(cfg.catalog_path), cfg, report)
                    given = catalog[ITEM_ID].to_numpy()
                    catalog = fin.cover(catalog)
                else:
                    catalog = fin.derived_catalog()
                bounds = fin.boundaries()
                vocab = fin.vocabulary(bounds, given)
                files = fin.write_partitions(work / "sorted", vocab, settings.partitions)
                n_events, n_users, n_items, by_type = fin.shape()
                has_session = "session_id" in fin.columns
        finally:
            db.close()
        shutil.rmtree(work / "staged", ignore_errors=True)
        plan = EncodePlan(bounds.valid_start, bounds.test_start, cfg.target, cfg.max_history, cfg.summary_size,
                          has_session, cfg.session_gap_minutes, settings.chunk_events,
                          **({"shard_rows": shard_rows} if shard_rows else {}))
        tasks = [(str(f), str(partition_folder(tmp, p, settings.partitions)), plan.to_json()) for p, f in enumerate(files)]
        with _timed("encode", stage, seconds):
            results = (runner or run_locally)(tasks)
        counts = {p: sum(r["counts"][p] for r in results) for p in PERIODS}
        for period in PERIODS:
            if counts[period] == 0:
                raise DataError(f"{source}: no {cfg.target} targets in the {period} period; check the data or the split settings")
        check_decisions(counts, cfg, source, report)
        stats = {"events": n_events, "users": n_users, "items": n_items, "vocab_items": len(vocab.items),
                 **{f"events_{e.label}": by_type.get(int(e), 0) for e in EventType if e is not EventType.PAD},
                 **{f"{p}_targets": counts[p] for p in PERIODS},
                 "test_targets_unseen_item": sum(r["test_unseen"] for r in results)}
        vocab.save(tmp / "vocab.json")
        catalog.to_parquet(tmp / "catalog.parquet", index=False)
        (tmp / PREPARED).write_text(json.dumps({
            "source": source, "partitions": settings.partitions, "boundaries": bounds.__dict__, "stats": stats,
            "dropped": report.dropped, "fixed": report.fixed, "notes": report.notes, "warnings": report.warnings,
            "plan": json.loads(plan.to_json()), "seconds": seconds}, indent=2))
        shutil.rmtree(tmp / ".work", ignore_errors=True)
        swap_in_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if settings.temp_dir:
            shutil.rmtree(work, ignore_errors=True)
    log.info("prepared %s out of core into %s: %s", source, out_dir, stats)
    return OutOfCoreResult(out_dir, bounds, vocab, report, stats, settings.partitions, seconds)


@contextmanager
def _timed(name: str, stage: Callable[[str], object], seconds: dict[str, float]):
    t0 = time.perf_counter()
    with stage(name):
        yield
    seconds[name] = time.perf_counter() - t0


def read_targets(root: Path, period: str) -> pd.DataFrame:
    """A prepared folder's decisions of one period (position, item, ts, purchase_ts, user, target), in shard order."""
    return pd.read_parquet(Path(root) / "targets" / f"{period}.parquet")
