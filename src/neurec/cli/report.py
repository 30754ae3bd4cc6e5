"""The short tables a person reads at the end of a run."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ("ndcg_at_10", "hr_at_10", "mrr_at_10", "auc", "logloss")


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    head = f"{'method':<12}" + "".join(f"{c:>12}" for c in COLUMNS)
    rows = [head, "-" * len(head)]
    for method, values in metrics.items():
        cells = "".join(f"{values[c]:>12.4f}" if c in values else f"{'-':>12}" for c in COLUMNS)
        rows.append(f"{method:<12}{cells}")
    return "\n".join(rows)


def mlflow_ui_command(uri: str | None) -> str:
    if not uri:
        return "(tracking off)"
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if db.is_relative_to(Path.cwd()):  # shorter to type from the project folder
            db = db.relative_to(Path.cwd())
        return f".venv/bin/mlflow ui --backend-store-uri sqlite:///{db} --host 127.0.0.1 --port 5000 --workers 1"
    return f"open {uri}"


def print_report(result) -> None:
    s = result.stats
    print()
    print(f"data: {s['events']:,} events, {s['users']:,} customers, {s['vocab_items']:,} items in the model; "
          f"purchase decisions train/valid/test {s['train_targets']:,}/{s['valid_targets']:,}/{s['test_targets']:,}")
    cleaning = result.data.report.metrics() if result.data is not None else {}
    print(f"cleaning: {', '.join(f'{k} {v:,}' for k, v in cleaning.items()) or 'nothing dropped or fixed'}")
    print(f"trained {len(result.fit.history)} epochs in {result.fit.seconds:.0f}s, best epoch {result.fit.best_epoch}")
    print()
    print("test period, ranked against all items:")
    print(metrics_table(result.metrics))
    pop = result.metrics["popularity"]["ndcg_at_10"]
    if pop > 0:
        print(f"model / popularity NDCG@10: {result.metrics['model']['ndcg_at_10'] / pop:.2f}x")
    print()
    print(f"MLflow run:  {result.run_id}  ({result.tracking_uri})")
    print(f"  view with: {mlflow_ui_command(result.tracking_uri)}")
    print(f"checkpoint:  {result.checkpoint}")
    print(f"bundle:      {result.bundle_dir}")
