"""The end-of-run tables: every ranking metric with its standard error, and a warning on few decisions."""

from neurec.cli import report
from neurec.cli.report import FEW_DECISIONS, cell, few_decisions_warning, metrics_table


def test_cells_carry_the_standard_error_where_known():
    values = {"ndcg_at_10": 0.32051, "ndcg_at_10_se": 0.0412, "auc": 0.8, "hr_at_10": 0.5, "hr_at_10_se": float("nan")}
    assert cell(values, "ndcg_at_10") == "0.3205±0.041"
    assert cell(values, "auc") == "0.8000"  # no interval computed for it
    assert cell(values, "hr_at_10") == "0.5000"  # one decision: NaN spread is not printed
    assert cell(values, "ece") == "-"


def test_the_table_explains_the_interval():
    table = metrics_table({"model": {"ndcg_at_10": 0.3, "ndcg_at_10_se": 0.05}, "repeat": {"ndcg_at_10": 0.2}})
    lines = table.splitlines()
    assert lines[2].startswith("model") and "0.3000±0.050" in lines[2]
    assert lines[3].startswith("repeat") and "±" not in lines[3]
    assert lines[-1] == "(± one standard error over the decisions)"


def test_few_decisions_are_warned_about_on_either_period():
    enough = {"valid_targets": FEW_DECISIONS, "test_targets": 5000}
    assert few_decisions_warning(enough) is None
    warning = few_decisions_warning({"valid_targets": 34, "test_targets": 56})
    assert warning.startswith("only 34 validation and 56 test decisions (fewer than 200)")
    assert few_decisions_warning({"valid_targets": 5000, "test_targets": FEW_DECISIONS - 1}).startswith("only 199 test")


def test_paths_under_the_working_folder_are_printed_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside, outside = tmp_path / "outputs" / "runs" / "r1" / "bundle", tmp_path.parent / "elsewhere"
    assert report.shown_path(inside) == "outputs/runs/r1/bundle"
    assert report.shown_path(outside) == str(outside)
    assert report.shown_uri(f"sqlite:///{tmp_path}/mlruns/mlflow.db") == "sqlite:///mlruns/mlflow.db"
    assert report.shown_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert "--backend-store-uri sqlite:///mlruns/mlflow.db " in report.mlflow_ui_command(
        f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert report.shown_uri(None) is None  # tracking off
    assert report.shown_path(None, "(export off)") == "(export off)"  # a stage switched off
