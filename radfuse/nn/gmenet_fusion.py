"""GMENet's fusion: the dynamically weighted experts (DWEFM) and plain concatenation.

See :mod:`radfuse.nn.gmenet` for the architecture. This module imports neither scikit-learn nor
pandas.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DWEFM", "ConcatFusion"]


class _Expert(nn.Sequential):
    def __init__(self, d_model: int, hidden: int, dropout: float):
        super().__init__(
            nn.Linear(d_model, hidden),
            nn.GELU(),
            nn.LayerNorm(hidden),
            nn.Dropout(dropout),
            nn.Linear(hidden, d_model),
        )


class DWEFM(nn.Module):
    """Dynamically weighted experts fusion.

    Parameters
    ----------
    n_modalities, d_model : int
        Number of modalities and their feature dimension.
    hidden : int
        Expert hidden width.
    d_out : int
        Fused feature dimension.
    dropout : float
    """

    def __init__(
        self, n_modalities: int, d_model: int, hidden: int, d_out: int, dropout: float = 0.1
    ):
        super().__init__()
        self.n_modalities = n_modalities
        self.experts = nn.ModuleList(_Expert(d_model, hidden, dropout) for _ in range(n_modalities))
        self.router = nn.Sequential(
            nn.Linear(n_modalities * (d_model + 1), hidden),
            nn.GELU(),
            nn.Linear(hidden, n_modalities),
        )
        self.proj = nn.Sequential(
            nn.Linear(n_modalities * 2 * d_model, d_out),
            nn.LayerNorm(d_out),
            nn.GELU(),
            nn.Dropout(dropout),
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        """Fuse ``feats`` (B, M, d_model); return ``(fused (B, d_out), router weights (B, M))``."""
        B, M, d = feats.shape
        pres = present.to(feats.dtype)
        weights = self.router(torch.cat([feats.reshape(B, M * d), pres], dim=-1)).softmax(-1)
        total = feats.sum(1, keepdim=True)
        # Cross feature of modality m: the mean of the other modalities' (real or generated) ones.
        cross = (total - feats) / max(M - 1, 1) if M > 1 else feats
        parts = []
        for m, expert in enumerate(self.experts):
            z = torch.cat([expert(feats[:, m]), expert(cross[:, m])], dim=-1)
            parts.append(z * weights[:, m : m + 1])
        return self.proj(torch.cat(parts, dim=-1)), weights


class ConcatFusion(nn.Module):
    """The "w/o DWEFM" ablation: concatenate the features and project them."""

    def __init__(self, n_modalities: int, d_model: int, d_out: int, dropout: float = 0.1):
        super().__init__()
        self.n_modalities = n_modalities
        self.proj = nn.Sequential(
            nn.Linear(n_modalities * d_model, d_out),
            nn.LayerNorm(d_out),
            nn.GELU(),
            nn.Dropout(dropout),
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        B, M, _ = feats.shape
        weights = torch.full((B, M), 1.0 / M, dtype=feats.dtype, device=feats.device)
        return self.proj(feats.reshape(B, -1)), weights
