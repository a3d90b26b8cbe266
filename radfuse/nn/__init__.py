"""Pure PyTorch networks and losses of radfuse (no scikit-learn, no pandas).

The GMENet parts (``radfuse.nn.gmenet`` and its ``gmenet_generation`` and ``gmenet_fusion``
modules) are imported on first use.
"""

import importlib

from radfuse.nn.losses import (
    balanced_softmax_loss,
    gaussian_kl,
    masked_mae,
    masked_mse,
    weighted_cross_entropy,
    weighted_mean,
)
from radfuse.nn.mfnvae import MFNVAE
from radfuse.nn.mmt import MMT, ModalInteraction

_LAZY = {
    "CGGM": "radfuse.nn.gmenet_generation",
    "CrossAttentionGenerator": "radfuse.nn.gmenet_generation",
    "ResidualMLPStem": "radfuse.nn.gmenet_generation",
    "gaussian_moment_kl": "radfuse.nn.gmenet_generation",
    "DWEFM": "radfuse.nn.gmenet_fusion",
    "ConcatFusion": "radfuse.nn.gmenet_fusion",
    "GMENet": "radfuse.nn.gmenet",
}

__all__ = [
    "MFNVAE",
    "MMT",
    "ModalInteraction",
    "balanced_softmax_loss",
    "gaussian_kl",
    "masked_mae",
    "masked_mse",
    "weighted_cross_entropy",
    "weighted_mean",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'radfuse.nn' has no attribute {name!r}")


def __dir__():
    return __all__
