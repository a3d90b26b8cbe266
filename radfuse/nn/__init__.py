"""Pure PyTorch networks and losses of radfuse (no scikit-learn, no pandas)."""

from radfuse.nn.losses import (
    gaussian_kl,
    masked_mae,
    masked_mse,
    weighted_cross_entropy,
    weighted_mean,
)
from radfuse.nn.mfnvae import MFNVAE
from radfuse.nn.mmt import MMT, ModalInteraction

__all__ = [
    "MFNVAE",
    "MMT",
    "ModalInteraction",
    "gaussian_kl",
    "masked_mae",
    "masked_mse",
    "weighted_cross_entropy",
    "weighted_mean",
]
