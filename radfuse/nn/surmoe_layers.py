"""SurMoE building blocks over the token sets of M >= 2 modalities (pure PyTorch).

Every layer works on the *joint token sequence* ``z`` (b, N, d_model): the tokens of modality 0,
then those of modality 1, and so on; ``token_modality`` (N,) gives each token's modality. The
modalities present in a row are given by ``present`` (b, M) bool, and each layer keeps one rule:
**the tokens of a modality absent from a row are never read** by any other token, pooled vector
or routing decision of that row (their own outputs are computed, then ignored downstream). Every
row must have at least one modality present. No layer uses batch statistics, so each row's
output depends on that row only.

See :mod:`radfuse.nn.surmoe` for the network and the paper these layers follow.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AdditiveExpert",
    "AttentionExpert",
    "AttentionPool",
    "CrossAttention",
    "FusionExperts",
    "LinearExpert",
    "MoELayer",
    "Tokenizer",
]


class Tokenizer(nn.Module):
    """One modality block to one token per feature group.

    Group ``g`` (a list of column indices into the block) goes through its own
    ``Linear(len(g), d_model) -> GELU -> Linear(d_model, d_model)``.

    Parameters
    ----------
    groups : sequence of sequence of int
        Column indices of each group, within the block.
    d_model : int
        Token width (also the hidden width of each group's MLP).
    """

    def __init__(self, groups: Sequence[Sequence[int]], d_model: int):
        super().__init__()
        groups = [[int(c) for c in g] for g in groups]
        self.group_sizes = [len(g) for g in groups]
        cols = torch.tensor([c for g in groups for c in g], dtype=torch.long)
        self.register_buffer("cols", cols, persistent=False)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(n, d_model), nn.GELU(), nn.Linear(d_model, d_model))
            for n in self.group_sizes
        )

    def forward(self, block: torch.Tensor) -> torch.Tensor:
        """Tokens (b, n_groups, d_model) of a block (b, n_columns)."""
        parts = block[:, self.cols].split(self.group_sizes, dim=1)
        return torch.stack([mlp(part) for mlp, part in zip(self.mlps, parts)], dim=1)


def _key_mask(token_modality: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """(b, N) bool: the tokens of the modalities present in each row."""
    return present[:, token_modality]


class LinearExpert(nn.Module):
    """Linear fusion: one token-wise ``Linear -> GELU -> Dropout`` shared by all modalities."""

    def __init__(self, d_model: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Dropout(dropout))

    def forward(self, z, token_modality, present):
        return self.net(z)


class AdditiveExpert(nn.Module):
    """Additive fusion: a token's own projection plus a learned mix of the other modalities' tokens.

    ``out_i = phi(z_i) + GELU(sum_j A_ij psi(z_j))`` where ``j`` runs over the tokens of the
    *other* modalities present in the row and ``A`` (N, N) is learned (the paper maps one
    modality's token axis onto the other's with a linear layer and adds; here every modality is
    mapped onto every other one). ``phi`` and ``psi`` are token-wise ``Linear -> GELU -> Dropout``.
    """

    def __init__(self, token_modality: torch.Tensor, d_model: int, dropout: float = 0.1):
        super().__init__()
        n = token_modality.numel()
        self.phi = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Dropout(dropout))
        self.psi = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Dropout(dropout))
        self.mix = nn.Parameter(torch.randn(n, n) / math.sqrt(n))
        cross = token_modality.view(-1, 1) != token_modality.view(1, -1)
        self.register_buffer("cross", cross, persistent=False)

    def forward(self, z, token_modality, present):
        keys = _key_mask(token_modality, present).unsqueeze(-1)
        # Absent keys are replaced by zeros (not multiplied: their values may be anything).
        other = torch.where(keys, self.psi(z), torch.zeros((), dtype=z.dtype))
        mix = self.mix * self.cross.to(z.dtype)
        return self.phi(z) + F.gelu(torch.einsum("ij,bjd->bid", mix, other))


class AttentionExpert(nn.Module):
    """Attention fusion: multi-head self-attention over the joint tokens of the present modalities.

    Every query (also one of an absent modality, whose output is ignored) reads the tokens of the
    present modalities only; no residual, as in the paper (the identity expert keeps the input).
    """

    def __init__(self, d_model: int, n_heads: int = 8, dropout: float = 0.1):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}.")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, z, token_modality, present):
        b, n, d = z.shape
        q, k, v = (t.view(b, n, self.n_heads, -1).transpose(1, 2) for t in self.qkv(z).chunk(3, -1))
        mask = _key_mask(token_modality, present)[:, None, None, :]
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class FusionExperts(nn.Module):
    """The paper's four experts, in order: linear, additive, attention, identity.

    ``forward`` returns their outputs stacked, (b, 4, N, d_model).
    """

    names = ("linear", "additive", "attention", "identity")

    def __init__(self, token_modality, d_model: int, n_heads: int = 8, dropout: float = 0.1):
        super().__init__()
        self.experts = nn.ModuleList(
            [
                LinearExpert(d_model, dropout),
                AdditiveExpert(token_modality, d_model, dropout),
                AttentionExpert(d_model, n_heads, dropout),
            ]
        )

    def forward(self, z, token_modality, present):
        outs = [expert(z, token_modality, present) for expert in self.experts]
        return torch.stack([*outs, z], dim=1)


class MoELayer(nn.Module):
    """A mixture of the four fusion experts with one routing decision per row.

    Router: the mean of each modality's tokens (zeros for an absent modality), concatenated with
    the presence flags, through ``Linear -> LayerNorm -> GELU -> Linear`` to 4 logits. The paper's
    router reads the two mean-pooled modalities; the flags are added so that a zero vector of an
    absent modality is not confused with a present one that pools to zero.

    Routing: ``top_k=None`` (or 4) is the dense soft mixture of all experts (softmax of the
    logits; the published runs); otherwise the ``top_k`` largest logits of the row are kept and
    re-softmaxed, the other experts get weight 0 (``top_k=1`` selects one expert with weight 1,
    so the router then gets no gradient, as in the paper's hard mode). No load-balancing loss.
    Every expert is evaluated for every row (the token sets are small); the weights select.

    Parameters
    ----------
    token_modality : (N,) int tensor
        Modality of each token of the joint sequence.
    n_modalities : int
    d_model : int
    n_heads : int, default=8
        Heads of the attention expert.
    top_k : int or None, default=None
    dropout : float, default=0.1
    """

    n_experts = 4

    def __init__(
        self,
        token_modality: torch.Tensor,
        n_modalities: int,
        d_model: int,
        n_heads: int = 8,
        top_k: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        if top_k is not None and not 1 <= top_k <= self.n_experts:
            raise ValueError(f"top_k must be None or in 1..{self.n_experts}, got {top_k!r}.")
        self.top_k = top_k
        token_modality = torch.as_tensor(token_modality, dtype=torch.long)
        onehot = F.one_hot(token_modality, n_modalities).T.float()  # (M, N)
        self.register_buffer("pool", onehot / onehot.sum(1, keepdim=True), persistent=False)
        self.experts = FusionExperts(token_modality, d_model, n_heads, dropout)
        self.router = nn.Sequential(
            nn.Linear(n_modalities * (d_model + 1), d_model),
            nn.LayerNorm(d_model),
            nn.GELU(),
            nn.Linear(d_model, self.n_experts),
        )

    def routing_weights(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Expert weights (b, 4) of each row (zeros for the experts top-k leaves out)."""
        pooled = torch.einsum("mn,bnd->bmd", self.pool.to(z.dtype), z)
        pooled = torch.where(present.unsqueeze(-1), pooled, torch.zeros((), dtype=z.dtype))
        logits = self.router(torch.cat([pooled.flatten(1), present.to(z.dtype)], dim=1))
        if self.top_k is None or self.top_k == self.n_experts:
            return torch.softmax(logits, dim=1)
        kept, idx = logits.topk(self.top_k, dim=1)
        return torch.zeros_like(logits).scatter(1, idx, torch.softmax(kept, dim=1))

    def forward(self, z, token_modality, present):
        """Mixed tokens (b, N, d_model) and the routing weights (b, 4)."""
        weights = self.routing_weights(z, present)
        outs = self.experts(z, token_modality, present)
        return torch.einsum("be,bend->bnd", weights, outs), weights


class CrossAttention(nn.Module):
    """Single-head cross-attention: each modality's tokens query the other present modalities'.

    The shared form: modality ``m`` has its own single-head attention (Q, K, V and output
    projections, scaled dot product) whose keys are the tokens of *all other* modalities present
    in the row. For two modalities this is the paper's pair (image queries genomics, genomics
    queries image). The output replaces the query tokens (no residual, as in the paper). A row in
    which ``m`` is the only present modality has nothing to attend to: ``m``'s tokens pass
    through unchanged.

    Parameters
    ----------
    token_modality : (N,) int tensor
    n_modalities : int
    d_model : int
    dropout : float, default=0.1
        Dropout on the attention weights.
    """

    def __init__(self, token_modality, n_modalities: int, d_model: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = dropout
        self.n_modalities = n_modalities
        self.register_buffer(
            "token_modality", torch.as_tensor(token_modality, dtype=torch.long), persistent=False
        )
        self.q = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_modalities))
        self.kv = nn.ModuleList(nn.Linear(d_model, 2 * d_model) for _ in range(n_modalities))
        self.out = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_modalities))

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Updated tokens (b, N, d_model)."""
        tm = self.token_modality
        drop = self.dropout if self.training else 0.0
        keys_present = _key_mask(tm, present)  # (b, N)
        parts = []
        for m in range(self.n_modalities):
            own = tm == m
            k, v = self.kv[m](z).chunk(2, -1)
            keys = keys_present & ~own
            alone = ~keys.any(dim=1)
            # A lone modality reads itself so that the softmax is defined; its output is replaced.
            keys = keys | (alone.unsqueeze(1) & own)
            att = F.scaled_dot_product_attention(
                self.q[m](z[:, own]), k, v, attn_mask=keys.unsqueeze(1), dropout_p=drop
            )
            parts.append(torch.where(alone.view(-1, 1, 1), z[:, own], self.out[m](att)))
        return torch.cat(parts, dim=1)


class AttentionPool(nn.Module):
    """Self-attention pooling of one modality's tokens with a learned query.

    ``a = softmax_i(<Linear(z_i), q>)`` over the modality's tokens, pooled ``sum_i a_i z_i``.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)
        self.query = nn.Parameter(torch.randn(d_model) / math.sqrt(d_model))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pooled vector (b, d_model) of tokens (b, n, d_model)."""
        attn = torch.softmax(self.proj(tokens) @ self.query, dim=1)
        return torch.einsum("bn,bnd->bd", attn, tokens)
