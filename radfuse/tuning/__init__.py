"""Hyper-parameter search for every model of a comparison: nested, batched, by Optuna.

:class:`PopulationSearchCV` tunes any scikit-learn estimator (a radfuse torch estimator, a
pipeline) on inner folds with an Optuna study; :mod:`radfuse.tuning.distributions` converts the
search space a YAML config can hold; :func:`radfuse.tuning.batch.fit_and_score_batch` is the one
place where a batch of fits runs.
"""

from __future__ import annotations

from radfuse.tuning.batch import fit_and_score_batch
from radfuse.tuning.distributions import SearchSpace, check_param_distributions, to_distribution
from radfuse.tuning.search import PopulationSearchCV

__all__ = [
    "PopulationSearchCV",
    "SearchSpace",
    "check_param_distributions",
    "fit_and_score_batch",
    "to_distribution",
]
