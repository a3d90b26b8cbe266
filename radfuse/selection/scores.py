"""NaN-tolerant univariate scores and correlations, grouped by NaN pattern.

Every function here accepts a feature table in which a missing modality is a whole block of NaN.
Statistics are computed per column on the rows where the column is present (for pairs of
columns: on the rows where both are present). Columns are grouped by their NaN rows, so a
block-structured table costs one vectorised computation per block (per pair of blocks for
correlations), not one per column.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.feature_selection import f_classif

__all__ = ["SCORERS", "anova_scores", "mann_whitney_scores", "nan_correlation"]


# -- column groups by NaN pattern --------------------------------------------------------------
def _column_groups(A: np.ndarray):
    """Yield ``(columns, rows)``: columns sharing the same present rows, and those rows."""
    nan = np.isnan(A)
    packed = np.packbits(nan, axis=0)
    groups: dict[bytes, list[int]] = {}
    for j in range(A.shape[1]):
        groups.setdefault(packed[:, j].tobytes(), []).append(j)
    for cols in groups.values():
        yield np.asarray(cols, dtype=np.intp), ~nan[:, cols[0]]


def _as_float_array(X) -> np.ndarray:
    A = np.asarray(X, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"Expected a 2-D feature table, got shape {A.shape}.")
    return A


# -- univariate scores -------------------------------------------------------------------------
def anova_scores(X, y):
    """ANOVA F statistic of each column against the class label, ignoring NaN.

    A score function for :class:`sklearn.feature_selection.SelectKBest` and the selectors of
    this module. Each column is scored on the rows where it is present, with
    :func:`sklearn.feature_selection.f_classif`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        May hold NaN (missing modality blocks).
    y : array-like of shape (n_samples,)
        Class labels.

    Returns
    -------
    scores : ndarray of shape (n_features,)
        F statistics; 0 where undefined (a constant column, or fewer than two classes or fewer
        than three rows among the present rows).
    pvalues : ndarray of shape (n_features,)
        p-values; 1 where the score is undefined.
    """
    A = _as_float_array(X)
    y = np.asarray(y)
    scores = np.zeros(A.shape[1])
    pvalues = np.ones(A.shape[1])
    for cols, rows in _column_groups(A):
        yr = y[rows]
        if rows.sum() < 3 or len(np.unique(yr)) < 2:
            continue
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # constant columns give F = nan with a warning; they are scored 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            f, p = f_classif(A[np.ix_(rows, cols)], yr)
        scores[cols] = f
        pvalues[cols] = p
    bad = ~np.isfinite(scores)
    scores[bad], pvalues[bad] = 0.0, 1.0
    return scores, pvalues


def mann_whitney_scores(X, y):
    """Rank-based univariate scores, ignoring NaN: Mann–Whitney U (two classes) or Kruskal–Wallis.

    For two classes the score is the univariate AUC folded to ``[0.5, 1]``
    (``max(AUC, 1 - AUC)`` with ``AUC = U / (n0 * n1)``), a scale-free effect size radiomics
    papers report; the p-value is the two-sided Mann–Whitney U test
    (:func:`scipy.stats.mannwhitneyu`). For more than two classes the score is the Kruskal–Wallis
    H statistic (:func:`scipy.stats.kruskal`). Each column is scored on the rows where it is
    present.

    Returns
    -------
    scores, pvalues : ndarray of shape (n_features,)
        Undefined scores (constant column, one class among the present rows) are the neutral
        value (0.5 for the AUC, 0 for H) with p-value 1.
    """
    A = _as_float_array(X)
    y = np.asarray(y)
    classes = np.unique(y)
    binary = len(classes) == 2
    neutral = 0.5 if binary else 0.0
    scores = np.full(A.shape[1], neutral)
    pvalues = np.ones(A.shape[1])
    for cols, rows in _column_groups(A):
        B, yr = A[np.ix_(rows, cols)], y[rows]
        present_classes = [c for c in classes if np.any(yr == c)]
        if len(present_classes) < 2 or len(yr) < 3:
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if binary:
                a, b = B[yr == classes[0]], B[yr == classes[1]]
                res = stats.mannwhitneyu(a, b, axis=0, alternative="two-sided")
                auc = res.statistic / (len(a) * len(b))
                s = np.maximum(auc, 1.0 - auc)
            else:
                res = stats.kruskal(*[B[yr == c] for c in present_classes], axis=0)
                s = res.statistic
        scores[cols] = s
        pvalues[cols] = res.pvalue
    bad = ~np.isfinite(scores) | ~np.isfinite(pvalues)
    scores[bad], pvalues[bad] = neutral, 1.0
    return scores, pvalues


#: Relevance scores by name, as the selectors' ``test`` / ``relevance`` parameters spell them.
SCORERS = {"anova": anova_scores, "mannwhitney": mann_whitney_scores}


# -- correlations ------------------------------------------------------------------------------
def _standardise(B: np.ndarray) -> np.ndarray:
    B = B - B.mean(axis=0)
    norm = np.sqrt((B * B).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, B / np.where(norm > 0, norm, 1.0), np.nan)


def nan_correlation(X, Y=None, *, method="pearson", min_periods=3):
    """Pairwise-complete correlation between the columns of ``X`` (and ``Y``).

    Each pair of columns is correlated on the rows where both are present, as
    :meth:`pandas.DataFrame.corr` does (Spearman ranks are recomputed on those rows), but with
    one matrix product per pair of NaN patterns instead of a loop over column pairs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_other), optional
        Defaults to ``X``.
    method : {"pearson", "spearman"}
    min_periods : int, default=3
        Pairs with fewer common rows get NaN.

    Returns
    -------
    ndarray of shape (n_features, n_other)
        NaN where undefined (a constant column, too few common rows).
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}.")
    A = _as_float_array(X)
    B = A if Y is None else _as_float_array(Y)
    if B.shape[0] != A.shape[0]:
        raise ValueError("X and Y must have the same number of rows.")
    R = np.full((A.shape[1], B.shape[1]), np.nan)
    groups_a = list(_column_groups(A))
    groups_b = groups_a if Y is None else list(_column_groups(B))
    for ca, ra in groups_a:
        for cb, rb in groups_b:
            rows = ra & rb
            if rows.sum() < min_periods:
                continue
            Pa, Pb = A[np.ix_(rows, ca)], B[np.ix_(rows, cb)]
            if method == "spearman":
                Pa, Pb = stats.rankdata(Pa, axis=0), stats.rankdata(Pb, axis=0)
            R[np.ix_(ca, cb)] = _standardise(Pa).T @ _standardise(Pb)
    return np.clip(R, -1.0, 1.0)
