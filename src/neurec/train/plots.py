"""Figures a run page shows at a glance: learning curves and the reliability diagram. matplotlib, headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(history: list[dict]):
    """Training loss, validation ranking metrics and the learning rate per epoch, the best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_metric, ax_auc) = plt.subplots(1, 3, figsize=(14, 3.6))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o")
    ax_loss.set(title="training loss", xlabel="epoch")
    if "lr" in history[0]:
        ax_lr = ax_loss.twinx()
        ax_lr.plot(epochs, [h["lr"] for h in history], color="grey", linestyle=":", label="learning rate")
        ax_lr.set_ylabel("learning rate", color="grey")
    for key in ("valid_ndcg_at_10", "valid_hr_at_10", "valid_mrr_at_10", "valid_coverage_at_10"):
        if key in history[0]:
            ax_metric.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key.removeprefix("valid_"))
    if "valid_ndcg_at_10" in history[0]:
        best = max(history, key=lambda h: h.get("valid_ndcg_at_10", -np.inf))
        ax_metric.axvline(best["epoch"], color="grey", linestyle="--", label=f"best epoch {best['epoch']}")
    ax_metric.set(title="validation (ranked against all items)", xlabel="epoch")
    ax_metric.legend(fontsize="small")
    if "valid_auc" in history[0]:
        ax_auc.plot(epochs, [h.get("valid_auc", np.nan) for h in history], marker="o", color="tab:purple")
    ax_auc.set(title="validation AUC", xlabel="epoch")
    fig.tight_layout()
    return fig


def reliability_diagram(table: dict[str, np.ndarray], ece: float):
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    filled = table["count"] > 0
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(table["mean_pred"][filled], table["freq"][filled], marker="o", label="model")
    top = max(float(np.nanmax(table["mean_pred"][filled], initial=0.0)), float(np.nanmax(table["freq"][filled], initial=0.0)), 0.05)
    ax.set(xlim=(0, min(1.0, top * 1.15)), ylim=(0, min(1.0, top * 1.15)), xlabel="predicted P(buy)", ylabel="observed purchase rate",
           title=f"test top-10 items, ECE {ece:.3f}")
    ax.legend()
    fig.tight_layout()
    return fig
