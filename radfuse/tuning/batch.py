"""Training one batch of fit tasks: the single place where a search's fits run.

A task is ``(estimator, train, test)``: fit a fresh estimator on the ``train`` rows, score it on
the ``test`` rows. :class:`~radfuse.tuning.PopulationSearchCV` hands every task of a batch (each
trial of the batch x each inner fold) to :func:`fit_and_score_batch` at once. The function runs
them as independent joblib jobs; training a batch of radfuse torch estimators as one population
(one ``radfuse.estimators.fit_many(estimators, data)`` call) is meant to replace that loop here,
behind the same signature and results.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import _safe_indexing

__all__ = ["fit_and_score_batch", "index_fit_params"]


def index_fit_params(fit_params: Mapping[str, Any], n_samples: int, rows) -> dict[str, Any]:
    """The ``fit_params`` of a subset: per-row values (length ``n_samples``) indexed by ``rows``.

    Other values (scalars, callbacks, arrays of another length) are passed as given, as
    scikit-learn's searches do.
    """
    return {
        key: _safe_indexing(value, rows)
        if hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n_samples
        else value
        for key, value in fit_params.items()
    }


def _fit_and_score(estimator, X, y, train, test, scorer, fit_params, error_score):
    """Fit and score one task; a failure gives ``error_score`` and the formatted error."""
    X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
    y_train = None if y is None else _safe_indexing(y, train)
    y_test = None if y is None else _safe_indexing(y, test)
    params = index_fit_params(fit_params, _n(X), train)
    start = time.perf_counter()
    try:
        estimator.fit(X_train, y_train, **params)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        score = float(scorer(estimator, X_test, y_test))
        score_time = time.perf_counter() - start
    except Exception as exc:
        if error_score == "raise":
            raise
        return {
            "test_score": float(error_score),
            "fit_time": time.perf_counter() - start,
            "score_time": 0.0,
            "error": "".join(traceback.format_exception_only(exc)).strip(),
        }
    return {"test_score": score, "fit_time": fit_time, "score_time": score_time, "error": None}


def _n(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def fit_and_score_batch(
    tasks: Sequence[tuple[Any, np.ndarray, np.ndarray]],
    X,
    y=None,
    *,
    scorer,
    fit_params: Mapping[str, Any] | None = None,
    error_score: Real | str = np.nan,
    n_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Fit and score every task of a batch.

    Parameters
    ----------
    tasks : sequence of (estimator, train, test)
        Unfitted estimators (each its own object; it is fitted in place) with the row indices
        to fit on and to score on.
    X : array-like or DataFrame of shape (n_samples, n_features)
        The whole table; tasks index its rows.
    y : array-like of shape (n_samples,) or None
    scorer : callable
        ``scorer(estimator, X_test, y_test) -> float``.
    fit_params : mapping or None
        Passed to every ``fit``; per-row values are indexed by the task's ``train`` rows.
    error_score : float or "raise"
        The score of a task whose fit or scoring raises; ``"raise"`` re-raises.
    n_jobs : int or None
        joblib workers; ``None`` follows the active ``joblib.parallel_config``.

    Returns
    -------
    results : list of dict
        One per task, in task order: ``test_score``, ``fit_time``, ``score_time`` (seconds) and
        ``error`` (``None``, or the formatted exception of a failed task).
    """
    fit_params = dict(fit_params or {})
    return Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(estimator, X, y, train, test, scorer, fit_params, error_score)
        for estimator, train, test in tasks
    )
