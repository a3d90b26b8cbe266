"""Losses shared by radfuse's networks (pure PyTorch).

Conventions: every loss takes per-row ``sample_weight`` tensors as built by the estimator base
(sample weight x class weight, mean 1 over the training rows, 0 for masked rows) and returns a
scalar. :func:`weighted_mean` divides by the batch size, not by the sum of the weights, so a
mini-batch loss is an unbiased estimate of the weighted mean over the training set.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "balanced_softmax_loss",
    "gaussian_kl",
    "masked_mae",
    "masked_mse",
    "weighted_cross_entropy",
    "weighted_mean",
]


def weighted_mean(values: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(values * sample_weight)`` over the rows (plain mean without weights)."""
    if sample_weight is None:
        return values.mean()
    return (values * sample_weight).mean()


def weighted_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy per row, weighted; labels ``-1`` (masked) contribute 0.

    Parameters
    ----------
    logits : (b, k) tensor
    y : (b,) int64 tensor of class indices, ``-1`` for a masked label
    sample_weight : (b,) tensor or None
    """
    ce = F.cross_entropy(logits.float(), y, reduction="none", ignore_index=-1)
    return weighted_mean(ce, sample_weight)


def _masked_row_mean(per_row, mask, sample_weight):
    w = mask.to(per_row.dtype)
    if sample_weight is not None:
        w = w * sample_weight
    # Mean over the rows that have a target, so the term's size does not depend on how many rows
    # of the batch have one; a batch without any gives 0.
    return (per_row * w).sum() / w.sum().clamp_min(1e-12)


def masked_mae(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean absolute error per row (mean over features), averaged over rows where ``mask``.

    Parameters
    ----------
    pred, target : (b, d) tensors
    mask : (b,) bool tensor: the row has a target (e.g. the true block exists)
    sample_weight : (b,) tensor or None
    """
    per_row = (pred.float() - target.float()).abs().mean(dim=1)
    return _masked_row_mean(per_row, mask, sample_weight)


def masked_mse(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error per row (mean over features), averaged over rows where ``mask``."""
    per_row = (pred.float() - target.float()).pow(2).mean(dim=1)
    if mask is None:
        return weighted_mean(per_row, sample_weight)
    return _masked_row_mean(per_row, mask, sample_weight)


def gaussian_kl(
    mu: torch.Tensor, logvar: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, I)``, summed over latent dimensions.

    Returns the weighted mean over rows.
    """
    mu, logvar = mu.float(), logvar.float()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
    return weighted_mean(kl, sample_weight)


# -- class-imbalance losses (Balanced Softmax, issue 6) ------------------------------------------


def balanced_softmax_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    log_prior: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Balanced Softmax cross-entropy (Ren et al., 2020) with missing-label masking.

    ``CE(logits + log_prior, target)``: adding the training log prior during training makes the
    raw logits estimate balanced (prior-free) class scores, so the minority class is not drowned
    out; predictions use the raw logits.

    Parameters
    ----------
    logits : Tensor (B, C)
    target : Tensor (B,) of int
        Class indices; any value < 0 marks a missing label, ignored.
    log_prior : Tensor (C,)
        Log class frequencies of this task's labelled training rows.
    sample_weight : Tensor (B,), optional
    reduction : {"mean", "none"}
        ``"mean"``: weighted mean over the labelled rows (0 when none is labelled);
        ``"none"``: the per-row losses, 0 for unlabelled rows (``sample_weight`` not applied).

    Returns
    -------
    Tensor
    """
    target = target.long()
    keep = target >= 0
    adj = logits.float() + log_prior.to(logits.device, torch.float32)
    ce = F.cross_entropy(adj, target.clamp_min(0), reduction="none") * keep.float()
    if reduction == "none":
        return ce
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")
    w = keep.float() if sample_weight is None else sample_weight.float() * keep.float()
    return (ce * w).sum() / w.sum().clamp_min(1e-12)
