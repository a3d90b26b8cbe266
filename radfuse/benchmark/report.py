"""The report of a benchmark output folder.

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
  ``modality_importance_<dataset>.png`` and ``auc_heatmap_<dataset>.png``;
- with tuning only: ``tuning.md``, ``param_importance.md`` and ``param_importance.png``
  (:mod:`radfuse.benchmark.tuning_report`).

A survival benchmark's report is :mod:`radfuse.benchmark.survival_report`'s instead.

It runs at the end of every benchmark and again with ``radfuse report FOLDER``. The tables are
built in :mod:`radfuse.benchmark.tables` and :mod:`radfuse.benchmark.comparisons`, the plots in
:mod:`radfuse.benchmark.plots`, the text in :mod:`radfuse.benchmark.summary`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radfuse._utils.io import atomic_write_text
from radfuse.benchmark.comparisons import compare_with_baseline
from radfuse.benchmark.plots import plot_confusion, plot_heatmap, plot_importance, plot_roc
from radfuse.benchmark.store import read_run_info
from radfuse.benchmark.summary import summary_markdown
from radfuse.benchmark.survival_report import write_survival_report
from radfuse.benchmark.tables import (
    auc_table,
    load_results,
    markdown_table,
    modality_importance,
    oof_predictions,
    out_of_fold,
    paper_table,
    summarize,
)
from radfuse.benchmark.tuning_report import write_tuning_report

__all__ = ["load_results", "write_report"]


def _reported(plan: dict, summary: pd.DataFrame) -> list[str]:
    """The datasets with at least one finished fit, in plan order."""
    return [ds for ds in plan["datasets"] if (summary.dataset == ds).any()]


def _write_dataset_tables(out_dir: Path, summary, plan, datasets) -> None:
    """``auc_table_<ds>.md`` and ``paper_table_<ds>.csv`` per dataset, and ``paper_table.*``
    for every dataset together."""
    pts = []
    for ds in datasets:
        atomic_write_text(
            out_dir / f"auc_table_{ds}.md", markdown_table(auc_table(summary, plan, ds)) + "\n"
        )
        pt = paper_table(summary, plan, ds)
        pt.to_csv(out_dir / f"paper_table_{ds}.csv", index=False)
        pt.insert(0, "Dataset", ds)
        pts.append(pt)
    if pts:
        allpt = pd.concat(pts, ignore_index=True).fillna("")
        allpt.to_csv(out_dir / "paper_table.csv", index=False)
        atomic_write_text(out_dir / "paper_table.md", markdown_table(allpt) + "\n")


def _write_plots(out_dir: Path, oof, classes_of, summary, imp, plan, datasets) -> None:
    """The PNG plots of each dataset."""
    for ds in datasets:
        classes = classes_of.get(ds)
        if classes is None:
            continue
        plot_roc(oof, classes, plan, ds, summary, out_dir / f"roc_{ds}.png")
        plot_confusion(oof, classes, plan, ds, out_dir / f"confusion_{ds}.png")
        plot_heatmap(summary, plan, ds, out_dir / f"auc_heatmap_{ds}.png")
        if len(imp):
            plot_importance(imp, plan, ds, out_dir / f"modality_importance_{ds}.png")


def write_report(out_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the tables and plots of a benchmark folder (see the module docstring).

    Returns
    -------
    results, summary : DataFrame

    Raises
    ------
    FileNotFoundError
        ``out_dir`` is not a benchmark output folder (no ``plan.json``).
    RuntimeError
        No planned fit has finished yet.
    """
    out_dir = Path(out_dir)
    results, tasks, plan = load_results(out_dir)
    run_info = read_run_info(out_dir)
    if results.empty:
        raise RuntimeError(f"{out_dir}: no finished fit to report on yet.")
    if plan.get("task") == "survival":
        return write_survival_report(out_dir, results, tasks, plan, run_info)
    results.to_csv(out_dir / "results.csv", index=False)
    summary = summarize(results)
    summary.to_csv(out_dir / "summary.csv", index=False)
    comparison = compare_with_baseline(results, tasks, plan)
    if len(comparison):
        comparison.to_csv(out_dir / "comparison.csv", index=False)
    imp = modality_importance(results, tasks, plan)
    if len(imp):
        imp.to_csv(out_dir / "modality_importance.csv", index=False)
    oof, classes_of = out_of_fold(tasks)
    oof_predictions(oof, classes_of).to_csv(out_dir / "oof_predictions.csv", index=False)

    datasets = _reported(plan, summary)
    _write_dataset_tables(out_dir, summary, plan, datasets)
    _write_plots(out_dir, oof, classes_of, summary, imp, plan, datasets)
    text = summary_markdown(results, summary, comparison, imp, tasks, plan, run_info)
    atomic_write_text(out_dir / "summary.md", text)
    write_tuning_report(out_dir, tasks, plan)
    return results, summary
