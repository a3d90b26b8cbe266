"""NaN-tolerant feature selectors that radiomics studies use.

Univariate tests, a correlation filter, mRMR and an L1 selector. The selectors accept a feature
table in which a missing modality is a whole block of NaN; their scores and correlations come
from :mod:`radfuse.selection.scores`. Use them standalone on a whole table, or per modality block
through :class:`~radfuse.selection.ModalityWiseSelector`.
"""

from __future__ import annotations

import inspect
import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectFromModel, SelectorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from radfuse.modality.validation import (
    check_classification_y,
    check_no_inf,
    check_numeric,
    row_labels_of,
)
from radfuse.selection.scores import SCORERS, anova_scores, mann_whitney_scores, nan_correlation

__all__ = [
    "CorrelationFilter",
    "MRMRSelector",
    "UnivariateSelector",
    "anova_scores",
    "l1_importance",
    "l1_selector",
    "mann_whitney_scores",
    "nan_correlation",
]


# -- shared base -------------------------------------------------------------------------------
class _NaNSelector(SelectorMixin, BaseEstimator):
    """Base: validation that lets NaN (missing blocks) through and rejects infinity."""

    def _validate_fit(self, X, y, *, needs_y=True):
        labels = row_labels_of(X)
        check_numeric(X, context=type(self).__name__)
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric")
        A = np.asarray(A, dtype=float)
        check_no_inf(A, labels, getattr(self, "feature_names_in_", None), type(self).__name__)
        if needs_y:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None: "
                    "it ranks features against the label."
                )
            y = np.asarray(y)
            if y.ndim != 1 or len(y) != A.shape[0]:
                y = np.ravel(y)
                if len(y) != A.shape[0]:
                    raise ValueError(
                        f"y has {len(y)} labels for {A.shape[0]} rows of X; expected one label "
                        "per row."
                    )
            self.classes_ = check_classification_y(y, type(self).__name__)
        return A, y

    def _check_k(self, k, n_features):
        if k == "all":
            return n_features
        if k > n_features:
            raise ValueError(
                f"{type(self).__name__}: k={k} is larger than n_features={n_features} of X. "
                "Use a smaller k (or k='all'); inside ModalityWiseSelector, a fraction such as "
                "k=0.2 adapts to each block's size."
            )
        return int(k)

    def transform(self, X):
        """Keep the selected columns (NaN passes through)."""
        check_is_fitted(self)
        labels = row_labels_of(X)
        check_numeric(X, context=type(self).__name__)
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric", reset=False)
        check_no_inf(
            np.asarray(A, dtype=float),
            labels,
            getattr(self, "feature_names_in_", None),
            type(self).__name__,
        )
        return super().transform(X)

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


# -- univariate --------------------------------------------------------------------------------
class UnivariateSelector(_NaNSelector):
    """Keep the ``k`` columns with the strongest univariate association with the label.

    NaN-tolerant counterpart of ``SelectKBest``: each column is tested on the rows where it is
    present. Ties are broken by column order, so the result is deterministic.

    Parameters
    ----------
    test : {"mannwhitney", "anova"}, default="mannwhitney"
        ``"mannwhitney"``: Mann–Whitney U for two classes (score = univariate AUC folded to
        ``[0.5, 1]``), Kruskal–Wallis for more (see :func:`mann_whitney_scores`).
        ``"anova"``: the ANOVA F test (:func:`anova_scores`).
    k : int or "all", default=10
        Number of columns to keep; larger than the number of columns is an error.

    Attributes
    ----------
    scores_, pvalues_ : ndarray of shape (n_features_in_,)
    support_ : ndarray of bool
    classes_ : ndarray
    n_features_in_, feature_names_in_
    """

    _parameter_constraints: ClassVar[dict] = {
        "test": [StrOptions({"mannwhitney", "anova"})],
        "k": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"all"})],
    }

    def __init__(self, test="mannwhitney", k=10):
        self.test = test
        self.k = k

    def fit(self, X, y):
        """Score every column against ``y`` and keep the top ``k``."""
        self._validate_params()
        A, y = self._validate_fit(X, y)
        k = self._check_k(self.k, A.shape[1])
        self.scores_, self.pvalues_ = SCORERS[self.test](A, y)
        order = np.argsort(-self.scores_, kind="stable")
        self.support_ = np.zeros(A.shape[1], dtype=bool)
        self.support_[order[:k]] = True
        return self


# -- correlation filter ------------------------------------------------------------------------
class CorrelationFilter(_NaNSelector):
    """Drop one column of every highly correlated pair.

    Columns are visited in a fixed order (column order, or decreasing relevance to the label)
    and a column is kept when its absolute correlation with every column kept so far is at most
    ``threshold``. So of each correlated pair the later, or the less relevant, column goes, and
    the result is deterministic. Correlations are pairwise-complete (see
    :func:`nan_correlation`); a pair without enough common rows counts as uncorrelated.

    Parameters
    ----------
    threshold : float, default=0.9
        Largest allowed absolute correlation between two kept columns.
    method : {"spearman", "pearson"}, default="spearman"
    keep : {"relevance", "first"}, default="relevance"
        ``"relevance"``: visit columns by decreasing relevance to the label (``relevance``
        score; ties by column order), so the more relevant column of a pair survives; needs
        ``y``. ``"first"``: visit columns in table order (unsupervised; ``y`` ignored).
    relevance : {"anova", "mannwhitney"}, default="anova"
        Relevance score for ``keep="relevance"``.
    min_periods : int, default=10
        Pairs with fewer common rows are treated as uncorrelated.

    Attributes
    ----------
    support_ : ndarray of bool
    dropped_ : dict
        ``{dropped column name: (kept column name it correlates with, correlation)}``.
    relevance_ : ndarray or None
        Relevance scores used for the order (``keep="relevance"``).
    """

    _parameter_constraints: ClassVar[dict] = {
        "threshold": [Interval(numbers.Real, 0, 1, closed="both")],
        "method": [StrOptions({"pearson", "spearman"})],
        "keep": [StrOptions({"relevance", "first"})],
        "relevance": [StrOptions({"anova", "mannwhitney"})],
        "min_periods": [Interval(numbers.Integral, 2, None, closed="left")],
    }

    def __init__(
        self, threshold=0.9, method="spearman", keep="relevance", relevance="anova", min_periods=10
    ):
        self.threshold = threshold
        self.method = method
        self.keep = keep
        self.relevance = relevance
        self.min_periods = min_periods

    def fit(self, X, y=None):
        """Find the correlated pairs and choose the columns to keep."""
        self._validate_params()
        A, y = self._validate_fit(X, y, needs_y=self.keep == "relevance")
        p = A.shape[1]
        if self.keep == "relevance":
            self.relevance_ = SCORERS[self.relevance](A, y)[0]
            order = np.argsort(-self.relevance_, kind="stable")
        else:
            self.relevance_ = None
            order = np.arange(p)
        R = np.abs(nan_correlation(A, method=self.method, min_periods=self.min_periods))
        R = np.nan_to_num(R, nan=0.0)
        names = self._names(p)
        kept: list[int] = []
        self.dropped_ = {}
        for j in order:
            if kept:
                r = R[j, kept]
                worst = int(np.argmax(r))
                if r[worst] > self.threshold:
                    self.dropped_[names[j]] = (names[kept[worst]], float(r[worst]))
                    continue
            kept.append(int(j))
        self.support_ = np.zeros(p, dtype=bool)
        self.support_[kept] = True
        return self

    def _names(self, p):
        fn = getattr(self, "feature_names_in_", None)
        return [str(n) for n in fn] if fn is not None else [f"x{j}" for j in range(p)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.keep == "relevance"
        return tags


# -- mRMR --------------------------------------------------------------------------------------
class MRMRSelector(_NaNSelector):
    """Minimum-redundancy maximum-relevance selection of ``k`` columns.

    Greedy forward selection (Ding & Peng, 2005; the FCQ/FCD variants of Zhao et al., 2019, the
    defaults of the ``mrmr_selection`` package): the first column is the most relevant; each next
    column maximises ``relevance / redundancy`` (``scheme="quotient"``) or
    ``relevance - redundancy`` (``"difference"``, with relevance rescaled to ``[0, 1]``), where
    redundancy is the mean absolute correlation with the columns already chosen (floored at
    0.001 in the quotient). Relevance and correlations ignore NaN (missing blocks). Ties go to
    the earlier column, so the result is deterministic.

    Parameters
    ----------
    k : int, default=10
        Number of columns to keep; larger than the number of columns is an error.
    relevance : {"anova", "mannwhitney"}, default="anova"
        ANOVA F (:func:`anova_scores`) or the Mann–Whitney AUC / Kruskal–Wallis H
        (:func:`mann_whitney_scores`).
    redundancy : {"pearson", "spearman"}, default="pearson"
    scheme : {"quotient", "difference"}, default="quotient"

    Attributes
    ----------
    ranking_ : ndarray of int
        Column indices in the order they were chosen (length ``k``).
    scores_ : ndarray of shape (n_features_in_,)
        Relevance of every column.
    support_ : ndarray of bool
    """

    _parameter_constraints: ClassVar[dict] = {
        "k": [Interval(numbers.Integral, 1, None, closed="left")],
        "relevance": [StrOptions({"anova", "mannwhitney"})],
        "redundancy": [StrOptions({"pearson", "spearman"})],
        "scheme": [StrOptions({"quotient", "difference"})],
    }

    def __init__(self, k=10, relevance="anova", redundancy="pearson", scheme="quotient"):
        self.k = k
        self.relevance = relevance
        self.redundancy = redundancy
        self.scheme = scheme

    def fit(self, X, y):
        """Choose ``k`` columns greedily."""
        self._validate_params()
        A, y = self._validate_fit(X, y)
        p = A.shape[1]
        k = self._check_k(self.k, p)
        rel = SCORERS[self.relevance](A, y)[0]
        if self.relevance == "mannwhitney" and len(self.classes_) == 2:
            rel = rel - 0.5  # folded AUC: 0 means no association
        self.scores_ = rel
        if self.scheme == "difference":
            top = rel.max()
            rel = rel / top if top > 0 else rel
        chosen = [int(np.argmax(rel))]
        red_sum = np.zeros(p)
        available = np.ones(p, dtype=bool)
        available[chosen[0]] = False
        while len(chosen) < k:
            c = np.abs(nan_correlation(A, A[:, [chosen[-1]]], method=self.redundancy)[:, 0])
            red_sum += np.nan_to_num(c, nan=0.0)
            red = red_sum / len(chosen)
            if self.scheme == "quotient":
                score = rel / np.maximum(red, 1e-3)
            else:
                score = rel - red
            score = np.where(available, score, -np.inf)
            j = int(np.argmax(score))
            chosen.append(j)
            available[j] = False
        self.ranking_ = np.asarray(chosen, dtype=np.intp)
        self.support_ = np.zeros(p, dtype=bool)
        self.support_[chosen] = True
        return self


# -- L1 ----------------------------------------------------------------------------------------
# scikit-learn 1.8 deprecated `penalty` in favour of `l1_ratio`; before, l1_ratio alone is ignored
_L1_PENALTY = (
    {"l1_ratio": 1.0}
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    else {"penalty": "l1"}
)


def l1_importance(estimator) -> np.ndarray:
    """Sum of absolute coefficients over the one-vs-rest models of :func:`l1_selector`."""
    # a class absent from a training set gets a constant predictor without coefficients
    zero = np.zeros(estimator.n_features_in_)
    coefs = [np.abs(getattr(e, "coef_", zero)).ravel() for e in estimator.estimators_]
    return np.sum(coefs, axis=0)


def l1_selector(C=0.1, *, max_features=None, threshold=1e-5, random_state=None):
    """An L1-penalised logistic regression selector (LASSO-style), as radiomics papers use.

    Returns :class:`sklearn.feature_selection.SelectFromModel` around a one-vs-rest
    ``LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C)`` (liblinear is fast for L1 but
    binary only; one-vs-rest extends it to several classes, one model for two): columns with a
    non-zero coefficient in any model are kept (at most ``max_features``, by summed absolute
    coefficient, :func:`l1_importance`). It does not accept NaN itself; use it per modality
    block through ``ModalityWiseSelector(l1_selector())``, which fits it on the rows where the
    block is present and keeps at least one column per block (the best ANOVA F when every
    coefficient is zero). Scale the features first: the penalty is scale-dependent.

    Parameters
    ----------
    C : float, default=0.1
        Inverse penalty strength; smaller keeps fewer columns.
    max_features : int, optional
        Upper bound on kept columns (``ModalityWiseSelector(k=...)`` sets it per block).
    threshold : float, default=1e-5
        Summed absolute coefficient below which a column counts as dropped.
    random_state : int, RandomState or None
    """
    model = LogisticRegression(
        **_L1_PENALTY, solver="liblinear", C=C, random_state=random_state, max_iter=1000
    )
    return SelectFromModel(
        OneVsRestClassifier(model),
        threshold=threshold,
        max_features=max_features,
        importance_getter=l1_importance,
    )
