"""Paired comparisons of two models' ROC AUC.

- :func:`delong_test`: DeLong's test for two correlated ROC AUCs on the same patients (the fast
  algorithm of Sun & Xu, 2014), on out-of-fold predictions.
- :func:`bootstrap_auc_difference`: a percentile confidence interval of the AUC difference by a
  stratified, paired bootstrap over patients.
- :func:`bootstrap_cindex_difference`: the same for Harrell's C of two survival models, the
  patients resampled within each test fold (risks of different folds come from different models
  and are not compared with one another).
- :func:`corrected_resampled_ttest`: Nadeau & Bengio's (2003) corrected resampled t-test on the
  per-fold differences, whose variance term accounts for the overlap of training sets between
  folds (the plain t-test over folds is far too optimistic).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

__all__ = [
    "bootstrap_auc_difference",
    "bootstrap_cindex_difference",
    "corrected_resampled_ttest",
    "delong_test",
]


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def delong_test(y_true, score_a, score_b) -> dict[str, float]:
    """DeLong's test of ``AUC(a) - AUC(b)`` on the same patients.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels (True / 1 = positive).
    score_a, score_b : array-like of shape (n,)
        Scores of the positive class from the two models.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``diff`` (a - b), ``se``, ``z`` and the two-sided ``p``.
    """
    y = np.asarray(y_true).astype(bool)
    a, b = np.asarray(score_a, float), np.asarray(score_b, float)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes in y_true.")
    scores = np.vstack([a, b])
    pos, neg = scores[:, y], scores[:, ~y]
    tx = np.vstack([_midranks(p) for p in pos])
    ty = np.vstack([_midranks(q) for q in neg])
    tz = np.vstack([_midranks(s) for s in np.hstack([pos, neg])])
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n  # structural components of positives
    v10 = 1.0 - (tz[:, m:] - ty) / m  # and of negatives
    s = np.cov(v01) / m + np.cov(v10) / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "diff": diff,
        "se": se,
        "z": z,
        "p": p,
    }


def _auc(y, score):
    if score.ndim == 1:
        return roc_auc_score(y, score)
    return roc_auc_score(y, score, multi_class="ovr", average="macro")


def _auc_rows(y_pos: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary AUC of each row of ``scores`` (Mann-Whitney, ties averaged)."""
    ranks = stats.rankdata(scores, axis=1, method="average")
    m = y_pos.sum(axis=1)
    n = y_pos.shape[1] - m
    return ((ranks * y_pos).sum(axis=1) - m * (m + 1) / 2) / (m * n)


def bootstrap_auc_difference(
    y_true, score_a, score_b, *, n_bootstrap: int = 2000, alpha: float = 0.05, random_state=0
) -> dict[str, float]:
    """Paired, class-stratified bootstrap of ``AUC(a) - AUC(b)`` over patients.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels (binary or multi-class). For binary labels the positive class is the greater one.
    score_a, score_b : array-like of shape (n,) or (n, n_classes)
        Positive-class scores (binary) or class probabilities (multi-class, one-vs-rest macro AUC).
    n_bootstrap : int, default=2000
    alpha : float, default=0.05
        The interval is the ``(alpha/2, 1 - alpha/2)`` percentile interval.
    random_state : int

    Returns
    -------
    dict
        ``diff`` (on the original sample), ``ci_low``, ``ci_high`` and ``p`` (two-sided bootstrap
        p-value: twice the share of resamples on the other side of zero).
    """
    y = np.asarray(y_true)
    a, b = np.asarray(score_a, float), np.asarray(score_b, float)
    rng = np.random.default_rng(random_state)
    labels = np.unique(y)
    by_class = [np.flatnonzero(y == c) for c in labels]
    diff = float(_auc(y, a) - _auc(y, b))
    diffs = np.empty(n_bootstrap)
    binary = a.ndim == 1
    chunk = 250
    for start in range(0, n_bootstrap, chunk):
        k = min(chunk, n_bootstrap - start)
        idx = np.hstack([rng.choice(ix, size=(k, len(ix)), replace=True) for ix in by_class])
        if binary:  # vectorised over resamples: the class counts are fixed by stratification
            y_pos = (y[idx] == labels[-1]).astype(float)
            diffs[start : start + k] = _auc_rows(y_pos, a[idx]) - _auc_rows(y_pos, b[idx])
        else:
            for r in range(k):
                ix = idx[r]
                diffs[start + r] = _auc(y[ix], a[ix]) - _auc(y[ix], b[ix])
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    return {"diff": diff, "ci_low": float(lo), "ci_high": float(hi), "p": p}


def _harrell_pairs(event, time, risk, tied_tol: float = 1e-8):
    """Comparable pairs and concordance credits of Harrell's C (scikit-survival's definition:
    ``i`` is an event before ``j``'s time, or at it with ``j`` censored; tied risks count 0.5)."""
    e = np.asarray(event, bool)
    t = np.asarray(time, float)
    comp = e[:, None] & ((t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & ~e[None, :]))
    d = np.asarray(risk, float)[:, None] - np.asarray(risk, float)[None, :]
    credit = np.where(np.abs(d) <= tied_tol, 0.5, (d > 0).astype(float))
    return comp.astype(float), comp * credit


def bootstrap_cindex_difference(
    folds, *, n_bootstrap: int = 2000, alpha: float = 0.05, random_state=0
) -> dict[str, float]:
    """Paired bootstrap of the mean fold Harrell's C difference of two survival models.

    In each resample the patients of every test fold are drawn with replacement (events and
    censored patients separately, so every fold keeps its events), each fold's C-index of both
    models is computed on its resample, and the difference of their means over the folds is
    recorded.

    Parameters
    ----------
    folds : sequence of (event, time, risk_a, risk_b)
        One tuple of arrays per test fold: the same patients for both models.
    n_bootstrap : int, default=2000
    alpha : float, default=0.05
        The interval is the ``(alpha/2, 1 - alpha/2)`` percentile interval.
    random_state : int

    Returns
    -------
    dict
        ``diff`` (mean over folds of ``C(a) - C(b)`` on the original patients, the same as
        ``concordance_index_censored``), ``ci_low``, ``ci_high`` and the two-sided ``p``.
    """
    rng = np.random.default_rng(random_state)
    diffs = np.zeros(n_bootstrap)
    diff = 0.0
    for event, time, risk_a, risk_b in folds:
        comp, credit_a = _harrell_pairs(event, time, risk_a)
        _, credit_b = _harrell_pairs(event, time, risk_b)
        diff += (credit_a.sum() - credit_b.sum()) / comp.sum() / len(folds)
        strata = [np.flatnonzero(np.asarray(event, bool) == v) for v in (True, False)]
        for start in range(0, n_bootstrap, 250):
            k = min(250, n_bootstrap - start)
            w = np.zeros((k, len(comp)))
            for ix in strata:
                if len(ix):
                    draws = rng.choice(ix, size=(k, len(ix)), replace=True)
                    np.add.at(w, (np.arange(k)[:, None], draws), 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                den = ((w @ comp) * w).sum(axis=1)
                c_a = ((w @ credit_a) * w).sum(axis=1) / den
                c_b = ((w @ credit_b) * w).sum(axis=1) / den
            diffs[start : start + k] += (c_a - c_b) / len(folds)
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    return {"diff": float(diff), "ci_low": float(lo), "ci_high": float(hi), "p": p}


def corrected_resampled_ttest(diffs, n_train: float, n_test: float) -> dict[str, float]:
    """Nadeau & Bengio's corrected resampled t-test over per-fold score differences.

    Parameters
    ----------
    diffs : array-like of shape (J,)
        Per-fold differences (model a - model b) over all folds of all repeats.
    n_train, n_test : float
        (Average) training and test set sizes of a fold.

    Returns
    -------
    dict
        ``mean``, ``t``, ``df`` (J - 1) and the two-sided ``p``; NaN for fewer than two folds.
    """
    d = np.asarray(diffs, float)
    d = d[~np.isnan(d)]
    J = len(d)
    if J < 2:
        return {
            "mean": float(d.mean()) if J else float("nan"),
            "t": float("nan"),
            "df": 0,
            "p": float("nan"),
        }
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    denom = np.sqrt((1.0 / J + n_test / n_train) * var)
    if denom == 0:
        t = 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / denom
        p = float(2 * stats.t.sf(abs(t), df=J - 1))
    return {"mean": mean, "t": float(t), "df": J - 1, "p": p}
