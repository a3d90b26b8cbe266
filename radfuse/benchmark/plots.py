"""Plots of a benchmark report, one PNG per dataset each: ROC curves per subset, confusion
matrices on every modality, modality importance and the model x subset AUC heat map; and for a
tuned run the heat map of the searched parameters' importances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radfuse.benchmark.metrics import positive_index
from radfuse.benchmark.plan import subset_label, subset_name

__all__ = [
    "plot_confusion",
    "plot_heatmap",
    "plot_importance",
    "plot_param_importance",
    "plot_roc",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_roc(oof, classes, plan, dataset, summary, path: Path) -> None:
    """ROC curves of pooled out-of-fold predictions (repeat 0), one panel per subset."""
    from sklearn.metrics import roc_curve
    from sklearn.preprocessing import label_binarize

    plt = _plt()
    subsets = plan["datasets"][dataset]["subsets"]
    models = [m["name"] for m in plan["models"]]
    pos_label = plan["datasets"][dataset].get("positive_label")
    n = len(subsets)
    ncols = min(4, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 4 * nrows), squeeze=False)
    for ax, subset in zip(axes.ravel(), subsets):
        for model in models:
            df = oof.get((dataset, model, subset, 0))
            if df is None or df["y_true"].nunique() < 2:
                continue
            if len(classes) == 2:
                pos = positive_index(classes, pos_label)
                fpr, tpr, _ = roc_curve(df["y_true"] == classes[pos], df[f"p{pos}"])
            else:  # micro-average over one-vs-rest curves
                yb = label_binarize(df["y_true"], classes=classes)
                fpr, tpr, _ = roc_curve(
                    yb.ravel(), df[[f"p{i}" for i in range(len(classes))]].to_numpy().ravel()
                )
            s = summary[
                (summary.dataset == dataset) & (summary.model == model) & (summary.subset == subset)
            ]
            label = model if s.empty else f"{model} ({s.roc_auc_mean.iloc[0]:.2f})"
            ax.plot(fpr, tpr, lw=1.3, label=label)
        ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=0.8)
        ax.set_title(subset, fontsize=10)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(
        f"{dataset}: ROC of pooled out-of-fold predictions (repeat 0); legend: mean AUC over folds"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(oof, classes, plan, dataset, path: Path) -> None:
    """Confusion matrix of each model on every modality (pooled folds of repeat 0)."""
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    full = subset_name(plan["datasets"][dataset]["modalities"])
    models = [m["name"] for m in plan["models"] if (dataset, m["name"], full, 0) in oof]
    if not models:
        return
    ncols = min(4, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.1 * nrows), squeeze=False)
    labels = [str(c) for c in classes]
    for ax, model in zip(axes.ravel(), models):
        df = oof[(dataset, model, full, 0)]
        proba = df[[f"p{i}" for i in range(len(classes))]].to_numpy()
        pred = np.asarray(classes)[proba.argmax(axis=1)]
        cm = confusion_matrix(df["y_true"], pred, labels=classes)
        ax.imshow(cm, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
        ax.set_xticks(range(len(classes)), labels)
        ax.set_yticks(range(len(classes)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(model, fontsize=10)
    for ax in axes.ravel()[len(models) :]:
        ax.axis("off")
    fig.suptitle(
        f"{dataset}: confusion matrices, all modalities, pooled folds (repeat 0)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_importance(imp: pd.DataFrame, plan, dataset, path: Path) -> None:
    """AUC drop when each block is blanked at test, per model (mean ± std over folds)."""
    plt = _plt()
    d = imp[(imp.dataset == dataset) & imp.auc_drop.notna()]
    if d.empty:
        return
    mods = plan["datasets"][dataset]["modalities"]
    models = [m["name"] for m in plan["models"] if m["name"] in set(d.model)]
    g = d.groupby(["model", "modality"])["auc_drop"]
    mean, std = g.mean(), g.std(ddof=1)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(models) * len(mods) / 3, 3.8))
    width = 0.8 / len(mods)
    x = np.arange(len(models))
    for k, m in enumerate(mods):
        vals = [mean.get((mo, m), np.nan) for mo in models]
        errs = [std.get((mo, m), np.nan) for mo in models]
        ax.bar(x + (k - (len(mods) - 1) / 2) * width, vals, width, yerr=errs, capsize=2, label=m)
    ax.axhline(0, c="0.3", lw=0.8)
    ax.set_xticks(x, models, rotation=20, ha="right")
    ax.set_ylabel("AUC drop when blanked at test")
    ax.set_title(f"{dataset}: modality importance (mean ± std over folds)", fontsize=10)
    ax.legend(title="blanked", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heatmap(summary: pd.DataFrame, plan, dataset, path: Path) -> None:
    """Mean ROC AUC over folds, model x subset."""
    plt = _plt()
    s = summary[summary.dataset == dataset]
    subsets = plan["datasets"][dataset]["subsets"]
    models = [m["name"] for m in plan["models"] if m["name"] in set(s.model)]
    grid = np.full((len(models), len(subsets)), np.nan)
    for i, mo in enumerate(models):
        for j, su in enumerate(subsets):
            v = s[(s.model == mo) & (s.subset == su)].roc_auc_mean
            if len(v):
                grid[i, j] = v.iloc[0]
    fig, ax = plt.subplots(figsize=(1.6 + 1.05 * len(subsets), 0.9 + 0.45 * len(models)))
    im = ax.imshow(
        grid, cmap="viridis", vmin=np.nanmin([0.5, np.nanmin(grid)]), vmax=1.0, aspect="auto"
    )
    for i in range(len(models)):
        for j in range(len(subsets)):
            if not np.isnan(grid[i, j]):
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if grid[i, j] < 0.75 else "black",
                )
    ax.set_xticks(range(len(subsets)), [subset_label(x) for x in subsets], fontsize=8)
    ax.set_yticks(range(len(models)), models, fontsize=8)
    ax.set_title(f"{dataset}: mean ROC AUC over folds (model x available modalities)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_param_importance(table: pd.DataFrame, path: Path) -> None:
    """Heat map of mean fANOVA importances: rows model x subset, columns searched parameters.

    ``table`` is indexed by row label; NaN (a parameter a row does not search) is left blank.
    """
    plt = _plt()
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.9 * table.shape[1], 1.2 + 0.32 * table.shape[0]), squeeze=True
    )
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i, j in zip(*np.nonzero(np.isfinite(values))):
        v = values[i, j]
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, c="w" if v < 0.6 else "k")
    ax.set_xticks(range(table.shape[1]), list(table.columns), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), list(table.index), fontsize=8)
    ax.set_title("Parameter importance (fANOVA, mean over folds)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
