"""Encode one partition's events into shards, a chunk of whole customers at a time.

Everything after the whole-table steps depends on one customer's own events only (purchase decisions, the
history window, the whole-history summary, the fold), so a chunk that never splits a customer gives the same rows
as the in-memory path, and `ShardWriter` cuts them into the same shards. `encode_partition` takes only
plain values (paths and a dict), so a distributed engine can ship it to its workers (neurec.data.outofcore.spark).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neurec.data.examples import SHARD_ROWS, ShardWriter, encode_rows
from neurec.data.prepare import PERIODS
from neurec.data.split import find_next_targets, find_targets, user_starts
from neurec.data.validate import sessionize
from neurec.schema import EVENT_TYPE, N_RESERVED_IDS, SESSION_ID, USER_ID

TARGET_COLUMNS = ("position", "item", "ts", "purchase_ts", "user", "target")


@dataclass(frozen=True)
class EncodePlan:
    """What every partition is encoded with: plain values, so the plan travels as JSON."""

    valid_start: float
    test_start: float
    target: str  # purchase | next
    max_len: int
    summary_size: int
    has_session: bool
    session_gap_minutes: float
    chunk_events: int
    shard_rows: int = SHARD_ROWS

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EncodePlan":
        return cls(**json.loads(text))


def customer_chunks(path: Path, chunk_events: int) -> Iterator[pd.DataFrame]:
    """The partition's sorted events in chunks of about `chunk_events` that end at a customer's last event."""
    carry: pd.DataFrame | None = None
    # Not pre-buffered: pyarrow keeps pre-buffered reads until the file is closed, which grows with the file.
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_events):
        frame = batch.to_pandas()
        if carry is not None and len(carry):
            frame = pd.concat([carry, frame], ignore_index=True)
        users = frame[USER_ID].to_numpy()
        cut = int(np.searchsorted(users, users[-1], side="left"))  # where the last (maybe unfinished) customer starts
        if cut == 0:  # one customer so far: read on, never split a customer
            carry = frame
            continue
        carry = frame.iloc[cut:].reset_index(drop=True)
        yield frame.iloc[:cut].reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry


def encode_partition(events_path: str, out_root: str, plan_json: str) -> dict:
    """Shards of one partition under out_root/{train,valid,test}, decisions under out_root/targets/<period>.parquet;
    returns the decision counts per period and the unseen test targets."""
    plan = EncodePlan.from_json(plan_json)
    out = Path(out_root)
    writers = {p: ShardWriter(out / p, plan.max_len, plan.summary_size, plan.shard_rows) for p in PERIODS}
    (out / "targets").mkdir(parents=True, exist_ok=True)
    tables: dict[str, pq.ParquetWriter | None] = dict.fromkeys(PERIODS)
    counts = dict.fromkeys(PERIODS, 0)
    unseen = offset = 0
    try:
        for chunk in customer_chunks(Path(events_path), plan.chunk_events):
            for period, arrays, rows in _encode_chunk(chunk, offset, plan):
                writers[period].add(arrays)
                counts[period] += len(rows)
                if period == "test":
                    unseen += int((arrays["target"] < N_RESERVED_IDS).sum())
                table = pa.Table.from_pandas(rows, preserve_index=False)
                if tables[period] is None:
                    tables[period] = pq.ParquetWriter(out / "targets" / f"{period}.parquet", table.schema)
                tables[period].write_table(table)
            offset += len(chunk)
        for period in PERIODS:
            if counts[period] == 0:  # an empty period still gets its (empty) shard, as in memory
                writers[period].add(_empty_arrays(plan))
            writers[period].close()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        for t in tables.values():
            if t is not None:
                t.close()
    return {"counts": counts, "test_unseen": unseen}


def _encode_chunk(chunk: pd.DataFrame, offset: int, plan: EncodePlan):
    """(period, shard arrays, decision rows) for each period with decisions in this chunk of whole customers."""
    if not plan.has_session:  # session numbers only group one customer's events: any numbering per chunk will do
        chunk = chunk.assign(**{SESSION_ID: sessionize(chunk, plan.session_gap_minutes)})
    targets = find_targets(chunk) if plan.target == "purchase" else find_next_targets(chunk)
    if len(targets) == 0:
        return
    item_idx = chunk["item_idx"].to_numpy(np.int64)
    types, ts, starts = chunk[EVENT_TYPE].to_numpy(), chunk["ts"].to_numpy(), user_starts(chunk)
    period = np.searchsorted([plan.valid_start, plan.test_start], targets.ts, side="right")
    for p, name in enumerate(PERIODS):
        part = targets.select(period == p)
        target = item_idx[part.position]
        if name == "train":  # as in memory: a decision on an item first seen after the cut teaches nothing
            keep = target >= N_RESERVED_IDS
            part, target = part.select(keep), target[keep]
        if len(part) == 0:
            continue
        arrays = encode_rows(item_idx, types, ts, starts, part.position, target, part.user, plan.max_len, plan.summary_size)
        rows = pd.DataFrame({"position": part.position + offset, "item": part.item.astype(str), "ts": part.ts,
                             "purchase_ts": part.purchase_ts, "user": part.user.astype(str), "target": target})
        yield name, arrays, rows


def _empty_arrays(plan: EncodePlan) -> dict[str, np.ndarray]:
    none = np.zeros(0, dtype=np.int64)
    return encode_rows(none, none, np.zeros(0), none, none, none, np.zeros(0, dtype=object), plan.max_len, plan.summary_size)
