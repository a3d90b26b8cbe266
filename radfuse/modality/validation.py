"""Input checks of feature tables shared by every estimator, transformer and the benchmark.

A missing modality is a whole block of NaN and is allowed everywhere. Everything else that is not
a number is a bad input and is reported by patient, modality, column and value:

* a cell that is not a number (``'abc'``, ``'1.2.3'``): :func:`check_numeric`, before the table
  is converted to floats;
* an empty table (no rows or no columns): :func:`check_numeric`;
* infinity: :func:`check_no_inf`;
* a column NaN for every patient who has its modality, and NaN inside a present block;
* a patient with no modality at all (every block NaN): nothing to learn from or predict for;
* a block present in a row although no training row had it: the model learned nothing for it.

:func:`check_feature_table` runs the last four on a converted array.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import type_of_target

from radfuse.modality import ModalityLayout
from radfuse.modality.names import abbrev


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


def _who(row_labels, r) -> str:
    return repr(row_labels[r]) if row_labels is not None else f"row {r}"


def _patients(row_labels, rows) -> str:
    """``patients 'a', 'b'`` (or ``rows 3, 7`` without identifiers) for a message."""
    if row_labels is None:
        return "rows " + abbrev([int(r) for r in rows])
    return "patients " + abbrev([row_labels[r] for r in rows])


def _not_a_number(value) -> bool:
    """True for a string (or bytes) cell that does not parse as a float."""
    if not isinstance(value, (str, bytes)):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def check_numeric(X, *, context: str, error: type[ValueError] = ValueError) -> None:
    """Raise a ValueError for an empty table or a text cell that is not a number.

    Called on the table as given, before it is converted to floats (the conversion's own error
    names neither the patient nor the column). Number-like text (``'1.5'``) passes, as the
    conversion reads it; NaN and None are missing values, not bad ones. The table is not changed.

    Parameters
    ----------
    X : DataFrame or array-like
    context : str
        Prefix of the message (an estimator's name, or the dataset and file).
    error : subclass of ValueError, default=ValueError
        The exception raised (the benchmark raises its ``ConfigError``).
    """
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        if X.ndim != 2 or 0 in X.shape:
            raise error(
                f"{context}: X is an empty table ({X.shape[0]} rows x {len(X.columns)} columns); "
                "expected one row per patient and one '<MODALITY>__<feature>' column per feature."
            )
        columns = [c for c, t in X.dtypes.items() if t.kind in "OSUc" or str(t) == "string"]
        cells = ((c, X[c].to_numpy(dtype=object)) for c in columns)
        labels = list(X.index)
    else:
        # lists and arrays of text; other array-likes are left to scikit-learn's conversion
        A = np.asarray(X) if isinstance(X, (np.ndarray, list, tuple)) else None
        if A is None or A.dtype.kind not in "OSU" or A.ndim != 2:
            return
        cells = ((f"column {j}", A[:, j]) for j in range(A.shape[1]))
        labels = None
    for col, values in cells:
        bad = [r for r, v in enumerate(values) if _not_a_number(v)]
        if bad:
            r = bad[0]
            raise error(
                f"{context}: column {col!r} holds {len(bad)} cell(s) that are not numbers, first "
                f"{values[r]!r} for patient {_who(labels, r)}. Every feature cell must be a number "
                "(or NaN for a missing modality): fix or blank these cells."
            )


def check_no_inf(A: np.ndarray, row_labels, feature_names, context: str) -> None:
    """Raise a ValueError naming the first patient and column holding an infinite value."""
    if not np.issubdtype(A.dtype, np.floating):
        return
    inf = np.isinf(A)
    if inf.any():
        r, c = np.argwhere(inf)[0]
        col = feature_names[c] if feature_names is not None else f"column {c}"
        raise ValueError(
            f"{context}: X contains {int(inf.sum())} infinite value(s) (inf), first "
            f"{A[r, c]} for patient {_who(row_labels, r)} in {col!r}. NaN marks a missing "
            "modality, but infinity is a bad value: replace it (e.g. "
            "X.replace([np.inf, -np.inf], np.nan) and impute) before this step."
        )


def check_nan_columns(A: np.ndarray, layout: ModalityLayout, context: str) -> None:
    """Raise naming the columns that are NaN for every patient who has their modality."""
    present = layout.presence_mask(A)
    for k, (mod, idx) in enumerate(zip(layout.names, layout.indices)):
        rows = present[:, k]
        if rows.sum() < 2:  # one row: a partly NaN block, reported per patient
            continue
        empty = np.isnan(A[np.ix_(rows, idx)]).all(axis=0)
        if empty.any():
            names = layout.feature_names_of(mod)[empty]
            raise ValueError(
                f"{context}: column(s) {abbrev(names)} of modality {mod!r} are NaN for every one "
                f"of the {int(rows.sum())} patients who have {mod!r}: a feature without any value "
                "is a bad column (a failed extraction?), not a missing modality. Drop it or fix "
                "its values before this step."
            )


def check_feature_table(
    X,
    layout: ModalityLayout,
    *,
    context: str,
    row_labels=None,
    training_presence=None,
    allow_empty_rows: bool = False,
):
    """Check a numeric feature table; return it as floats and its presence mask.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The table, already numeric (see :func:`check_numeric`), columns as in ``layout``.
    layout : ModalityLayout
    context : str
        Prefix of the messages (the estimator's name).
    row_labels : sequence, optional
        Patient identifiers (default: the DataFrame's index, else row positions).
    training_presence : array-like of bool of shape (n_modalities,), optional
        Which blocks some training row had (``presence.any(axis=0)`` at fit). A row that has a
        block no training row had is rejected: the model learned nothing for it, and reading it
        (or silently treating it as missing) would hide that.
    allow_empty_rows : bool, default=False
        Whether a patient with every block NaN is accepted.

    Returns
    -------
    A : ndarray of float of shape (n_samples, n_features)
    presence : ndarray of bool of shape (n_samples, n_modalities)

    Raises
    ------
    ValueError
        Infinity (patient, column), a column NaN wherever its modality is present (column), NaN
        inside a present block (patient, modality), a patient without any modality, a block
        unseen in training (patients, modality).
    """
    if row_labels is None:
        row_labels = row_labels_of(X)
    A = np.asarray(X, dtype=float)
    check_no_inf(A, row_labels, layout.feature_names, context)
    check_nan_columns(A, layout, context)
    presence = layout.check_blocks(A, row_labels, context=context)
    empty = np.flatnonzero(~presence.any(axis=1))
    if len(empty) and not allow_empty_rows:
        raise ValueError(
            f"{context}: {_patients(row_labels, empty)} have no modality at all (every block of "
            f"{list(layout.names)} NaN); there is nothing to learn from or predict for. "
            "Remove these rows."
        )
    if training_presence is not None:
        unseen = presence & ~np.asarray(training_presence, dtype=bool)
        for k in np.flatnonzero(unseen.any(axis=0)):
            who, mod = _patients(row_labels, np.flatnonzero(unseen[:, k])), layout.names[k]
            raise ValueError(
                f"{context}: {who} have modality {mod!r}, which no training row had, so the "
                "model learned nothing for it. Blank that block (NaN) for these patients, or "
                f"refit on training rows that have {mod!r}."
            )
    return A, presence


def check_table(
    estimator, A: np.ndarray, row_labels, layout: ModalityLayout, *, allow_empty_rows=False
) -> np.ndarray:
    """:func:`check_feature_table` in an estimator's name; return the presence mask."""
    return check_feature_table(
        A,
        layout,
        context=type(estimator).__name__,
        row_labels=row_labels,
        allow_empty_rows=allow_empty_rows,
    )[1]


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
