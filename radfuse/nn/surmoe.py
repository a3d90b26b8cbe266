"""SurMoE on radiomics feature blocks: multi-modal discrete-time survival with a mixture of experts.

After Zhang et al., "Integrating images and genomics for multi-modal cancer survival analysis via
mixture of experts" (Information Fusion, 2026). The paper fuses two modalities (WSI patch features
and genomic pathways, width 256); here every modality is a block of radiomics features and any
number ``M >= 2`` of modalities is allowed, each possibly absent from a row.

Network (the layers are in :mod:`radfuse.nn.surmoe_layers`)
    1. **Tokens.** Each modality block is split into feature groups (index lists into the block:
       by filter family, by feature class, or fixed-size chunks, :func:`chunk_groups`); each group
       becomes one token of width ``d_model`` through its own ``Linear -> GELU -> Linear``
       (:class:`Tokenizer`). The paper's tokens are WSI patch clusters and pathways.
    2. **MoE encoder.** For each modality ``m`` in turn, a :class:`MoELayer` (four experts:
       linear, additive, attention, identity; one routing decision per row) reads every present
       modality's tokens and its output replaces the tokens of ``m`` only; the next modality's
       layer sees the updated tokens (the paper's pathomics-then-genomics encoder).
       ``n_moe_layers`` such passes are stacked (the paper: 1, i.e. two layers for two
       modalities).
    3. **Cross-attention.** Single-head, each modality's tokens query the tokens of the other
       present modalities (:class:`CrossAttention`; for two modalities the paper's two
       directions). A modality alone in its row passes through unchanged.
    4. **MoE decoder.** As the encoder, with its own layers (the paper's four layers in all).
    5. **Pooling and head.** Each modality's tokens are pooled by a learned-query softmax
       (:class:`AttentionPool`); the pooled vectors are concatenated in modality order and go
       through ``Linear -> GELU -> Dropout -> Linear -> GELU -> Dropout`` (the paper's two-layer
       MLP, with GELU for ReLU) and a ``Linear`` to one hazard logit per time bin
       (:mod:`radfuse.nn.survival` for hazards, survival, risk and the loss).

Missing modalities
    ``present`` (b, M) says which blocks a row has; every row needs at least one. An absent
    modality's tokens are set to zero right after the tokenizer (so its zero-filled, or any,
    values in ``x`` never reach the computation), are masked out of every attention key set, of
    the additive expert's mix and of the router's pooled input (zeros plus a presence flag), and
    its pooled vector is replaced by a learned per-modality "missing" embedding before the
    concatenation. Hence a row's output is the same whatever the absent blocks hold, and no token
    of an absent modality is read by a present one.

Rows are independent: no batch statistics (LayerNorm only inside the routers), so a row's output
does not depend on the other rows of the batch.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from radfuse.nn.surmoe_layers import (
    AdditiveExpert,
    AttentionExpert,
    AttentionPool,
    CrossAttention,
    FusionExperts,
    LinearExpert,
    MoELayer,
    Tokenizer,
)

__all__ = [
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
]


def chunk_groups(block_sizes: Sequence[int], chunk_size: int) -> list[list[list[int]]]:
    """Feature groups of consecutive columns, ``chunk_size`` per group (the last may be shorter).

    Parameters
    ----------
    block_sizes : sequence of int
        Columns per block, in layout order.
    chunk_size : int

    Returns
    -------
    block_groups : list (one per block) of lists of column indices within the block
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size!r}.")
    return [
        [list(range(s, min(s + chunk_size, n))) for s in range(0, n, chunk_size)]
        for n in (int(n) for n in block_sizes)
    ]


def _block_sizes(block_groups) -> list[int]:
    """Width of each block from its groups; every column must be in at least one group."""
    sizes = []
    for m, groups in enumerate(block_groups):
        groups = [list(g) for g in groups]
        if not groups or any(len(g) == 0 for g in groups):
            raise ValueError(f"modality {m}: block_groups needs at least one non-empty group.")
        cols = {int(c) for g in groups for c in g}
        if min(cols) < 0:
            raise ValueError(f"modality {m}: column indices must be >= 0, got {min(cols)}.")
        width = max(cols) + 1
        if len(cols) != width:
            missed = sorted(set(range(width)) - cols)
            raise ValueError(
                f"modality {m}: columns {missed[:5]} of its {width} are in no group; every "
                "column of a block must belong to at least one group."
            )
        sizes.append(width)
    return sizes


class SurMoENet(nn.Module):
    """SurMoE over radiomics feature blocks (see the module docstring).

    Parameters
    ----------
    block_groups : sequence (one per modality, M >= 2) of sequences of sequences of int
        Feature groups of each block: column indices within the block; every column in at least
        one group. The block widths (``block_sizes``) follow from them; ``x`` holds the blocks in
        this order.
    d_model : int, default=64
        Token width (the paper: 256).
    n_bins : int, default=4
        Number of discrete time bins (hazard logits per row).
    n_moe_layers : int, default=1
        MoE passes in the encoder and again in the decoder; a pass is one :class:`MoELayer`
        per modality.
    top_k : int or None, default=None
        Experts kept per row and layer; None: the dense soft mixture of all four.
    n_heads : int, default=8
        Heads of the attention expert (must divide ``d_model``).
    dropout : float, default=0.1

    Attributes
    ----------
    block_sizes : list of int
    token_modality : (N,) int tensor buffer, the modality of each token
    """

    def __init__(
        self,
        block_groups: Sequence[Sequence[Sequence[int]]],
        *,
        d_model: int = 64,
        n_bins: int = 4,
        n_moe_layers: int = 1,
        top_k: int | None = None,
        n_heads: int = 8,
        dropout: float = 0.1,
    ):
        super().__init__()
        if len(block_groups) < 2:
            raise ValueError(f"SurMoENet needs at least 2 modalities, got {len(block_groups)}.")
        if n_moe_layers < 1:
            raise ValueError(f"n_moe_layers must be at least 1, got {n_moe_layers!r}.")
        if n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {n_bins!r}.")
        self.block_sizes = _block_sizes(block_groups)
        m = self.n_modalities = len(self.block_sizes)
        starts = [sum(self.block_sizes[:i]) for i in range(m)]
        self.slices = [(s, s + n) for s, n in zip(starts, self.block_sizes)]
        self.tokenizers = nn.ModuleList(Tokenizer(g, d_model) for g in block_groups)
        tm = torch.cat(
            [torch.full((len(g),), i, dtype=torch.long) for i, g in enumerate(block_groups)]
        )
        self.register_buffer("token_modality", tm, persistent=False)

        def moe():
            return MoELayer(tm, m, d_model, n_heads, top_k, dropout)

        self.encoder = nn.ModuleList(
            nn.ModuleList(moe() for _ in range(m)) for _ in range(n_moe_layers)
        )
        self.cross = CrossAttention(tm, m, d_model, dropout)
        self.decoder = nn.ModuleList(
            nn.ModuleList(moe() for _ in range(m)) for _ in range(n_moe_layers)
        )
        self.pools = nn.ModuleList(AttentionPool(d_model) for _ in range(m))
        self.missing = nn.Parameter(torch.randn(m, d_model) * 0.02)
        self.head = nn.Sequential(
            nn.Linear(m * d_model, d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, n_bins),
        )

    def _check(self, x: torch.Tensor, present: torch.Tensor) -> None:
        n_features = sum(self.block_sizes)
        if x.dim() != 2 or x.shape[1] != n_features:
            raise ValueError(
                f"x must have shape (b, {n_features}) (blocks of widths {self.block_sizes}), "
                f"got {tuple(x.shape)}."
            )
        if present.shape != (x.shape[0], self.n_modalities) or present.dtype != torch.bool:
            raise ValueError(
                f"present must be a bool tensor of shape ({x.shape[0]}, {self.n_modalities}), "
                f"got {present.dtype} of shape {tuple(present.shape)}."
            )
        bad = (~torch.isfinite(x)).nonzero()
        if len(bad):
            row, col = (int(v) for v in bad[0])
            raise ValueError(
                f"x has a non-finite value at row {row}, column {col}; fill absent blocks "
                "with zeros and mark them in present."
            )
        empty = (~present.any(dim=1)).nonzero().flatten()
        if len(empty):
            raise ValueError(f"row {int(empty[0])} has no modality present; every row needs one.")

    def _moe_pass(self, layers, z, present, routing):
        tm = self.token_modality
        for m, layer in enumerate(layers):
            out, weights = layer(z, tm, present)
            z = torch.where((tm == m).view(1, -1, 1), out, z)
            routing.append(weights)
        return z

    def _run(self, x, present):
        self._check(x, present)
        tm = self.token_modality
        z = torch.cat([tok(x[:, slice(*s)]) for tok, s in zip(self.tokenizers, self.slices)], dim=1)
        # Absent blocks become exact zeros: whatever x holds there cannot reach the output.
        z = torch.where(present[:, tm].unsqueeze(-1), z, torch.zeros((), dtype=z.dtype))
        routing: list[torch.Tensor] = []
        for layers in self.encoder:
            z = self._moe_pass(layers, z, present, routing)
        z = self.cross(z, present)
        for layers in self.decoder:
            z = self._moe_pass(layers, z, present, routing)
        pooled = torch.stack([pool(z[:, tm == m]) for m, pool in enumerate(self.pools)], dim=1)
        pooled = torch.where(present.unsqueeze(-1), pooled, self.missing.to(z.dtype))
        return self.head(pooled.flatten(1)), routing

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Hazard logits (b, n_bins).

        Parameters
        ----------
        x : (b, sum(block_sizes)) float tensor, blocks in order, finite (absent blocks zero-filled)
        present : (b, M) bool tensor, the modalities each row has (at least one per row)
        """
        return self._run(x, present)[0]

    def routing(self, x: torch.Tensor, present: torch.Tensor) -> list[torch.Tensor]:
        """Expert weights (b, 4) of every MoE layer: encoder passes, then decoder passes.

        Within a pass, one entry per modality in order; experts ordered as
        :attr:`FusionExperts.names`.
        """
        return self._run(x, present)[1]
