"""Input checks of feature tables shared by the transformers, the sampler and harmonisation.

A missing modality is a whole block of NaN and is allowed everywhere; infinite
values and NaN inside a present block are bad values and are reported by patient and modality.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import type_of_target

from radfuse.modality import ModalityLayout


def row_labels_of(X):
    """Patient identifiers of a DataFrame's rows, or None for arrays."""
    if hasattr(X, "columns") and hasattr(X, "index"):
        return list(X.index)
    return None


def layout_of(estimator) -> ModalityLayout:
    """The modality layout of a fitted (or being fitted) estimator's input."""
    return ModalityLayout.resolve(
        getattr(estimator, "modalities", None),
        feature_names=getattr(estimator, "feature_names_in_", None),
        n_features=estimator.n_features_in_,
    )


def check_no_inf(A: np.ndarray, row_labels, feature_names, context: str) -> None:
    """Raise a ValueError naming the first patient and column holding an infinite value."""
    if not np.issubdtype(A.dtype, np.floating):
        return
    inf = np.isinf(A)
    if inf.any():
        r, c = np.argwhere(inf)[0]
        who = row_labels[r] if row_labels is not None else f"row {r}"
        col = feature_names[c] if feature_names is not None else f"column {c}"
        raise ValueError(
            f"{context}: X contains {int(inf.sum())} infinite value(s) (inf), first for patient "
            f"{who!r} in {col!r}. NaN marks a missing modality, but infinity is a bad value: "
            "replace it (e.g. X.replace([np.inf, -np.inf], np.nan) and impute) before this step."
        )


def check_table(estimator, A: np.ndarray, row_labels, layout: ModalityLayout) -> np.ndarray:
    """Reject infinite values and partly-NaN blocks; return the presence mask."""
    name = type(estimator).__name__
    check_no_inf(A, row_labels, layout.feature_names, name)
    return layout.check_blocks(A, row_labels, context=name)


def check_classification_y(y, context: str) -> np.ndarray:
    """Return the class labels of ``y``; raise when there are fewer than two classes."""
    y = np.asarray(y)
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"{context} needs class labels (binary or multiclass), got a {kind!r} target."
        )
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{context}: y has a single class ({classes[0]!r}); selection against the label and "
            "oversampling need at least two classes. With cross-validation this is a fold "
            "holding only one class: use StratifiedKFold or fewer folds."
        )
    return classes


def check_classes_present(y, present: np.ndarray, modality: str, classes, context: str) -> None:
    """Raise when every row of some class lacks ``modality`` (nothing to contrast it with)."""
    have = set(np.unique(np.asarray(y)[present]).tolist())
    lacking = [c for c in np.asarray(classes).tolist() if c not in have]
    if lacking:
        raise ValueError(
            f"{context}: every row of class {lacking[0]!r} lacks modality {modality!r} (its block "
            f"is all NaN), so features of {modality!r} cannot be judged against the label. "
            f"Drop modality {modality!r}, or gather cases of that class that have it."
        )
