"""MFN-VAE: per-modality variational autoencoders with a predictor on the joint latent.

The multi-modal fusion baseline of Ding et al. (2026). Each modality block has its own encoder
(``[Linear -> LayerNorm -> GELU] x len(encoder_dims)``, then a mean and a log-variance head to
``latent_dim``) and its own decoder (the mirror stack, ending in a plain ``Linear``: no Tanh, which
could not reach standardised values beyond +-1). A predictor (``[Linear -> LayerNorm -> GELU ->
Dropout] x len(head_dims) -> Linear``) classifies the concatenated latents.

With ``reparameterize=True`` training draws ``z = mu + sigma * eps`` (the decoders and the
predictor see the sampled latent); at evaluation ``z = mu``. With ``reparameterize=False`` the
network is deterministic (``z = mu`` always) and the KL term only regularises ``mu`` and the
variance head.

Loss (:meth:`MFNVAE.loss`): ``sum_m [MSE_m + kl_weight * KL_m] + clf_weight * CE``.

The network has no missing-modality mechanism: every input block must be present.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from radfuse.nn.losses import gaussian_kl, masked_mse, weighted_cross_entropy

__all__ = ["MFNVAE"]


def _stack(d_in, dims, dropout):
    layers: list[nn.Module] = []
    for h in dims:
        layers += [nn.Linear(d_in, h), nn.LayerNorm(h), nn.GELU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        d_in = h
    return nn.Sequential(*layers), d_in


class _Encoder(nn.Module):
    def __init__(self, d_in, encoder_dims, latent_dim, dropout):
        super().__init__()
        self.body, d = _stack(d_in, encoder_dims, dropout)
        self.mu = nn.Linear(d, latent_dim)
        self.logvar = nn.Linear(d, latent_dim)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class MFNVAE(nn.Module):
    """Per-modality VAEs and a predictor on the concatenated latents.

    Parameters
    ----------
    block_sizes : sequence of int
        Feature counts of every block of ``x``, in column order.
    n_classes : int
    inputs : sequence of int
        Indices of the blocks the network uses (one VAE each).
    encoder_dims : sequence of int, default=(64,)
        Hidden widths of each encoder (the decoders mirror them).
    latent_dim : int, default=16
    head_dims : sequence of int, default=(64,)
        Hidden widths of the predictor.
    dropout : float, default=0.3
        Dropout in the encoders and the predictor.
    reparameterize : bool, default=True
    """

    def __init__(
        self,
        block_sizes: Sequence[int],
        n_classes: int,
        inputs: Sequence[int],
        *,
        encoder_dims: Sequence[int] = (64,),
        latent_dim: int = 16,
        head_dims: Sequence[int] = (64,),
        dropout: float = 0.3,
        reparameterize: bool = True,
    ):
        super().__init__()
        sizes = [int(s) for s in block_sizes]
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.slices = [(starts[i], starts[i] + sizes[i]) for i in inputs]
        self.inputs = [int(i) for i in inputs]
        self.reparameterize = reparameterize
        self.encoders = nn.ModuleList(
            _Encoder(sizes[i], encoder_dims, latent_dim, dropout) for i in self.inputs
        )
        self.decoders = nn.ModuleList()
        for i in self.inputs:
            body, d = _stack(latent_dim, tuple(reversed(encoder_dims)), 0.0)
            self.decoders.append(nn.Sequential(body, nn.Linear(d, sizes[i])))
        layers: list[nn.Module] = []
        d_in = latent_dim * len(self.inputs)
        for h in head_dims:
            layers += [nn.Linear(d_in, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
            d_in = h
        self.predictor = nn.Sequential(*layers, nn.Linear(d_in, n_classes))

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None):
        """Return ``logits, recons, mus, logvars`` (lists over the input modalities).

        ``present`` is accepted for a uniform call signature and ignored: every input block must
        be present (the estimator checks it).
        """
        mus, logvars, zs, recons = [], [], [], []
        for enc, dec, sl in zip(self.encoders, self.decoders, self.slices):
            mu, logvar = enc(x[:, slice(*sl)])
            if self.reparameterize and self.training:
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            else:
                z = mu
            mus.append(mu)
            logvars.append(logvar)
            zs.append(z)
            recons.append(dec(z))
        logits = self.predictor(torch.cat(zs, dim=1))
        return logits, recons, mus, logvars

    def loss(self, out, x, y, sample_weight, kl_weight: float, clf_weight: float):
        """``sum_m [MSE_m + kl_weight * KL_m] + clf_weight * CE``; parts ``ce``, ``mse``, ``kl``.

        ``sample_weight`` (b,) weighs the rows (None: unweighted).
        """
        logits, recons, mus, logvars = out
        ce = weighted_cross_entropy(logits, y, sample_weight)
        mse = sum(
            masked_mse(r, x[:, slice(*sl)], None, sample_weight)
            for r, sl in zip(recons, self.slices)
        )
        kl = sum(gaussian_kl(mu, lv, sample_weight) for mu, lv in zip(mus, logvars))
        loss = mse + kl_weight * kl + clf_weight * ce
        return loss, {"ce": ce, "mse": mse, "kl": kl}
