"""radfuse: radiomics-first machine learning on multi-modal medical images.

Public names are imported lazily so that ``import radfuse`` stays fast and does not load
PyTorch or PyRadiomics until they are used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    # extraction
    "read_manifest": "radfuse.extraction",
    "extract_cohort": "radfuse.extraction",
    "RadiomicsExtractor": "radfuse.extraction",
    "load_spec": "radfuse.extraction",
    "list_specs": "radfuse.extraction",
    # selection and oversampling
    "ModalityWiseSelector": "radfuse.selection",
    "CorrelationFilter": "radfuse.selection",
    "MRMRSelector": "radfuse.selection",
    "PatternAwareSMOTE": "radfuse.selection",
    "make_radiomics_pipeline": "radfuse.selection",
    "UnivariateSelector": "radfuse.selection",
    "BlockChecker": "radfuse.selection",
    "selected_counts": "radfuse.selection",
    # harmonisation
    "ComBatHarmonizer": "radfuse.harmonization",
    # tuning
    "PopulationSearchCV": "radfuse.tuning",
    # estimators
    "MMTClassifier": "radfuse.estimators",
    "MFNVAEClassifier": "radfuse.estimators",
    "GMENetClassifier": "radfuse.estimators",
    # survival (needs scikit-survival, the `survival` extra)
    "SurMoESurvival": "radfuse.estimators.surmoe",
    # the data convention
    "ModalityLayout": "radfuse.modality",
    "presence_mask": "radfuse.modality",
    "check_blocks": "radfuse.modality",
}
_SUBMODULES = {
    "datasets",
    "benchmark",
    "modality",
    "extraction",
    "selection",
    "harmonization",
    "estimators",
    "nn",
    "tuning",
}

__all__ = ["__version__", *sorted(_LAZY), *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"radfuse.{name}")
    raise AttributeError(f"module 'radfuse' has no attribute {name!r}")


def __dir__():
    return __all__
