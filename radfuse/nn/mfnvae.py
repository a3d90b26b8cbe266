"""MFN-VAE: per-modality variational autoencoders with a predictor on the joint latent.

The multi-modal fusion baseline of Ding et al. (2026). Each modality block has its own encoder
(``[Linear -> LayerNorm -> GELU] x len(hidden)``, then a mean and a log-variance head to
``latent_dim``) and its own decoder (the mirror stack, ending in a plain ``Linear``: no Tanh, which
could not reach standardised values beyond +-1). A predictor (``Linear -> LayerNorm -> GELU ->
Dropout -> Linear``) classifies the concatenated latents.

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
    def __init__(self, d_in, hidden, latent_dim, dropout):
        super().__init__()
        self.body, d = _stack(d_in, hidden, dropout)
        self.mu = nn.Linear(d, latent_dim)
        self.logvar = nn.Linear(d, latent_dim)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class MFNVAE(nn.Module):
    """Per-modality VAEs and a predictor on the concatenated latents.

    Parameters
    ----------
    sizes : sequence of int
        Feature counts of every block of ``x``, in column order.
    n_classes : int
    inputs : sequence of int
        Indices of the blocks the network uses (one VAE each).
    hidden : sequence of int, default=(64,)
        Hidden widths of each encoder (the decoders mirror them).
    latent_dim : int, default=16
    predictor_hidden : int, default=64
    dropout : float, default=0.3
        Dropout in the encoders and the predictor.
    reparameterize : bool, default=True
    """

    def __init__(
        self,
        sizes: Sequence[int],
        n_classes: int,
        inputs: Sequence[int],
        *,
        hidden: Sequence[int] = (64,),
        latent_dim: int = 16,
        predictor_hidden: int = 64,
        dropout: float = 0.3,
        reparameterize: bool = True,
    ):
        super().__init__()
        sizes = [int(s) for s in sizes]
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.slices = [(starts[i], starts[i] + sizes[i]) for i in inputs]
        self.inputs = [int(i) for i in inputs]
        self.reparameterize = reparameterize
        self.encoders = nn.ModuleList(
            _Encoder(sizes[i], hidden, latent_dim, dropout) for i in self.inputs
        )
        self.decoders = nn.ModuleList()
        for i in self.inputs:
            body, d = _stack(latent_dim, tuple(reversed(hidden)), 0.0)
            self.decoders.append(nn.Sequential(body, nn.Linear(d, sizes[i])))
        self.predictor = nn.Sequential(
            nn.Linear(latent_dim * len(self.inputs), predictor_hidden),
            nn.LayerNorm(predictor_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(predictor_hidden, n_classes),
        )

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

    def loss(self, out, x, y, weight, kl_weight: float, clf_weight: float):
        """``sum_m [MSE_m + kl_weight * KL_m] + clf_weight * CE``; parts ``ce``, ``mse``, ``kl``."""
        logits, recons, mus, logvars = out
        ce = weighted_cross_entropy(logits, y, weight)
        mse = sum(
            masked_mse(r, x[:, slice(*sl)], None, weight) for r, sl in zip(recons, self.slices)
        )
        kl = sum(gaussian_kl(mu, lv, weight) for mu, lv in zip(mus, logvars))
        loss = mse + kl_weight * kl + clf_weight * ce
        return loss, {"ce": ce, "mse": mse, "kl": kl}
