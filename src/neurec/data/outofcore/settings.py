"""`data.out_of_core`: how much memory out-of-core preparation may use, and how it splits the work."""

from __future__ import annotations

from dataclasses import dataclass, fields

from neurec.data.errors import DataError


@dataclass(frozen=True)
class OutOfCoreSettings:
    memory_limit_mb: int = 1536  # DuckDB's buffer pool: beyond it, sorts and joins spill to temp_dir
    chunk_events: int = 1_000_000  # events read, cleaned and encoded at a time (whole customers when encoding)
    partitions: int = 1  # customers hashed into this many partitions, each encoded on its own; 1 = one shard folder
    threads: int = 2  # DuckDB threads
    temp_dir: str | None = None  # where DuckDB spills; None = inside the output's staging folder

    @classmethod
    def from_config(cls, values: dict | None) -> "OutOfCoreSettings":
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"data.out_of_core: unknown key(s) {unknown}; use {sorted(known)}")
        out = cls(**values)
        for name in ("memory_limit_mb", "chunk_events", "partitions", "threads"):
            if not isinstance(getattr(out, name), int) or getattr(out, name) < 1:
                raise DataError(f"data.out_of_core.{name}={getattr(out, name)!r}: must be a positive whole number")
        if out.memory_limit_mb < 256:
            raise DataError(f"data.out_of_core.memory_limit_mb={out.memory_limit_mb}: DuckDB needs at least 256 MB")
        return out
