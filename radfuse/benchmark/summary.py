"""The markdown summary of a benchmark report (``summary.md``): the run, the models and, per
dataset, its provenance, the AUC table, the fold summary, the paper-style table, the comparison
with the best baseline, modality importance and the time per model.

Every function returns a list of Markdown lines; :func:`summary_markdown` joins them.
"""

from __future__ import annotations

import pandas as pd

from radfuse.benchmark.tables import (
    SHORT_NAMES,
    auc_table,
    format_pm,
    markdown_table,
    metric_columns,
    paper_table,
    time_table,
)

__all__ = [
    "comparison_section",
    "dataset_section",
    "importance_section",
    "models_section",
    "provenance_section",
    "run_section",
    "summary_markdown",
    "time_section",
]

# how each subset mode meets a subset, for the models table
_HOW = {
    "columns": "fitted and tested on the subset's columns only (one fit per subset)",
    "input_modalities": "one fit per subset reading its blocks (input_modalities); the "
    "other blocks are training targets; on all modalities a plain fusion model",
    "blank_at_test": "one fit per fold on every block; tested with the blocks outside the "
    "subset blanked",
}
# dataset provenance lists, with their labels
_DROPPED = (
    ("dropped_bad_value_columns", "columns dropped (NaN/inf inside present blocks)"),
    ("dropped_constant_columns", "constant columns dropped"),
    ("dropped_rows_without_any_modality", "patients dropped (no modality at all)"),
    ("extraction_errors", "failed extraction cases"),
)


def _p_value(v) -> str:
    return "n/a" if pd.isna(v) else f"{v:.3f}"


def run_section(plan: dict, run_info: dict) -> list[str]:
    """Title, canary and completeness warnings, and the run's timing and environment."""
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
    return md


def models_section(plan: dict) -> list[str]:
    """How metrics are summarised, and the models with their subset modes and training rows
    (and, for a tuned run, each model's search budget: details in ``tuning.md``)."""
    mean_std = (
        "Metrics are mean ± standard deviation over the CV folds (all repeats). Binary: "
        "positive class = the greater label unless the dataset names one; multi-class "
        "`_macro` = unweighted mean over classes, `_weighted` = weighted by support."
    )
    mt = pd.DataFrame(
        {
            "model": [m["name"] for m in plan["models"]],
            "class": [m["class"].rsplit(".", 1)[-1] for m in plan["models"]],
            "subset mode": [m["subset_mode"] for m in plan["models"]],
            "training rows": [m.get("train_rows", "all") for m in plan["models"]],
            "baseline": ["yes" if m.get("baseline") else "" for m in plan["models"]],
        }
    )
    if "tuning" in plan:  # a tuned run only: an untuned summary stays as it was
        mt["tuning"] = [
            ""
            if m.get("tuning") is None
            else f"{m['tuning']['n_trials']} trials x {m['tuning']['inner_folds']} inner folds"
            for m in plan["models"]
        ]
    return [
        mean_std,
        "",
        "Models (subset modes: "
        + "; ".join(f"`{k}`: {v}" for k, v in _HOW.items() if k in set(mt["subset mode"]))
        + "):",
        "",
        markdown_table(mt),
        "",
    ]


def provenance_section(dinfo: dict) -> list[str]:
    """Size, classes and missing blocks of a dataset; extraction time and what was dropped."""
    if not dinfo:
        return []
    md = [
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
    for k, label in _DROPPED:
        if dinfo.get(k):
            v = dinfo[k]
            notes.append(
                f"{label}: {len(v)} ({', '.join(map(str, v[:5]))}{', ...' if len(v) > 5 else ''})"
            )
    if notes:
        md += ["- " + n for n in notes] + [""]
    return md


def comparison_section(comparison: pd.DataFrame, dataset: str) -> list[str]:
    """The comparison with the best baseline on each subset of a dataset (may be empty)."""
    if not (len(comparison) and (comparison.dataset == dataset).any()):
        return []
    c = comparison[comparison.dataset == dataset]
    ct = pd.DataFrame(
        {
            "model": c.model,
            "subset": c.subset,
            "vs": c.baseline,
            "ΔAUC (folds)": (c.auc_model - c.auc_baseline).map(lambda v: f"{v:+.3f}"),
            "NB corrected t p": c.nb_p.map(_p_value),
        }
    )
    if "oof_auc_diff" in c:
        ct["ΔAUC OOF [95% CI]"] = [
            "n/a" if pd.isna(d) else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for d, lo, hi in zip(c.oof_auc_diff, c.ci_low, c.ci_high)
        ]
    if "delong_p" in c:
        ct["DeLong p"] = c.delong_p.map(_p_value)
    return [
        "### Comparison with the best baseline on the same subset",
        "",
        "ΔAUC (folds): difference of mean fold AUCs; NB: Nadeau-Bengio corrected "
        "resampled t-test over folds; OOF: pooled out-of-fold predictions of repeat 0, "
        "paired stratified bootstrap CI and DeLong's test. No correction for multiple "
        "comparisons.",
        "",
        markdown_table(ct),
        "",
    ]


def importance_section(imp: pd.DataFrame, dataset: str, modalities: list[str]) -> list[str]:
    """Mean ± std AUC drop per model and blanked block, and the models that cannot blank one."""
    if not (len(imp) and (imp.dataset == dataset).any()):
        return []
    md = []
    d = imp[imp.dataset == dataset]
    ok = d[d.auc_drop.notna()]
    if len(ok):
        it = ok.groupby(["model", "modality"], sort=False)["auc_drop"].agg(["mean", "std"])
        it = it["mean"].combine(it["std"], lambda a, b: format_pm(a, b)).unstack()
        it = it.reindex(columns=[m for m in modalities if m in it.columns])
        md += [
            "### Modality importance (AUC drop when the block is blanked at test)",
            "",
            markdown_table(it.reset_index()),
            "",
        ]
    bad = d[d.auc_drop.isna()].groupby("model")["error"].first()
    for model, err in bad.items():
        md += [f"- {model}: cannot predict with a blanked block ({err}); no importance."]
    if len(bad):
        md += [""]
    return md


def time_section(tasks: list[dict], dataset: str) -> list[str]:
    """Where the time went: worker and CPU seconds per model."""
    return [
        "### Time per model",
        "",
        "Worker seconds: wall time of each fit (preprocessing, training, prediction) in its "
        "worker, summed; CPU seconds: the worker process's CPU time (all threads), which "
        "does not grow when other processes compete for the cores.",
        "",
        markdown_table(time_table(tasks, dataset)),
        "",
    ]


def dataset_section(
    dataset: str, results, summary, comparison, imp, tasks, plan: dict, run_info: dict
) -> list[str]:
    """Everything ``summary.md`` says about one dataset."""
    s = summary[summary.dataset == dataset]
    md = [f"## Dataset `{dataset}`", ""]
    md += provenance_section(run_info.get("datasets", {}).get(dataset, {}))
    tab = pd.DataFrame({"model": s.model, "subset": s.subset, "folds": s.n_folds})
    for m in metric_columns(results):
        tab[SHORT_NAMES.get(m, m)] = [
            format_pm(a, b) for a, b in zip(s[f"{m}_mean"], s[f"{m}_std"])
        ]
    auc = auc_table(summary, plan, dataset)
    md += ["### ROC AUC by model and available modalities", "", markdown_table(auc), ""]
    md += ["### Summary (mean ± std over folds)", "", markdown_table(tab), ""]
    pt = paper_table(summary, plan, dataset)
    md += ["### Paper-style table", "", markdown_table(pt), ""]
    md += comparison_section(comparison, dataset)
    md += importance_section(imp, dataset, plan["datasets"][dataset]["modalities"])
    md += time_section(tasks, dataset)
    md += [
        f"Plots: `auc_heatmap_{dataset}.png`, `roc_{dataset}.png`, `confusion_{dataset}.png`, "
        f"`modality_importance_{dataset}.png`.",
        "",
    ]
    return md


def summary_markdown(results, summary, comparison, imp, tasks, plan, run_info) -> str:
    """The text of ``summary.md``: the run, the models, then each dataset with results."""
    md = run_section(plan, run_info) + models_section(plan)
    for ds in plan["datasets"]:
        if (summary.dataset == ds).any():
            md += dataset_section(ds, results, summary, comparison, imp, tasks, plan, run_info)
    return "\n".join(md)
