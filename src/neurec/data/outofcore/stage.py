"""The whole-table steps of preparation, in DuckDB on disk: what the in-memory path does with pandas after its
row-by-row checks (neurec.data.validate), with the same policies and counts, and memory capped by
`data.out_of_core.memory_limit_mb` (DuckDB spills sorts and joins to disk beyond it).

Cleaned chunks arrive as Parquet parts (`Stager`); `finish` then drops implausible times, bad prices, duplicates
and customers below the minimum, fits the split and the vocabulary on the kept events, and writes each
partition's events sorted by customer, time and file row, with model ids, for the encoder.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neurec.data.catalog import add_uncatalogued, uncatalogued
from neurec.data.config import DataConfig
from neurec.data.errors import DataError, examples
from neurec.data.outofcore.quantile import linear_quantile
from neurec.data.outofcore.settings import OutOfCoreSettings
from neurec.data.plausible import bounds_text, bulk_limits, bulk_text, timestamp_bounds, unit_hint
from neurec.data.split import Boundaries, boundaries_from_dates, time_boundaries
from neurec.data.validate import (
    Cleaner,
    CleaningReport,
    canonical_columns,
    clean_rows,
    duplicate_key,
    refusal,
    resolve_policies,
    sessions_note,
    too_many,
    too_many_dropped,
)
from neurec.schema import CATALOG_OPTIONAL, EVENT_TYPE, ITEM_ID, N_RESERVED_IDS, OOV_ID, PRICE, SESSION_ID, USER_ID
from neurec.vocab import ItemVocab

log = logging.getLogger(__name__)
PART = "part"  # the customer's partition
ROW = "_row"  # the event's data row in the file: the tie-break of the sort, as in the in-memory path
_PRICE_BAD, _PRICE_EMPTY = "_price_bad", "_price_empty"


def hashed(uniques, salt: bytes, n: int) -> np.ndarray:
    """Each customer's share of n (a partition, a bucket): a hash of the id's text, the same on every machine and
    in every run. Salted apart, so that partitions, buckets and the out-of-fold neighbour folds
    (neurec.cooccurrence.customer_folds) cut across each other instead of lining up."""
    return np.fromiter((zlib.crc32(salt + str(u).encode()) % n for u in uniques), dtype=np.int32, count=len(uniques))


BRACKETS = (0.0005, 0.005, 0.05)  # half-widths, in quantile, of the brackets `_order_stats` tries in turn
BUCKET = "_bucket"  # the customer's bucket: the unit of the whole-table steps that group by customer
BUCKET_EVENTS_PER_MB = 16_000  # events one bucket may hold per MB of memory_limit_mb (measured, see `buckets_for`)


def buckets_for(events: int, memory_limit_mb: int) -> int:
    """Buckets enough that each one's grouping steps (duplicates, customers below the minimum) fit the memory cap.
    DuckDB's hash aggregate over 50 M events fit in 1.5 GB and over 200 M did not; 16,000 events per MB keeps a
    bucket at a quarter of what failed."""
    return int(min(1024, max(1, -(-events // (memory_limit_mb * BUCKET_EVENTS_PER_MB)))))


class Stager:
    """Cleans raw chunks row by row (`clean_rows`) and writes them as Parquet parts for the database."""

    def __init__(self, folder: Path, cfg: DataConfig, source: str, report: CleaningReport, partitions: int, buckets: int = 1):
        self.folder, self.cfg, self.source, self.partitions, self.buckets = Path(folder), cfg, source, partitions, buckets
        self.folder.mkdir(parents=True, exist_ok=True)
        # total None: no chunk knows the file's size, so the max-bad-fraction guard runs once at the end.
        self.clean = Cleaner(source, resolve_policies(cfg.policies), cfg.max_bad_fraction, None, report)
        self.rows_read = 0
        self.parts = 0

    def add(self, raw: pd.DataFrame) -> None:
        self.rows_read += len(raw)
        frame, ts = clean_rows(raw, self.source, self.cfg, self.clean)
        if frame.empty:
            return
        out = {c: frame[c].astype("string") for c in (USER_ID, SESSION_ID, ITEM_ID) if c in frame.columns}
        out[EVENT_TYPE] = frame[EVENT_TYPE].astype("int8")
        out["ts"] = ts.astype("float64")
        out[ROW] = frame.index.to_numpy(dtype=np.int64)
        codes, users = pd.factorize(frame[USER_ID])
        out[PART] = hashed(users, b"partition/", self.partitions)[codes]
        if PRICE in frame.columns:
            price = pd.to_numeric(frame[PRICE], errors="coerce").astype("float64")
            good = np.isfinite(price) & (price > 0)
            out[PRICE] = price.where(good)
            out[_PRICE_BAD] = (frame[PRICE].notna() & ~good).astype(bool)
            out[_PRICE_EMPTY] = frame[PRICE].isna().astype(bool)
        for c in canonical_columns(frame.columns):
            if c in CATALOG_OPTIONAL and c not in out:  # category, brand, ...: text, one type across chunks
                out[c] = frame[c].astype("string")
        bucket = hashed(users, b"bucket/", self.buckets)[codes]
        out[BUCKET] = bucket.astype(np.int16)
        table = pa.Table.from_pandas(pd.DataFrame(out), preserve_index=False)
        for b in np.unique(bucket):  # one file per bucket and chunk: a bucket is read on its own later
            folder = self.folder / f"b{int(b):04d}"
            folder.mkdir(exist_ok=True)
            pq.write_table(table.filter(pa.array(bucket == b)), folder / f"{self.parts:06d}.parquet")
        self.parts += 1


@dataclass(frozen=True)
class Staged:
    """What the encoder and the run's summary need from the whole-table steps."""

    boundaries: Boundaries
    vocab: ItemVocab
    catalog: pd.DataFrame
    partition_files: tuple[Path, ...]
    has_session: bool
    events: int
    users: int
    items: int
    events_by_type: dict[int, int]


class Database:
    """One DuckDB connection on a file in the staging folder, with the memory cap."""

    def __init__(self, folder: Path, settings: OutOfCoreSettings):
        spill = Path(settings.temp_dir) if settings.temp_dir else folder / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(folder / "stage.duckdb"))
        self.con.execute(f"SET memory_limit = '{int(settings.memory_limit_mb)}MB'")
        self.con.execute(f"SET threads = {int(settings.threads)}")
        self.con.execute(f"SET temp_directory = '{_quoted(spill)}'")
        self.con.execute("SET preserve_insertion_order = true")  # COPY ... ORDER BY must write in that order

    def scalar(self, sql: str):
        return self.con.execute(sql).fetchone()[0]

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def close(self) -> None:
        self.con.close()


def _quoted(path: Path | str) -> str:
    return str(path).replace("'", "''")


class Finisher:
    """The whole-table steps over the staged parts, in the order the in-memory path takes them."""

    def __init__(self, db: Database, stager: Stager, cfg: DataConfig, report: CleaningReport):
        self.db, self.cfg, self.report, self.source = db, cfg, report, stager.source
        self.policies = resolve_policies(cfg.policies)
        self.total = stager.rows_read
        if stager.parts == 0:  # every row failed a check: name the one over its share first, as in memory
            too_many_dropped(report, self.total, cfg.max_bad_fraction, self.source)
            raise DataError(f"{self.source}: no events left after cleaning ({report.metrics()})")
        glob = _quoted(stager.folder / "*" / "*.parquet")
        db.con.execute(f"CREATE VIEW staged AS SELECT * FROM read_parquet('{glob}', union_by_name = true)")
        self.columns = [r[0] for r in db.con.execute("DESCRIBE staged").fetchall()]
        self.buckets = [f"read_parquet('{_quoted(b / '*.parquet')}', union_by_name = true)"
                        for b in sorted(stager.folder.iterdir()) if b.is_dir()]

    def _apply(self, problem: str, n: int, where: str, relation: str, what: str, hint: str = "") -> bool:
        """A problem the database found in `n` rows (`where` over `relation`), under its policy, as
        `Cleaner.apply` does in memory. True when the rows go (drop) or are repaired (fix)."""
        action = self.policies[problem]
        if n == 0 or action == "keep":
            return False
        hint = f" {hint}" if hint else ""
        if action == "error":
            rows = self.db.frame(f"SELECT * EXCLUDE ({PART}, {BUCKET}) FROM {relation} AS r WHERE {where} ORDER BY {ROW} LIMIT 3")
            shown = rows.set_index(ROW).drop(columns=[c for c in (_PRICE_BAD, _PRICE_EMPTY) if c in rows.columns])
            message = f"{self.source}: {n} row(s) with {what}: {examples(shown, pd.Series(True, index=shown.index))}"
            raise DataError(refusal(message, problem, hint))
        counts = self.report.fixed if action == "fix" else self.report.dropped
        counts[problem] = counts.get(problem, 0) + n
        log.warning("%s: %d row(s) with %s (%s: %s)", self.source, n, what, problem, "fixed" if action == "fix" else "dropped")
        return True

    def _order_stats(self, relation: str, where: str, n: int, ks: list[int]) -> dict[int, float]:
        """The k-th smallest ts (0-based) for each k, exactly, without sorting every row: an approximate quantile
        brackets each k, counting proves the bracket holds it, and only the bracketed values are fetched and
        sorted. (A window over every row, the direct way, held about 3 GB beyond the memory cap at 200 M events.)"""
        out: dict[int, float] = {}
        rows = f"{relation} WHERE {where}"  # n of them
        for k in sorted(set(ks)):
            if k in out:
                continue
            q = (k + 0.5) / n
            for eps in BRACKETS:
                lo, hi = self.db.con.execute(f"SELECT approx_quantile(ts, {max(q - eps, 0.0)!r}), "
                                             f"approx_quantile(ts, {min(q + eps, 1.0)!r}) FROM {rows}").fetchone()
                below, inside = self.db.con.execute(f"SELECT count(*) FILTER (WHERE ts < {lo!r}), count(*) FILTER "
                                                    f"(WHERE ts >= {lo!r} AND ts <= {hi!r}) FROM {rows}").fetchone()
                if below <= k < below + inside:
                    values = np.sort(self.db.con.execute(f"SELECT ts FROM {rows} AND ts >= {lo!r} AND ts <= {hi!r}")
                                     .fetchnumpy()["ts"])
                    out.update({j: float(values[j - below]) for j in ks if below <= j < below + inside})
                    break
            else:  # the estimates missed three times: number every row (exact, heavier)
                wanted = ", ".join(str(int(j)) for j in ks)
                out.update({int(j): float(t) for j, t in self.db.con.execute(
                    f"SELECT k, ts FROM (SELECT ts, row_number() OVER (ORDER BY ts) - 1 AS k FROM {rows}) "
                    f"WHERE k IN ({wanted})").fetchall()})
        return out

    def _quantiles(self, relation: str, where: str, n: int, qs: list[float]) -> list[float]:
        """np.quantile of ts over the rows, exactly (two order statistics per quantile, one sort)."""
        virtual = [np.float64(n - 1) * np.float64(q) for q in qs]
        ks = [k for v in virtual for k in (min(int(np.floor(v)), n - 1), min(int(np.floor(v)) + 1, n - 1))]
        stats = self._order_stats(relation, where, n, ks)
        return [linear_quantile(n, q, stats.__getitem__) for q in qs]

    def implausible(self) -> str:
        """The condition of implausible times (data.min/max_timestamp, or far from the bulk), counted and applied."""
        lo, hi = timestamp_bounds(self.cfg)
        outside = f"(ts < {lo!r} OR ts > {hi!r})" if np.isfinite(lo) else f"(ts > {hi!r})"
        bad, what = outside, bounds_text(lo, hi)
        factor = self.cfg.timestamp_outlier_factor
        inside = self.db.scalar(f"SELECT count(*) FROM staged WHERE NOT {outside}")
        if factor and inside >= 2:
            q1, q99 = self._quantiles("staged", f"NOT {outside}", inside, [0.01, 0.99])
            low, high = bulk_limits(q1, q99, factor)
            far = f"(NOT {outside} AND (ts < {low!r} OR ts > {high!r}))"
            if self.db.scalar(f"SELECT count(*) FROM staged WHERE {far}"):
                bad, what = f"({outside} OR {far})", what + bulk_text(q1, q99, factor)
        n = self.db.scalar(f"SELECT count(*) FROM staged WHERE {bad}")
        hint = unit_hint(self.db.scalar(f"SELECT median(ts) FROM staged WHERE {bad}"), self.cfg.timestamp_unit) if n else ""
        return bad if self._apply("implausible_timestamp", n, bad, "staged", f"an implausible timestamp ({what})", hint) else "false"

    def keep(self) -> None:
        """Table `kept`: the events the in-memory path keeps (`validate_events` after its row-by-row checks)."""
        implausible = self.implausible()
        rows = f"staged WHERE NOT {implausible}"
        drop_price, exclude = "false", ""
        if PRICE in self.columns:
            n_bad = self.db.scalar(f"SELECT count(*) FROM {rows} AND {_PRICE_BAD}")
            if self._apply("bad_price", n_bad, f"NOT {implausible} AND {_PRICE_BAD}", "staged",
                           f"a zero, negative, infinite or unparsable {PRICE}") and self.policies["bad_price"] == "drop":
                drop_price = _PRICE_BAD
            empty, left = self.db.con.execute(f"SELECT count(*) FILTER (WHERE {_PRICE_EMPTY}), count(*) FROM {rows} "
                                              f"AND NOT {drop_price}").fetchone()
            if empty:  # not a problem (a price may be unlogged), but what the price rules and features will miss
                self.report.notes.append(f"event prices unknown (empty or NaN) in {empty:,} of {left:,} events")
            exclude = f" EXCLUDE ({_PRICE_BAD}, {_PRICE_EMPTY})"
        key = ", ".join(duplicate_key(self.columns))
        keep_rows = f"NOT {implausible} AND NOT {drop_price}"
        first = f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ROW}) = 1"
        # Duplicates share their customer, so they are found bucket by bucket: a hash aggregate over every event at
        # once outgrows the memory cap (200 M events did at 1.5 GB). Counted first (cheap), numbered only if any.
        n_dups = [self.db.scalar(f"SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM {b} WHERE {keep_rows} "
                                 f"GROUP BY {key} HAVING c > 1)") for b in self.buckets]
        with_dups = [b for b, n in zip(self.buckets, n_dups) if n]
        later = (f"(SELECT *{exclude} FROM {with_dups[0]} WHERE {keep_rows} "
                 f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ROW}) > 1)") if with_dups else "staged"
        dedupe = self._apply("duplicate", int(sum(n_dups)), "true", later, "an exact duplicate of an earlier event")
        if SESSION_ID not in self.columns:
            self.report.notes.append(sessions_note(self.cfg))
        self.db.con.execute(f"CREATE TABLE kept AS SELECT *{exclude} FROM staged LIMIT 0")
        minimum, n_few = int(self.cfg.min_user_events), 0
        for b in self.buckets:  # customers below the minimum are bucket-local too
            rows_b = f"(SELECT * FROM {b} WHERE {keep_rows} {first if dedupe else ''})"
            few = "false"
            if minimum > 1:
                few = f"{USER_ID} IN (SELECT {USER_ID} FROM {rows_b} GROUP BY {USER_ID} HAVING count(*) < {minimum})"
                n_few += self.db.scalar(f"SELECT count(*) FROM {rows_b} WHERE {few}")
            self.db.con.execute(f"INSERT INTO kept BY NAME SELECT *{exclude} FROM {rows_b} WHERE NOT {few}")
        if n_few:
            self.report.dropped["user_below_min_events"] = int(n_few)
        too_many_dropped(self.report, self.total, self.cfg.max_bad_fraction, self.source)
        if self.db.scalar("SELECT count(*) FROM kept") == 0:
            raise DataError(f"{self.source}: no events left after cleaning ({self.report.metrics()})")

    def boundaries(self) -> Boundaries:
        """The split, as `prepare.split` computes it from the kept events' times."""
        n, start, end = self.db.con.execute("SELECT count(*), min(ts), max(ts) FROM kept").fetchone()
        cfg = self.cfg
        if cfg.valid_start or cfg.test_start:
            if not (cfg.valid_start and cfg.test_start):
                raise DataError("give both data.valid_start and data.test_start, or neither (then the fractions apply)")
            return boundaries_from_dates(np.array([start, end]), cfg.valid_start, cfg.test_start)
        if cfg.split_by != "events":  # the fractions of the time range need only its ends
            return time_boundaries(np.array([start, end]), cfg.valid_frac, cfg.test_frac, cfg.split_by)
        time_boundaries(np.array([start, end]), cfg.valid_frac, cfg.test_frac, "time")  # its checks, same messages
        qs = [1.0 - cfg.valid_frac - cfg.test_frac, 1.0 - cfg.test_frac]
        valid_start, test_start = self._quantiles("kept", "true", n, qs)
        return Boundaries(float(start), float(valid_start), float(test_start), float(end))

    def vocabulary(self, bounds: Boundaries, catalog_only: np.ndarray | tuple = ()) -> ItemVocab:
        counts = self.db.con.execute(f"SELECT {ITEM_ID}, count(*) FROM kept WHERE ts < {bounds.valid_start!r} "
                                     f"GROUP BY {ITEM_ID}").fetchall()
        return ItemVocab.from_counts(dict(counts), self.cfg.min_item_count, catalog_only)

    def derived_catalog(self) -> pd.DataFrame:
        """`prepare.catalog_from_events`: each item's latest logged price, category and brand."""
        cols = [c for c in (PRICE, "category", "brand") if c in self.columns]
        # arg_max keeps one value per item; an ordered aggregate (last(... ORDER BY ...)) would buffer every event.
        latest = "".join(f", arg_max({c}, (ts, {ROW})) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in cols)
        out = self.db.frame(f"SELECT {ITEM_ID}{latest} FROM kept GROUP BY {ITEM_ID} ORDER BY {ITEM_ID}")
        return out.astype({ITEM_ID: "string"})

    def cover(self, catalog: pd.DataFrame) -> pd.DataFrame:
        """A given catalogue made to cover the kept events, under the uncatalogued_item policy (`cover_events`)."""
        items = pd.Index(self.db.frame(f"SELECT DISTINCT {ITEM_ID} FROM kept ORDER BY {ITEM_ID}")[ITEM_ID].astype(str))
        policy, missing = uncatalogued(items, catalog, self.source, self.cfg, self.report)
        if len(missing) == 0:
            return catalog
        if policy == "fix":
            return add_uncatalogued(catalog, self.derived_catalog(), missing)
        self.db.con.register("missing_ids", pa.table({ITEM_ID: pa.array([str(i) for i in missing], pa.string())}))
        gone = f"{ITEM_ID} IN (SELECT {ITEM_ID} FROM missing_ids)"
        n, total = self.db.con.execute(f"SELECT count(*) FILTER (WHERE {gone}), count(*) FROM kept").fetchone()
        if n > self.cfg.max_bad_fraction * total:
            raise DataError(too_many(f"{self.source}: {n:,} row(s) with an item not in the catalog", n, total,
                                     self.cfg.max_bad_fraction))
        self.report.dropped["uncatalogued_item"] = self.report.dropped.get("uncatalogued_item", 0) + int(n)
        self.db.con.execute(f"DELETE FROM kept WHERE {gone}")
        self.db.con.unregister("missing_ids")
        return catalog

    def write_partitions(self, folder: Path, vocab: ItemVocab, partitions: int) -> tuple[Path, ...]:
        """Each partition's events, sorted by customer, time and file row, with model ids: the encoder's input."""
        folder.mkdir(parents=True, exist_ok=True)
        ids = pa.table({ITEM_ID: pa.array(vocab.items, pa.string()),
                        "item_idx": pa.array(np.arange(len(vocab.items), dtype=np.int32) + N_RESERVED_IDS)})
        self.db.con.register("vocab_ids", ids)
        session = f"k.{SESSION_ID}" if SESSION_ID in self.columns else f"NULL::VARCHAR AS {SESSION_ID}"
        files = []
        for p in range(partitions):
            path = folder / f"part-{p:05d}.parquet"
            self.db.con.execute(
                f"COPY (SELECT k.{USER_ID}, {session}, k.{ITEM_ID}, coalesce(v.item_idx, {OOV_ID})::INTEGER AS item_idx, "
                f"k.{EVENT_TYPE}, k.ts FROM kept k LEFT JOIN vocab_ids v ON k.{ITEM_ID} = v.{ITEM_ID} "
                f"WHERE k.{PART} = {p} ORDER BY k.{USER_ID}, k.ts, k.{ROW}) "
                f"TO '{_quoted(path)}' (FORMAT parquet, ROW_GROUP_SIZE 122880)")
            files.append(path)
        self.db.con.unregister("vocab_ids")
        return tuple(files)

    def shape(self) -> tuple[int, int, int, dict[int, int]]:
        """Events, customers, items, and events by type: the figures `prepare.data_stats` reports."""
        n, items = self.db.con.execute(f"SELECT count(*), count(DISTINCT {ITEM_ID}) FROM kept").fetchone()
        last = int(self.db.scalar(f"SELECT max({BUCKET}) FROM kept"))
        # Bucket by bucket: one distinct count over every customer holds them all in memory at once.
        users = sum(self.db.scalar(f"SELECT count(DISTINCT {USER_ID}) FROM kept WHERE {BUCKET} = {b}") for b in range(last + 1))
        by_type = dict(self.db.con.execute(f"SELECT {EVENT_TYPE}, count(*) FROM kept GROUP BY {EVENT_TYPE}").fetchall())
        return int(n), int(users), int(items), {int(k): int(v) for k, v in by_type.items()}
