"""Scoring a fitted survival model of a benchmark fit on each of its subsets.

The risk of a patient is the model's ``predict`` (higher = earlier event); survival functions,
when the model has them, give the integrated Brier score. Each test patient is also put in a
risk group: high when the risk is above the median risk of the fit's training rows (with the
same subset available), the split applied unchanged to the test fold, for the Kaplan-Meier
curves of the report.
"""

from __future__ import annotations

import numpy as np

from radfuse.benchmark.plan import Fit, result_row, subset_name
from radfuse.benchmark.survival_metrics import compute_survival_metrics

__all__ = ["evaluate_survival", "survival_predictor"]


def survival_predictor(est, X):
    """``times -> (n, len(times))`` survival probabilities of ``X``, or None without
    ``predict_survival_function``."""
    if not hasattr(est, "predict_survival_function"):
        return None

    def at(times):
        return np.vstack([fn(times) for fn in est.predict_survival_function(X)])

    return at


def evaluate_survival(est, fit: Fit, test_inputs, train_inputs, y, *, n_train: int):
    """Result rows and out-of-fold risks of a fitted survival model on each subset of the fit.

    Parameters
    ----------
    est : fitted survival estimator (or pipeline)
    fit : Fit
    test_inputs, train_inputs : list of (subset, row positions, model input)
        Per subset, the test patients and the fit's training patients that have it
        (:func:`radfuse.benchmark.fit.subset_inputs`).
    y : structured ndarray
        ``(event, time)`` of every patient of the dataset.
    n_train : int
        Training rows of the fit.

    Returns
    -------
    rows, oof : list of dict
    """
    split = fit.split
    # the whole training fold: the same censoring weights and horizons for every model
    y_fold = y[split.train]
    rows, oof = [], []
    for (sub, te, X_test), (_, _, X_train) in zip(test_inputs, train_inputs):
        risk = np.asarray(est.predict(X_test), dtype=float)
        threshold = float(np.median(np.asarray(est.predict(X_train), dtype=float)))
        metrics = compute_survival_metrics(y_fold, y[te], risk, survival_predictor(est, X_test))
        n_events = int(y["event"][te].sum())
        rows.append(
            result_row(fit, sub, n_train=n_train, n_test=len(te), n_events=n_events, **metrics)
        )
        oof.append(
            {
                "subset": subset_name(sub),
                "patient_id": [str(p) for p in X_test.index],
                "time": y["time"][te].tolist(),
                "event": y["event"][te].astype(int).tolist(),
                "risk": risk.tolist(),
                "risk_threshold": threshold,
                "high_risk": (risk > threshold).astype(int).tolist(),
            }
        )
    return rows, oof
