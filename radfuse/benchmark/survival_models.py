"""Survival baselines of the benchmark that need an adapter to scikit-survival's conventions."""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["XGBCoxSurvival"]


class XGBCoxSurvival(BaseEstimator):
    """XGBoost's Cox proportional-hazards booster with a scikit-survival target.

    ``xgboost.XGBRegressor(objective="survival:cox")`` reads the target as the follow-up time,
    negated for censored patients; this adapter takes scikit-survival's structured
    ``(event, time)`` array instead. ``predict`` is the risk score: the booster's margin (the
    log hazard ratio), so a higher value means an earlier event. There is no survival
    function (a Cox booster fits no baseline hazard), so the integrated Brier score of this
    model is NaN in the benchmark. Missing values (NaN blocks) are handled by XGBoost.

    Parameters
    ----------
    n_estimators : int, default=200
    max_depth : int, default=3
    learning_rate : float, default=0.05
    subsample : float, default=0.8
    colsample_bytree : float, default=1.0
    reg_lambda : float, default=1.0
    n_jobs : int or None, default=None
    random_state : int or None, default=None

    Attributes
    ----------
    booster_ : xgboost.XGBRegressor
        The fitted booster.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when ``X`` had string column names.
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }
    # a benchmark baseline although it lives in radfuse
    _benchmark_defaults: ClassVar[dict] = {"baseline": True}

    def __init__(
        self,
        *,
        n_estimators=200,
        max_depth=3,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=1.0,
        reg_lambda=1.0,
        n_jobs=None,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y):
        """Fit the booster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : structured array of shape (n_samples,)
            Fields ``(event, time)``, as ``sksurv.util.Surv.from_arrays`` builds it.

        Returns
        -------
        self
        """
        from sksurv.util import check_y_survival
        from xgboost import XGBRegressor

        self._validate_params()
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        event, time = check_y_survival(y)
        seed = self.random_state
        if not (seed is None or isinstance(seed, Integral)):
            seed = int(np.random.RandomState(seed).randint(2**31 - 1))
        self.booster_ = XGBRegressor(
            objective="survival:cox",
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            n_jobs=self.n_jobs,
            random_state=seed,
        ).fit(X, np.where(event, time, -time))
        return self

    def predict(self, X):
        """Risk scores (log hazard ratios); higher = earlier event."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.booster_.predict(X, output_margin=True)

    def score(self, X, y):
        """Harrell's concordance index of the risk scores on ``(X, y)``."""
        from sksurv.metrics import concordance_index_censored

        event, time = y[y.dtype.names[0]], y[y.dtype.names[1]]
        return concordance_index_censored(event.astype(bool), time, self.predict(X))[0]
