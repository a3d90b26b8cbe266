"""Feature selection run separately inside each modality block."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from radfuse.modality.validation import (
    check_classes_present,
    check_classification_y,
    check_numeric,
    check_table,
    layout_of,
    row_labels_of,
)
from radfuse.selection.filters import MRMRSelector
from radfuse.selection.scores import anova_scores

__all__ = ["ModalityWiseSelector"]

#: Parameter names through which ``k`` is passed to a selector, in order of preference.
_K_PARAMS = ("k", "n_features_to_select", "max_features")

#: Features kept per block by the default selector when ``k`` is None.
DEFAULT_K = 10


class ModalityWiseSelector(SelectorMixin, BaseEstimator):
    """Fit a clone of a feature selector on each modality block separately.

    Each block is selected on the rows where that modality is present (rows where the block is
    all NaN are left out of that block's fit), so a missing modality never biases the choice and
    no block can be emptied by another block's features. NaN passes through ``transform``
    unchanged. At least one column of every block is kept: when the selector keeps none (an L1
    model that zeroes every coefficient, say), the best column by the selector's own scores
    (``scores_``, absolute ``coef_`` or ``feature_importances_``), else by ANOVA F, else by
    variance, is kept and a warning names the block.

    Parameters
    ----------
    selector : selector object, default=None
        Any scikit-learn feature selector (``SelectorMixin``: ``SelectKBest``,
        ``VarianceThreshold``, ``SelectFromModel``, ``RFE``, the radfuse filters, ...). It is
        cloned once per block. ``None`` uses ``MRMRSelector()`` with
        ``min(10, block size)`` columns per block.
    k : int, float, dict or None, default=None
        Columns to keep per block, passed to the selector's ``k`` (or ``n_features_to_select``,
        ``max_features``) parameter:

        - ``None``: the selector's own setting;
        - ``int``: that many per block;
        - ``float`` in (0, 1]: that fraction of each block, rounded, at least 1;
        - ``dict`` ``{modality: int | float | None}``: per block (blocks not listed use the
          selector's own setting).

        ``k`` larger than a block is an error unless ``clip_k=True``.

        Inside a scikit-learn ``Pipeline``, call ``pipe.set_output(transform="pandas")`` so the
        ``"<MODALITY>__"`` column names (hence the blocks) reach this step; a NumPy array
        without names is a single block.
    modalities : None, list of str or mapping, default=None
        The blocks (see :meth:`radfuse.modality.ModalityLayout.resolve`): ``None`` infers them
        from the ``"<MODALITY>__"`` column prefixes (a plain array is one block).
    clip_k : bool, default=False
        If True, a ``k`` (or the selector's own ``k``) larger than a block keeps the whole block
        instead of raising; ``k_`` records what was used. Useful after filters whose output
        size varies between folds, as in :func:`make_radiomics_pipeline`.

    Attributes
    ----------
    selectors_ : dict
        ``{modality: fitted selector}``.
    k_ : dict
        ``{modality: k passed to the selector (None: its own setting)}``.
    n_selected_ : dict
        ``{modality: number of kept columns}``.
    modalities_ : list of str
        Block names in column order.
    n_present_ : dict
        ``{modality: number of training rows where the block is present}``.
    fallback_ : list of str
        Blocks where the selector kept nothing and one column was kept by the fallback.
    support_ : ndarray of bool of shape (n_features_in_,)
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> from sklearn.feature_selection import SelectKBest
    >>> from radfuse.datasets import load_breast_cancer_views
    >>> from radfuse.selection import ModalityWiseSelector
    >>> X, y = load_breast_cancer_views()
    >>> sel = ModalityWiseSelector(SelectKBest(), k={"MEAN": 3, "SE": 1, "WORST": 2}).fit(X, y)
    >>> sel.n_selected_
    {'MEAN': 3, 'SE': 1, 'WORST': 2}
    """

    _parameter_constraints: ClassVar[dict] = {
        "selector": [HasMethods(["fit", "get_support"]), None],
        "k": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="right"),
            dict,
            None,
        ],
        "modalities": [list, tuple, dict, str, None],
        "clip_k": ["boolean"],
    }

    def __init__(self, selector=None, *, k=None, modalities=None, clip_k=False):
        self.selector = selector
        self.k = k
        self.modalities = modalities
        self.clip_k = clip_k

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit one clone of ``selector`` per block, on the rows where the block is present.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Feature table; a whole-NaN block is a missing modality.
        y : array-like of shape (n_samples,), optional
            Labels, for supervised selectors.

        Returns
        -------
        self
        """
        self._validate_params()
        labels = row_labels_of(X)
        check_numeric(X, context=type(self).__name__)
        A = np.asarray(validate_data(self, X, ensure_all_finite=False, dtype="numeric"), float)
        layout = layout_of(self)
        presence = check_table(self, A, labels, layout)
        name = type(self).__name__
        base = MRMRSelector() if self.selector is None else self.selector
        supervised = get_tags(base).target_tags.required
        if supervised and y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: "
                f"{type(base).__name__} ranks features against the label."
            )
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.ravel()
            if len(y) != A.shape[0]:
                raise ValueError(f"{name}: y has {len(y)} labels for {A.shape[0]} rows of X.")
        classes = check_classification_y(y, name) if supervised else None
        k_per = self._resolve_k(layout)

        self.modalities_ = list(layout.names)
        self.selectors_, self.k_, self.n_selected_, self.n_present_ = {}, {}, {}, {}
        self.fallback_ = []
        support = np.zeros(A.shape[1], dtype=bool)
        for m, (mod, idx) in enumerate(zip(layout.names, layout.indices)):
            rows = presence[:, m]
            self.n_present_[mod] = int(rows.sum())
            if not rows.any():
                raise ValueError(
                    f"{name}: no training row has modality {mod!r} (its block is NaN in every "
                    f"row), so its features cannot be selected. Drop modality {mod!r} first."
                )
            if supervised:
                check_classes_present(y, rows, mod, classes, name)
            sel, k_used = self._block_selector(base, mod, len(idx), k_per.get(mod))
            B = A[np.ix_(rows, idx)]
            yb = None if y is None else y[rows]
            try:
                sel.fit(B, yb)
            except ValueError as exc:
                raise ValueError(f"{name}, modality {mod!r}: {exc}") from exc
            mask = np.asarray(sel.get_support(), dtype=bool)
            if not mask.any():
                mask = np.zeros(len(idx), dtype=bool)
                mask[self._fallback_column(sel, B, yb)] = True
                self.fallback_.append(mod)
                warnings.warn(
                    f"{name}: {type(sel).__name__} kept no feature of modality {mod!r}; "
                    f"keeping its best feature {layout.feature_names_of(mod)[mask][0]!r} so the "
                    "block stays represented.",
                    UserWarning,
                    stacklevel=2,
                )
            support[idx[mask]] = True
            self.selectors_[mod] = sel
            self.k_[mod] = k_used
            self.n_selected_[mod] = int(mask.sum())
        self.support_ = support
        return self

    def _resolve_k(self, layout) -> dict:
        k = self.k
        if isinstance(k, Mapping):
            unknown = [m for m in k if m not in layout.names]
            if unknown:
                hint = ""
                if getattr(self, "feature_names_in_", None) is None:
                    hint = (
                        " X came without column names, so it is one block; inside a Pipeline, "
                        "call pipe.set_output(transform='pandas') so that the '<MODALITY>__' "
                        "names reach this step."
                    )
                raise ValueError(
                    f"{type(self).__name__}: k names modalities {unknown} that are not in X; "
                    f"X has {list(layout.names)}.{hint}"
                )
            return dict(k)
        return {m: k for m in layout.names}

    def _block_selector(self, base, mod, size, k):
        """Clone ``base`` with ``k`` translated to this block's size; return (selector, k)."""
        name = type(self).__name__
        sel = clone(base)
        params = sel.get_params(deep=False)
        k_param = next((p for p in _K_PARAMS if p in params), None)
        if k is None:
            if self.selector is None:
                k = min(DEFAULT_K, size)
            elif self.clip_k and k_param is not None:
                own = params[k_param]
                if isinstance(own, numbers.Integral) and not isinstance(own, bool) and own > size:
                    k = size
            if k is None:
                return sel, None
        if isinstance(k, numbers.Real) and not isinstance(k, numbers.Integral):
            if not 0 < k <= 1:
                raise ValueError(
                    f"{name}: k={k} for modality {mod!r}: a fraction must be in (0, 1]."
                )
            k = max(1, round(k * size))
        k = int(k)
        if k < 1:
            raise ValueError(f"{name}: k={k} for modality {mod!r} must be at least 1.")
        if k > size:
            if not self.clip_k:
                raise ValueError(
                    f"{name}: k={k} is larger than modality {mod!r}, which has {size} "
                    "features here. Use a smaller k, a fraction (e.g. k=0.5), a per-modality "
                    "dict, or clip_k=True to keep the whole block."
                )
            k = size
        if k_param is None:
            raise ValueError(
                f"{name}: k is set but {type(sel).__name__} has none of the parameters "
                f"{list(_K_PARAMS)}; configure the selector itself and leave k=None."
            )
        sel.set_params(**{k_param: k})
        return sel, k

    @staticmethod
    def _fallback_column(sel, B, y) -> int:
        """Index of the best column of a block by the selector's own scores, F, or variance."""
        candidates = [getattr(sel, "scores_", None)]
        est = getattr(sel, "estimator_", None)
        if est is not None:
            coef = getattr(est, "coef_", None)
            if coef is not None:
                candidates.append(np.abs(np.atleast_2d(coef)).sum(axis=0))
            candidates.append(getattr(est, "feature_importances_", None))
        if y is not None and len(np.unique(y)) > 1:
            candidates.append(anova_scores(B, y)[0])
        for s in candidates:
            if s is None:
                continue
            s = np.nan_to_num(np.asarray(s, dtype=float), nan=-np.inf)
            if s.shape == (B.shape[1],) and np.isfinite(s).any() and s.max() > 0:
                return int(np.argmax(s))
        return int(np.argmax(np.var(B, axis=0)))

    # -- transform -------------------------------------------------------------------------------
    def transform(self, X):
        """Keep the selected columns of every block; NaN blocks pass through.

        Raises
        ------
        ValueError
            If ``X`` holds infinite values or a partly-NaN block (naming patient and modality).
        """
        check_is_fitted(self)
        labels = row_labels_of(X)
        check_numeric(X, context=type(self).__name__)
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric", reset=False)
        check_table(self, np.asarray(A, dtype=float), labels, layout_of(self))
        return super().transform(X)

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        base = MRMRSelector() if self.selector is None else self.selector
        tags.target_tags.required = get_tags(base).target_tags.required
        return tags
