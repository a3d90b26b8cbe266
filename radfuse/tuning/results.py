"""What a search reports: ``cv_results_`` in ``GridSearchCV``'s layout, and fANOVA importances."""

from __future__ import annotations

import warnings

import numpy as np
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.trial import TrialState
from scipy.stats import rankdata

__all__ = ["cv_results", "param_importances", "rank_scores"]


def param_importances(study, names, seed) -> dict[str, float]:
    """fANOVA importances (Hutter et al. 2014) of every searched parameter; NaN if impossible."""
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    reason = f"only {len(complete)} trial(s) completed" if len(complete) < 2 else None
    if reason is None:
        try:
            found = get_param_importances(
                study, evaluator=FanovaImportanceEvaluator(seed=seed), params=list(names)
            )
        except (RuntimeError, ValueError) as exc:  # e.g. every trial scored the same
            reason = f"{type(exc).__name__}: {exc}"
    if reason is not None:
        warnings.warn(
            f"PopulationSearchCV: parameter importances of {', '.join(names)} cannot be "
            f"computed ({reason}); param_importances_ holds NaN.",
            UserWarning,
            stacklevel=3,
        )
        return {name: float("nan") for name in names}
    # A parameter with a single possible value explains nothing.
    return {name: float(value) for name, value in found.items()} | {
        name: 0.0 for name in names if name not in found
    }


def rank_scores(means: np.ndarray) -> np.ndarray:
    """Rank 1 = best mean score; NaN (failed) candidates rank last, as in scikit-learn."""
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return rankdata(-filled, method="min").astype(np.int32)


def cv_results(records, names, n_splits) -> dict[str, np.ndarray | list]:
    """``GridSearchCV``-style results: one row per trial, in trial order."""
    n = len(records)
    scores = np.array([[r["test_score"] for r in own] for _, own in records], dtype=float)
    fit_times = np.array([[r["fit_time"] for r in own] for _, own in records], dtype=float)
    score_times = np.array([[r["score_time"] for r in own] for _, own in records], dtype=float)
    results: dict[str, np.ndarray | list] = {
        "mean_fit_time": fit_times.mean(axis=1),
        "std_fit_time": fit_times.std(axis=1),
        "mean_score_time": score_times.mean(axis=1),
        "std_score_time": score_times.std(axis=1),
    }
    for name in names:
        column = np.empty(n, dtype=object)
        for i, (params, _) in enumerate(records):
            column[i] = params[name]
        results[f"param_{name}"] = column
    results["params"] = [params for params, _ in records]
    for k in range(n_splits):
        results[f"split{k}_test_score"] = scores[:, k]
    results["mean_test_score"] = scores.mean(axis=1)
    results["std_test_score"] = scores.std(axis=1)
    results["rank_test_score"] = rank_scores(results["mean_test_score"])
    return results
