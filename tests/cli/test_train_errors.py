"""Training stops on bad input with a message that names the problem, exit code 2 and no traceback."""

import subprocess
import sys

import pandas as pd
import pytest


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2],
            "session_id": [10, 10, 20, 20],
            "item_id": [100, 101, 100, 102],
            "event_type": ["view", "add_to_cart", "view", "purchase"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "2026-01-02T09:00:00", "2026-01-02T09:05:00"],
        }
    )


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(columns="event_type"), "missing column"),
        (lambda f: f.assign(event_type=["view", "clik", "view", "purchase"]), "unknown event_type"),
        (lambda f: f.assign(timestamp=["2026-01-01", "not a time", "2026-01-02", "2026-01-02"]), "unparsable timestamp"),
    ],
)
def test_training_cli_stops_on_malformed_events(tmp_path, mutate, message):
    path = tmp_path / "events.csv"
    mutate(_events()).to_csv(path, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.train", "data=files", f"data.events_path={path}", "tracking=none",
         f"hydra.run.dir={tmp_path / 'run'}", f"paths.root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text() == mutate(_events()).to_csv(index=False)  # the input is never touched


def test_training_cli_refuses_a_bad_rule_before_training(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.train", "debug=fast", "+rules.min_probabilty=0.1",
         f"hydra.run.dir={tmp_path / 'run'}", f"paths.root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "rules: unknown key 'min_probabilty'" in proc.stderr and "Traceback" not in proc.stderr
