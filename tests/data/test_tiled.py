"""Tiled event files: exact size, fresh customers per copy, and read back as the simulator's own events."""

from __future__ import annotations

import pandas as pd
import pytest

from neurec.data.simulate import SimulatorConfig, simulate
from neurec.data.tiled import EVENTS_PER_CUSTOMER, write_tiled_events

N, BLOCK = 30_000, 10_000


@pytest.fixture(scope="module")
def block() -> pd.DataFrame:
    """The one block `write_tiled_events` repeats, made here the same way."""
    return simulate(SimulatorConfig(n_customers=round(BLOCK / EVENTS_PER_CUSTOMER), seed=3)).events


def _read(path, fmt) -> pd.DataFrame:
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, parse_dates=["timestamp"])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tiled_file_is_exact_and_reads_back_like_the_simulator(tmp_path, block, fmt):
    path = tmp_path / f"events.{fmt}"
    info = write_tiled_events(N, path, fmt, seed=3, block_events=BLOCK)
    got = _read(path, fmt)
    assert info["rows"] == len(got) == N
    assert info["bytes"] == path.stat().st_size
    assert info["copies"] == -(-N // len(block))  # the last copy truncated

    # Same columns and dtypes as the simulator's events after the same round trip through pandas.
    plain = tmp_path / f"plain.{fmt}"
    block.to_parquet(plain, index=False) if fmt == "parquet" else block.to_csv(plain, index=False)
    want = _read(plain, fmt)
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()

    # Copy 0 is the block itself; every copy has its own customers and sessions, and the block's items and times.
    n = len(block)
    pd.testing.assert_frame_equal(got.iloc[:n].reset_index(drop=True), want)
    copy = pd.Series(range(len(got))) // n
    assert got.assign(copy=copy).groupby("user_id")["copy"].nunique().max() == 1
    assert got.assign(copy=copy).groupby("session_id")["copy"].nunique().max() == 1
    assert info["customers"] == got["user_id"].nunique()
    for k in range(1, info["copies"]):
        part = got.iloc[k * n : (k + 1) * n].reset_index(drop=True)
        tail = want.iloc[: len(part)]
        pd.testing.assert_frame_equal(part.drop(columns=["user_id", "session_id"]), tail.drop(columns=["user_id", "session_id"]))
        for col in ("user_id", "session_id"):  # one shift per copy and column: who did what together is kept
            shift = (part[col] - tail[col]).unique()
            assert len(shift) == 1 and shift[0] > 0


def test_same_seed_same_file(tmp_path):
    a = write_tiled_events(N, tmp_path / "a.parquet", seed=3, block_events=BLOCK)
    b = write_tiled_events(N, tmp_path / "b.parquet", seed=3, block_events=BLOCK)
    c = write_tiled_events(N, tmp_path / "c.parquet", seed=4, block_events=BLOCK)
    assert a["rows"] == b["rows"] == c["rows"] == N
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    assert not pd.read_parquet(tmp_path / "a.parquet").equals(pd.read_parquet(tmp_path / "c.parquet"))


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_tiled_events(10, tmp_path / "x.json", "json")
