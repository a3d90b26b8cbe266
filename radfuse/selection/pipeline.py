"""A ready radiomics pipeline: checks, scaling, filters, selection and oversampling per fold."""

from __future__ import annotations

import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.feature_selection import SelectorMixin, VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from radfuse.harmonization import ComBatHarmonizer
from radfuse.modality.validation import layout_of
from radfuse.selection.filters import CorrelationFilter, MRMRSelector
from radfuse.selection.modality_wise import ModalityWiseSelector
from radfuse.selection.scaling import BlockChecker
from radfuse.selection.smote import PatternAwareSMOTE

__all__ = ["STEP_NAMES", "make_radiomics_pipeline", "selected_counts"]

#: Names of the steps of :func:`make_radiomics_pipeline`, in order.
STEP_NAMES = (
    "check",
    "harmonize",
    "scale",
    "variance",
    "correlation",
    "select",
    "smote",
    "impute",
    "estimator",
)

_DEFAULT = "default"


def _is_default(value) -> bool:
    return isinstance(value, str) and value == _DEFAULT


def _step(value, default, wrap: bool):
    """``"default"`` -> default; None -> "passthrough"; a bare selector -> per-block wrapper."""
    if _is_default(value):
        return default
    if value is None or (isinstance(value, str) and value == "passthrough"):
        return "passthrough"
    if wrap and isinstance(value, SelectorMixin) and not isinstance(value, ModalityWiseSelector):
        return ModalityWiseSelector(clone(value), clip_k=True)
    return clone(value)


def make_radiomics_pipeline(
    estimator,
    *,
    check=_DEFAULT,
    harmonize=False,
    scaler=_DEFAULT,
    variance=_DEFAULT,
    correlation=_DEFAULT,
    selector=_DEFAULT,
    sampler=_DEFAULT,
    impute="auto",
    modalities=None,
    k=10,
    correlation_threshold=0.9,
    random_state=None,
    memory=None,
    verbose=False,
):
    """Build the standard radiomics pipeline, every data-driven step fitted inside each fold.

    ``check → harmonize → scale → variance → correlation → select → smote → impute →
    estimator``, as an
    :class:`imblearn.pipeline.Pipeline`, so oversampling happens only in ``fit`` and every step
    learns from the training fold alone when the pipeline is cross-validated. All filters work
    per modality block on the rows where the modality is present, keep at least one feature per
    block, and let missing modalities (NaN blocks) through, down to the estimator.

    Steps (names are fixed; a dropped step is ``"passthrough"``, so parameter paths such as
    ``select__k`` stay valid):

    ========================  =====================================================================
    ``check``                 :class:`BlockChecker`: rejects infinite values and NaN inside a
                              present block (naming patient and modality); renames columns
                              ``<MOD>__<col>`` when ``modalities`` is a mapping
    ``harmonize``             ``ComBatHarmonizer()`` when ``harmonize=True`` (else passthrough):
                              ComBat per modality block, fitted on the training fold's centres;
                              the centre reaches it as ``groups`` through metadata routing
    ``scale``                 ``StandardScaler()`` (NaN-preserving; statistics over present rows)
    ``variance``              ``ModalityWiseSelector(VarianceThreshold(1e-6))``: drops constant
                              features (scaled features have unit variance, so near-constant
                              ones, e.g. float noise around a constant, go too; threshold 0.0
                              when ``scaler`` is not the default)
    ``correlation``           ``ModalityWiseSelector(CorrelationFilter(correlation_threshold,
                              "spearman", keep="relevance"))``: within each block, of every pair
                              with ``|rho| > 0.9`` the less relevant (ANOVA F) feature goes
    ``select``                ``ModalityWiseSelector(MRMRSelector(), k=k, clip_k=True)``: mRMR
                              (F-test relevance / Pearson redundancy), ``k`` per modality (int,
                              fraction or ``{modality: k}``); a block smaller than ``k`` after the
                              filters is kept whole
    ``smote``                 ``PatternAwareSMOTE(random_state=random_state)``: Borderline-SMOTE
                              within each missing-modality pattern, balancing the classes
    ``impute``                ``SimpleImputer(strategy="mean", keep_empty_features=True)`` when
                              the estimator cannot take NaN (``impute="auto"``), else passthrough
    ``estimator``             ``estimator`` (cloned)
    ========================  =====================================================================

    The defaults suit ~100–300 patients: ten features per modality keeps roughly one feature per
    10 cases for three modalities, the usual rule of thumb.

    Parameters
    ----------
    estimator : estimator object
        Final classifier, e.g. ``LogisticRegression()``, ``XGBClassifier()``, or a radfuse
        missing-modality network. It is cloned.
    harmonize : bool or transformer, default=False
        ``True``: ComBat harmonisation (:class:`radfuse.ComBatHarmonizer`) of the raw features per
        modality block, first after the check; a transformer: used as the step. It needs the
        centre of every row: ``sklearn.set_config(enable_metadata_routing=True)``, then
        ``pipe.fit(X, y, groups=centres)`` or ``cross_val_score(pipe, X, y,
        params={"groups": centres})`` (see :class:`radfuse.ComBatHarmonizer` for the scorers
        that pass it at prediction time).
    check, scaler, variance, correlation, selector, sampler : "default", None or object
        ``"default"``: the step above; ``None``: drop it; an object: use (a clone of) it. A bare
        scikit-learn selector (``SelectorMixin``) given for ``variance``, ``correlation`` or
        ``selector`` is wrapped in ``ModalityWiseSelector(..., clip_k=True)`` so it runs per
        modality; pass a ``ModalityWiseSelector`` yourself to control the wrapping.
    impute : "auto", None or transformer, default="auto"
        Handling of missing-modality NaN before the estimator. ``"auto"``: mean imputation
        (column means of the resampled training fold; 0 after standard scaling) if the
        estimator's tags say it cannot take NaN (``LogisticRegression``), nothing if it can
        (``XGBClassifier``, ``HistGradientBoostingClassifier``, radfuse's networks, which need
        the NaN blocks to know which modality is missing). Decided once, here: after
        ``set_params(estimator=...)`` set ``impute`` too. ``None``: never impute. A transformer:
        used as the step.
    modalities : None, list of str or mapping, default=None
        The blocks, given to the ``check`` step; later steps find them from the
        ``"<MODALITY>__"`` column names (a mapping renames the columns to that form). ``None``
        infers them from a DataFrame's column prefixes; a plain array is one block.
    k : int, float or dict, default=10
        Features kept per modality by the default ``select`` step.
    correlation_threshold : float, default=0.9
        Threshold of the default ``correlation`` step.
    random_state : int, RandomState instance or None
        Seed of the default ``smote`` step.
    memory, verbose
        Passed to :class:`imblearn.pipeline.Pipeline`.

    Returns
    -------
    imblearn.pipeline.Pipeline
        With pandas output configured on its transformers, so modality names travel from step to
        step. If you replace a step later with ``set_params``, call
        ``pipe.set_output(transform="pandas")`` again.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from radfuse.datasets import load_breast_cancer_views
    >>> X, y = load_breast_cancer_views()
    >>> pipe = make_radiomics_pipeline(LogisticRegression(), k=5, random_state=0)
    >>> bool(cross_val_score(pipe, X, y, scoring="roc_auc").mean() > 0.95)
    True
    """
    if isinstance(impute, str) and impute == "auto":
        allows_nan = get_tags(estimator).input_tags.allow_nan
        impute_step = (
            "passthrough"
            if allows_nan
            else SimpleImputer(strategy="mean", keep_empty_features=True)
        )
    else:
        impute_step = _step(impute, None, wrap=False)

    if modalities is not None and not _is_default(check):
        # the check step is where the blocks get their names; later steps read the names
        if isinstance(check, BlockChecker) and check.modalities is None:
            check = clone(check).set_params(modalities=modalities)
        elif not (isinstance(check, BlockChecker) and check.modalities == modalities):
            raise ValueError(
                "modalities= is applied by the 'check' step (a BlockChecker names the blocks "
                "for every later step); with check=None or another object, name the columns "
                "'<MODALITY>__<feature>' yourself and leave modalities=None."
            )
    defaults = {
        "check": BlockChecker(modalities=modalities),
        "scale": StandardScaler(),
        # after standard scaling every non-constant feature has unit variance on the training
        # rows, so 1e-6 removes exactly the (numerically) constant ones; unscaled, only exact
        # constants are safe to drop
        "variance": ModalityWiseSelector(
            VarianceThreshold(1e-6 if _is_default(scaler) else 0.0), clip_k=True
        ),
        "correlation": ModalityWiseSelector(
            CorrelationFilter(threshold=correlation_threshold, method="spearman"), clip_k=True
        ),
        "select": ModalityWiseSelector(MRMRSelector(), k=k, clip_k=True),
        "smote": PatternAwareSMOTE(random_state=random_state),
    }
    given = {
        "check": check,
        "scale": scaler,
        "variance": variance,
        "correlation": correlation,
        "select": selector,
        "smote": sampler,
    }
    steps = [
        (
            name,
            _step(given[name], defaults[name], wrap=name in ("variance", "correlation", "select")),
        )
        for name in ("check", "scale", "variance", "correlation", "select", "smote")
    ]
    if harmonize is True:
        harmonize_step = ComBatHarmonizer()
    elif harmonize is False or harmonize is None:
        harmonize_step = "passthrough"
    else:
        harmonize_step = clone(harmonize)
    steps.insert(1, ("harmonize", harmonize_step))
    steps += [("impute", impute_step), ("estimator", clone(estimator))]
    pipe = Pipeline(steps, memory=memory, verbose=verbose)
    return pipe.set_output(transform="pandas")


def selected_counts(pipeline) -> pd.DataFrame:
    """Features kept per modality after each selection step of a fitted pipeline.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline from :func:`make_radiomics_pipeline` (or any pipeline whose
        selection steps are :class:`ModalityWiseSelector`).

    Returns
    -------
    DataFrame
        One row per step (``"input"``, then every fitted ``ModalityWiseSelector`` step, by
        name), one column per modality, plus ``"total"``.
    """
    rows = {}
    for name, step in pipeline.steps:
        if isinstance(step, ModalityWiseSelector):
            check_is_fitted(step)
            if not rows:
                rows["input"] = {
                    m: len(idx) for m, idx in zip(step.modalities_, layout_of(step).indices)
                }
            rows[name] = dict(step.n_selected_)
    if not rows:
        raise ValueError("The pipeline has no ModalityWiseSelector step.")
    table = pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    return table
