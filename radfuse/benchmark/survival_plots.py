"""Kaplan-Meier curves of predicted risk groups in a survival benchmark's report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radfuse.benchmark.plan import subset_name
from radfuse.benchmark.plots import _plt

__all__ = ["logrank_table", "plot_risk_groups"]


def _logrank(df: pd.DataFrame) -> tuple[float, float]:
    """Log-rank chi-square and p-value of the high against the low risk group (NaN without
    both groups)."""
    from sksurv.compare import compare_survival
    from sksurv.util import Surv

    if df["high_risk"].nunique() < 2:
        return float("nan"), float("nan")
    y = Surv.from_arrays(df["event"].astype(bool), df["time"])
    chisq, p = compare_survival(y, df["high_risk"].to_numpy())[:2]
    return float(chisq), float(p)


def logrank_table(risks: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, subset, repeat): the risk groups' sizes and events, and the log-rank
    test, on the pooled out-of-fold risk groups."""
    rows = []
    for (ds, model, subset, rep), df in risks.groupby(
        ["dataset", "model", "subset", "repeat"], sort=False
    ):
        chisq, p = _logrank(df)
        high = df["high_risk"] == 1
        rows.append(
            {
                "dataset": ds,
                "model": model,
                "subset": subset,
                "repeat": rep,
                "n_high": int(high.sum()),
                "n_low": int((~high).sum()),
                "events_high": int(df.loc[high, "event"].sum()),
                "events_low": int(df.loc[~high, "event"].sum()),
                "logrank_chisq": chisq,
                "logrank_p": p,
            }
        )
    return pd.DataFrame(rows)


def plot_risk_groups(risks: pd.DataFrame, logrank: pd.DataFrame, plan, dataset, path: Path):
    """One panel per model: Kaplan-Meier curves of its high and low risk groups on every
    modality (pooled out-of-fold, repeat 0), with the log-rank p-value."""
    from sksurv.nonparametric import kaplan_meier_estimator

    plt = _plt()
    full = subset_name(plan["datasets"][dataset]["modalities"])
    d = risks[(risks.dataset == dataset) & (risks.subset == full) & (risks.repeat == 0)]
    models = [m["name"] for m in plan["models"] if m["name"] in set(d.model)]
    if not models:
        return
    ncols = min(4, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.4 * nrows), squeeze=False)
    for ax, model in zip(axes.ravel(), models):
        df = d[d.model == model]
        for group, label, colour in ((0, "low risk", "tab:blue"), (1, "high risk", "tab:red")):
            g = df[df.high_risk == group]
            if len(g):
                x, s = kaplan_meier_estimator(g["event"].astype(bool), g["time"])
                ax.step(x, s, where="post", c=colour, label=f"{label} (n={len(g)})")
        lr = logrank[
            (logrank.dataset == dataset)
            & (logrank.model == model)
            & (logrank.subset == full)
            & (logrank.repeat == 0)
        ]
        p = lr.logrank_p.iloc[0] if len(lr) else float("nan")
        ax.set_title(f"{model}: log-rank p = {p:.3g}", fontsize=10)
        ax.set_xlabel("time")
        ax.set_ylabel("survival")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(models) :]:
        ax.axis("off")
    fig.suptitle(
        f"{dataset}: Kaplan-Meier by predicted risk group ({full}; split at each training "
        "fold's median risk; pooled folds, repeat 0)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
