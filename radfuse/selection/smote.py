"""Borderline-SMOTE that respects missing-modality patterns."""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from imblearn.over_sampling import SMOTE, BorderlineSMOTE, RandomOverSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from radfuse.modality.validation import check_numeric, check_table, layout_of, row_labels_of

__all__ = ["PatternAwareSMOTE", "allocate_synthetic"]


def allocate_synthetic(n_new: int, counts) -> np.ndarray:
    """Split ``n_new`` synthetic samples over groups in proportion to ``counts``.

    Largest-remainder rounding (Hamilton's method): each group gets the floor of its share and
    the leftover samples go to the largest remainders, ties to the earlier group. The result sums
    to ``n_new`` exactly, and a group with a zero count gets nothing.

    Parameters
    ----------
    n_new : int
        Synthetic samples to create for one class.
    counts : array-like of int
        Rows of that class in each group.

    Returns
    -------
    ndarray of int
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if n_new <= 0 or total <= 0:
        return np.zeros(len(counts), dtype=int)
    share = n_new * counts / total
    out = np.floor(share).astype(int)
    left = int(n_new - out.sum())
    if left:
        order = np.argsort(-(share - out), kind="stable")
        out[order[:left]] += 1
    return out


class PatternAwareSMOTE(BaseOverSampler):
    """Borderline-SMOTE run within each missing-modality pattern.

    imbalanced-learn's :class:`~imblearn.over_sampling.BorderlineSMOTE` rejects NaN, and
    imputing missing modalities before oversampling would interpolate made-up values. This
    sampler groups the training rows by which modalities they have (their *pattern*) and runs
    ``BorderlineSMOTE`` inside each group on the columns of the modalities present there. Each
    synthetic row is one interpolation over all its present columns together (consistent across
    modalities), and its absent blocks stay NaN, so it carries the pattern of the rows it was made
    from.

    Allocation: the number of synthetic rows per class is the one ``sampling_strategy`` asks for
    on the whole table (as imbalanced-learn computes it). It is split over the groups in
    proportion to each group's number of rows of that class (:func:`allocate_synthetic`,
    largest-remainder rounding), so the overall class counts meet ``sampling_strategy`` exactly
    and the mix of patterns within the class is preserved.

    Fallbacks for a (group, class) with few rows, recorded in ``sampling_report_``:

    1. ``k_neighbors`` and ``m_neighbors`` are lowered to what the group allows
       (``k <= rows of the class - 1``, ``m <= rows of the group - 1``; for ``borderline-2``,
       ``k <= rows of the group - 1``);
    2. when no row of the class is "in danger" in its group (Borderline-SMOTE then creates
       nothing: the group is separable, or holds that class only), plain
       :class:`~imblearn.over_sampling.SMOTE` within the group creates the group's share;
    3. a class with a single row in the group (nothing to interpolate with), or a group with no
       modality present, is oversampled by :class:`~imblearn.over_sampling.RandomOverSampler`
       (copies of its rows).

    With a single pattern (no missing blocks) and no fallback this is exactly
    ``BorderlineSMOTE(sampling_strategy=..., random_state=..., k_neighbors=...,
    m_neighbors=..., kind=...)``: same rows in the same order. Step 2 differs from
    ``BorderlineSMOTE``, which silently creates fewer rows than asked when no row is in danger.

    A class all of whose rows lack a modality is not an error here: its synthetic rows lack it
    too. (Supervised selection, :class:`ModalityWiseSelector`, does reject it.) ``k_neighbors``
    and ``m_neighbors`` must be integers (the fallback needs to lower them).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn's over-samplers, applied to the whole table.
    random_state : int, RandomState instance or None, default=None
        With one pattern it is passed to ``BorderlineSMOTE`` unchanged; with several, one seed
        per group is drawn from it.
    k_neighbors : int, default=5
        Neighbours to interpolate with.
    m_neighbors : int, default=10
        Neighbours that decide whether a row is in danger.
    kind : {"borderline-1", "borderline-2"}, default="borderline-1"
    modalities : None, list of str or mapping, default=None
        The blocks (see :meth:`radfuse.modality.ModalityLayout.resolve`).

    Attributes
    ----------
    sampling_strategy_ : dict
        ``{class: number of synthetic rows}`` over the whole table.
    sampling_report_ : list of dict
        One entry per (pattern, class) that received synthetic rows: ``pattern`` (tuple of
        present modalities), ``class``, ``n_rows`` (rows of the class in the group),
        ``n_group`` (rows of the group), ``n_synthetic``, ``method`` (``"borderline-1"``,
        ``"smote"``, ``"random"``, ...), ``k_neighbors``, ``m_neighbors``.
    patterns_ : list of tuple of str
        The present-modality patterns seen, in the order groups were processed.
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> from radfuse.datasets import make_multimodal_classification, simulate_missing_modalities
    >>> X, y = make_multimodal_classification(n_samples=200, weights=[0.3, 0.7], random_state=0)
    >>> X = simulate_missing_modalities(X, rate=0.3, random_state=0)
    >>> X_res, y_res = PatternAwareSMOTE(random_state=0).fit_resample(X, y)
    >>> int((y_res == 0).sum()) == int((y_res == 1).sum())
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseOverSampler._parameter_constraints,
        "k_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "m_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "kind": [StrOptions({"borderline-1", "borderline-2"})],
        "modalities": [list, tuple, dict, str, None],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        k_neighbors=5,
        m_neighbors=10,
        kind="borderline-1",
        modalities=None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.m_neighbors = m_neighbors
        self.kind = kind
        self.modalities = modalities

    def _check_X_y(self, X, y, accept_sparse=None):
        # NaN blocks are missing modalities; infinity and partly-NaN blocks are rejected with
        # the patient and modality named (the DataFrame index is still at hand here). A row with
        # every block NaN is a pattern like any other here: it is oversampled within its group.
        labels = row_labels_of(X)
        check_numeric(X, context=type(self).__name__)
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, y = validate_data(
            self, X=X, y=y, reset=True, accept_sparse=False, ensure_all_finite=False
        )
        check_table(
            self, np.asarray(X, dtype=float), labels, layout_of(self), allow_empty_rows=True
        )
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        layout = layout_of(self)
        presence = layout.presence_mask(X)
        patterns, inverse = np.unique(presence, axis=0, return_inverse=True)
        inverse = np.ravel(inverse)
        # most complete patterns first, then lexicographic: a deterministic group order
        order = sorted(
            range(len(patterns)), key=lambda g: (-int(patterns[g].sum()), tuple(~patterns[g]))
        )
        groups = [np.flatnonzero(inverse == g) for g in order]
        pats = [patterns[g] for g in order]
        self.patterns_ = [tuple(n for n, p in zip(layout.names, pat) if p) for pat in pats]
        if len(groups) == 1:
            seeds = [self.random_state]
        else:
            rng = check_random_state(self.random_state)
            seeds = list(rng.randint(np.iinfo(np.int32).max, size=len(groups)))

        classes = np.unique(y)
        self.sampling_report_ = []
        new_X, new_y = [], []
        for cls, n_new in self.sampling_strategy_.items():
            if n_new <= 0:
                continue
            counts = [int(np.sum(y[rows] == cls)) for rows in groups]
            quota = allocate_synthetic(n_new, counts)
            for g, rows in enumerate(groups):
                if quota[g] == 0:
                    continue
                cols = (
                    np.concatenate([layout.indices[m] for m in np.flatnonzero(pats[g])])
                    if pats[g].any()
                    else np.empty(0, dtype=np.intp)
                )
                cols = np.sort(cols)
                other = next(c for c in classes if c != cls)
                Xs, info = self._oversample_group(
                    X[np.ix_(rows, cols)], y[rows], cls, int(quota[g]), seeds[g], other
                )
                full = np.empty((Xs.shape[0], X.shape[1]), dtype=X.dtype)
                if len(cols) < X.shape[1]:  # only float tables can lack a modality
                    full[:] = np.nan
                full[:, cols] = Xs
                new_X.append(full)
                new_y.append(np.full(Xs.shape[0], cls, dtype=y.dtype))
                self.sampling_report_.append(
                    {
                        "pattern": self.patterns_[g],
                        "class": cls,
                        "n_rows": counts[g],
                        "n_group": len(rows),
                        **info,
                    }
                )
        if not new_X:
            return X.copy(), y.copy()
        return np.vstack([X, *new_X]), np.concatenate([y, *new_y])

    def _oversample_group(self, Xg, yg, cls, n_new, seed, other):
        """``n_new`` synthetic rows of class ``cls`` from one group's present columns."""
        n_cls = int(np.sum(yg == cls))
        n_grp = len(yg)
        info = {"n_synthetic": n_new, "k_neighbors": None, "m_neighbors": None}
        if np.all(yg == cls):
            # imbalanced-learn refuses a one-class y; SMOTE and random oversampling of `cls`
            # only use rows of `cls`, so one placeholder row of another class changes nothing.
            Xg = np.vstack([Xg, Xg[:1]])
            yg = np.append(yg, np.asarray(other, dtype=yg.dtype))
        if n_cls < 2 or Xg.shape[1] == 0:
            return self._random(Xg, yg, cls, n_new, seed), {**info, "method": "random"}
        made = np.empty((0, Xg.shape[1]), dtype=Xg.dtype)
        method = self.kind
        k = m = None
        if n_cls < n_grp:  # Borderline needs other classes in the group to judge "danger"
            k_cap = (n_grp if self.kind == "borderline-2" else n_cls) - 1
            k = min(self.k_neighbors, k_cap)
            m = min(self.m_neighbors, n_grp - 1)
            Xr, _ = BorderlineSMOTE(
                sampling_strategy={cls: n_cls + n_new},
                random_state=seed,
                k_neighbors=k,
                m_neighbors=m,
                kind=self.kind,
            ).fit_resample(Xg, yg)
            made = Xr[len(yg) :]
        if len(made) < n_new:
            # no row of the class is in danger within this group: plain SMOTE for the rest
            k = min(self.k_neighbors, n_cls - 1)
            Xs, _ = SMOTE(
                sampling_strategy={cls: n_cls + n_new - len(made)},
                random_state=seed,
                k_neighbors=k,
            ).fit_resample(Xg, yg)
            method = "smote" if len(made) == 0 else f"{self.kind}+smote"
            made = np.vstack([made, Xs[len(yg) :]])
        return made.astype(Xg.dtype, copy=False), {
            **info,
            "method": method,
            "k_neighbors": k,
            "m_neighbors": m,
        }

    @staticmethod
    def _random(Xg, yg, cls, n_new, seed):
        n_cls = int(np.sum(yg == cls))
        idx = np.arange(len(yg)).reshape(-1, 1)
        res, _ = RandomOverSampler(
            sampling_strategy={cls: n_cls + n_new}, random_state=seed
        ).fit_resample(idx, yg)
        return Xg[res[len(yg) :, 0]]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags
