"""PopulationSearchCV: hyper-parameter search by an Optuna study, in batches of trials."""

from __future__ import annotations

import copy
import time
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import optuna
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone, is_classifier
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, check_random_state, indexable

from radfuse.tuning.batch import fit_and_score_batch
from radfuse.tuning.distributions import check_param_distributions
from radfuse.tuning.results import cv_results, param_importances

__all__ = ["PopulationSearchCV"]

#: Trials per batch when ``batch_size=None``: fixed, not tied to ``n_jobs``, so that the search
#: (which trials TPE proposes after which results) is the same on every machine.
DEFAULT_BATCH_SIZE = 8


def _delegate(attr):
    """``available_if`` check: refit, and the (best) estimator has ``attr``."""

    def check(self):
        if not self.refit:
            raise AttributeError(
                f"{type(self).__name__}(refit=False) has no {attr}: refit the best parameters "
                "yourself from best_params_."
            )
        getattr(self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator, attr)
        return True

    return check


def _seed(random_state) -> int | None:
    """An int seed for Optuna: the int itself, one draw from a RandomState, or ``None``."""
    if random_state is None or isinstance(random_state, Integral):
        return random_state
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _make_sampler(sampler, seed):
    if isinstance(sampler, BaseSampler):
        return copy.deepcopy(sampler)  # fit must not advance the parameter's own state
    if sampler == "random":
        return RandomSampler(seed=seed)
    # Multivariate TPE models the parameters jointly (C and class_weight interact); the constant
    # liar keeps the trials of one batch from all proposing the same point.
    return TPESampler(seed=seed, multivariate=True, constant_liar=True)


class PopulationSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Hyper-parameter search with an Optuna study, trials fitted in batches.

    Each batch of ``batch_size`` trials is asked from the study at once; every trial x every
    inner fold is one fit task, all tasks of a batch are fitted together
    (:func:`radfuse.tuning.batch.fit_and_score_batch`), and each trial's mean test score is
    told back. Like ``GridSearchCV`` it then refits the best parameters on all the data and
    delegates ``predict``, ``predict_proba``, ``decision_function``, ``score`` and
    ``classes_``, so it can be cross-validated itself (nested cross-validation).

    Parameters
    ----------
    estimator : estimator
        The estimator to tune (cloned for every fit).
    param_distributions : dict of str to distribution
        Parameter name (``get_params(deep=True)`` names, e.g. ``"mmt__lr"``) -> an Optuna
        distribution, a dict ``{low, high}``, ``{low, high, log: true}``,
        ``{low, high, step}`` or ``{choices: [...]}``, or a list of choices (see
        :mod:`radfuse.tuning.distributions`). Checked before any fit.
    n_trials : int, default=20
        Number of trials (parameter settings tried).
    cv : int, cross-validation generator or iterable, default=5
        Inner folds, as in ``GridSearchCV`` (stratified for a classifier). The same folds
        score every trial.
    scoring : str, callable or None, default=None
        One scorer (``check_scoring``); ``None`` uses the estimator's ``score``.
    sampler : {"tpe", "random"} or optuna.samplers.BaseSampler, default="tpe"
        ``"tpe"``: ``TPESampler(seed, multivariate=True, constant_liar=True)`` (its first 10
        trials are random); ``"random"``: ``RandomSampler(seed)``. A sampler object is copied
        at each fit and used with its own seed (``random_state`` then seeds only the
        importances).
    batch_size : int or None, default=None
        Trials asked, fitted and told together. ``None``: ``min(n_trials, 8)``, independent of
        ``n_jobs`` so that results do not depend on the machine. Larger batches parallelise
        better; smaller ones let TPE learn from more results before proposing.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampler and the fANOVA importances. The estimator's own ``random_state`` is
        left as it is.
    n_jobs : int or None, default=None
        joblib workers for the fit tasks of a batch (``None``: the active joblib config).
    refit : bool, default=True
        Refit the best parameters on all the data as ``best_estimator_``.
    error_score : "raise" or float, default=np.nan
        Score of a fit that raises (with a ``FitFailedWarning`` naming the parameters and the
        error); ``"raise"`` re-raises. A trial with a NaN mean is told to the study as failed.

    Attributes
    ----------
    best_params_ : dict
        Parameters of the best trial (highest mean test score; the first on ties).
    best_score_ : float
        Its mean test score over the inner folds.
    best_index_ : int
        Its row in ``cv_results_`` (= its trial number in ``study_``).
    best_estimator_ : estimator
        The estimator refit with ``best_params_`` on all the data (``refit=True`` only).
    cv_results_ : dict of numpy arrays
        As ``GridSearchCV``'s, one row per trial: ``params``, ``param_<name>``,
        ``split<k>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``,
        ``std_score_time``.
    study_ : optuna.study.Study
        The study, with every trial's parameters (labels for non-plain choices) and value.
    n_trials_ : int
        Trials run.
    param_importances_ : dict of str to float
        fANOVA importance of every searched parameter
        (``get_param_importances(study_, evaluator=FanovaImportanceEvaluator(seed))``,
        normalised to sum to 1, most important first; a single parameter gets 1.0, one with a
        single possible value 0.0). NaN for every parameter, with a warning, when fewer than
        two trials completed or the scores do not vary.
    scorer_ : callable
        The scorer used.
    n_splits_ : int
        Number of inner folds.
    refit_time_ : float
        Seconds the refit took (``refit=True`` only).

    See Also
    --------
    sklearn.model_selection.RandomizedSearchCV : the same, with independent random draws.
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit"])],
        "param_distributions": [dict],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "sampler": [StrOptions({"tpe", "random"}), BaseSampler],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "refit": ["boolean"],
        "error_score": [StrOptions({"raise"}), Real],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_trials=20,
        cv=5,
        scoring=None,
        sampler="tpe",
        batch_size=None,
        random_state=None,
        n_jobs=None,
        refit=True,
        error_score=np.nan,
    ):
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.refit = refit
        self.error_score = error_score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        # radfuse estimators take missing modalities as NaN blocks.
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, *, groups=None, **fit_params):
        """Run the search, then refit the best parameters on all the data.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Passed to the estimator as given (a DataFrame keeps its column names).
        y : array-like of shape (n_samples,) or None
        groups : array-like of shape (n_samples,) or None
            Group labels for the inner splitter (e.g. ``GroupKFold``), as in ``GridSearchCV``.
        **fit_params : dict
            Passed to every ``fit``; per-row values are indexed by each fold's rows.

        Returns
        -------
        self : PopulationSearchCV
        """
        space = check_param_distributions(self.param_distributions, self.estimator)
        X, y, groups = indexable(X, y, groups)
        folds = list(
            check_cv(self.cv, y, classifier=is_classifier(self.estimator)).split(X, y, groups)
        )
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        seed = _seed(self.random_state)
        study = self._new_study(_make_sampler(self.sampler, seed))
        batch_size = self.batch_size or min(self.n_trials, DEFAULT_BATCH_SIZE)
        records = []
        for start in range(0, self.n_trials, batch_size):
            trials = [
                study.ask(space.distributions)
                for _ in range(min(batch_size, self.n_trials - start))
            ]
            params = [space.decode(trial.params) for trial in trials]
            tasks = []
            for candidate in params:
                base = clone(self.estimator).set_params(**candidate)
                tasks.extend((clone(base), train, test) for train, test in folds)
            results = fit_and_score_batch(
                tasks,
                X,
                y,
                scorer=scorer,
                fit_params=fit_params,
                error_score=self.error_score,
                n_jobs=self.n_jobs,
            )
            for i, (trial, candidate) in enumerate(zip(trials, params)):
                own = results[i * len(folds) : (i + 1) * len(folds)]
                self._warn_failures(trial.number, candidate, own)
                mean = float(np.mean([r["test_score"] for r in own]))
                if np.isnan(mean):
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, mean)
                records.append((candidate, own))
        if all(r["error"] is not None for _, own in records for r in own):
            first = records[0][1][0]["error"]
            raise ValueError(
                f"PopulationSearchCV: all {len(records) * len(folds)} fits failed; the first "
                f"error, with parameters {records[0][0]!r}:\n{first}"
            )
        self.cv_results_ = cv_results(records, list(space.distributions), len(folds))
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_params_ = self.cv_results_["params"][self.best_index_]
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        self.study_ = study
        self.n_trials_ = len(study.trials)
        self.n_splits_ = len(folds)
        self.scorer_ = scorer
        self.param_importances_ = param_importances(study, list(space.distributions), seed)
        if self.refit:
            best = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
            start = time.perf_counter()
            best.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
            self.best_estimator_ = best
        return self

    @staticmethod
    def _new_study(sampler):
        # create_study logs one INFO line per study: noise inside nested cross-validation.
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            return optuna.create_study(direction="maximize", sampler=sampler)
        finally:
            optuna.logging.set_verbosity(verbosity)

    def _warn_failures(self, number, params, results):
        failed = [r["error"] for r in results if r["error"] is not None]
        if failed:
            warnings.warn(
                f"PopulationSearchCV: {len(failed)} of {len(results)} fits failed for trial "
                f"{number} with parameters {params!r}; they score error_score="
                f"{self.error_score!r}. First error: {failed[0]}",
                FitFailedWarning,
                stacklevel=3,
            )

    def score(self, X, y=None):
        """Score of ``best_estimator_`` on ``X``, ``y`` by ``scorer_`` (``refit=True`` only)."""
        _delegate("score")(self)
        check_is_fitted(self)
        return self.scorer_(self.best_estimator_, X, y)

    @available_if(_delegate("predict"))
    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_delegate("predict_proba"))
    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(_delegate("predict_log_proba"))
    def predict_log_proba(self, X):
        """``best_estimator_.predict_log_proba(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_delegate("decision_function"))
    def decision_function(self, X):
        """``best_estimator_.decision_function(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.decision_function(X)

    @available_if(_delegate("transform"))
    def transform(self, X):
        """``best_estimator_.transform(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.transform(X)

    @property
    def classes_(self):
        """Class labels of ``best_estimator_`` (``refit=True`` and a classifier only)."""
        _delegate("classes_")(self)
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self):
        """Number of features ``best_estimator_`` saw (``refit=True`` only)."""
        try:
            check_is_fitted(self)
        except NotFittedError as exc:
            raise AttributeError(f"{type(self).__name__} has no n_features_in_ yet.") from exc
        return self.best_estimator_.n_features_in_
