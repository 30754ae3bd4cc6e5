"""Encode the partitions on Spark: a `Runner` for `prepare_out_of_core`.

    from neurec.data.outofcore.spark import run_on_spark
    prepare_out_of_core(data_cfg, Path("/shared/prepared"), OutOfCoreSettings(partitions=64), runner=run_on_spark)

Spark only schedules: each Spark task runs `encode_partition` for one of our partitions, in a Python worker, and
writes that partition's shards itself. Tasks hold plain paths (the sorted events to read, the folder to write),
so every executor must see the driver's disk there: true in local mode; on a cluster, put `out_dir` (and
`settings.temp_dir`, where set) on a mount every node shares, or prepare on one machine and upload the result
with `neurec.data.outofcore.stored.prepare_to_storage`.
Needs `pip install 'neurec[distributed]'` (pyspark) and Java. Spark Connect sessions have no RDDs: use a classic one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from neurec.data.errors import DataError
from neurec.data.outofcore.encode import encode_partition


def run_on_spark(tasks: list[tuple[str, str, str]], spark=None) -> list[dict]:
    """`encode_partition(*task)` for every task, one Spark task each; the results in task order.

    `spark`: a SparkSession to use (left running); None = the active or default one, else a local one that is built
    here and stopped at the end."""
    try:
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise DataError("run_on_spark needs pyspark: pip install 'neurec[distributed]' (and Java 17 or newer)") from e
    if not tasks:
        return []
    # Absolute paths: a worker's working folder is not the driver's.
    tasks = [(str(Path(events).resolve()), str(Path(out).resolve()), plan) for events, out, plan in tasks]
    own = None
    if spark is None:
        try:
            spark = SparkSession.active()  # this thread's session, else the process's default one
        except PySparkRuntimeError:  # none yet
            own = spark = local_session()
    try:
        sc = spark.sparkContext
        # One Spark partition per task, so each runs as its own Spark task; collect keeps the partitions' order.
        # Speculative execution must stay off (Spark's default): two copies of a task would write the same folder.
        return sc.parallelize(tasks, len(tasks)).map(_encode).collect()
    finally:
        if own is not None:
            own.stop()


def local_session(cores: int = 2):
    """A SparkSession in this process's JVM with `cores` executor threads, for one machine and for tests."""
    from pyspark.sql import SparkSession

    # Spark starts its Python workers with PYSPARK_PYTHON, by default whatever `python3` is on PATH, which need
    # not have neurec, pandas or the same versions: use this interpreter. Spark reads it once, here at the start.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Everything runs in this machine's JVM: bind to loopback instead of looking up the host's outside address.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.appName("neurec-prepare")
        .master(f"local[{cores}]")  # the work is in the Python workers, one per core
        .config("spark.driver.memory", "512m")  # the JVM only hands out a few small tuples
        .config("spark.ui.enabled", "false")  # no web server: faster start, no port taken
        .config("spark.log.level", "ERROR")  # Spark's INFO and WARN lines would bury ours
        .config("spark.ui.showConsoleProgress", "false")  # nor a progress bar drawn over the log
        .getOrCreate()
    )


def _encode(task: tuple[str, str, str]) -> dict:
    # A module-level function, so the workers import it by name instead of unpickling a closure.
    return encode_partition(*task)
