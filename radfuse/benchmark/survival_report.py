"""The report of a survival benchmark (``task: survival``), written by
:func:`radfuse.benchmark.report.write_report`:

- ``results.csv``: one row per (dataset, model, subset, repeat, fold): Harrell's and Uno's C,
  the integrated Brier score and the time-dependent AUCs
  (:mod:`radfuse.benchmark.survival_metrics`);
- ``summary.csv``: their mean and standard deviation over folds;
- ``oof_risks.csv``: the out-of-fold risk and risk group of every patient, model and subset;
- ``survival_table_<dataset>.md``: model x subset, Harrell's C, Uno's C, IBS and td-AUC
  (mean ± std); ``cindex_table_<dataset>.md``: Harrell's C, one column per subset;
- ``comparison.csv``: each model against the best baseline (highest mean Harrell's C among the
  baselines) on the same subset: the Nadeau-Bengio corrected resampled t-test over the fold
  C-indices and a paired bootstrap CI of the mean fold C difference (patients resampled within
  each test fold, repeat 0). DeLong's test does not apply to a C-index;
- ``logrank.csv`` and ``km_<dataset>.png``: Kaplan-Meier curves of the high and low risk
  groups (median of each training fold's risk) with the log-rank test;
- ``summary.md``: all of it as text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radfuse._utils.io import atomic_write_text
from radfuse.benchmark.stats import bootstrap_cindex_difference, corrected_resampled_ttest
from radfuse.benchmark.summary import run_section, time_section
from radfuse.benchmark.survival_plots import logrank_table, plot_risk_groups
from radfuse.benchmark.tables import format_pm, markdown_table, summarize

__all__ = [
    "SURVIVAL_NAMES",
    "compare_survival_models",
    "oof_risks",
    "survival_table",
    "write_survival_report",
]

#: column titles of the survival metrics in the report's tables
SURVIVAL_NAMES = {
    "c_harrell": "C (Harrell)",
    "c_uno": "C (Uno)",
    "ibs": "IBS",
    "td_auc": "td-AUC",
}


def oof_risks(tasks: list[dict]) -> pd.DataFrame:
    """One row per patient, model, subset, repeat and fold: time, event, risk and risk group."""
    frames = []
    for t in tasks:
        r0 = t["rows"][0]
        for o in t["oof"]:
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": r0["dataset"],
                        "model": r0["model"],
                        "subset": o["subset"],
                        "repeat": r0["repeat"],
                        "fold": r0["fold"],
                        "patient_id": o["patient_id"],
                        "time": o["time"],
                        "event": o["event"],
                        "risk": o["risk"],
                        "high_risk": o["high_risk"],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def survival_table(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows = model x subset; Harrell's C, Uno's C, IBS and td-AUC as mean ± std."""
    s = summary[summary.dataset == dataset]
    tab = pd.DataFrame({"model": s.model, "subset": s.subset, "folds": s.n_folds})
    for k, title in SURVIVAL_NAMES.items():
        tab[title] = [format_pm(a, b) for a, b in zip(s[f"{k}_mean"], s[f"{k}_std"])]
    return tab


def _cindex_table(summary: pd.DataFrame, plan: dict, dataset: str) -> pd.DataFrame:
    s = summary[summary.dataset == dataset]
    subsets = [x for x in plan["datasets"][dataset]["subsets"] if x in set(s.subset)]
    rows = []
    for model in dict.fromkeys(s.model):
        row = {"model": model}
        for sub in subsets:
            r = s[(s.model == model) & (s.subset == sub)]
            row[sub] = (
                format_pm(r.c_harrell_mean.iloc[0], r.c_harrell_std.iloc[0]) if len(r) else ""
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _bootstrap(risks: pd.DataFrame, model: str, best: str, n_boot: int, alpha: float) -> dict:
    """The within-fold paired bootstrap of repeat 0 (an empty dict without shared folds)."""
    a = risks[(risks.model == model) & (risks.repeat == 0)]
    b = risks[(risks.model == best) & (risks.repeat == 0)]
    m = a.merge(b[["fold", "patient_id", "risk"]], on=["fold", "patient_id"], suffixes=("", "_b"))
    folds = [
        (g.event.to_numpy(bool), g.time.to_numpy(float), g.risk.to_numpy(), g.risk_b.to_numpy())
        for _, g in m.groupby("fold")
        if g.event.any()
    ]
    if not folds:
        return {}
    boot = bootstrap_cindex_difference(folds, n_bootstrap=n_boot, alpha=alpha, random_state=0)
    return {
        "boot_c_diff": boot["diff"],
        "ci_low": boot["ci_low"],
        "ci_high": boot["ci_high"],
        "bootstrap_p": boot["p"],
    }


def compare_survival_models(results: pd.DataFrame, risks: pd.DataFrame, plan: dict):
    """Each model against the best baseline on the same dataset and subset (see the module
    docstring); one row per (dataset, subset, model)."""
    comp = plan.get("comparison", {})
    baselines = [m["name"] for m in plan["models"] if m.get("baseline")]
    if comp.get("baseline", "auto") != "auto":
        baselines = [comp["baseline"]]
    n_boot, alpha = int(comp.get("n_bootstrap", 2000)), float(comp.get("alpha", 0.05))
    rows = []
    for (ds, subset), grp in results.groupby(["dataset", "subset"], sort=False):
        c = grp.groupby("model", sort=False)["c_harrell"].mean()
        cands = [b for b in baselines if b in c.index]
        if not cands:
            continue
        best = max(cands, key=lambda b: c[b])
        ref = grp[grp.model == best].set_index(["repeat", "fold"])
        sub_risks = risks[(risks.dataset == ds) & (risks.subset == subset)]
        for model in c.index:
            if model == best:
                continue
            folds = grp[grp.model == model].set_index(["repeat", "fold"])
            joined = folds[["c_harrell", "n_train", "n_test"]].join(
                ref[["c_harrell"]].rename(columns={"c_harrell": "c_ref"}), how="inner"
            )
            nb = corrected_resampled_ttest(
                joined.c_harrell - joined.c_ref, joined.n_train.mean(), joined.n_test.mean()
            )
            rows.append(
                {
                    "dataset": ds,
                    "subset": subset,
                    "model": model,
                    "baseline": best,
                    "c_model": c[model],
                    "c_baseline": c[best],
                    "nb_mean_diff": nb["mean"],
                    "nb_t": nb["t"],
                    "nb_p": nb["p"],
                    **_bootstrap(sub_risks, model, best, n_boot, alpha),
                }
            )
    return pd.DataFrame(rows)


def _p(v) -> str:
    return "n/a" if pd.isna(v) else f"{v:.3f}"


def _dataset_markdown(ds, summary, comparison, logrank, tasks, plan, run_info) -> list[str]:
    info = run_info.get("datasets", {}).get(ds, {})
    md = [f"## Dataset `{ds}`", ""]
    if info:
        md += [
            f"{info.get('n_patients')} patients, {info.get('n_features')} features "
            f"({info.get('features_per_modality')}), {info.get('event_counts')}, missing "
            f"blocks per modality {info.get('missing_per_modality')}.",
            "",
        ]
    md += ["### Harrell's C by model and available modalities", ""]
    md += [markdown_table(_cindex_table(summary, plan, ds)), ""]
    md += ["### Survival metrics (mean ± std over folds)", ""]
    md += [markdown_table(survival_table(summary, ds)), ""]
    c = comparison[comparison.dataset == ds] if len(comparison) else comparison
    if len(c):
        ct = pd.DataFrame(
            {
                "model": c.model,
                "subset": c.subset,
                "vs": c.baseline,
                "ΔC (folds)": (c.c_model - c.c_baseline).map(lambda v: f"{v:+.3f}"),
                "NB corrected t p": c.nb_p.map(_p),
            }
        )
        if "boot_c_diff" in c:
            ct["ΔC [95% CI] (bootstrap within folds)"] = [
                "n/a" if pd.isna(d) else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                for d, lo, hi in zip(c.boot_c_diff, c.ci_low, c.ci_high)
            ]
            ct["bootstrap p"] = c.bootstrap_p.map(_p)
        md += ["### Harrell's C against the best baseline on the same subset", ""]
        md += [markdown_table(ct), "", "No correction for multiple comparisons.", ""]
    lr = logrank[(logrank.dataset == ds) & (logrank.repeat == 0)]
    lr = lr.assign(logrank_p=lr.logrank_p.map(_p)).drop(columns=["dataset", "repeat"])
    md += ["### Risk groups (median of the training fold's risk), log-rank test", ""]
    md += [markdown_table(lr.drop(columns=["logrank_chisq"])), ""]
    md += time_section(tasks, ds)
    md += [f"Plots: `km_{ds}.png`.", ""]
    return md


def write_survival_report(out_dir, results, tasks, plan, run_info):
    """Write the tables and plots of a survival benchmark folder (see the module docstring).

    Returns
    -------
    results, summary : DataFrame
    """
    out_dir = Path(out_dir)
    results.to_csv(out_dir / "results.csv", index=False)
    summary = summarize(results)
    summary.to_csv(out_dir / "summary.csv", index=False)
    risks = oof_risks(tasks)
    risks.to_csv(out_dir / "oof_risks.csv", index=False)
    comparison = compare_survival_models(results, risks, plan)
    if len(comparison):
        comparison.to_csv(out_dir / "comparison.csv", index=False)
    logrank = logrank_table(risks)
    logrank.to_csv(out_dir / "logrank.csv", index=False)
    md = run_section(plan, run_info)
    md += [
        "Survival benchmark: metrics are mean ± std over the CV folds; risk = the model's "
        "`predict`; IBS is n/a for models without survival functions.",
        "",
    ]
    for ds in plan["datasets"]:
        if not (summary.dataset == ds).any():
            continue
        tab = survival_table(summary, ds)
        atomic_write_text(out_dir / f"survival_table_{ds}.md", markdown_table(tab) + "\n")
        cindex = markdown_table(_cindex_table(summary, plan, ds))
        atomic_write_text(out_dir / f"cindex_table_{ds}.md", cindex + "\n")
        plot_risk_groups(risks, logrank, plan, ds, out_dir / f"km_{ds}.png")
        md += _dataset_markdown(ds, summary, comparison, logrank, tasks, plan, run_info)
    atomic_write_text(out_dir / "summary.md", "\n".join(md))
    return results, summary
