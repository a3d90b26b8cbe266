"""scikit-learn's and imbalanced-learn's estimator checks for the selection transformers and
PatternAwareSMOTE (expected failures, with reasons, in radfuse.estimator_checks).

imbalanced-learn 0.14's own ``parametrize_with_checks`` hands pytest a generator, which pytest
deprecates, so its sampler checks are collected with ``estimator_checks_generator`` into a list.
"""

from __future__ import annotations

import pytest
from imblearn.utils.estimator_checks import estimator_checks_generator
from sklearn.feature_selection import SelectKBest, VarianceThreshold
from sklearn.utils.estimator_checks import _get_check_estimator_ids, parametrize_with_checks

from radfuse.estimator_checks import expected_failed_checks
from radfuse.selection import (
    BlockChecker,
    CorrelationFilter,
    ModalityWiseSelector,
    MRMRSelector,
    PatternAwareSMOTE,
    UnivariateSelector,
    l1_selector,
)

ESTIMATORS = [
    ModalityWiseSelector(),
    ModalityWiseSelector(VarianceThreshold()),
    ModalityWiseSelector(SelectKBest(), k=1),
    ModalityWiseSelector(l1_selector(C=1.0), k=0.5),
    CorrelationFilter(),
    CorrelationFilter(method="pearson", keep="first"),
    MRMRSelector(k=2),
    MRMRSelector(k=1, relevance="mannwhitney", scheme="difference"),
    UnivariateSelector(k=2),
    UnivariateSelector(test="anova", k=1),
    BlockChecker(),
    BlockChecker(impute="median"),
    PatternAwareSMOTE(random_state=0),
    PatternAwareSMOTE(random_state=0, kind="borderline-2", k_neighbors=3),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


SAMPLERS = [PatternAwareSMOTE(random_state=0), PatternAwareSMOTE(random_state=0, m_neighbors=4)]
IMBLEARN_CHECKS = [
    pair
    for sampler in SAMPLERS
    for pair in estimator_checks_generator(
        sampler, expected_failed_checks=expected_failed_checks(sampler), mark="xfail"
    )
]


@pytest.mark.parametrize("estimator, check", IMBLEARN_CHECKS, ids=_get_check_estimator_ids)
def test_imblearn_sampler_checks(estimator, check):
    check(estimator)
