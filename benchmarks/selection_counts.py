"""Features kept per modality after each step of make_radiomics_pipeline (breast-cancer views).

Run ``python benchmarks/selection_counts.py``. It fits the default pipeline (LogisticRegression;
k=10 and k=3 per modality) on the whole table and within each of 5 stratified CV folds, on the
complete views and with 30 % of the modality blocks blanked, and prints Markdown tables: the
features per modality after each selection step (fold mean ± sd and range), then the synthetic
rows PatternAwareSMOTE adds, the ROC AUC and the time per fold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from radfuse.datasets import load_breast_cancer_views, simulate_missing_modalities
from radfuse.selection import STEP_NAMES, make_radiomics_pipeline, selected_counts

STEPS = ("input", "variance", "correlation", "select")


def counts_after_steps(pipe) -> dict[str, dict[str, int]]:
    """``{step: {modality: kept features}}`` of a fitted pipeline."""
    table = selected_counts(pipe).drop(columns="total")
    return {step: table.loc[step].to_dict() for step in STEPS}


def run(X, y, n_splits, seed, k):
    rows, aucs, resampled = [], [], []
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    t0 = time.perf_counter()
    for fold, (tr, te) in enumerate(cv.split(X, y)):
        pipe = make_radiomics_pipeline(LogisticRegression(), k=k, random_state=seed)
        pipe.fit(X.iloc[tr], y.iloc[tr])
        aucs.append(roc_auc_score(y.iloc[te], pipe.predict_proba(X.iloc[te])[:, 1]))
        groups = pd.DataFrame(pipe["smote"].sampling_report_)
        resampled.append(int(groups["n_synthetic"].sum()) if len(groups) else 0)
        for step, per_mod in counts_after_steps(pipe).items():
            for mod, n in per_mod.items():
                rows.append({"fold": fold, "step": step, "modality": mod, "n": n})
    seconds = (time.perf_counter() - t0) / n_splits
    full = make_radiomics_pipeline(LogisticRegression(), k=k, random_state=seed).fit(X, y)
    return pd.DataFrame(rows), counts_after_steps(full), aucs, resampled, seconds, full


def table(results) -> str:
    """One row per step; the select step once per k."""
    lines = [
        "| step | " + " | ".join(MODALITIES) + " | total |",
        "|---|" + "---|" * (len(MODALITIES) + 1),
    ]
    first_k = next(iter(results))
    rows = [(step, first_k, step) for step in STEPS[:-1]]
    rows += [("select", k, f"select (k={k})") for k in results]
    for step, k, label in rows:
        folds, full = results[k][0], results[k][1]
        f = folds[folds.step == step]
        cells = []
        for mod in MODALITIES:
            n = f[f.modality == mod].n
            cells.append(
                f"{full[step][mod]} (folds {n.mean():.1f} ± {n.std(ddof=0):.1f}, "
                f"{n.min()}–{n.max()})"
            )
        tot = f.groupby("fold").n.sum()
        cells.append(f"{sum(full[step].values())} (folds {tot.mean():.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    global MODALITIES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--missing-rate", type=float, default=0.3)
    parser.add_argument(
        "--k", type=int, nargs="+", default=[10, 3], help="features per modality (first: default)"
    )
    args = parser.parse_args(argv)

    X, y = load_breast_cancer_views()
    MODALITIES = ["MEAN", "SE", "WORST"]
    tables = {
        "complete views": X,
        f"{args.missing_rate:.0%} of blocks missing": simulate_missing_modalities(
            X, rate=args.missing_rate, random_state=args.seed
        ),
    }
    print(
        f"breast-cancer views: {len(X)} patients, {X.shape[1]} features "
        f"(MEAN/SE/WORST x 10), classes {y.value_counts().sort_index().to_dict()}; "
        f"default make_radiomics_pipeline(LogisticRegression()), {args.folds}-fold CV, "
        f"seed {args.seed}"
    )
    print("cells: features kept when fitted on all patients (fold mean ± sd, min–max)\n")
    for name, data in tables.items():
        with threadpool_limits(1):
            results = {k: run(data, y, args.folds, args.seed, k) for k in args.k}
        print(f"### {name}")
        print(table(results))
        for k, (_, _, aucs, synth, seconds, fitted) in results.items():
            kept = [
                c.split("__", 1)
                for c in fitted[: STEP_NAMES.index("smote")].get_feature_names_out()
            ]
            print(f"\nk={k}, selected on all patients: " + ", ".join(f"{m}:{f}" for m, f in kept))
            print(
                f"k={k}: PatternAwareSMOTE adds {np.mean(synth):.1f} synthetic rows per training "
                f"fold (class 0 raised to the class-1 count); ROC AUC {np.mean(aucs):.3f} ± "
                f"{np.std(aucs):.3f}; {seconds:.2f} s per fold fit"
            )
        print()


if __name__ == "__main__":
    main()
