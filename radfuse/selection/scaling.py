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
from radfuse.modality.validation import check_no_inf, layout_of, row_labels_of

__all__ = ["BlockChecker"]


class BlockChecker(TransformerMixin, BaseEstimator):
    """Validate modality blocks; optionally impute bad values inside present blocks.

    A whole-NaN block is a missing modality and passes through as NaN. NaN inside a block that
    is otherwise present is a bad value: by default it raises a ValueError naming the patient
    and the modality (in ``fit`` and in ``transform``, so a bad test case is caught too); with
    ``impute="median"`` or ``"mean"`` it is replaced by that column's statistic over the training
    rows where the modality is present. Infinite values always raise.

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
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric", reset=reset)
        A = np.array(A, dtype=float)  # a copy: transform may write imputed values
        layout = layout_of(self)
        check_no_inf(A, labels, layout.feature_names, type(self).__name__)
        if self.impute is None:
            layout.check_blocks(A, labels, context=type(self).__name__)
        return A, layout

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
            For infinite values, and for partly-NaN blocks when ``impute`` is None.
        """
        self._validate_params()
        A, layout = self._check(X, reset=True)
        self.modalities_ = list(layout.names)
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
        A, layout = self._check(X, reset=False)
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
