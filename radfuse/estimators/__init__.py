"""scikit-learn estimators backed by PyTorch networks, on one shared base.

``GMENetClassifier`` is imported on first use, so that this package imports even while that
module is absent or broken.
"""

from __future__ import annotations

import importlib

from radfuse.estimators.base import Stage, TorchClassifierBase, TorchEstimatorBase
from radfuse.estimators.mfnvae import MFNVAEClassifier
from radfuse.estimators.mmt import MMTClassifier

__all__ = [
    "GMENetClassifier",
    "MFNVAEClassifier",
    "MMTClassifier",
    "Stage",
    "TorchClassifierBase",
    "TorchEstimatorBase",
]

_LAZY = {"GMENetClassifier": "radfuse.estimators.gmenet"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'radfuse.estimators' has no attribute {name!r}")


def __dir__():
    return __all__
