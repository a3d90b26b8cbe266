"""The first step of a radiomics pipeline: check the modality blocks, name them, fix bad values.

Scaling itself needs nothing of radfuse: scikit-learn's ``StandardScaler`` and ``RobustScaler``
already ignore NaN when fitting and keep NaN in ``transform``, so a missing modality (a NaN
block) passes through them untouched. What they do not do is tell a missing modality from a bad
value; :class:`BlockChecker` does that before anything is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from radfuse.modality import format_name
from radfuse.modality.validation import (
    check_feature_table,
    check_nan_columns,
    check_numeric,
    layout_of,
    row_labels_of,
)

__all__ = ["BlockChecker"]


class BlockChecker(TransformerMixin, BaseEstimator):
    """Validate modality blocks; optionally impute bad values inside present blocks.

    A whole-NaN block is a missing modality and passes through as NaN. NaN inside a block that
    is otherwise present is a bad value: by default it raises a ValueError naming the patient
    and the modality (in ``fit`` and in ``transform``, so a bad test case is caught too); with
    ``impute="median"`` or ``"mean"`` it is replaced by that column's statistic over the training
    rows where the modality is present. Always raised on: a cell that is not a number (naming
    column, patient and value), an empty table, infinity (patient and column), a column NaN for
    every patient who has its modality (the column; nothing to impute it from), and a patient
    with no modality at all (nothing to learn from or predict for).

    ``fit`` records which blocks some training row had (``seen_modalities_``). ``transform``
    rejects a row that has a block no training row had, naming patients and modality: the model
    learned nothing for that block, and passing it on (or quietly blanking it) would hide that.

    With ``modalities`` given as a mapping, the output columns are renamed to the radfuse
    convention ``"<MODALITY>__<column>"``, so later steps find the blocks by name.

    Parameters
    ----------
    impute : {None, "median", "mean"}, default=None
        ``None`` raises on bad values.
    modalities : None, list of str or mapping, default=None
        The blocks (see :meth:`radfuse.modality.ModalityLayout.resolve`).

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features_in_,) or None
        Imputation values (``impute`` set).
    n_imputed_ : int
        Bad values found (and imputed) in the training table.
    modalities_ : list of str
    seen_modalities_ : ndarray of bool of shape (n_modalities,)
        Whether some training row had each block of ``modalities_``.
    n_features_in_, feature_names_in_
    """

    _parameter_constraints: ClassVar[dict] = {
        "impute": [StrOptions({"median", "mean"}), None],
        "modalities": [list, tuple, dict, str, None],
    }

    def __init__(self, impute=None, modalities=None):
        self.impute = impute
        self.modalities = modalities

    def _check(self, X, reset):
        labels = row_labels_of(X)
        name = type(self).__name__
        check_numeric(X, context=name)
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric", reset=reset)
        A = np.array(A, dtype=float)  # a copy: transform may write imputed values
        layout = layout_of(self)
        present = layout.presence_mask(A)
        checked = A
        if self.impute is not None:
            # a partly NaN block is expected (it is imputed); a column without any value is not
            if reset:
                check_nan_columns(A, layout, name)
            checked = np.where(np.isnan(A) & present[:, _block_of(layout)], 0.0, A)
        _, present = check_feature_table(
            checked,
            layout,
            context=name,
            row_labels=labels,
            training_presence=None if reset else self.seen_modalities_,
        )
        return A, layout, present

    @staticmethod
    def _bad(A, layout):
        """Mask of NaN cells inside present blocks."""
        bad = np.zeros(A.shape, dtype=bool)
        for idx in layout.indices:
            nan = np.isnan(A[:, idx])
            present = ~nan.all(axis=1)
            bad[np.ix_(present, idx)] = nan[present]
        return bad

    def fit(self, X, y=None):
        """Check the table and learn imputation values.

        Raises
        ------
        ValueError
            For a cell that is not a number, an empty table, infinity, a column without any
            value, a patient without any modality, and partly-NaN blocks when ``impute`` is
            None.
        """
        self._validate_params()
        A, layout, present = self._check(X, reset=True)
        self.modalities_ = list(layout.names)
        self.seen_modalities_ = present.any(axis=0)
        bad = self._bad(A, layout)
        self.n_imputed_ = int(bad.sum())
        self.statistics_ = None
        if self.impute is not None:
            # rows lacking a modality are all NaN in its columns, so NaN-ignoring statistics
            # are exactly the statistics over the rows where the modality is present
            with np.errstate(all="ignore"):
                stat = np.nanmedian if self.impute == "median" else np.nanmean
                has_values = ~np.isnan(A).all(axis=0)
                values = np.zeros(A.shape[1])
                values[has_values] = stat(A[:, has_values], axis=0)
            self.statistics_ = values
        return self

    def transform(self, X):
        """Return ``X`` (as float) with bad values imputed or rejected; NaN blocks stay NaN."""
        check_is_fitted(self)
        A, layout, _ = self._check(X, reset=False)
        if self.statistics_ is not None:
            bad = self._bad(A, layout)
            A[bad] = np.broadcast_to(self.statistics_, A.shape)[bad]
        return A

    def get_feature_names_out(self, input_features=None):
        """Input names, prefixed ``"<MODALITY>__"`` when ``modalities`` is a mapping."""
        check_is_fitted(self)
        layout = layout_of(self)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
        elif getattr(self, "feature_names_in_", None) is not None:
            names = np.asarray(self.feature_names_in_, dtype=object)
        else:
            names = np.asarray([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
        if not isinstance(self.modalities, Mapping):
            return names
        out = names.copy()
        for mod, idx in zip(layout.names, layout.indices):
            out[idx] = [format_name(mod, str(n)) for n in names[idx]]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _block_of(layout) -> np.ndarray:
    """The block index of every column."""
    out = np.empty(layout.n_features, dtype=np.intp)
    for k, idx in enumerate(layout.indices):
        out[idx] = k
    return out
