"""Tables and plots of a benchmark output folder.

:func:`write_report` reads the finished fits of ``<out>/tasks/`` (as listed in ``plan.json``) and
writes, next to them:

- ``results.csv``: one row per (dataset, model, subset, repeat, fold) with every metric;
- ``oof_predictions.csv``: the out-of-fold class probabilities of every patient, model and subset;
- ``summary.csv`` and ``summary.md``: mean ± standard deviation over folds per (dataset, model,
  subset), the paper-style table, the comparison with the best baseline, modality importance and
  where the time went;
- ``paper_table.csv`` / ``paper_table.md``: rows = model x subset with a ✓ column per modality;
- ``auc_table_<dataset>.md``: a compact model x subset table of ROC AUC (mean ± std);
- ``comparison.csv``: each model against the best baseline on the same subset (paired bootstrap CI
  of the AUC difference and DeLong's test on out-of-fold predictions, Nadeau-Bengio corrected
  resampled t-test over folds);
- ``modality_importance.csv``: drop in AUC when each block is blanked at test time;
- PNG plots: ``roc_<dataset>.png`` (one panel per subset), ``confusion_<dataset>.png``,
  ``modality_importance_<dataset>.png`` and ``auc_heatmap_<dataset>.png``.

It runs at the end of every benchmark and again with ``radfuse report FOLDER``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from radfuse.benchmark.metrics import metric_names, positive_index
from radfuse.benchmark.stats import (
    bootstrap_auc_difference,
    corrected_resampled_ttest,
    delong_test,
)

__all__ = ["load_results", "write_report"]

_SHORT = {
    "roc_auc": "AUC",
    "accuracy": "ACC",
    "balanced_accuracy": "BACC",
    "sensitivity": "SEN",
    "specificity": "SPE",
    "precision": "PRE",
    "f1": "F1",
}
_ID_COLS = ["dataset", "model", "subset", "n_modalities", "repeat", "fold"]


def _read_json(path: Path):
    return json.loads(Path(path).read_text())


def load_results(out_dir) -> tuple[pd.DataFrame, list[dict], dict]:
    """Finished fits of a benchmark folder.

    Returns
    -------
    results : DataFrame
        One row per (dataset, model, subset, repeat, fold).
    tasks : list of dict
        The stored fits (rows, out-of-fold predictions, blanked predictions).
    plan : dict
        The content of ``plan.json`` plus ``missing``: keys of planned fits not (yet) finished.
    """
    from radfuse.benchmark.runner import load_task

    out_dir = Path(out_dir)
    plan_file = out_dir / "plan.json"
    if not plan_file.is_file():
        raise FileNotFoundError(
            f"{out_dir} is not a benchmark output folder (no plan.json); run `radfuse bench` "
            "with --out pointing there first."
        )
    plan = _read_json(plan_file)
    tasks, missing = [], []
    for f in plan["fits"]:
        t = load_task(out_dir, f["key"], f["digest"])
        if t is None:
            missing.append(f["key"])
        else:
            tasks.append(t)
    plan["missing"] = missing
    rows = [r for t in tasks for r in t["rows"]]
    results = pd.DataFrame(rows)
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


def _metric_cols(results: pd.DataFrame) -> list[str]:
    for n in (2, 3):
        names = metric_names(n)
        if all(c in results.columns for c in names):
            return names
    return [c for c in results.columns if c not in _ID_COLS and not c.startswith("n_")]


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds per (dataset, model, subset)."""
    metrics = _metric_cols(results)
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


def _pm(mean, std, digits=3) -> str:
    if pd.isna(mean):
        return "n/a"
    if pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines)


# -- out-of-fold predictions --------------------------------------------------------------------
def _oof(tasks: list[dict]) -> dict:
    """(dataset, model, subset, repeat) -> DataFrame(patient_id, fold, y_true, proba columns)."""
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


def _score(df: pd.DataFrame, classes, positive_label):
    if len(classes) == 2:
        return df[f"p{positive_index(classes, positive_label)}"].to_numpy()
    return df[[f"p{i}" for i in range(len(classes))]].to_numpy()


def compare_with_baseline(results, tasks, plan) -> pd.DataFrame:
    """Each model against the best baseline on the same dataset and subset."""
    comp = plan.get("comparison", {})
    baselines = [m["name"] for m in plan["models"] if m.get("baseline")]
    if comp.get("baseline", "auto") != "auto":
        baselines = [comp["baseline"]]
    if not baselines or results.empty:
        return pd.DataFrame()
    oof, classes_of = _oof(tasks)
    n_boot = int(comp.get("n_bootstrap", 2000))
    alpha = float(comp.get("alpha", 0.05))
    rows = []
    for (ds, subset), grp in results.groupby(["dataset", "subset"], sort=False):
        auc = grp.groupby("model", sort=False)["roc_auc"].mean()
        cands = [b for b in baselines if b in auc.index]
        if not cands:
            continue
        best = max(cands, key=lambda b: auc[b])
        classes = classes_of[ds]
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
            # corrected resampled t-test over the per-fold AUC differences
            mf = grp[grp.model == model].set_index(["repeat", "fold"])
            joined = mf[["roc_auc", "n_train", "n_test"]].join(
                ref_folds[["roc_auc"]].rename(columns={"roc_auc": "roc_auc_ref"}), how="inner"
            )
            distinct_splits = joined.reset_index()["fold"].nunique() > 1
            if distinct_splits:
                nb = corrected_resampled_ttest(
                    joined.roc_auc - joined.roc_auc_ref,
                    joined.n_train.mean(),
                    joined.n_test.mean(),
                )
                row.update(nb_mean_diff=nb["mean"], nb_t=nb["t"], nb_p=nb["p"])
            else:  # one split (independent test group): folds differ only by seed
                row.update(nb_mean_diff=float("nan"), nb_t=float("nan"), nb_p=float("nan"))
            # paired tests on the pooled out-of-fold predictions of the first repeat
            a = oof.get((ds, model, subset, 0))
            b = oof.get((ds, best, subset, 0))
            if a is not None and b is not None:
                m = a.merge(b, on="patient_id", suffixes=("_a", "_b"))
                if len(m) and m["y_true_a"].nunique() > 1:
                    ya = m["y_true_a"].to_numpy()
                    ma = m[[c for c in m.columns if c.endswith("_a")]].rename(
                        columns=lambda c: c[:-2]
                    )
                    mb = m[[c for c in m.columns if c.endswith("_b")]].rename(
                        columns=lambda c: c[:-2]
                    )
                    sa, sb = _score(ma, classes, pos_label), _score(mb, classes, pos_label)
                    if len(classes) == 2:
                        ya = ya == classes[positive_index(classes, pos_label)]
                        row["delong_p"] = delong_test(ya, sa, sb)["p"]
                    boot = bootstrap_auc_difference(
                        ya, sa, sb, n_bootstrap=n_boot, alpha=alpha, random_state=0
                    )
                    row.update(
                        oof_auc_diff=boot["diff"],
                        ci_low=boot["ci_low"],
                        ci_high=boot["ci_high"],
                        bootstrap_p=boot["p"],
                    )
            rows.append(row)
    return pd.DataFrame(rows)


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
        full_name = "+".join(mods)
        for model in blank_models:
            sub = results[(results.dataset == ds) & (results.model == model)]
            if sub.empty:
                continue
            full = sub[sub.subset == full_name].set_index(["repeat", "fold"])["roc_auc"]
            for m in mods:
                name = "+".join(x for x in mods if x != m)
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
        present = set(r["subset"].split("+"))
        row = {"Model": r["model"]}
        row.update({m: "✓" if m in present else "" for m in mods})
        row.update({_SHORT.get(k, k): _pm(r[f"{k}_mean"], r[f"{k}_std"]) for k in metrics})
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
            row[sub] = _pm(r.roc_auc_mean.iloc[0], r.roc_auc_std.iloc[0], 2) if len(r) else ""
        rows.append(row)
    return pd.DataFrame(rows)


# -- plots --------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_roc(oof, classes, plan, dataset, summary, path: Path) -> None:
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
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    full = "+".join(plan["datasets"][dataset]["modalities"])
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
    ax.set_xticks(range(len(subsets)), [x.replace("+", "+\n") for x in subsets], fontsize=8)
    ax.set_yticks(range(len(models)), models, fontsize=8)
    ax.set_title(f"{dataset}: mean ROC AUC over folds (model x available modalities)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the report ---------------------------------------------------------------------------------
def write_report(out_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the tables and plots of a benchmark folder (see the module docstring).

    Returns
    -------
    results, summary : DataFrame
    """
    out_dir = Path(out_dir)
    results, tasks, plan = load_results(out_dir)
    run_info = (
        _read_json(out_dir / "run_info.json") if (out_dir / "run_info.json").is_file() else {}
    )
    if results.empty:
        raise RuntimeError(f"{out_dir}: no finished fit to report on yet.")
    results.to_csv(out_dir / "results.csv", index=False)
    summary = summarize(results)
    summary.to_csv(out_dir / "summary.csv", index=False)
    comparison = compare_with_baseline(results, tasks, plan)
    if len(comparison):
        comparison.to_csv(out_dir / "comparison.csv", index=False)
    imp = modality_importance(results, tasks, plan)
    if len(imp):
        imp.to_csv(out_dir / "modality_importance.csv", index=False)
    oof, classes_of = _oof(tasks)
    frames = []
    for (ds, model, subset, rep), df in oof.items():
        classes = classes_of[ds]
        df = df.rename(columns={f"p{i}": f"proba_{c}" for i, c in enumerate(classes)})
        df.insert(0, "repeat", rep)
        df.insert(0, "subset", subset)
        df.insert(0, "model", model)
        df.insert(0, "dataset", ds)
        frames.append(df)
    pd.concat(frames, ignore_index=True).to_csv(out_dir / "oof_predictions.csv", index=False)

    metrics = _metric_cols(results)
    md = [f"# Benchmark `{plan['name']}`", ""]
    if plan.get("shuffle_labels"):
        md += ["**Canary run: labels were permuted; every AUC should be near 0.5.**", ""]
    if plan["missing"]:
        md += [
            f"**Incomplete: {len(plan['missing'])} of {len(plan['fits'])} fits not finished** "
            "(rerun the same command to resume).",
            "",
        ]
    if run_info:
        env = run_info.get("environment", {})
        md += [
            f"- finished {run_info.get('finished_utc')} in {run_info.get('wall_seconds')} s "
            f"({run_info.get('n_fits')} fits, {run_info.get('n_fits_run')} run now, "
            f"{run_info.get('n_fits_reused')} reused; {run_info.get('n_jobs')} workers, "
            f"backend {run_info.get('backend')}, {run_info.get('threads_per_fit')} thread(s) "
            "per fit)",
            f"- seed {run_info.get('seed')}; radfuse {env.get('packages', {}).get('radfuse')}, "
            f"Python {env.get('python')}, {env.get('device', {}).get('cpu_count')} CPUs, "
            f"CUDA: {env.get('device', {}).get('torch_cuda')}",
            "",
        ]
    mean_std = (
        "Metrics are mean ± standard deviation over the CV folds (all repeats). Binary: "
        "positive class = the greater label unless the dataset names one; multi-class "
        "`_macro` = unweighted mean over classes, `_weighted` = weighted by support."
    )
    md += [mean_std, ""]
    how = {
        "columns": "fitted and tested on the subset's columns only (one fit per subset)",
        "input_modalities": "one fit per subset reading its blocks (input_modalities); the "
        "other blocks are training targets; on all modalities a plain fusion model",
        "blank_at_test": "one fit per fold on every block; tested with the blocks outside the "
        "subset blanked",
    }
    mt = pd.DataFrame(
        {
            "model": [m["name"] for m in plan["models"]],
            "class": [m["class"].rsplit(".", 1)[-1] for m in plan["models"]],
            "subset mode": [m["subset_mode"] for m in plan["models"]],
            "training rows": [m.get("train_rows", "all") for m in plan["models"]],
            "baseline": ["yes" if m.get("baseline") else "" for m in plan["models"]],
        }
    )
    md += [
        "Models (subset modes: "
        + "; ".join(f"`{k}`: {v}" for k, v in how.items() if k in set(mt["subset mode"]))
        + "):",
        "",
        _md_table(mt),
        "",
    ]
    for ds, info in plan["datasets"].items():
        s = summary[summary.dataset == ds]
        if s.empty:
            continue
        dinfo = run_info.get("datasets", {}).get(ds, {})
        md += [f"## Dataset `{ds}`", ""]
        if dinfo:
            md += [
                f"{dinfo.get('n_patients')} patients, {dinfo.get('n_features')} features "
                f"({dinfo.get('features_per_modality')}), classes {dinfo.get('class_counts')}, "
                f"missing blocks per modality {dinfo.get('missing_per_modality')}"
                + (f", groups {dinfo.get('group_counts')}" if dinfo.get("group_counts") else "")
                + ".",
                "",
            ]
            notes = []
            if dinfo.get("extraction_seconds") is not None:
                notes.append(
                    f"extraction ({dinfo.get('spec')}): {dinfo['extraction_seconds']} s"
                    + (" (cached)" if dinfo.get("extraction_cached") else "")
                )
            if dinfo.get("phantom_seconds") is not None:
                notes.append(
                    f"phantom cohort: {dinfo['phantom_seconds']} s"
                    + (" (cached)" if dinfo.get("phantom_cached") else "")
                )
            for k, label in (
                ("dropped_bad_value_columns", "columns dropped (NaN/inf inside present blocks)"),
                ("dropped_constant_columns", "constant columns dropped"),
                ("dropped_rows_without_any_modality", "patients dropped (no modality at all)"),
                ("extraction_errors", "failed extraction cases"),
            ):
                if dinfo.get(k):
                    v = dinfo[k]
                    notes.append(
                        f"{label}: {len(v)} ({', '.join(map(str, v[:5]))}"
                        f"{', ...' if len(v) > 5 else ''})"
                    )
            if notes:
                md += ["- " + n for n in notes] + [""]
        tab = pd.DataFrame({"model": s.model, "subset": s.subset, "folds": s.n_folds})
        for m in metrics:
            tab[_SHORT.get(m, m)] = [_pm(a, b) for a, b in zip(s[f"{m}_mean"], s[f"{m}_std"])]
        auc = auc_table(summary, plan, ds)
        (out_dir / f"auc_table_{ds}.md").write_text(_md_table(auc) + "\n")
        md += ["### ROC AUC by model and available modalities", "", _md_table(auc), ""]
        md += ["### Summary (mean ± std over folds)", "", _md_table(tab), ""]
        pt = paper_table(summary, plan, ds)
        pt.to_csv(out_dir / f"paper_table_{ds}.csv", index=False)
        md += ["### Paper-style table", "", _md_table(pt), ""]
        if len(comparison) and (comparison.dataset == ds).any():
            c = comparison[comparison.dataset == ds]
            ct = pd.DataFrame(
                {
                    "model": c.model,
                    "subset": c.subset,
                    "vs": c.baseline,
                    "ΔAUC (folds)": (c.auc_model - c.auc_baseline).map(lambda v: f"{v:+.3f}"),
                    "NB corrected t p": c.nb_p.map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}"),
                }
            )
            if "oof_auc_diff" in c:
                ct["ΔAUC OOF [95% CI]"] = [
                    "n/a" if pd.isna(d) else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                    for d, lo, hi in zip(c.oof_auc_diff, c.ci_low, c.ci_high)
                ]
            if "delong_p" in c:
                ct["DeLong p"] = c.delong_p.map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
            md += [
                "### Comparison with the best baseline on the same subset",
                "",
                "ΔAUC (folds): difference of mean fold AUCs; NB: Nadeau-Bengio corrected "
                "resampled t-test over folds; OOF: pooled out-of-fold predictions of repeat 0, "
                "paired stratified bootstrap CI and DeLong's test. No correction for multiple "
                "comparisons.",
                "",
                _md_table(ct),
                "",
            ]
        if len(imp) and (imp.dataset == ds).any():
            d = imp[imp.dataset == ds]
            ok = d[d.auc_drop.notna()]
            if len(ok):
                it = ok.groupby(["model", "modality"], sort=False)["auc_drop"].agg(["mean", "std"])
                it = it["mean"].combine(it["std"], lambda a, b: _pm(a, b)).unstack()
                it = it.reindex(columns=[m for m in info["modalities"] if m in it.columns])
                md += [
                    "### Modality importance (AUC drop when the block is blanked at test)",
                    "",
                    _md_table(it.reset_index()),
                    "",
                ]
            bad = d[d.auc_drop.isna()].groupby("model")["error"].first()
            for model, err in bad.items():
                md += [f"- {model}: cannot predict with a blanked block ({err}); no importance."]
            if len(bad):
                md += [""]
        # where the time went
        ttab = pd.DataFrame(
            [
                {
                    "model": t["rows"][0]["model"],
                    "wall": t["seconds"],
                    "cpu": t.get("cpu_seconds", np.nan),
                    "fit": t.get("fit_seconds", np.nan),
                }
                for t in tasks
                if t["rows"][0]["dataset"] == ds
            ]
        )
        g = ttab.groupby("model", sort=False)
        tt = pd.DataFrame(
            {
                "fits": g.size(),
                "worker s (total)": g.wall.sum().round(1),
                "CPU s (total)": g.cpu.sum(min_count=1).round(1),
                "worker s / fit": g.wall.mean().round(2),
                "CPU s / fit": g.cpu.mean().round(2),
            }
        ).reset_index()
        md += [
            "### Time per model",
            "",
            "Worker seconds: wall time of each fit (preprocessing, training, prediction) in its "
            "worker, summed; CPU seconds: the worker process's CPU time (all threads), which "
            "does not grow when other processes compete for the cores.",
            "",
            _md_table(tt),
            "",
        ]

        classes = classes_of.get(ds)
        if classes is not None:
            plot_roc(oof, classes, plan, ds, summary, out_dir / f"roc_{ds}.png")
            plot_confusion(oof, classes, plan, ds, out_dir / f"confusion_{ds}.png")
            plot_heatmap(summary, plan, ds, out_dir / f"auc_heatmap_{ds}.png")
            if len(imp):
                plot_importance(imp, plan, ds, out_dir / f"modality_importance_{ds}.png")
        md += [
            f"Plots: `auc_heatmap_{ds}.png`, `roc_{ds}.png`, `confusion_{ds}.png`, "
            f"`modality_importance_{ds}.png`.",
            "",
        ]
    (out_dir / "summary.md").write_text("\n".join(md))
    # one paper table for every dataset together
    pts = []
    for ds in plan["datasets"]:
        if (summary.dataset == ds).any():
            pt = paper_table(summary, plan, ds)
            pt.insert(0, "Dataset", ds)
            pts.append(pt)
    if pts:
        allpt = pd.concat(pts, ignore_index=True).fillna("")
        allpt.to_csv(out_dir / "paper_table.csv", index=False)
        (out_dir / "paper_table.md").write_text(_md_table(allpt) + "\n")
    return results, summary
