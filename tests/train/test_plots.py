"""The run page's figures: what each one draws, read back from the matplotlib objects."""

from __future__ import annotations

import numpy as np

from neurec.train import plots


def _history(lrs):
    return [{"epoch": e, "train_loss": 0.5 / e, "valid_loss": 0.6 / e, "lr": lr, "valid_ndcg_at_10": 0.1 * e,
             "valid_hr_at_10": 0.2 * e, "valid_mrr_at_10": 0.05 * e} for e, lr in enumerate(lrs, start=1)]


def test_learning_curves_show_both_losses_and_whole_epochs():
    fig = plots.learning_curves(_history([0.004] * 3))
    loss, metric = fig.axes  # a constant learning rate gets no axis of its own ...
    assert [line.get_label() for line in loss.get_lines()] == ["training", "validation"]
    assert "lr 0.004" in loss.get_title()  # ... it is named in the title
    assert all(float(t).is_integer() for t in loss.get_xticks())
    assert "best epoch 3" in [line.get_label() for line in metric.get_lines()]
    assert len(plots.learning_curves(_history([0.004, 0.002, 0.001])).axes) == 3  # a schedule is drawn


def test_reliability_diagram_labels_counts_and_marks_thin_bins():
    table = {"mean_pred": np.array([0.05, 0.15, np.nan]), "freq": np.array([0.04, 0.6, np.nan]),
             "count": np.array([500.0, 4.0, 0.0])}
    ax = plots.reliability_diagram(table, ece=0.01).axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["4", "500"]
    assert f"fewer than {plots.THIN_BIN} items" in [line.get_label() for line in ax.get_lines()]
    assert "504" in ax.get_title()
