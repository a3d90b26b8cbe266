"""Tables of a benchmark report: results, fold summaries, out-of-fold predictions, modality
importance, the paper-style table, the AUC table and the time per model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radfuse.benchmark.metrics import metric_names
from radfuse.benchmark.plan import parse_subset, subset_name
from radfuse.benchmark.store import load_finished
from radfuse.benchmark.survival_metrics import SURVIVAL_METRICS

__all__ = [
    "SHORT_NAMES",
    "auc_table",
    "format_pm",
    "load_results",
    "markdown_table",
    "metric_columns",
    "modality_importance",
    "oof_predictions",
    "out_of_fold",
    "paper_table",
    "summarize",
    "time_table",
]

SHORT_NAMES = {
    "roc_auc": "AUC",
    "accuracy": "ACC",
    "balanced_accuracy": "BACC",
    "sensitivity": "SEN",
    "specificity": "SPE",
    "precision": "PRE",
    "f1": "F1",
}
_ID_COLS = ["dataset", "model", "subset", "n_modalities", "repeat", "fold"]


def load_results(out_dir) -> tuple[pd.DataFrame, list[dict], dict]:
    """Finished fits of a benchmark folder.

    Returns
    -------
    results : DataFrame
        One row per (dataset, model, subset, repeat, fold), in plan order.
    tasks : list of dict
        The stored fits (rows, out-of-fold predictions, blanked predictions).
    plan : dict
        The content of ``plan.json`` plus ``missing``: keys of planned fits not (yet) finished.

    Raises
    ------
    FileNotFoundError
        ``out_dir`` is not a benchmark output folder.
    """
    tasks, plan = load_finished(out_dir)
    results = pd.DataFrame([r for t in tasks for r in t["rows"]])
    if len(results):
        order = {m["name"]: i for i, m in enumerate(plan["models"])}
        sub_order = {
            (d, s): i for d, v in plan["datasets"].items() for i, s in enumerate(v["subsets"])
        }
        results["_m"] = results["model"].map(order)
        results["_s"] = [sub_order.get((d, s), 99) for d, s in zip(results.dataset, results.subset)]
        results = results.sort_values(["dataset", "_m", "_s", "repeat", "fold"]).drop(
            columns=["_m", "_s"]
        )
        results = results.reset_index(drop=True)
    return results, tasks, plan


def metric_columns(results: pd.DataFrame) -> list[str]:
    """The metric columns of a results table (classification, else survival, else all)."""
    for n in (2, 3):
        names = metric_names(n)
        if all(c in results.columns for c in names):
            return names
    if all(c in results.columns for c in SURVIVAL_METRICS):
        return list(SURVIVAL_METRICS)
    return [c for c in results.columns if c not in _ID_COLS and not c.startswith("n_")]


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds per (dataset, model, subset)."""
    metrics = metric_columns(results)
    keys = ["dataset", "model", "subset", "n_modalities"]
    g = results.groupby(keys, sort=False)
    mean = g[metrics].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).add_suffix("_std")
    out = pd.concat([g.size().rename("n_folds"), mean, std], axis=1)
    cols = ["n_folds"]
    for m in metrics:
        cols += [f"{m}_mean", f"{m}_std"]
    out = out[cols]
    out["fit_seconds_total"] = g["fit_seconds"].sum().round(1)
    return out.reset_index()


def format_pm(mean, std, digits=3) -> str:
    """``"mean ± std"`` with ``digits`` decimals (``"n/a"`` without a mean)."""
    if pd.isna(mean):
        return "n/a"
    if pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (no index)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def out_of_fold(tasks: list[dict]) -> tuple[dict, dict]:
    """Pooled out-of-fold predictions and the classes of each dataset.

    Returns
    -------
    oof : dict
        (dataset, model, subset, repeat) -> DataFrame(patient_id, fold, y_true, p0, p1, ...).
    classes : dict
        dataset -> its classes (the order of the ``p<i>`` columns).
    """
    out: dict = {}
    for t in tasks:
        classes = t["classes"]
        first = t["rows"][0]
        ds, model, rep, fold = first["dataset"], first["model"], first["repeat"], first["fold"]
        for o in t["oof"]:
            df = pd.DataFrame(
                np.asarray(o["proba"], float), columns=[f"p{i}" for i in range(len(classes))]
            )
            df.insert(0, "y_true", o["y_true"])
            df.insert(0, "fold", fold)
            df.insert(0, "patient_id", o["patient_id"])
            out.setdefault((ds, model, o["subset"], rep), []).append(df)
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}, {
        (t["rows"][0]["dataset"]): t["classes"] for t in tasks
    }


def modality_importance(results, tasks, plan) -> pd.DataFrame:
    """Drop in AUC when each modality is blanked at test time, per model and fold."""
    rows = []
    for t in tasks:
        for m, b in t.get("blanked", {}).items():
            r0 = t["rows"][0]
            full = next(
                r
                for r in t["rows"]
                if r["n_modalities"] == len(plan["datasets"][r0["dataset"]]["modalities"])
            )
            rows.append(
                {
                    "dataset": r0["dataset"],
                    "model": r0["model"],
                    "modality": m,
                    "repeat": r0["repeat"],
                    "fold": r0["fold"],
                    "auc_full": full["roc_auc"],
                    "auc_blanked": b.get("roc_auc", np.nan),
                    "error": b.get("error", ""),
                }
            )
    # models evaluated by blanking at test time: the subsets without one block give it directly
    blank_models = [m["name"] for m in plan["models"] if m["subset_mode"] == "blank_at_test"]
    for ds, info in plan["datasets"].items():
        mods = info["modalities"]
        if len(mods) < 2:
            continue
        full_name = subset_name(mods)
        for model in blank_models:
            sub = results[(results.dataset == ds) & (results.model == model)]
            if sub.empty:
                continue
            full = sub[sub.subset == full_name].set_index(["repeat", "fold"])["roc_auc"]
            for m in mods:
                name = subset_name(x for x in mods if x != m)
                red = sub[sub.subset == name].set_index(["repeat", "fold"])["roc_auc"]
                for (rep, fold), v in full.items():
                    if (rep, fold) in red.index:
                        rows.append(
                            {
                                "dataset": ds,
                                "model": model,
                                "modality": m,
                                "repeat": rep,
                                "fold": fold,
                                "auc_full": v,
                                "auc_blanked": red[(rep, fold)],
                                "error": "",
                            }
                        )
    df = pd.DataFrame(rows)
    if len(df):
        df["auc_drop"] = df["auc_full"] - df["auc_blanked"]
    return df


def paper_table(summary: pd.DataFrame, plan: dict, dataset: str) -> pd.DataFrame:
    """Rows = model x subset, a ✓ column per modality, then the main metrics (mean ± std)."""
    mods = plan["datasets"][dataset]["modalities"]
    s = summary[summary.dataset == dataset]
    metrics = [
        m
        for m in ("roc_auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy")
        if f"{m}_mean" in s.columns
    ]
    if not metrics:
        metrics = [c[:-5] for c in s.columns if c.endswith("_mean")][:5]
    rows = []
    for _, r in s.iterrows():
        present = set(parse_subset(r["subset"]))
        row = {"Model": r["model"]}
        row.update({m: "✓" if m in present else "" for m in mods})
        row.update(
            {SHORT_NAMES.get(k, k): format_pm(r[f"{k}_mean"], r[f"{k}_std"]) for k in metrics}
        )
        rows.append(row)
    return pd.DataFrame(rows)


def auc_table(summary: pd.DataFrame, plan: dict, dataset: str) -> pd.DataFrame:
    """Compact table: one row per model, one column per subset, ROC AUC mean ± std."""
    s = summary[summary.dataset == dataset]
    subsets = [x for x in plan["datasets"][dataset]["subsets"] if x in set(s.subset)]
    rows = []
    for model in dict.fromkeys(s.model):
        row = {"model": model}
        for sub in subsets:
            r = s[(s.model == model) & (s.subset == sub)]
            row[sub] = format_pm(r.roc_auc_mean.iloc[0], r.roc_auc_std.iloc[0], 2) if len(r) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def oof_predictions(oof: dict, classes_of: dict) -> pd.DataFrame:
    """``oof_predictions.csv``: one row per patient, model, subset and repeat, with a
    ``proba_<class>`` column per class."""
    frames = []
    for (ds, model, subset, rep), df in oof.items():
        classes = classes_of[ds]
        df = df.rename(columns={f"p{i}": f"proba_{c}" for i, c in enumerate(classes)})
        df.insert(0, "repeat", rep)
        df.insert(0, "subset", subset)
        df.insert(0, "model", model)
        df.insert(0, "dataset", ds)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def time_table(tasks: list[dict], dataset: str) -> pd.DataFrame:
    """Worker and CPU seconds per model on a dataset (total and per fit)."""
    ttab = pd.DataFrame(
        [
            {
                "model": t["rows"][0]["model"],
                "wall": t["seconds"],
                "cpu": t.get("cpu_seconds", np.nan),
            }
            for t in tasks
            if t["rows"][0]["dataset"] == dataset
        ]
    )
    g = ttab.groupby("model", sort=False)
    return pd.DataFrame(
        {
            "fits": g.size(),
            "worker s (total)": g.wall.sum().round(1),
            "CPU s (total)": g.cpu.sum(min_count=1).round(1),
            "worker s / fit": g.wall.mean().round(2),
            "CPU s / fit": g.cpu.mean().round(2),
        }
    ).reset_index()
