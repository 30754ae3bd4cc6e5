"""neurec-data summary: the figures a user reads first, on a file of known content."""

import json

import pandas as pd

from neurec.cli.data import main


def _write(tmp_path):
    rows = []
    for u in range(6):
        base = pd.Timestamp("2026-02-01", tz="UTC") + pd.Timedelta(days=u)
        rows += [
            (u, f"s{u}", 100 + u % 3, "view", base),
            (u, f"s{u}", 100 + u % 3, "add_to_cart", base + pd.Timedelta(minutes=1)),
            (u, f"s{u}", 100 + u % 3, "purchase", base + pd.Timedelta(minutes=2)),
            (u, f"s{u}", 200 + u, "view", base + pd.Timedelta(minutes=3)),
        ]
    rows.append((0, "s0", 100, "view", pd.Timestamp("2026-02-01", tz="UTC")))  # an exact duplicate
    frame = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "timestamp"])
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    return path


def test_summary_figures(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["summary", str(path), "--json", "data.max_bad_fraction=0.5"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["events"] == 24 and s["users"] == 6 and s["sessions"] == 6 and s["items"] == 9
    assert s["events_by_type"] == {"view": 12, "add_to_cart": 6, "purchase": 6}
    assert s["purchases"] == 6 and s["buyers"] == 6
    assert s["events_per_user_median"] == 4.0
    assert s["dropped"] == {"duplicate": 1}
    assert s["sparsity"] == 1 - 12 / (6 * 9)
    assert s["first_event"] == "2026-02-01 00:00" and s["days"] == 5.0


def test_summary_reads_well(tmp_path, capsys):
    assert main(["summary", str(_write(tmp_path)), "data.max_bad_fraction=0.5"]) == 0
    out = capsys.readouterr().out
    for label in ("events", "customers", "purchases", "time", "per customer", "sparsity", "cold items", "problems"):
        assert f"  {label}" in out
    assert "duplicate: 1 dropped" in out
