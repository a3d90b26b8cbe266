"""Targets of the torch classifiers: label encoding, sample and class weights, scoring.

Single task: ``y`` of shape ``(n,)`` with any label type, encoded to ``0..k-1``. Multi-task:
``y`` of shape ``(n, t)``; each task's labels are encoded on their own and a masked label (NaN,
None, pandas NA or ``-1``) becomes ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

__all__ = [
    "EncodedTargets",
    "check_sample_weight",
    "encode_targets",
    "masked_labels",
    "multi_task_accuracy",
    "row_weights",
    "valid_score",
]


@dataclass
class EncodedTargets:
    """Encoded labels and what they decode to."""

    y: np.ndarray  # int64, (n,) or (n, t) with -1 masked
    classes: np.ndarray | list  # an array, or one array per task
    n_classes: int | list
    n_tasks: int


def encode_targets(y, *, n_samples: int, multi_task: bool, name: str) -> EncodedTargets:
    """Encode ``y`` (``name`` is the estimator's, for messages)."""
    y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] > 1 and multi_task:
        return _encode_multi_task(y_arr, n_samples, name)
    y_arr = column_or_1d(y_arr, warn=True)
    if y_arr.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but y has {y_arr.shape[0]}; they must match.")
    if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
        raise ValueError(
            "Input y contains NaN or infinity; every training row needs a class label."
        )
    check_classification_targets(y_arr)
    classes, y_enc = np.unique(y_arr, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{name} needs samples of at least 2 classes in the data, but the data contains only "
            f"one class: {classes[0]!r}."
        )
    return EncodedTargets(y_enc.astype(np.int64), classes, len(classes), 1)


def masked_labels(col: np.ndarray) -> np.ndarray:
    """Where a task's label column is masked (NaN, None, pandas NA or ``-1``)."""
    import pandas as pd

    masked = np.asarray(pd.isna(col), dtype=bool)
    with np.errstate(invalid="ignore"):
        return masked | np.array([_is_minus_one(v) for v in col], dtype=bool)


def _encode_multi_task(y_arr, n_samples, name):
    if y_arr.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but y has {y_arr.shape[0]}; they must match.")
    classes, enc = [], np.full(y_arr.shape, -1, dtype=np.int64)
    for j in range(y_arr.shape[1]):
        col = y_arr[:, j]
        masked = masked_labels(col)
        labelled = col[~masked]
        if labelled.dtype == object:
            labelled = np.asarray(labelled.tolist())
        check_classification_targets(labelled)
        cls, inv = np.unique(labelled, return_inverse=True)
        if len(cls) < 2:
            raise ValueError(
                f"{name}: task {j} needs labelled samples of at least 2 classes, but has "
                f"{len(cls)} ({list(cls)})."
            )
        classes.append(cls)
        enc[~masked, j] = inv
    return EncodedTargets(enc, classes, [len(c) for c in classes], y_arr.shape[1])


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as a float array of ``n`` finite non-negative weights (ones if None)."""
    if sample_weight is None:
        return np.ones(n)
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight.shape == {sw.shape}, expected {(n,)} (one weight per row of X)."
        )
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if sw.sum() <= 0:
        raise ValueError("sample_weight sums to zero: no row would contribute to the loss.")
    return sw


def row_weights(targets: EncodedTargets, sample_weight, class_weight, *, name: str) -> np.ndarray:
    """Sample weight times class weight, normalised to mean 1 (per task, 0 where masked)."""
    y, sw = targets.y, sample_weight
    if y.ndim == 1:
        cw = _class_weights(class_weight, targets.classes, y, sw)
        w = sw * cw[y]
        if np.count_nonzero(np.bincount(y[w > 0], minlength=targets.n_classes)) < 2:
            raise ValueError(
                f"{name}: after sample_weight and class_weight only one class has positive "
                "weight; it needs at least 2 classes."
            )
        # Mean 1 over the rows that take part (zero-weight rows are dropped before training).
        return w / w[w > 0].mean()
    cws = class_weight
    if cws is None or isinstance(cws, str):
        cws = [cws] * targets.n_tasks
    if len(cws) != targets.n_tasks:
        raise ValueError(
            f"class_weight has {len(cws)} entries but y has {targets.n_tasks} tasks; give one "
            "per task."
        )
    w = np.zeros(y.shape)
    for j in range(targets.n_tasks):
        lab = y[:, j] >= 0
        cw = _class_weights(cws[j], targets.classes[j], y[lab, j], sw[lab])
        w[lab, j] = sw[lab] * cw[y[lab, j]]
        if w[:, j].sum() <= 0:
            raise ValueError(f"task {j} has no labelled row with positive weight.")
        w[:, j] /= w[w[:, j] > 0, j].mean()
    return w


def _class_weights(class_weight, classes, y_enc, sw):
    if class_weight is None:
        return np.ones(len(classes))
    if isinstance(class_weight, str) and class_weight == "balanced":
        # Balanced on the weighted class counts, as scikit-learn does with sample weights.
        counts = np.bincount(y_enc, weights=sw, minlength=len(classes))
        with np.errstate(divide="ignore"):
            return np.where(counts > 0, counts.sum() / (len(classes) * counts), 0.0)
    if isinstance(class_weight, dict):
        return compute_class_weight(class_weight, classes=classes, y=classes[y_enc])
    raise ValueError(
        f"class_weight must be None, 'balanced' or a dict {{label: weight}} (one per task for "
        f"a multi-task y), got {class_weight!r}."
    )


def valid_score(y: np.ndarray, output) -> float:
    """Accuracy of ``output`` (probabilities; one array per task) on encoded ``y``."""
    if y.ndim == 1:
        return float(np.mean(np.argmax(output, axis=1) == y))
    accs = []
    for j, proba in enumerate(output):
        lab = y[:, j] >= 0
        if lab.any():
            accs.append(np.mean(np.argmax(proba[lab], axis=1) == y[lab, j]))
    return float(np.mean(accs)) if accs else float("nan")


def multi_task_accuracy(pred: np.ndarray, y, sample_weight=None) -> float:
    """Mean over tasks of the (weighted) accuracy of ``pred`` ``(n, t)`` on labelled rows."""
    y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    accs = []
    for j in range(pred.shape[1]):
        col = y_arr[:, j]
        lab = ~masked_labels(col)
        if lab.any():
            sw = None if sample_weight is None else np.asarray(sample_weight)[lab]
            accs.append(np.average(pred[lab, j] == col[lab], weights=sw))
    return float(np.mean(accs))


def _is_minus_one(v) -> bool:
    try:
        return not isinstance(v, (str, bytes)) and float(v) == -1.0
    except (TypeError, ValueError):
        return False
