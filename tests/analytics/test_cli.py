"""neurec-analyze and neurec-abtest end to end, on files the tests write (and one shared real sample)."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurec.cli.abtest import main as abtest
from neurec.cli.analyze import main as analyze

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _shop_files(shop, tmp_path: Path) -> list[str]:
    events, catalog = shop
    events.to_csv(tmp_path / "events.csv", index=False)
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    return ["data=files", f"data.events_path={tmp_path / 'events.csv'}", f"data.catalog_path={tmp_path / 'catalog.csv'}"]


def test_pairs_command_on_files(shop, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(["pairs", *_shop_files(shop, tmp_path), "--out", str(out), "--min-pair-orders", "1", "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    assert "6 orders, 4 customers: 6 product pairs, 2 category pairs" in printed
    pairs = pd.read_csv(out / "pairs.csv", dtype={"item_a": str, "item_b": str})
    ab = pairs[(pairs["segment"] == "all") & (pairs["item_a"] == "A") & (pairs["item_b"] == "B")].iloc[0]
    assert ab["lift"] == pytest.approx(4 / 3) and ab["attach_within_days"] == 1.0 and ab["revenue_b"] == 40
    assert (out / "category_pairs.csv").exists() and (out / "report.md").exists() and (out / "plots" / "gap_days.png").exists()


def test_pairs_command_bad_data_exits_2(tmp_path, capsys):
    pd.DataFrame({"user_id": [1], "item_id": [2], "event_type": ["purchase"]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(SystemExit) as exc:
        analyze(["pairs", "data=files", f"data.events_path={tmp_path / 'e.csv'}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "missing column(s) ['timestamp']" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        analyze(["pairs", "--basis", "add_to_cart", "data=files", f"data.events_path={tmp_path / 'e.csv'}"])
    assert exc.value.code == 2


def test_programme_command(small_log, tmp_path, capsys):
    small_log.to_csv(tmp_path / "log.csv", index=False)
    assert analyze(["programme", str(tmp_path / "log.csv")]) == 0
    text = capsys.readouterr().out
    assert "rec_conversion_rate" in text and "75.00 %" in text and "by offer kind and placement" in text
    assert analyze(["programme", str(tmp_path / "log.csv"), "--json", "--control", "B"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["variant"]: r for r in data["summary"]}
    assert data["control"] == "B" and rows["all"]["aov"] == 107.5 and rows["A"]["aov_lift_vs_control"] == pytest.approx(135 / 80 - 1)


def test_programme_command_bad_log_exits_2(small_log, tmp_path, capsys):
    small_log.assign(event_type="wishlist").to_json(tmp_path / "log.jsonl", orient="records", lines=True)
    with pytest.raises(SystemExit) as exc:
        analyze(["programme", str(tmp_path / "log.jsonl")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "23 row(s) with an unknown event_type {'wishlist': 23}" in err and "Traceback" not in err


def test_abtest_plan(capsys):
    assert abtest(["plan", "--baseline-rate", "0.05", "--mde", "0.1", "--relative", "--daily-traffic", "5000",
                   "--aov-mean", "80", "--aov-std", "60"]) == 0
    text = capsys.readouterr().out
    assert "31,234" in text and "under two weekly cycles" in text and "run for 14 days" in text
    assert abtest(["plan", "--baseline-rate", "0.05", "--mde", "0.01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["n_control"] == 8158
    with pytest.raises(SystemExit) as exc:
        abtest(["plan", "--baseline-rate", "5", "--mde", "0.1"])
    assert exc.value.code == 2 and "must be a share between 0 and 1" in capsys.readouterr().err


def test_abtest_analyze(ab_log, tmp_path, capsys):
    ab_log(n_users=20_000, conv=(0.1, 0.1), aov=(80.0, 92.0)).to_parquet(tmp_path / "log.parquet", index=False)
    (tmp_path / "exp.yaml").write_text("name: recs\nsalt: s1\ncontrol: A\nvariants: {A: 1, B: 1}\n")
    assert abtest(["analyze", str(tmp_path / "log.parquet"), "--experiment", str(tmp_path / "exp.yaml"), "--n-boot", "300"]) == 0
    text = capsys.readouterr().out
    assert "B wins: AOV +" in text and "guardrail conversion: pass" in text
    assert abtest(["analyze", str(tmp_path / "log.parquet"), "--json", "--n-boot", "0", "--primary", "conversion"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["primary"]["metric"] == "conversion" and result["winner"] is None
    with pytest.raises(SystemExit) as exc:
        abtest(["analyze", str(tmp_path / "log.parquet"), "--treatment", "C"])
    assert exc.value.code == 2 and "variant 'C' is not in the log" in capsys.readouterr().err


def test_abtest_analyze_prints_margin(ab_log, tmp_path, capsys):
    log = ab_log(n_users=4000, conv=(0.1, 0.1), aov=(80.0, 80.0))
    log.assign(margin=0.3 * log["price"]).to_csv(tmp_path / "log.csv", index=False)
    assert abtest(["analyze", str(tmp_path / "log.csv"), "--n-boot", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln.split() for ln in lines[2:7]}
    assert float(rows["margin_per_order"][1]) == pytest.approx(0.3 * float(rows["aov"][1]), abs=0.01)  # 30 % of each price
    assert "margin_per_visitor" in rows and "margin per visitor" in lines[-1] and not any("note:" in ln for ln in lines)
    assert abtest(["analyze", str(tmp_path / "log.csv"), "--n-boot", "0", "--unit", "session", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [m["metric"] for m in result["margin"]] == ["margin_per_order", "margin_per_session"] and result["notes"] == []
    log.to_csv(tmp_path / "plain.csv", index=False)
    assert abtest(["analyze", str(tmp_path / "plain.csv"), "--n-boot", "0"]) == 0
    assert capsys.readouterr().out.count("note: margin per order and per visit: not reported") == 1
    log.assign(margin=log["price"].astype(object).where(log["price"].isna(), "12,50")).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SystemExit) as exc:
        abtest(["analyze", str(tmp_path / "bad.csv")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "with a missing, non-numeric or infinite margin" in err and "Traceback" not in err


def test_console_scripts_installed(tmp_path):
    script = Path(sys.executable).with_name("neurec-abtest")
    if not script.exists():
        pytest.skip("console scripts not installed (pip install -e .)")
    ok = subprocess.run([str(script), "plan", "--baseline-rate", "0.05", "--mde", "0.01"], capture_output=True, text=True)
    assert ok.returncode == 0 and "8,158" in ok.stdout
    bad = subprocess.run([str(Path(sys.executable).with_name("neurec-analyze")), "programme", str(tmp_path / "none.csv")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "none.csv" in bad.stderr


def test_pairs_logged_to_active_mlflow_run(shop, tmp_path, mlflow_store, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store["uri"])  # no global set_tracking_uri to leak into other tests
    client = mlflow.tracking.MlflowClient(mlflow_store["uri"])
    exp = client.get_experiment_by_name("analytics-test")
    exp_id = exp.experiment_id if exp else client.create_experiment("analytics-test", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=exp_id) as run:
        assert analyze(["pairs", *_shop_files(shop, tmp_path), "--out", str(tmp_path / "o"), "--min-pair-orders", "1"]) == 0
    names = {f.path for f in client.list_artifacts(run.info.run_id, "analyze")}
    assert {"analyze/pairs.parquet", "analyze/report.md", "analyze/plots"} <= names
    assert client.get_run(run.info.run_id).data.metrics["pairs_orders"] == 6
    parent = client.create_run(exp_id)  # a run a parent process started: found through MLFLOW_RUN_ID
    monkeypatch.setenv("MLFLOW_RUN_ID", parent.info.run_id)
    assert analyze(["pairs", *_shop_files(shop, tmp_path), "--out", str(tmp_path / "o2"), "--min-pair-orders", "1"]) == 0
    assert "analyze/report.md" in {f.path for f in client.list_artifacts(parent.info.run_id, "analyze")}
    assert client.get_run(parent.info.run_id).info.status == "RUNNING"  # left for its owner to end


@pytest.mark.skipif(not (SHARED / "taobao_userbehavior" / "UserBehavior.csv").exists(), reason="../shared/data is absent")
def test_pairs_on_shared_taobao_sample(tmp_path, capsys, monkeypatch):
    sample = SHARED / "taobao_userbehavior" / "UserBehavior.csv"
    assert analyze(["pairs", "data=taobao", f"data.events_path={sample}", "--out", str(tmp_path / "o"),
                    "--min-pair-orders", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2,415 orders, 2,407 customers" in printed and "no prices" in printed
    cats = pd.read_parquet(tmp_path / "o" / "category_pairs.parquet")
    overall = cats[cats["segment"] == "all"]
    assert len(overall) > 0 and overall["lift"].notna().all() and cats["revenue_b"].isna().all()
