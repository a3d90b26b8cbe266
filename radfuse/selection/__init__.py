"""Modality-aware feature selection and missing-pattern-aware oversampling.

Everything here is fitted inside cross-validation folds (use :func:`make_radiomics_pipeline`)
and lets missing modalities, whole NaN blocks, pass through.
"""

from radfuse.selection.filters import (
    CorrelationFilter,
    MRMRSelector,
    UnivariateSelector,
    l1_selector,
)
from radfuse.selection.modality_wise import ModalityWiseSelector
from radfuse.selection.pipeline import STEP_NAMES, make_radiomics_pipeline, selected_counts
from radfuse.selection.scaling import BlockChecker
from radfuse.selection.scores import anova_scores, mann_whitney_scores, nan_correlation
from radfuse.selection.smote import PatternAwareSMOTE, allocate_synthetic

__all__ = [
    "STEP_NAMES",
    "BlockChecker",
    "CorrelationFilter",
    "MRMRSelector",
    "ModalityWiseSelector",
    "PatternAwareSMOTE",
    "UnivariateSelector",
    "allocate_synthetic",
    "anova_scores",
    "l1_selector",
    "make_radiomics_pipeline",
    "mann_whitney_scores",
    "nan_correlation",
    "selected_counts",
]
