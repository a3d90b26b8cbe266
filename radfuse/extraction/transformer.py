"""The scikit-learn face of cohort extraction: a manifest in, a feature table out."""

from __future__ import annotations

import numbers
import os
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from radfuse.extraction.cohort import extract_cohort
from radfuse.extraction.exact import MODES
from radfuse.extraction.manifest import manifest_modalities, read_manifest
from radfuse.extraction.naming import feature_names
from radfuse.extraction.specs import FeatureSpec, load_spec
from radfuse.modality import format_name

__all__ = ["RadiomicsExtractor"]


class RadiomicsExtractor(TransformerMixin, BaseEstimator):
    """Turn a wide manifest into a wide radiomics feature table (scikit-learn transformer).

    Parameters
    ----------
    spec : str, path or dict, default="mri_all_filters"
        Feature spec (see :func:`radfuse.list_specs`).
    n_jobs : int, default=1
        Parallel workers.
    cache_dir : str or path, optional
        Cache folder (strongly recommended: ``fit_transform`` then ``transform`` of the same
        cases costs one extraction).
    backend : str, optional
        joblib backend or ``"dask"``; see :func:`extract_cohort`.
    scheduler : str, optional
        Dask scheduler address.
    mode : {"exact", "pyradiomics"}, default="exact"
    resample_mask : bool, default=False
    progress : bool, default=False
        Show a progress bar during ``transform``.

    Attributes
    ----------
    spec_ : FeatureSpec
        The validated spec.
    modalities_ : list of str
        Modalities (blocks) of the manifest seen in ``fit``.
    feature_names_in_ : ndarray of str
        Columns of the manifest seen in ``fit``.
    n_features_in_ : int
    last_errors_ : DataFrame
        Error table of the latest ``transform`` (``patient_id, modality, image, mask, error``).

    Notes
    -----
    ``fit`` only validates (manifest, spec); ``transform`` extracts. Cases that fail become NaN
    blocks and rows of ``last_errors_``; the output always has the columns of
    :meth:`get_feature_names_out`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "spec": [str, os.PathLike, dict, FeatureSpec],
        "n_jobs": [numbers.Integral, None],
        "cache_dir": [str, os.PathLike, None],
        "backend": [str, None],
        "scheduler": [str, None],
        "mode": [StrOptions(set(MODES))],
        "resample_mask": ["boolean"],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        spec="mri_all_filters",
        n_jobs=1,
        cache_dir=None,
        backend=None,
        scheduler=None,
        mode="exact",
        resample_mask=False,
        progress=False,
    ):
        self.spec = spec
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.backend = backend
        self.scheduler = scheduler
        self.mode = mode
        self.resample_mask = resample_mask
        self.progress = progress

    def fit(self, X, y=None):
        """Validate the manifest and the spec; no extraction.

        Parameters
        ----------
        X : DataFrame, str or path
            Wide (or long) manifest, see :func:`radfuse.read_manifest`.
        y : ignored
        """
        self._validate_params()
        man = read_manifest(X)
        self.spec_ = load_spec(self.spec)
        names = feature_names(self.spec_)
        if names is None:
            raise ValueError(
                f"spec {self.spec_.name!r} enables an image type radfuse cannot name in advance; "
                "use extract_cohort() for it."
            )
        self.spec_feature_names_ = names
        self.modalities_ = manifest_modalities(man)
        self.feature_names_in_ = np.asarray([str(c) for c in man.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X):
        """Extract the features of every patient of the manifest ``X``.

        Returns
        -------
        DataFrame
            Index ``patient_id``, columns :meth:`get_feature_names_out`, float64.
        """
        check_is_fitted(self, "spec_")
        result = extract_cohort(
            X,
            self.spec_,
            n_jobs=self.n_jobs,
            cache_dir=self.cache_dir,
            backend=self.backend,
            progress=self.progress,
            scheduler=self.scheduler,
            mode=self.mode,
            resample_mask=self.resample_mask,
            modality_order=self.modalities_,
        )
        self.last_errors_ = result.errors
        cols = list(self.get_feature_names_out())
        extra = [c for c in result.features.columns if c not in set(cols)]
        if extra:
            raise ValueError(
                f"extraction produced columns not seen in fit (modalities or features): "
                f"{extra[:5]}{' ...' if len(extra) > 5 else ''}. Fit on a manifest with the same "
                "modalities."
            )
        return result.features.reindex(columns=cols)

    def get_feature_names_out(self, input_features=None):
        """Output columns ``"<MOD>__<feature>"`` for every modality seen in ``fit``."""
        check_is_fitted(self, "spec_")
        return np.asarray(
            [format_name(m, n) for m in self.modalities_ for n in self.spec_feature_names_],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
