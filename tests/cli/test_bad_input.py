"""Each kind of bad input: a message that names the problem, exit code 2, no traceback, nothing written altered.

Most cases go through `neurec-data summary` in-process (the same read and validate code as training); the last
test runs a real `neurec-train` that fails and checks that an earlier bundle and the MLflow store are untouched.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurec.cli.data import main as data_main

GOOD = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 2] * 10,
        "session_id": [10, 10, 10, 20, 20, 20] * 10,
        "item_id": [100, 101, 101, 100, 102, 102] * 10,
        "event_type": ["view", "add_to_cart", "purchase"] * 20,
        "timestamp": pd.date_range("2026-01-01", periods=60, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
)


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _with(**cols) -> pd.DataFrame:
    frame = GOOD.copy()
    for k, v in cols.items():
        frame[k] = v
    return frame


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


CASES = {
    "missing column": (lambda p: _csv(p, GOOD.drop(columns="item_id")), [], "missing column"),
    "unknown event type": (lambda p: _csv(p, _with(event_type=["view", "clik", "purchase"] * 20)), [], "unknown event_type ('clik': 20)"),
    "unparsable timestamps": (lambda p: _csv(p, _with(timestamp=["soon"] + list(GOOD["timestamp"][1:]))), ["+data.policies.bad_timestamp=error"], "unparsable timestamp"),
    "too many bad timestamps": (lambda p: _csv(p, _with(timestamp=["soon"] * 10 + list(GOOD["timestamp"][10:]))), [], "more than data.max_bad_fraction"),
    "NaN ids": (lambda p: _csv(p, _with(item_id=[None] + [100] * 59)), ["+data.policies.missing_id=error"], "empty or NaN id"),
    "non-positive price": (lambda p: _csv(p, _with(price=[-1.0] + [5.0] * 59)), ["+data.policies.bad_price=error"], "zero, negative, infinite or unparsable price"),
    "exact duplicates": (lambda p: _csv(p, pd.concat([GOOD, GOOD.iloc[[0]]])), ["+data.policies.duplicate=error"], "exact duplicate"),
    "empty file": (lambda p: (p.write_text(""), p)[1], [], "the file is empty"),
    "header only": (lambda p: (p.write_text("user_id,session_id,item_id,event_type,timestamp\n"), p)[1], [], "no rows"),
    "truncated last line": (lambda p: (p.write_text(GOOD.to_csv(index=False) + "3,30,100,vi"), p)[1], ["+data.policies.truncated_row=error"], "is cut off"),
    "no such file": (lambda p: p.with_name("absent.csv"), [], "no such file"),
    "unknown file type": (lambda p: (p.with_suffix(".xlsx").write_text("x"), p.with_suffix(".xlsx"))[1], [], "unknown file type"),
    "wrong preset": (lambda p: _csv(p, GOOD), ["data=taobao"], "looks like a header"),
    "unknown policy": (lambda p: _csv(p, GOOD), ["+data.policies.bad_timestmp=drop"], "unknown problem"),
    "unknown target": (lambda p: _csv(p, GOOD), ["data.target=clicks"], "use 'purchase' or 'next'"),
    "split dates outside the data": (lambda p: _csv(p, GOOD), ["data.valid_start=2030-01-01", "data.test_start=2030-02-01"], "must fall in order"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_named_and_exits_2(name, tmp_path, capsys):
    make, overrides, message = CASES[name]
    path = make(tmp_path / "events.csv")
    before = _digest(path)
    with pytest.raises(SystemExit) as exit_info:
        data_main(["summary", str(path), *overrides])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.startswith("neurec-data: error:") and "Traceback" not in err
    assert _digest(path) == before  # the input file is never touched


def test_no_purchases_stops_training_and_summary_says_why(tmp_path, capsys):
    from neurec.data.config import DataConfig
    from neurec.data.errors import DataError
    from neurec.data.prepare import prepare

    path = _csv(tmp_path / "events.csv", _with(event_type=["view"] * 60))
    with pytest.raises(DataError, match="no purchase targets in the train period"):
        prepare(DataConfig(source="files", events_path=str(path)), tmp_path / "work")
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
    assert data_main(["summary", str(path)]) == 0
    assert "data.target=next" in capsys.readouterr().out


def test_failed_training_leaves_earlier_outputs_alone(tmp_path):
    """A bad file given to training stops before anything is written over: an existing bundle and store stay."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"kept": true}')
    store = tmp_path / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    store.write_bytes(b"not touched")
    bad = _csv(tmp_path / "events.csv", _with(event_type=["view", "clik", "purchase"] * 20))
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.train", "data=files", f"data.events_path={bad}", f"export.bundle_dir={bundle}",
         f"tracking.uri=sqlite:///{store}", f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "unknown event_type" in proc.stderr and "Traceback" not in proc.stderr
    assert (bundle / "manifest.json").read_text() == '{"kept": true}' and [p.name for p in bundle.iterdir()] == ["manifest.json"]
    assert store.read_bytes() == b"not touched"
