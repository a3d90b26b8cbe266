"""Pure PyTorch networks and losses of radfuse (no scikit-learn, no pandas).

The GMENet parts (``radfuse.nn.gmenet`` and its ``gmenet_generation`` and ``gmenet_fusion``
modules) and the SurMoE parts (``radfuse.nn.surmoe``, ``surmoe_layers``) are imported on first
use; the discrete-time survival functions (``radfuse.nn.survival``) at once.
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
from radfuse.nn.survival import (
    bin_times,
    discrete_time_nll,
    risk_from_survival,
    survival_from_hazards,
    time_bins,
)

_LAZY = {
    "CGGM": "radfuse.nn.gmenet_generation",
    "CrossAttentionGenerator": "radfuse.nn.gmenet_generation",
    "ResidualMLPStem": "radfuse.nn.gmenet_generation",
    "gaussian_moment_kl": "radfuse.nn.gmenet_generation",
    "DWEFM": "radfuse.nn.gmenet_fusion",
    "ConcatFusion": "radfuse.nn.gmenet_fusion",
    "GMENet": "radfuse.nn.gmenet",
    **{
        name: "radfuse.nn.surmoe"
        for name in (
            "AdditiveExpert",
            "AttentionExpert",
            "AttentionPool",
            "CrossAttention",
            "FusionExperts",
            "LinearExpert",
            "MoELayer",
            "SurMoENet",
            "Tokenizer",
            "chunk_groups",
        )
    },
}

__all__ = [
    "MFNVAE",
    "MMT",
    "ModalInteraction",
    "balanced_softmax_loss",
    "bin_times",
    "discrete_time_nll",
    "gaussian_kl",
    "masked_mae",
    "masked_mse",
    "risk_from_survival",
    "survival_from_hazards",
    "time_bins",
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
