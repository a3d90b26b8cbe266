"""ComBat harmonisation of multi-centre feature tables, fitted on training rows only."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from radfuse.harmonization._checks import (
    check_covariate_values,
    check_groups,
    check_rank,
    covariate_columns,
    who,
)
from radfuse.harmonization._estimate import adjust_block, fit_block
from radfuse.modality.validation import (
    check_feature_table,
    check_numeric,
    layout_of,
    row_labels_of,
)

__all__ = ["ComBatHarmonizer"]


class ComBatHarmonizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Empirical-Bayes ComBat per modality block, fitted on training rows, applied to new rows.

    ComBat (Johnson et al. 2007; for imaging features Fortin et al. 2017) models every feature
    as a grand mean, covariate effects, an additive centre effect ``gamma`` and a multiplicative
    centre effect ``delta``. ``fit`` standardises each feature with the grand mean and the pooled
    residual variance of the training rows (design: one indicator per centre plus
    ``covariates``), estimates each centre's ``gamma`` and ``delta`` and shrinks them towards
    the other features of the same centre (empirical Bayes). ``transform`` removes the stored
    ``gamma*``/``delta*`` of each row's centre and adds the covariate effects back; on the
    training rows it reproduces ``neuroCombat`` 0.2.12 (the tests compare the two), and on new
    rows it is what ``neuroCombatFromTraining`` is meant to do.

    Each modality block is harmonised separately, on the rows where it is present; a missing
    modality (a NaN block) stays NaN. A centre whose rows all lack a block has no estimates for
    it. A block present at a single centre only cannot be harmonised and passes through
    unchanged.

    The centre of each row is the metadata ``groups`` of ``fit``, ``transform`` and
    ``fit_transform`` (the vocabulary of :class:`~sklearn.model_selection.GroupKFold`). The
    class requests ``groups`` for ``fit`` and ``transform``, so with
    ``sklearn.set_config(enable_metadata_routing=True)`` a :class:`~sklearn.pipeline.Pipeline`
    (or :class:`imblearn.pipeline.Pipeline`) routes it to this step::

        >>> import sklearn
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.pipeline import make_pipeline
        >>> sklearn.set_config(enable_metadata_routing=True)
        >>> pipe = make_pipeline(ComBatHarmonizer(), LogisticRegression())
        >>> pipe.fit(X, y, groups=centres).predict(X_new, groups=centres_new)  # doctest: +SKIP

    ``cross_val_score(pipe, X, y, cv=StratifiedKFold(5), params={"groups": centres})`` (and
    ``GridSearchCV(...).fit(X, y, groups=centres)``) then fit ComBat on each training fold and
    apply it to the test fold with that fold's centres, through the pipeline's own ``score``
    (scikit-learn 1.9, both pipelines). A named scorer (``scoring="roc_auc"``) calls
    ``predict_proba`` *without* metadata, so the test rows reach ``transform`` without centres:
    an error with ``unseen="error"``, uncorrected rows with ``unseen="pooled"``; score such
    metrics with your own loop over the splits (``fit``/``predict_proba`` with ``groups=``).

    Parameters
    ----------
    modalities : None, list of str or mapping, default=None
        The blocks (see :meth:`radfuse.modality.ModalityLayout.resolve`): ``None`` infers them
        from the ``"<MODALITY>__"`` column prefixes (a plain array is one block).
    parametric : bool, default=True
        Empirical-Bayes priors: True, a normal prior on ``gamma`` and an inverse-gamma prior
        on ``delta``, solved iteratively; False, the non-parametric prior (each feature's
        estimates are the likelihood-weighted average of the other features' estimates of the
        same centre, Monte-Carlo integration as in neuroCombat; quadratic in the block size).
    mean_only : bool, default=False
        Correct the additive effect only (``delta = 1``): for centres too small to estimate a
        scale, or when only the location is believed to differ. A centre then needs one row in a
        block, not two.
    eb : bool, default=True
        Empirical-Bayes shrinkage. False uses each centre's raw location and scale
        (``gamma_hat``, ``delta_hat``), which is noisy for small centres. Shrinkage pools
        over the features of a block, so ``eb=True`` needs at least two harmonised features per
        block.
    covariates : None, str, int or list, default=None
        Columns of X whose effect is preserved (e.g. ``["CLIN__age", "CLIN__sex"]``): they are
        kept in the design, entered linearly (encode a categorical covariate as 0/1 columns),
        passed through unharmonised, and must be present (not NaN) in every row, at ``fit``
        and ``transform``. Only columns of X can be covariates, never the label ``y``: a label
        in the design would be needed at ``transform``, where a test patient has none, and
        fitting with it leaks the label into the features.
    passthrough : None, str or list of str, default=None
        Modalities left unharmonised (e.g. ``["CLIN"]`` for clinical variables, which differ
        between centres for real reasons).
    unseen : {"error", "pooled"}, default="error"
        Rows at ``transform`` whose centre has no estimates for a block present in them (a
        centre not in the training rows, or ``groups`` not passed): ``"error"`` raises, naming
        the centre and the modality; ``"pooled"`` leaves them in ComBat's pooled frame, grand
        mean and pooled variance without a centre correction, which is the row unchanged.

    Attributes
    ----------
    groups_ : ndarray or None
        Centre labels of the training rows, sorted; None when fitted without ``groups``.
    modalities_ : list of str
        Block names in column order.
    harmonized_modalities_ : list of str
        Blocks with estimates (present at two or more training centres, not passed through).
    block_groups_ : dict
        ``{modality: ndarray of the centres with estimates}``, the row order of the per-centre
        arrays below.
    features_ : dict
        ``{modality: ndarray of the column positions harmonised}``.
    grand_mean_, var_pooled_ : dict
        ``{modality: ndarray of shape (n_features,)}``.
    covariate_effects_ : dict
        ``{modality: ndarray of shape (n_covariates, n_features)}``.
    gamma_hat_, delta_hat_, gamma_star_, delta_star_ : dict
        ``{modality: ndarray of shape (n_centres, n_features)}``: raw and shrunk centre
        location and scale, in standardised units.
    unadjusted_ : list of str
        Columns left as they are because they are constant within a training centre (as R's
        ``sva::ComBat`` does: no scale can be estimated); a warning names them.
    n_present_ : dict
        ``{modality: training rows where the block is present}``.
    seen_modalities_ : ndarray of bool of shape (n_modalities,)
        Blocks some training row had; a row at ``transform`` with any other block is rejected.
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import numpy as np
    >>> from radfuse.datasets import load_breast_cancer_views
    >>> from radfuse.harmonization import ComBatHarmonizer
    >>> X, y = load_breast_cancer_views()
    >>> centres = np.arange(len(X)) % 3
    >>> Xh = ComBatHarmonizer().set_output(transform="pandas").fit_transform(X, groups=centres)
    >>> Xh.shape
    (569, 30)
    """

    __metadata_request__fit: ClassVar[dict] = {"groups": True}
    __metadata_request__transform: ClassVar[dict] = {"groups": True}

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list, tuple, dict, str, None],
        "parametric": ["boolean"],
        "mean_only": ["boolean"],
        "eb": ["boolean"],
        "covariates": [list, tuple, str, "array-like", None],
        "passthrough": [list, tuple, str, None],
        "unseen": [StrOptions({"error", "pooled"})],
    }

    def __init__(
        self,
        *,
        modalities=None,
        parametric=True,
        mean_only=False,
        eb=True,
        covariates=None,
        passthrough=None,
        unseen="error",
    ):
        self.modalities = modalities
        self.parametric = parametric
        self.mean_only = mean_only
        self.eb = eb
        self.covariates = covariates
        self.passthrough = passthrough
        self.unseen = unseen

    # -- fit -------------------------------------------------------------------------------------
    def _table(self, X, reset):
        name = type(self).__name__
        check_numeric(X, context=name)
        labels = row_labels_of(X)
        A = validate_data(self, X, ensure_all_finite=False, dtype="numeric", reset=reset)
        layout = layout_of(self)
        A, presence = check_feature_table(
            A,
            layout,
            context=name,
            row_labels=labels,
            training_presence=None if reset else self.seen_modalities_,
        )
        if reset:
            self.seen_modalities_ = presence.any(axis=0)
        names = getattr(self, "feature_names_in_", None)
        cov = covariate_columns(self.covariates, names, A.shape[1], type(self).__name__)
        check_covariate_values(A, cov, labels, names, type(self).__name__)
        return A, labels, layout, presence, cov

    def fit(self, X, y=None, *, groups=None):
        """Estimate each centre's location and scale effects, per block, on these rows.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training feature table; a whole-NaN block is a missing modality.
        y : None
            Ignored (the label is never a covariate, see ``covariates``).
        groups : array-like of shape (n_samples,), default=None
            Centre of each row. None: every row at one centre, nothing to correct (``transform``
            returns X).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN inside a present block, a centre with a single row in a block (unless
            ``mean_only``), ``groups`` of the wrong length, covariates that are NaN or
            confounded with the centres, and fewer than two features in a block with ``eb``.
        """
        self._validate_params()
        name = type(self).__name__
        A, _, layout, presence, cov = self._table(X, reset=True)
        skip = [] if self.passthrough is None else np.atleast_1d(self.passthrough).tolist()
        unknown = [m for m in skip if m not in layout.names]
        if unknown:
            raise ValueError(
                f"{name}: passthrough names modalities {unknown} that are not in X; X has "
                f"{list(layout.names)}."
            )
        if groups is None:
            self.groups_, g = None, np.zeros(A.shape[0], dtype=int)
        else:
            self.groups_, g = np.unique(check_groups(groups, A.shape[0], name), return_inverse=True)
        fnames = layout.feature_names
        label_of = (lambda j: fnames[j]) if fnames is not None else (lambda j: f"column {j}")
        self.modalities_ = list(layout.names)
        self.harmonized_modalities_, self.unadjusted_ = [], []
        self.n_present_, self.block_groups_, self.features_, self.estimates_ = {}, {}, {}, {}
        for m, (mod, idx) in enumerate(zip(layout.names, layout.indices)):
            rows = presence[:, m]
            self.n_present_[mod] = int(rows.sum())
            cols = np.setdiff1d(idx, cov)
            present, counts = np.unique(g[rows], return_counts=True)
            if mod in skip or not len(cols) or len(present) < 2:
                continue
            if not self.mean_only and counts.min() < 2:
                lonely = self.groups_[present[counts < 2]].tolist()
                raise ValueError(
                    f"{name}: centre {lonely[0]!r} has a single row with modality {mod!r}"
                    f"{f' (so do {lonely[1:]})' if len(lonely) > 1 else ''}; ComBat needs at "
                    "least two rows per centre and block to estimate its scale. Merge the "
                    "centre with a similar one, drop it, or use mean_only=True."
                )
            codes = np.searchsorted(present, g[rows])
            B = A[np.ix_(rows, cols)]
            within = np.stack([np.ptp(B[codes == b], axis=0) for b in range(len(present))])
            flat = (within == 0).any(axis=0) if not self.mean_only else np.ptp(B, axis=0) == 0
            if flat.any():
                self.unadjusted_.extend(label_of(j) for j in cols[flat])
                cols, B = cols[~flat], B[:, ~flat]
            if self.eb and len(cols) < 2:
                raise ValueError(
                    f"{name}: modality {mod!r} has {len(cols)} feature(s) to harmonise; "
                    "empirical Bayes pools the centre effects over the features of a block and "
                    "needs at least two. Use eb=False, or list the block in passthrough."
                )
            if not len(cols):
                continue
            C = A[np.ix_(rows, cov)]
            onehot = (codes[:, None] == np.arange(len(present))).astype(float)
            check_rank(np.hstack([onehot, C]), [label_of(j) for j in cov], mod, name)
            self.estimates_[mod] = fit_block(
                B,
                codes,
                len(present),
                C,
                eb=self.eb,
                parametric=self.parametric,
                mean_only=self.mean_only,
            )
            self.harmonized_modalities_.append(mod)
            self.block_groups_[mod] = self.groups_[present]
            self.features_[mod] = cols
        if self.unadjusted_:
            warnings.warn(
                f"{name}: columns {self.unadjusted_[:5]}"
                f"{f' (and {len(self.unadjusted_) - 5} more)' if len(self.unadjusted_) > 5 else ''}"
                " are constant within a training centre, so no centre scale can be estimated; "
                "they pass through unharmonised. Drop constant features before this step.",
                UserWarning,
                stacklevel=2,
            )
        for attr, field in _ESTIMATE_ATTRS.items():
            setattr(self, attr, {m: getattr(e, field) for m, e in self.estimates_.items()})
        return self

    # -- transform -------------------------------------------------------------------------------
    def transform(self, X, *, groups=None):
        """Remove each row's centre effects with the training estimates; NaN blocks stay NaN.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,), default=None
            Centre of each row; needed when ``fit`` had ``groups``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            For an unseen centre (or no ``groups``) with ``unseen="error"``, NaN inside a
            present block, NaN covariates, and ``groups`` of the wrong length.
        """
        check_is_fitted(self)
        name = type(self).__name__
        A, labels, _, presence, cov = self._table(X, reset=False)
        out = A.copy()
        if self.groups_ is None:
            if groups is not None:
                raise ValueError(
                    f"{name} was fitted without groups (one centre, nothing to correct), but "
                    "transform got groups; pass groups to fit as well."
                )
            return out
        if groups is not None:
            g = check_groups(groups, A.shape[0], name)
        elif self.unseen == "error" and self.estimates_:
            raise ValueError(
                f"{name} was fitted with groups, so transform needs the centre of each row: "
                "pass groups= (inside a Pipeline, with metadata routing enabled). Named scorers "
                "(scoring='roc_auc', ...) call predict without metadata: use the default "
                "scoring, call fit and predict on each split yourself, or set unseen='pooled' "
                "to leave rows of unknown centre uncorrected."
            )
        else:
            g = np.full(A.shape[0], None, dtype=object)
        for mod, est in self.estimates_.items():
            rows = np.flatnonzero(presence[:, self.modalities_.index(mod)])
            known = self.block_groups_[mod]
            lookup = {c: k for k, c in enumerate(known.tolist())}
            codes = np.array([lookup.get(c, -1) for c in g[rows].tolist()], dtype=int)
            if self.unseen == "error" and (codes < 0).any():
                r = rows[np.argmax(codes < 0)]
                centre = g[r : r + 1].tolist()[0]
                raise ValueError(
                    f"{name}: centre {centre!r} of patient {who(labels, r)} has no ComBat "
                    f"estimates for modality {mod!r} (training centres with {mod!r}: "
                    f"{known.tolist()}). Fit on rows of that centre too, or set "
                    "unseen='pooled' to leave such rows uncorrected."
                )
            rows, codes = rows[codes >= 0], codes[codes >= 0]
            cols = self.features_[mod]
            out[np.ix_(rows, cols)] = adjust_block(
                A[np.ix_(rows, cols)], codes, A[np.ix_(rows, cov)], est
            )
        return out

    def fit_transform(self, X, y=None, *, groups=None):
        """``fit(X, groups=groups).transform(X, groups=groups)``: harmonise the training rows."""
        return self.fit(X, y, groups=groups).transform(X, groups=groups)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


#: Fitted per-block attribute -> field of BlockEstimates.
_ESTIMATE_ATTRS = {
    "grand_mean_": "grand_mean",
    "var_pooled_": "var_pooled",
    "covariate_effects_": "beta",
    "gamma_hat_": "gamma_hat",
    "delta_hat_": "delta_hat",
    "gamma_star_": "gamma_star",
    "delta_star_": "delta_star",
}
