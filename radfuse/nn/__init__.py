"""Pure PyTorch networks and losses of radfuse (no scikit-learn, no pandas).

The GMENet parts (``radfuse.nn.gmenet``) are imported on first use.
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
    name: "radfuse.nn.gmenet"
    for name in (
        "CGGM",
        "DWEFM",
        "ConcatFusion",
        "CrossAttentionGenerator",
        "GMENet",
        "ResidualMLPStem",
        "gaussian_moment_kl",
    )
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
