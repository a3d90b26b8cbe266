"""Nested tuning of one benchmark fit: the search that runs inside an outer training fold.

:func:`make_search` wraps the fit's estimator (its preprocessing pipeline) in a
:class:`~radfuse.tuning.PopulationSearchCV` over the model's search space, with stratified inner
folds and a sampler seeded by the fit's seed; the search is fitted on the fit's training rows
only and refits the best parameters on all of them, so the outer test fold stays unseen.
:func:`tuning_record` is what the task file keeps of it.

Every subset mode is tuned once per fit, on the fit's own training data, with the scorer of the
config (ROC AUC by default): a ``columns`` or ``input_modalities`` fit already sees exactly what
its outer evaluation sees (the subset's blocks, or the network reading only the subset), and a
``blank_at_test`` fit, which serves every subset from one model, is tuned for the data it is
trained on (every block). Scoring its trials on every blanked subset would tune for an average
over subsets that the outer evaluation reports one by one, and multiply the cost by the number
of subsets.

A search-space entry ``<param>.<modality>`` (:mod:`radfuse.benchmark.tuning_config`) is searched
only where the fitted model uses that modality's entry: for an ``input_modalities`` fit, the
modalities it reconstructs (those outside the subset); otherwise the modalities it is fitted
on. :class:`KeyedParams` assembles the entries into the mapping parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from radfuse.benchmark.schema import ModelConfig
from radfuse.benchmark.tuning_config import PIPELINE_PREFIX
from radfuse.tuning import PopulationSearchCV

__all__ = ["KeyedParams", "entry_modalities", "make_search", "tuning_record"]

_INNER = "estimator__"


class KeyedParams(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """An estimator whose mapping parameters are also set entry by entry.

    ``get_params(deep=True)`` lists, next to the wrapped estimator's parameters, one name
    ``estimator__<path>.<key>`` per entry of ``keys``; ``set_params`` with such names assembles
    the mapping ``<path> = {key: value, ...}`` on the wrapped estimator. An entry not set keeps
    the parameter's value (a number: the same for every entry; a mapping: its own entry). So a
    search can sample ``recon_weight.T1WI`` and ``recon_weight.FLAIR`` as two parameters.

    Parameters
    ----------
    estimator : estimator
        A classifier (cloned at fit).
    keys : dict of str to list of str
        Parameter path in ``estimator`` (``"estimator__recon_weight"``) -> the mapping's keys.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    classes_ : ndarray
        Its class labels.
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "keys": [dict],
    }

    def __init__(self, estimator, keys):
        self.estimator = estimator
        self.keys = keys

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        return tags

    def get_params(self, deep=True):
        """Parameters, with one ``estimator__<path>.<key>`` per mapping entry when ``deep``."""
        out = super().get_params(deep=deep)
        if deep:
            inner = self.estimator.get_params(deep=True)
            for path, keys in self.keys.items():
                current = inner[path]
                for key in keys:
                    value = current.get(key) if isinstance(current, Mapping) else current
                    out[f"{_INNER}{path}.{key}"] = value
        return out

    def set_params(self, **params):
        """Set parameters; ``estimator__<path>.<key>`` entries are assembled into ``<path>``."""
        entries: dict[str, dict] = {}
        plain = {}
        for name, value in params.items():
            head, dot, key = name.partition(".")
            if dot and head.startswith(_INNER) and head.removeprefix(_INNER) in self.keys:
                entries.setdefault(head.removeprefix(_INNER), {})[key] = value
            else:
                plain[name] = value
        super().set_params(**plain)
        if entries:
            inner = self.estimator.get_params(deep=True)
            mappings = {}
            for path, values in entries.items():
                current, keys = inner[path], self.keys[path]
                if isinstance(current, Mapping):
                    mapping = {k: v for k, v in current.items() if k in keys}
                else:
                    mapping = dict.fromkeys(keys, current)
                mappings[path] = {**mapping, **values}
            self.estimator.set_params(**mappings)
        return self

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        **fit_params : dict
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : KeyedParams
        """
        self._validate_params()
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        """``estimator_.predict_proba(X)``."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """``estimator_.predict(X)``."""
        check_is_fitted(self)
        return self.estimator_.predict(X)


def entry_modalities(mcfg: ModelConfig, fit_subset, modalities) -> list[str]:
    """The modalities whose ``<param>.<modality>`` entries a fit searches (module docstring)."""
    if mcfg.subset_mode == "input_modalities":
        return [m for m in modalities if m not in fit_subset]
    if fit_subset is None:
        return list(modalities)
    return [m for m in modalities if m in fit_subset]


def make_search(est, mcfg: ModelConfig, fit_subset, modalities, *, seed: int, n_classes: int):
    """The search of a fit, and its parameter names (search name -> config name).

    ``est`` is the fit's estimator (a pipeline or the bare model), ``fit_subset`` the subset it
    is fitted on (None: every block). Returns ``(None, {})`` when no searched parameter applies
    to this fit (only entries of modalities it does not use).
    """
    tuning = mcfg.tuning
    prefix = f"{est.steps[-1][0]}__" if hasattr(est, "steps") else ""
    entries = entry_modalities(mcfg, fit_subset, modalities)
    space, names, keys = {}, {}, {}
    for name, spec in tuning.search_space.items():
        if name.startswith(PIPELINE_PREFIX):
            full = name.removeprefix(PIPELINE_PREFIX)
        else:
            param, dot, key = name.partition(".")
            full = prefix + param
            if dot:
                if key not in entries:
                    continue
                keys[full] = entries
                full = f"{full}.{key}"
        space[full] = spec
        names[full] = name
    if not space:
        return None, {}
    if keys:
        est = KeyedParams(est, keys)
        space = {_INNER + k: v for k, v in space.items()}
        names = {_INNER + k: v for k, v in names.items()}
    scoring = tuning.scoring or ("roc_auc" if n_classes == 2 else "roc_auc_ovr")
    search = PopulationSearchCV(
        est,
        space,
        n_trials=tuning.n_trials,
        cv=StratifiedKFold(tuning.inner_folds, shuffle=True, random_state=seed),
        scoring=scoring,
        sampler=tuning.sampler,
        random_state=seed,
        n_jobs=1,
        refit=True,
    )
    return search, names


def tuning_record(search, names: dict, mcfg: ModelConfig, fit_subset: str | None) -> dict:
    """What a task file keeps of a fit's search (``search`` None: nothing applied to the fit).

    Keys: ``fit_subset`` (the name of the subset the model was fitted and tuned on, None for
    every block), ``search_space`` (the config names searched), ``params`` (the best trial's
    values by config name), ``best_inner_score`` (its mean inner score), ``scoring``, ``sampler``,
    ``n_trials``, ``inner_folds``, ``importances`` (fANOVA, config name -> share) and
    ``trial_scores`` (every trial's mean inner score, in trial order).
    """
    tuning = mcfg.tuning
    if search is None:
        return {
            "fit_subset": fit_subset,
            "search_space": [],
            "params": {},
            "best_inner_score": None,
            "scoring": tuning.scoring,
            "sampler": tuning.sampler,
            "n_trials": 0,
            "inner_folds": tuning.inner_folds,
            "importances": {},
            "trial_scores": [],
        }
    return {
        "fit_subset": fit_subset,
        "search_space": list(names.values()),
        "params": {names[k]: v for k, v in search.best_params_.items()},
        "best_inner_score": search.best_score_,
        "scoring": search.scoring,
        "sampler": tuning.sampler,
        "n_trials": search.n_trials_,
        "inner_folds": search.n_splits_,
        "importances": {names[k]: v for k, v in search.param_importances_.items()},
        "trial_scores": search.cv_results_["mean_test_score"].tolist(),
    }
