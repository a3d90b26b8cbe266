"""Classification metrics of the benchmark, from predicted class probabilities.

Binary problems report, for the positive class (the greater label unless the dataset names one):
``accuracy``, ``roc_auc``, ``precision``, ``sensitivity`` (recall of the positive class),
``specificity`` (recall of the negative class), ``balanced_accuracy`` and ``f1``.

Multi-class problems report ``accuracy``, ``balanced_accuracy``, ``roc_auc`` (one-vs-rest,
macro-averaged) and, each twice, the macro average (every class counts the same) and the
support-weighted average (classes weighted by their number of patients) of ``precision``,
``sensitivity``, ``specificity`` and ``f1``: columns ``precision_macro``, ``precision_weighted`` and
so on.

The predicted class is the class of highest probability.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

__all__ = ["BINARY_METRICS", "compute_metrics", "metric_names", "positive_index"]

BINARY_METRICS = (
    "roc_auc",
    "accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "precision",
    "f1",
)
_MULTI_AVERAGED = ("precision", "sensitivity", "specificity", "f1")


def metric_names(n_classes: int) -> list[str]:
    """The metric columns reported for a problem with ``n_classes`` classes."""
    if n_classes == 2:
        return list(BINARY_METRICS)
    out = ["roc_auc", "accuracy", "balanced_accuracy"]
    for m in _MULTI_AVERAGED:
        out += [f"{m}_macro", f"{m}_weighted"]
    return out


def positive_index(classes, positive_label=None) -> int:
    """Index of the positive class in ``classes`` (the last, i.e. greatest, by default)."""
    classes = list(classes)
    if positive_label is None:
        return len(classes) - 1
    for i, c in enumerate(classes):
        if c == positive_label or str(c) == str(positive_label):
            return i
    raise ValueError(f"positive_label {positive_label!r} is not a class; classes are {classes}.")


def _specificity_per_class(cm: np.ndarray) -> np.ndarray:
    total = cm.sum()
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = total - tp - fp - fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tn + fp > 0, tn / (tn + fp), np.nan)


def compute_metrics(y_true, proba, classes, positive_label=None) -> dict[str, float]:
    """Metrics of one set of predictions.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels.
    proba : array-like of shape (n, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        Class labels of the columns of ``proba``.
    positive_label : object, optional
        Positive class of a binary problem (default: ``classes[-1]``).

    Returns
    -------
    dict
        Metric name to value (NaN where undefined, e.g. AUC with one class in ``y_true``).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        raise ValueError(
            f"proba has shape {proba.shape}; expected ({len(y_true)}, {len(classes)})."
        )
    y_pred = classes[np.argmax(proba, axis=1)]
    present = np.unique(y_true)
    out: dict[str, float] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred))
        if len(present) > 1
        else float("nan"),
    }
    cm = confusion_matrix(y_true, y_pred, labels=classes)
    spec = _specificity_per_class(cm)
    if len(classes) == 2:
        pos = positive_index(classes, positive_label)
        neg = 1 - pos
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=[classes[pos]], average=None, zero_division=0
        )
        out["roc_auc"] = (
            float(roc_auc_score(y_true == classes[pos], proba[:, pos]))
            if len(present) > 1
            else float("nan")
        )
        out["precision"] = float(p[0])
        out["sensitivity"] = float(r[0])
        tn_fp = cm[neg].sum()
        out["specificity"] = float(cm[neg, neg] / tn_fp) if tn_fp else float("nan")
        out["f1"] = float(f[0])
    else:
        if len(present) == len(classes):
            out["roc_auc"] = float(
                roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
            )
        else:
            out["roc_auc"] = float("nan")
        support = cm.sum(axis=1)
        for avg in ("macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(
                y_true, y_pred, labels=classes, average=avg, zero_division=0
            )
            out[f"precision_{avg}"] = float(p)
            out[f"sensitivity_{avg}"] = float(r)
            out[f"f1_{avg}"] = float(f)
        ok = ~np.isnan(spec)
        out["specificity_macro"] = float(np.mean(spec[ok])) if ok.any() else float("nan")
        w = support[ok]
        out["specificity_weighted"] = (
            float(np.average(spec[ok], weights=w)) if w.sum() else float("nan")
        )
    return {k: out[k] for k in metric_names(len(classes))}
