"""Encoding the partitions on Spark (local mode) writes the same files, byte for byte, as encoding them here."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.outofcore.run import prepare_out_of_core, read_targets
from neurec.data.outofcore.settings import OutOfCoreSettings
from neurec.data.outofcore.spark import local_session, run_on_spark
from neurec.data.outofcore.stored import fetch_prepared, prepare_to_storage
from neurec.data.simulate import SimulatorConfig, simulate

SETTINGS = OutOfCoreSettings(partitions=3, chunk_events=2000)  # ~13k events: several chunks per partition
SHARD_ROWS = 64  # several shards per period, so shard cutting is compared too
PERIODS = ("train", "valid", "test")
# pyspark warns on import about pandas 3; only RDDs of plain tuples are used here, no pandas conversion.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> DataConfig:
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    simulate(SimulatorConfig(n_customers=300, seed=3)).events.to_parquet(path, index=False)
    return DataConfig(source="files", events_path=str(path))


@pytest.fixture(scope="module")
def spark():
    """One local session for the module: starting the JVM costs about 5 s (2 cores), the encoding well under 1 s."""
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (pip install 'neurec[distributed]')")
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH: Spark needs a JVM (Java 17 or newer)")
    t0 = time.perf_counter()
    session = local_session()
    print(f"\nlocal Spark session started in {time.perf_counter() - t0:.1f} s")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def local_out(cfg, tmp_path_factory) -> Path:
    return prepare_out_of_core(cfg, tmp_path_factory.mktemp("local") / "prepared", SETTINGS, shard_rows=SHARD_ROWS).root


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every file of every partition (shards, meta.json, decision tables), by path under `root`."""
    files = sorted(p for p in root.glob("part-*/**/*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _decisions(roots: list[Path], period: str) -> pd.DataFrame:
    # `position` counts events within a partition's file, so it differs between partitionings; the rest must not.
    frame = pd.concat([read_targets(r, period) for r in roots], ignore_index=True).drop(columns="position")
    return frame.sort_values(["user", "ts", "item", "target"]).reset_index(drop=True)


def test_spark_writes_the_same_files_as_the_local_runner(cfg, spark, local_out, tmp_path):
    # No session passed: run_on_spark must find the fixture's and leave it running.
    result = prepare_out_of_core(cfg, tmp_path / "prepared", SETTINGS, runner=run_on_spark, shard_rows=SHARD_ROWS)
    assert spark.sparkContext.parallelize([0]).count() == 1  # still running
    local, distributed = _digests(local_out), _digests(result.root)
    assert sum(k.endswith("meta.json") for k in local) == SETTINGS.partitions * len(PERIODS)
    assert sum("/00001/" in k for k in local)  # some period has more than one shard
    assert distributed == local


def test_partitions_hold_the_same_decisions_as_one_partition(cfg, spark, tmp_path):
    parts = prepare_out_of_core(cfg, tmp_path / "parts", SETTINGS, runner=lambda t: run_on_spark(t, spark))
    one = prepare_out_of_core(cfg, tmp_path / "one", replace(SETTINGS, partitions=1))
    assert parts.stats == one.stats
    for period in PERIODS:
        union = _decisions([parts.root / f"part-{p:05d}" for p in range(SETTINGS.partitions)], period)
        pd.testing.assert_frame_equal(union, _decisions([one.root], period))


def test_upload_to_fsspec_storage_and_back(cfg, spark, local_out, tmp_path):
    import fsspec

    url = "memory://neurec-test/prepared"
    fs = fsspec.filesystem("memory")
    try:
        prepare_to_storage(cfg, url, SETTINGS, runner=run_on_spark, shard_rows=SHARD_ROWS)
        prepare_to_storage(cfg, url, SETTINGS, runner=run_on_spark, shard_rows=SHARD_ROWS)  # replaces, no nesting
        assert fs.exists("/neurec-test/prepared/prepared.json")
        assert not fs.exists("/neurec-test/prepared/prepared")
        back = fetch_prepared(url, tmp_path / "fetched")
    finally:
        fs.rm("/neurec-test", recursive=True)
    assert _digests(back) == _digests(local_out)
    assert (back / "vocab.json").read_bytes() == (local_out / "vocab.json").read_bytes()


def test_the_command_line_encodes_on_spark(cfg, spark, tmp_path, capsys):
    from neurec.cli.data import main

    args = [str(cfg.events_path), "--json", "data.out_of_core.partitions=3", "data.out_of_core.chunk_events=2000"]
    assert main(["prepare", *args, "--out", str(tmp_path / "spark"), "--engine", "spark"]) == 0
    assert main(["prepare", *args, "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    assert _digests(tmp_path / "spark") == _digests(tmp_path / "local")


def test_without_pyspark_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # an import of it now fails as if not installed
    with pytest.raises(DataError, match=r"neurec\[distributed\]"):
        run_on_spark([("events.parquet", "out", "{}")])
