"""Comparisons of a benchmark report: each model against the best baseline on the same subset.

Per (dataset, subset): the Nadeau-Bengio corrected resampled t-test over the per-fold AUC
differences, and, on the pooled out-of-fold predictions of repeat 0, DeLong's test (binary) and
a paired stratified bootstrap CI of the AUC difference. No correction for multiple comparisons.
"""

from __future__ import annotations

import pandas as pd

from radfuse.benchmark.metrics import positive_index
from radfuse.benchmark.stats import (
    bootstrap_auc_difference,
    corrected_resampled_ttest,
    delong_test,
)
from radfuse.benchmark.tables import out_of_fold

__all__ = ["compare_with_baseline"]


def _score(df: pd.DataFrame, classes, positive_label):
    if len(classes) == 2:
        return df[f"p{positive_index(classes, positive_label)}"].to_numpy()
    return df[[f"p{i}" for i in range(len(classes))]].to_numpy()


def _fold_test(model_folds: pd.DataFrame, ref_folds: pd.DataFrame) -> dict:
    """Corrected resampled t-test over the per-fold AUC differences (NaN with one split)."""
    joined = model_folds[["roc_auc", "n_train", "n_test"]].join(
        ref_folds[["roc_auc"]].rename(columns={"roc_auc": "roc_auc_ref"}), how="inner"
    )
    if joined.reset_index()["fold"].nunique() <= 1:
        # one split (independent test group): folds differ only by seed
        return {"nb_mean_diff": float("nan"), "nb_t": float("nan"), "nb_p": float("nan")}
    nb = corrected_resampled_ttest(
        joined.roc_auc - joined.roc_auc_ref, joined.n_train.mean(), joined.n_test.mean()
    )
    return {"nb_mean_diff": nb["mean"], "nb_t": nb["t"], "nb_p": nb["p"]}


def _oof_tests(a, b, classes, pos_label, *, n_boot: int, alpha: float) -> dict:
    """DeLong's test (binary) and the paired bootstrap CI on pooled out-of-fold predictions.

    ``a`` and ``b`` are the out-of-fold tables of the model and of the baseline (or None);
    an empty dict when they share no patients of two classes.
    """
    if a is None or b is None:
        return {}
    m = a.merge(b, on="patient_id", suffixes=("_a", "_b"))
    if not len(m) or m["y_true_a"].nunique() <= 1:
        return {}
    out = {}
    ya = m["y_true_a"].to_numpy()
    ma = m[[c for c in m.columns if c.endswith("_a")]].rename(columns=lambda c: c[:-2])
    mb = m[[c for c in m.columns if c.endswith("_b")]].rename(columns=lambda c: c[:-2])
    sa, sb = _score(ma, classes, pos_label), _score(mb, classes, pos_label)
    if len(classes) == 2:
        ya = ya == classes[positive_index(classes, pos_label)]
        out["delong_p"] = delong_test(ya, sa, sb)["p"]
    boot = bootstrap_auc_difference(ya, sa, sb, n_bootstrap=n_boot, alpha=alpha, random_state=0)
    out.update(
        oof_auc_diff=boot["diff"],
        ci_low=boot["ci_low"],
        ci_high=boot["ci_high"],
        bootstrap_p=boot["p"],
    )
    return out


def compare_with_baseline(results, tasks, plan) -> pd.DataFrame:
    """Each model against the best baseline on the same dataset and subset.

    The best baseline is the model marked ``baseline`` with the highest mean fold AUC on that
    subset (or the configured ``comparison.baseline``). One row per (dataset, subset, model)
    with both mean AUCs, the fold test (``nb_*``) and the out-of-fold tests (``delong_p``,
    ``oof_auc_diff``, ``ci_low``, ``ci_high``, ``bootstrap_p``).
    """
    comp = plan.get("comparison", {})
    baselines = [m["name"] for m in plan["models"] if m.get("baseline")]
    if comp.get("baseline", "auto") != "auto":
        baselines = [comp["baseline"]]
    if not baselines or results.empty:
        return pd.DataFrame()
    oof, classes_of = out_of_fold(tasks)
    n_boot = int(comp.get("n_bootstrap", 2000))
    alpha = float(comp.get("alpha", 0.05))
    rows = []
    for (ds, subset), grp in results.groupby(["dataset", "subset"], sort=False):
        auc = grp.groupby("model", sort=False)["roc_auc"].mean()
        cands = [b for b in baselines if b in auc.index]
        if not cands:
            continue
        best = max(cands, key=lambda b: auc[b])
        pos_label = plan["datasets"][ds].get("positive_label")
        ref_folds = grp[grp.model == best].set_index(["repeat", "fold"])
        for model in auc.index:
            if model == best:
                continue
            row = {
                "dataset": ds,
                "subset": subset,
                "model": model,
                "baseline": best,
                "auc_model": auc[model],
                "auc_baseline": auc[best],
            }
            row.update(_fold_test(grp[grp.model == model].set_index(["repeat", "fold"]), ref_folds))
            # paired tests on the pooled out-of-fold predictions of the first repeat
            row.update(
                _oof_tests(
                    oof.get((ds, model, subset, 0)),
                    oof.get((ds, best, subset, 0)),
                    classes_of[ds],
                    pos_label,
                    n_boot=n_boot,
                    alpha=alpha,
                )
            )
            rows.append(row)
    return pd.DataFrame(rows)
