"""The tuning part of a benchmark report, built from the task files of a tuned run.

- ``tuning.md``: the shared budget, the models that override it or are not tuned, the optimism
  of each model (mean inner best score minus the outer score of the same fit), and per model the
  chosen parameters of every subset and fold next to its inner and outer score;
- ``param_importance.md``: mean fANOVA importance over folds of every searched parameter, rows
  model x modality combination with a ✓ per modality (the layout of the MMT paper's Table 3);
- ``param_importance.png``: the same as a heat map.

Nothing is written when no fit was tuned. The outer score of a fit is its row on the subset it
was fitted on (every modality for ``blank_at_test``), in the metric of the search's scorer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radfuse._utils.io import atomic_write_text
from radfuse.benchmark.plan import parse_subset, subset_name
from radfuse.benchmark.plots import plot_param_importance
from radfuse.benchmark.tables import format_pm, markdown_table

__all__ = ["importance_table", "tuning_table", "write_tuning_report"]


def _outer_metric(scoring: str | None) -> str | None:
    """The result-row metric a scorer measures (None: not one the rows hold)."""
    if scoring is None or scoring.startswith("roc_auc"):
        return "roc_auc"
    return {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy"}.get(
        scoring, scoring if scoring in ("f1", "precision") else None
    )


def tuning_table(tasks: list[dict], plan: dict) -> pd.DataFrame:
    """One row per tuned fit: where, the inner and outer scores, and the chosen parameters.

    Columns: ``dataset``, ``model``, ``subset`` (the fitted subset), ``repeat``, ``fold``,
    ``scoring``, ``n_trials``, ``inner_folds``, ``inner``, ``outer``, ``optimism``
    (inner - outer), ``searched`` (the config names searched), ``params`` (config name -> value)
    and ``importances``.
    """
    out = []
    for t in tasks:
        tun = t.get("tuning")
        if tun is None or not t["rows"]:
            continue
        first = t["rows"][0]
        ds = first["dataset"]
        fitted = tun["fit_subset"] or subset_name(plan["datasets"][ds]["modalities"])
        metric = _outer_metric(tun["scoring"])
        row = next((r for r in t["rows"] if r["subset"] == fitted), None)
        outer = np.nan if row is None or metric is None else float(row.get(metric, np.nan))
        inner = np.nan if tun["best_inner_score"] is None else float(tun["best_inner_score"])
        out.append(
            {
                "dataset": ds,
                "model": first["model"],
                "subset": fitted,
                "repeat": first["repeat"],
                "fold": first["fold"],
                "scoring": tun["scoring"] or "roc_auc",
                "n_trials": tun["n_trials"],
                "inner_folds": tun["inner_folds"],
                "inner": inner,
                "outer": outer,
                "optimism": inner - outer,
                "searched": tun["search_space"],
                "params": tun["params"],
                "importances": tun["importances"],
            }
        )
    return pd.DataFrame(out)


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _budget_lines(plan: dict) -> list[str]:
    shared = plan["tuning"]
    lines = [
        f"Every tuned model is searched inside each outer training fold only: "
        f"{shared['n_trials']} trials x {shared['inner_folds']} stratified inner folds "
        f"(sampler {shared['sampler']!r}, scoring {shared['scoring'] or 'roc_auc'!r}), then refit "
        "on the whole outer training fold and scored on its outer test fold.",
        "",
    ]
    notes = []
    for m in plan["models"]:
        t = m.get("tuning")
        if t is None:
            notes.append(f"- {m['name']}: not tuned (its configured parameters).")
        elif (t["n_trials"], t["inner_folds"]) != (shared["n_trials"], shared["inner_folds"]):
            notes.append(
                f"- {m['name']}: **budget overridden** in its config: {t['n_trials']} trials x "
                f"{t['inner_folds']} inner folds."
            )
    return [*lines, *notes, ""] if notes else lines


def _optimism_table(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (ds, model), g in table.groupby(["dataset", "model"], sort=False):
        rows.append(
            {
                "Dataset": ds,
                "Model": model,
                "Fits": len(g),
                "Budget": f"{g.n_trials.max()} x {g.inner_folds.max()}",
                "Inner": format_pm(g.inner.mean(), g.inner.std()),
                "Outer": format_pm(g.outer.mean(), g.outer.std()),
                "Optimism (inner - outer)": format_pm(g.optimism.mean(), g.optimism.std()),
            }
        )
    return pd.DataFrame(rows)


def _params_table(g: pd.DataFrame, subsets: list[str]) -> pd.DataFrame:
    names = list(dict.fromkeys(n for searched in g.searched for n in searched))
    order = {s: i for i, s in enumerate(subsets)}
    g = g.assign(_s=g.subset.map(order)).sort_values(["_s", "repeat", "fold"], kind="stable")
    rows = []
    for r in g.itertuples():
        rows.append(
            {
                "Subset": r.subset,
                "Repeat": r.repeat,
                "Fold": r.fold,
                "Inner": f"{r.inner:.3f}",
                "Outer": f"{r.outer:.3f}",
                **{n: _value(r.params[n]) if n in r.params else "" for n in names},
            }
        )
    return pd.DataFrame(rows)


def tuning_markdown(table: pd.DataFrame, plan: dict) -> str:
    """The text of ``tuning.md``."""
    lines = ["# Nested tuning", "", *_budget_lines(plan), "## Optimism", ""]
    lines += [
        "Inner: the best trial's mean inner-fold score; outer: the same fit's score on its outer "
        "test fold. A positive optimism is the selection bias that a non-nested protocol "
        "would report as performance.",
        "",
        markdown_table(_optimism_table(table)),
        "",
    ]
    for (ds, model), g in table.groupby(["dataset", "model"], sort=False):
        subsets = plan["datasets"][ds]["subsets"]
        lines += [f"## {model} on {ds}: chosen parameters", ""]
        lines += [markdown_table(_params_table(g, subsets))]
        lines.append("")
    return "\n".join(lines)


def importance_table(table: pd.DataFrame, plan: dict, dataset: str) -> pd.DataFrame:
    """Mean fANOVA importance over folds: rows model x subset (its name and a ✓ per modality),
    columns the searched parameters: the mean over the folds where it could be computed, NaN
    where no fold could (fewer than two completed trials, or scores that do not vary), None
    where the row does not search the parameter."""
    mods = plan["datasets"][dataset]["modalities"]
    sub = table[table.dataset == dataset]
    names = list(dict.fromkeys(n for searched in sub.searched for n in searched))
    rows = []
    for (model, subset), g in sub.groupby(["model", "subset"], sort=False):
        fitted = parse_subset(subset)
        row = {"Model": model, "Subset": subset, **{m: "✓" if m in fitted else "" for m in mods}}
        for n in names:
            if not any(n in searched for searched in g.searched):
                row[n] = None
                continue
            vals = [imp[n] for imp in g.importances if imp.get(n) is not None]
            vals = [v for v in vals if np.isfinite(v)]
            row[n] = float(np.mean(vals)) if vals else np.nan
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)  # object: None (not searched) stays apart from NaN


def write_tuning_report(out_dir, tasks: list[dict], plan: dict) -> bool:
    """Write ``tuning.md``, ``param_importance.md`` and ``param_importance.png``.

    Returns
    -------
    bool
        Whether any fit was tuned (nothing is written otherwise).
    """
    out_dir = Path(out_dir)
    table = tuning_table(tasks, plan)
    if table.empty or "tuning" not in plan:
        return False
    atomic_write_text(out_dir / "tuning.md", tuning_markdown(table, plan))
    lines = [
        "# Parameter importance",
        "",
        "Mean fANOVA importance (Hutter et al. 2014) of each searched parameter over the outer "
        "folds, per model and modality combination (✓: the modalities the model was fitted on); "
        "the importances of one search sum to 1. Blank: not searched for that row (such as the "
        "reconstruction weight of an input modality); n/a: searched, but no fold's importances "
        "could be computed (fewer than two completed trials, or scores that did not vary).",
        "",
    ]
    heat = []
    for ds in plan["datasets"]:
        imp = importance_table(table, plan, ds)
        if imp.empty:
            continue
        mods = plan["datasets"][ds]["modalities"]
        params = [c for c in imp.columns if c not in ("Model", "Subset", *mods)]
        shown = imp.drop(columns="Subset")
        shown[params] = shown[params].map(
            lambda v: "" if v is None else "n/a" if np.isnan(v) else f"{v:.2f}"
        )
        lines += [f"## {ds}", "", markdown_table(shown), ""]
        where = f"{ds}: " if len(plan["datasets"]) > 1 else ""
        labels = [f"{where}{m} | {s}" for m, s in zip(imp.Model, imp.Subset)]
        heat.append(imp[params].astype(float).set_axis(labels))
    atomic_write_text(out_dir / "param_importance.md", "\n".join(lines))
    if heat:
        plot_param_importance(pd.concat(heat), out_dir / "param_importance.png")
    return True
