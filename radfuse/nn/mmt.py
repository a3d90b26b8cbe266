"""MMT: a missing-modality transformer over radiomics feature blocks (pure PyTorch).

After Ding et al. (2026), "Transformer-driven feature fusion for robust diagnosis of lung cancer
brain metastasis under missing-modality scenarios". Every modality is a block of (standardised)
radiomics features.

Tokens
    One *feature token* per available modality (a linear projection of its block, one projection
    per modality), one learned *missing token* per modality to be reconstructed, and one learned
    *classification token* (CLS). No positional embedding: every token has its own projection or
    parameter, and the head reads the tokens at fixed positions, so the order is known anyway.

Two layouts
    * fixed (``inputs`` given; the paper's MMT-2M / MMT-1M): ``[feature tokens of the inputs,
      missing tokens of the other modalities, CLS]``.
    * any-subset (``inputs=None``; beyond the paper): ``[M feature slots, M missing tokens, CLS]``.
      A feature slot exists only in rows where that modality is available; its missing token is
      always there. The missing token of modality ``m`` is the network's estimate of ``m``: it is
      reconstructed where ``m`` is absent, and when ``m`` is present it reads ``m``'s feature token
      like any other. So the CLS token always reads from the same ``M`` slots, whichever modalities
      a row has (the paper has no CLS rule for a row without a missing modality; this is ours).
      Feature slots of absent modalities are hidden from every query and zeroed before the head.

Modal-interaction layer (``n_layers`` of them)
    ``LayerNorm`` -> per-token Q/K/V projections (one ``Linear`` shared by all tokens, as usual in
    transformers; the paper's "per-token" is read as token-wise) into a wider space
    (``attn_dim``, default ``2 * d_model``) -> the interaction -> a shared (token-wise) feed-forward
    network ``Linear -> LayerNorm -> GELU -> Dropout -> Linear -> LayerNorm -> Dropout`` back to
    ``d_model`` -> residual to the layer input. The paper lists "two linear layers each followed by
    LayerNorm and dropout" and no activation; without one the network would be linear between the
    normalisations, so a GELU follows the first LayerNorm.

    Visibility: feature and missing tokens read every existing feature and missing token; the CLS
    token reads only the missing tokens (and keeps its own value through the residual). Nothing
    reads the CLS token.

    ``interaction="channel"``: for query token ``i``, key ``j`` and channel ``c``,
    ``a[i, j, c] = softmax_j(q[i, c] * k[j, c])`` over the visible keys, and
    ``out[i, c] = sum_j a[i, j, c] * v[j, c]``: each channel mixes the tokens with its own weights.
    ``interaction="sdpa"``: standard multi-head scaled dot-product attention
    (:func:`torch.nn.functional.scaled_dot_product_attention`) with ``n_heads`` heads and the same
    visibility mask.

Head and reconstruction
    The output tokens are concatenated (absent feature slots zeroed) and go through the paper's
    three-layer MLP: ``LayerNorm -> [Linear -> LayerNorm -> GELU -> Dropout] x 2 -> Linear``. Each
    missing token's output goes through its own ``Linear(d_model, n_features of the modality)``:
    the reconstruction of that modality's block.

Loss (:meth:`MMT.loss`)
    ``clf_weight * CE + sum_m recon_weight_m * MAE_m`` (the paper's beta and alpha) with ``MAE_m``
    the mean absolute error of the
    reconstruction of modality ``m`` over the rows where ``m`` is absent from the input and its
    true block is known.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from radfuse.nn.losses import masked_mae, weighted_cross_entropy

__all__ = ["MMT", "ModalInteraction"]

INTERACTIONS = ("channel", "sdpa")


class ModalInteraction(nn.Module):
    """One modal-interaction layer (see the module docstring).

    Parameters
    ----------
    d_model : int
        Token width.
    attn_dim : int
        Width of the Q/K/V space.
    ffn_dim : int
        Hidden width of the feed-forward network.
    interaction : {"channel", "sdpa"}
    n_heads : int
        Heads of ``"sdpa"`` (must divide ``attn_dim``).
    dropout : float
    """

    def __init__(self, d_model, attn_dim, ffn_dim, interaction="channel", n_heads=4, dropout=0.1):
        super().__init__()
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}.")
        if interaction == "sdpa" and attn_dim % n_heads:
            raise ValueError(f"n_heads={n_heads} must divide attn_dim={attn_dim}.")
        self.interaction = interaction
        self.n_heads = n_heads
        self.norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * attn_dim)
        self.ffn = nn.Sequential(
            nn.Linear(attn_dim, ffn_dim),
            nn.LayerNorm(ffn_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_dim, d_model),
            nn.LayerNorm(d_model),
            nn.Dropout(dropout),
        )

    def forward(self, z: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Update tokens ``z`` (b, S, d); ``visible`` (S, S) or (b, S, S) bool: query i reads key j.

        Every query must see at least one key.
        """
        b, s, _ = z.shape
        q, k, v = self.qkv(self.norm(z)).chunk(3, dim=-1)
        if self.interaction == "channel":
            scores = q.unsqueeze(2) * k.unsqueeze(1)  # (b, S_query, S_key, D)
            mask = visible.unsqueeze(-1)
            if mask.dim() == 3:
                mask = mask.unsqueeze(0)
            scores = scores.masked_fill(~mask, float("-inf"))
            attn = torch.softmax(scores, dim=2)
            out = (attn * v.unsqueeze(1)).sum(dim=2)
        else:
            h = self.n_heads
            qh, kh, vh = (t.view(b, s, h, -1).transpose(1, 2) for t in (q, k, v))
            mask = visible if visible.dim() == 2 else visible.unsqueeze(1)
            out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask)
            out = out.transpose(1, 2).reshape(b, s, -1)
        return z + self.ffn(out)


def _mlp_head(d_in, hidden, n_out, dropout):
    layers: list[nn.Module] = [nn.LayerNorm(d_in)]
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
        d_in = h
    layers.append(nn.Linear(d_in, n_out))
    return nn.Sequential(*layers)


class MMT(nn.Module):
    """Missing-modality transformer (see the module docstring).

    Parameters
    ----------
    block_sizes : sequence of int
        Number of features of each modality block, in the column order of ``x``.
    n_classes : int
    inputs : sequence of int or None
        Indices of the input modalities (fixed layout); the others are reconstructed. None: the
        any-subset layout, availability given per row to :meth:`forward`.
    d_model, n_layers, interaction, n_heads, attn_dim, ffn_dim, head_dims, dropout
        Architecture (``attn_dim`` and ``ffn_dim`` default to ``2 * d_model``).
    """

    def __init__(
        self,
        block_sizes: Sequence[int],
        n_classes: int,
        inputs: Sequence[int] | None = None,
        *,
        d_model: int = 32,
        n_layers: int = 2,
        interaction: str = "channel",
        n_heads: int = 4,
        attn_dim: int | None = None,
        ffn_dim: int | None = None,
        head_dims: Sequence[int] = (64, 32),
        dropout: float = 0.3,
    ):
        super().__init__()
        sizes = [int(s) for s in block_sizes]
        m = len(sizes)
        self.block_sizes = sizes
        starts = [sum(sizes[:i]) for i in range(m)]
        self.slices = [(s, s + n) for s, n in zip(starts, sizes)]
        self.fixed = inputs is not None
        if self.fixed:
            self.input_ids = [int(i) for i in inputs]
            self.missing_ids = [i for i in range(m) if i not in self.input_ids]
            if not self.input_ids or not self.missing_ids:
                raise ValueError(
                    "the fixed MMT layout needs at least one input and one reconstructed "
                    "modality; use inputs=None (any subset) otherwise."
                )
        else:
            self.input_ids = list(range(m))
            self.missing_ids = list(range(m))
        n_in, n_miss = len(self.input_ids), len(self.missing_ids)
        self.n_tokens = n_in + n_miss + 1
        attn_dim = attn_dim or 2 * d_model
        ffn_dim = ffn_dim or 2 * d_model
        self.embed = nn.ModuleList(nn.Linear(sizes[i], d_model) for i in self.input_ids)
        self.missing_tokens = nn.Parameter(torch.randn(n_miss, d_model) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, d_model) * 0.02)
        self.layers = nn.ModuleList(
            ModalInteraction(d_model, attn_dim, ffn_dim, interaction, n_heads, dropout)
            for _ in range(n_layers)
        )
        self.reconstruct = nn.ModuleList(nn.Linear(d_model, sizes[i]) for i in self.missing_ids)
        self.head = _mlp_head(self.n_tokens * d_model, head_dims, n_classes, dropout)
        # Fixed visibility of the query rows (CLS reads the missing tokens only).
        s = self.n_tokens
        vis = torch.zeros(s, s, dtype=torch.bool)
        vis[: s - 1, : s - 1] = True
        vis[s - 1, n_in : s - 1] = True
        self.register_buffer("visible", vis, persistent=False)
        # Any-subset layout: an absent feature slot reads itself only (its output is discarded).
        self.register_buffer("self_only", torch.eye(s, dtype=torch.bool)[:n_in], persistent=False)

    def forward(self, x: torch.Tensor, avail: torch.Tensor | None = None):
        """Logits and reconstructions.

        Parameters
        ----------
        x : (b, n_features) tensor, blocks in ``block_sizes`` order, absent blocks any finite value
        avail : (b, M) bool tensor, which modalities the network may read (any-subset layout;
            ignored in the fixed layout)

        Returns
        -------
        logits : (b, n_classes)
        recon : list of (b, block_sizes[m]) tensors, one per reconstructed modality
            (``missing_ids``)
        """
        b = x.shape[0]
        feats = [emb(x[:, slice(*self.slices[i])]) for emb, i in zip(self.embed, self.input_ids)]
        feats = torch.stack(feats, dim=1)  # (b, n_in, d)
        if not self.fixed:
            feats = feats * avail.unsqueeze(-1).to(feats.dtype)
        z = torch.cat(
            [
                feats,
                self.missing_tokens.unsqueeze(0).expand(b, -1, -1).to(feats.dtype),
                self.cls_token.unsqueeze(0).expand(b, -1, -1).to(feats.dtype),
            ],
            dim=1,
        )
        if self.fixed:
            visible = self.visible
        else:
            n_in = len(self.input_ids)
            # Keys: available feature slots and every missing token; never the CLS token.
            keys = torch.cat(
                [avail, avail.new_ones(b, len(self.missing_ids)), avail.new_zeros(b, 1)], dim=1
            )
            visible = self.visible.unsqueeze(0) & keys.unsqueeze(1)
            # An absent feature slot still needs one visible key (its output is discarded).
            visible[:, :n_in] |= self.self_only.unsqueeze(0) & (~avail).unsqueeze(-1)
        for layer in self.layers:
            z = layer(z, visible)
        n_in = len(self.input_ids)
        recon = [rec(z[:, n_in + k]) for k, rec in enumerate(self.reconstruct)]
        if not self.fixed:
            keep = torch.cat([avail, avail.new_ones(b, self.n_tokens - n_in)], dim=1)
            z = z * keep.unsqueeze(-1).to(z.dtype)
        return self.head(z.reshape(b, -1)), recon

    def loss(
        self,
        logits: torch.Tensor,
        recon: Sequence[torch.Tensor],
        x: torch.Tensor,
        recon_mask: torch.Tensor,
        y: torch.Tensor,
        sample_weight: torch.Tensor | None,
        recon_weight: Sequence[float],
        clf_weight: float,
    ):
        """``clf_weight * CE + sum_k recon_weight[k] * MAE_k`` (the paper's beta and alpha).

        Parameters
        ----------
        recon_mask : (b, len(missing_ids)) bool tensor: reconstruct modality ``missing_ids[k]``
            in this row (absent from the input, true block known)
        sample_weight : (b,) tensor or None: per-row weights
        recon_weight : one weight per reconstructed modality

        Returns
        -------
        loss, {"ce": ..., "mae": ...} (the parts as tensors; ``mae`` is the weighted sum)
        """
        ce = weighted_cross_entropy(logits, y, sample_weight)
        mae = logits.new_zeros((), dtype=torch.float32)
        for k, (i, rec) in enumerate(zip(self.missing_ids, recon)):
            if recon_weight[k]:
                target = x[:, slice(*self.slices[i])]
                mae = mae + recon_weight[k] * masked_mae(
                    rec, target, recon_mask[:, k], sample_weight
                )
        return clf_weight * ce + mae, {"ce": ce, "mae": mae}
