"""scikit-learn estimators backed by PyTorch networks, on one shared base."""

from __future__ import annotations

from radfuse.estimators._fit_many import fit_many
from radfuse.estimators.base import Stage, TorchClassifierBase, TorchEstimatorBase
from radfuse.estimators.gmenet import GMENetClassifier
from radfuse.estimators.mfnvae import MFNVAEClassifier
from radfuse.estimators.mmt import MMTClassifier

__all__ = [
    "GMENetClassifier",
    "MFNVAEClassifier",
    "MMTClassifier",
    "Stage",
    "TorchClassifierBase",
    "TorchEstimatorBase",
    "fit_many",
]
