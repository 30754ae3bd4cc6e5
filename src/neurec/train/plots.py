"""Figures a run page shows at a glance: learning curves and the reliability diagram. matplotlib, headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


THIN_BIN = 30  # items: a bin with fewer has a standard error of about 0.1 or more on its observed rate


def learning_curves(history: list[dict]):
    """Training and validation loss, validation ranking metrics, and (when it changes) the learning rate, per
    epoch, with the best epoch marked. Whole-number epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    lrs = [h["lr"] for h in history if "lr" in h]
    varying_lr = len(set(lrs)) > 1  # a constant rate is a config value, not a curve: it says so in the title
    fig, axes = plt.subplots(1, 3 if varying_lr else 2, figsize=(14 if varying_lr else 10, 3.6))
    ax_loss, ax_metric = axes[0], axes[1]
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o", label="training")
    if any("valid_loss" in h for h in history):
        ax_loss.plot(epochs, [h.get("valid_loss", np.nan) for h in history], marker="o", label="validation")
    title = "loss (BCE, the training objective)"
    if lrs and not varying_lr:
        title += f"; lr {lrs[0]:.2g}"
    ax_loss.set(title=title, xlabel="epoch")
    ax_loss.legend(fontsize="small")
    for key in ("valid_ndcg_at_10", "valid_hr_at_10", "valid_mrr_at_10"):
        if key in history[0]:
            ax_metric.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key.removeprefix("valid_"))
    if "valid_ndcg_at_10" in history[0]:
        best = max(history, key=lambda h: h.get("valid_ndcg_at_10", -np.inf))
        ax_metric.axvline(best["epoch"], color="grey", linestyle="--", label=f"best epoch {best['epoch']}")
    ax_metric.set(title="validation (ranked against all items)", xlabel="epoch")
    ax_metric.legend(fontsize="small")
    if varying_lr:
        axes[2].plot(epochs, [h.get("lr", np.nan) for h in history], marker="o", color="grey")
        axes[2].set(title="learning rate", xlabel="epoch")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def reliability_diagram(table: dict[str, np.ndarray], ece: float):
    """Predicted against observed purchase rate per bin, each point labelled with its item count; bins with
    fewer than THIN_BIN items are drawn hollow, since their observed rate is mostly noise."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    count = table["count"]
    filled = count > 0
    thin = filled & (count < THIN_BIN)
    solid = filled & ~thin
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(table["mean_pred"][filled], table["freq"][filled], color="tab:blue", alpha=0.4)
    ax.plot(table["mean_pred"][solid], table["freq"][solid], "o", color="tab:blue", label="model")
    if thin.any():
        ax.plot(table["mean_pred"][thin], table["freq"][thin], "o", mfc="none", color="tab:blue",
                label=f"fewer than {THIN_BIN} items")
    for x, y, n in zip(table["mean_pred"][filled], table["freq"][filled], count[filled]):
        ax.annotate(f"{int(n):,}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    top = max(float(np.nanmax(table["mean_pred"][filled], initial=0.0)), float(np.nanmax(table["freq"][filled], initial=0.0)), 0.05)
    ax.set(xlim=(0, min(1.0, top * 1.15)), ylim=(0, min(1.0, top * 1.15)), xlabel="predicted P(buy)", ylabel="observed purchase rate",
           title=f"test top-10 items: {int(count.sum()):,}, ECE {ece:.3f}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
