"""The short tables a person reads at the end of a run."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ("ndcg_at_10", "hr_at_10", "mrr_at_10", "auc", "coverage_at_10", "ece")
# Repeat (an item of the customer's own history) and explore (anything else), measured apart: neurec.train.repeat_explore.
REPEAT_COLUMNS = ("repeat_hr_at_10", "explore_hr_at_10", "repeat_slot_share", "repeat_hit_share")
# Below this many decisions one standard error of NDCG@10 is typically 0.03 or more: as large as many of the
# gaps between methods, so the report says so instead of letting a table of four decimals look precise.
FEW_DECISIONS = 200


def cell(values: dict[str, float], column: str) -> str:
    """'0.3205±0.041' where the standard error is known, '0.3205' where not, '-' for a metric the method lacks."""
    if column not in values:
        return "-"
    se = values.get(f"{column}_se")
    known = se is not None and se == se  # NaN: one decision, no spread to measure
    return f"{values[column]:.4f}" + (f"±{se:.3f}" if known else "")


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    return "\n".join([*_rows(metrics, COLUMNS), "(± one standard error over the decisions)"])


def repeat_table(metrics: dict[str, dict[str, float]]) -> str:
    """HR@10 on repeat and explore decisions, and the shares of top-10 slots and of hits that are own items."""
    share = next((v["repeat_target_share"] for v in metrics.values() if "repeat_target_share" in v), float("nan"))
    note = f"(repeat: the bought item is one of the customer's own; {share:.0%} of the decisions)"
    return "\n".join([*_rows(metrics, REPEAT_COLUMNS, width=19), note])


def _rows(metrics: dict[str, dict[str, float]], columns: tuple[str, ...], width: int = 15) -> list[str]:
    head = f"{'method':<18}" + "".join(f"{c:>{width}}" for c in columns)
    rows = [head, "-" * len(head)]
    for method, values in metrics.items():
        rows.append(f"{method:<18}" + "".join(f"{cell(values, c):>{width}}" for c in columns))
    return rows


def shown_path(path: Path | str | None, absent: str = "(none)") -> str:
    """A path under the working folder is printed relative to it: shorter, and the same on every machine, so a
    printed command can be copied from one checkout to another. None (a stage switched off) prints `absent`."""
    if path is None:
        return absent
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def shown_uri(uri: str | None) -> str | None:
    """sqlite:////abs/folder/mlflow.db under the working folder → sqlite:///folder/mlflow.db (MLflow reads a
    relative SQLite path against the working folder, so the short form names the same store)."""
    prefix = "sqlite:///"
    if uri and uri.startswith(prefix + "/"):
        return prefix + shown_path(uri[len(prefix):])
    return uri


def few_decisions_warning(stats: dict) -> str | None:
    few = {period: int(stats[f"{period}_targets"]) for period in ("valid", "test")
           if int(stats.get(f"{period}_targets", FEW_DECISIONS)) < FEW_DECISIONS}
    if not few:
        return None
    counts = " and ".join(f"{n:,} {'validation' if period == 'valid' else period}" for period, n in few.items())
    return (f"only {counts} decisions (fewer than {FEW_DECISIONS}): a gap between methods smaller than about two "
            "standard errors (the ± in the table) is noise, and early stopping on few validation decisions is too")


def comparison_line(metrics: dict[str, dict[str, float]]) -> str:
    """The model against popularity, the best baseline and (on the simulator) the oracle, on NDCG@10."""
    from neurec.train.compare import best_baseline

    model = metrics["model"]["ndcg_at_10"]
    best = best_baseline(metrics)
    popularity = metrics.get("popularity", {}).get("ndcg_at_10")
    reference = metrics[best]["ndcg_at_10"] if best else 0.0
    parts = [f"model / popularity NDCG@10: {model / popularity:.2f}x" if popularity else "",
             f"model / best baseline ({best}): {model / reference:.2f}x" if reference > 0 else ""]
    if "oracle" in metrics and metrics["oracle"]["ndcg_at_10"] > 0:
        parts.append(f"model / oracle: {model / metrics['oracle']['ndcg_at_10']:.2f}")
    return "; ".join(p for p in parts if p)


def mlflow_ui_command(uri: str | None) -> str:
    if not uri:
        return "(tracking off)"
    if uri.startswith("sqlite:///"):  # shorter to type from the project folder
        return f".venv/bin/mlflow ui --backend-store-uri {shown_uri(uri)} --host 127.0.0.1 --port 5000 --workers 1"
    return f"open {uri}"


def print_report(result) -> None:
    s = result.stats
    print()
    print(f"data: {s['events']:,} events, {s['users']:,} customers, {s['vocab_items']:,} items in the model; "
          f"purchase decisions train/valid/test {s['train_targets']:,}/{s['valid_targets']:,}/{s['test_targets']:,}")
    cleaning = result.data.report.metrics() if result.data is not None else {}
    print(f"cleaning: {', '.join(f'{k} {v:,}' for k, v in cleaning.items()) or 'nothing dropped or fixed'}")
    for warning in (result.data.report.warnings if result.data is not None else []):
        print(f"WARNING: {warning}")
    resumed = f" (resumed after epoch {result.fit.resumed_from})" if result.fit.resumed_from else ""
    kept = " (the untrained model: no trained epoch beat it on validation by one standard error)" if result.fit.best_epoch == 0 else ""
    print(f"trained {len(result.fit.history)} epochs in {result.fit.seconds:.0f}s{resumed}, best epoch {result.fit.best_epoch}{kept}")
    print()
    few = " - too few to trust these figures" if result.data is not None and result.data.report.warnings and any(
        w.startswith("too_few_decisions") for w in result.data.report.warnings) else ""
    print(f"test period ({s['test_targets']:,} decisions{few}), ranked against all items:")
    if (warning := few_decisions_warning(s)) is not None:
        print(f"WARNING: {warning}")
    print(metrics_table(result.metrics))
    print(repeat_table(result.metrics))
    print(comparison_line(result.metrics))
    print()
    print(f"MLflow run:  {result.run_id}  ({shown_uri(result.tracking_uri)})")
    print(f"  view with: {mlflow_ui_command(result.tracking_uri)}")
    print(f"checkpoint:  {shown_path(result.checkpoint)}")
    print(f"bundle:      {shown_path(result.bundle_dir, '(export off)')}")
    if result.registered_version:
        name = result.registered_version
        print(f"registered:  {name}  (promote with: neurec-promote {name.replace('/', ' ')} --alias champion)")
