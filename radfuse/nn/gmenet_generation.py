"""GMENet's stems and generation: residual MLP stems and the CGGM (pure PyTorch).

See :mod:`radfuse.nn.gmenet` for the architecture and the choices the paper leaves open. This
module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CGGM", "CrossAttentionGenerator", "ResidualMLPStem", "gaussian_moment_kl"]


class ResidualMLPStem(nn.Module):
    """Residual MLP projecting one modality block to a ``d_model``-dimensional feature.

    Parameters
    ----------
    in_features : int
        Number of columns of the block.
    d_model : int
        Output dimension.
    n_blocks : int, default=1
        Number of pre-norm residual blocks ``x + Linear(GELU(Linear(LayerNorm(x))))``.
    dropout : float, default=0.1
        Dropout inside the residual blocks and after the input projection.
    """

    def __init__(self, in_features: int, d_model: int, n_blocks: int = 1, dropout: float = 0.1):
        super().__init__()
        self.inp = nn.Sequential(
            nn.Linear(in_features, d_model), nn.LayerNorm(d_model), nn.GELU(), nn.Dropout(dropout)
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(d_model),
                nn.Linear(d_model, 2 * d_model),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(2 * d_model, d_model),
            )
            for _ in range(n_blocks)
        )
        self.out = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def _masked_mean(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``feats`` (B, M, d_model) over the modalities where ``mask`` (B, M) is True."""
    w = mask.to(feats.dtype).unsqueeze(-1)
    return (feats * w).sum(1) / w.sum(1).clamp_min(1.0)


class CrossAttentionGenerator(nn.Module):
    """Generate one target modality's feature from the available ones (one CGGM branch).

    Parameters
    ----------
    n_modalities : int
        Number of modalities (the target is one of them; its keys are always masked).
    target : int
        Index of the modality this generator produces.
    d_model : int
        Feature dimension; must be divisible by ``n_tokens``.
    n_tokens : int
        Tokens each feature is split into (keys per source modality and queries).
    attn_dim : int
        Attention width; must be divisible by ``n_heads``.
    n_heads : int
        Number of attention heads.
    dropout : float
        Dropout on the attention weights and in the output MLP.
    """

    def __init__(
        self,
        n_modalities: int,
        target: int,
        d_model: int,
        n_tokens: int = 8,
        attn_dim: int = 32,
        n_heads: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        if d_model % n_tokens:
            raise ValueError(f"d_model={d_model} must be divisible by n_tokens={n_tokens}.")
        if attn_dim % n_heads:
            raise ValueError(f"attn_dim={attn_dim} must be divisible by n_heads={n_heads}.")
        self.n_modalities, self.target, self.d_model = n_modalities, target, d_model
        self.n_tokens, self.attn_dim, self.n_heads = n_tokens, attn_dim, n_heads
        d_tok = d_model // n_tokens
        self.token_proj = nn.Linear(d_tok, attn_dim)
        # Learned position of every (source modality, token) key, and the target query embedding.
        self.key_pos = nn.Parameter(torch.randn(n_modalities, n_tokens, attn_dim) * 0.02)
        self.query = nn.Parameter(torch.randn(attn_dim) * 0.02)
        self.query_pos = nn.Parameter(torch.randn(n_tokens, attn_dim) * 0.02)
        self.kv_norm = nn.LayerNorm(attn_dim)
        self.q_proj = nn.Linear(attn_dim, attn_dim)
        self.k_proj = nn.Linear(attn_dim, attn_dim)
        self.v_proj = nn.Linear(attn_dim, attn_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.out_tok = nn.Linear(attn_dim, d_tok)
        self.refine = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, 2 * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * d_model, d_model),
        )
        self.gate = nn.Sequential(
            nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model)
        )

    def forward(self, feats: torch.Tensor, available: torch.Tensor, return_attention: bool = False):
        """Generate the target feature.

        Parameters
        ----------
        feats : Tensor (B, M, d_model)
            Features of every modality (values of unavailable ones are ignored).
        available : Tensor (B, M) of bool
            Which modalities may be attended to; the target is excluded regardless.
        return_attention : bool
            Also return the attention weights ``(B, heads, n_tokens, M * n_tokens)``.

        Returns
        -------
        generated : Tensor (B, d_model)
            Gated generated feature; zero for rows with no available source.
        gate : Tensor (B, d_model)
            The gate values in (0, 1).
        """
        B, M, d = feats.shape
        T, H, A = self.n_tokens, self.n_heads, self.attn_dim
        avail = available.clone()
        avail[:, self.target] = False
        has_src = avail.any(1)
        # Source tokens: (B, M*T, A).
        tok = self.token_proj(feats.reshape(B, M, T, d // T)) + self.key_pos
        tok = self.kv_norm(tok).reshape(B, M * T, A)
        q = (self.query + self.query_pos).unsqueeze(0).expand(B, T, A)
        q = self.q_proj(q).reshape(B, T, H, A // H).transpose(1, 2)
        k = self.k_proj(tok).reshape(B, M * T, H, A // H).transpose(1, 2)
        v = self.v_proj(tok).reshape(B, M * T, H, A // H).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(A // H)  # (B, H, T, M*T)
        key_ok = avail.repeat_interleave(T, dim=1)  # (B, M*T)
        # Rows without any source get uniform attention (finite, no NaN) and are zeroed below.
        key_ok = key_ok | ~has_src.unsqueeze(1)
        scores = scores.masked_fill(~key_ok[:, None, None, :], torch.finfo(scores.dtype).min)
        attn = scores.softmax(-1)
        out = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(B, T, A)
        gen = self.out_tok(out).reshape(B, d)
        gen = gen + self.refine(gen)
        ctx = _masked_mean(feats, avail)
        gate = torch.sigmoid(self.gate(torch.cat([gen, ctx], dim=-1)))
        gen = gen * gate * has_src.to(gen.dtype).unsqueeze(-1)
        if return_attention:
            return gen, gate, attn
        return gen, gate


class CGGM(nn.Module):
    """Cross-attention gated generation module: one :class:`CrossAttentionGenerator` per modality.

    With a single modality there is nothing to generate from and the module holds no generator.
    """

    def __init__(
        self,
        n_modalities: int,
        d_model: int,
        n_tokens: int = 8,
        attn_dim: int = 32,
        n_heads: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.n_modalities = n_modalities
        self.generators = nn.ModuleList(
            CrossAttentionGenerator(n_modalities, t, d_model, n_tokens, attn_dim, n_heads, dropout)
            for t in range(n_modalities if n_modalities > 1 else 0)
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        """Complete ``feats``: real where ``present``, generated where absent.

        Returns
        -------
        completed : Tensor (B, M, d_model)
        generated : Tensor (B, M, d_model)
            Generated features for every slot (zeros for slots nobody needed).
        gates : Tensor (B, M, d_model)
            Gate values (0 for slots not generated).
        """
        generated = torch.zeros_like(feats)
        gates = torch.zeros_like(feats)
        for t, gen in enumerate(self.generators):
            rows = ~present[:, t]
            if not bool(rows.any()):
                continue
            g, gate = gen(feats[rows], present[rows])
            generated[rows, t] = g.to(generated.dtype)
            gates[rows, t] = gate.to(gates.dtype)
        completed = torch.where(present.unsqueeze(-1), feats, generated)
        return completed, generated, gates

    def pretrain_loss(
        self,
        feats: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        weights: Sequence[float] = (1.0, 0.1, 0.5),
        sample_weight: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction loss on complete rows with one modality masked at random per row.

        Parameters
        ----------
        feats : Tensor (B, M, d_model)
            Stem features of complete rows. They are detached here, so this loss never trains
            the stems (the collapse guard).
        generator : torch.Generator, optional
            Source of the random masking (the caller's forked RNG).
        weights : (w_mse, w_kl, w_cycle)
            Weights of the three terms.
        sample_weight : Tensor (B,), optional
            Per-row weights of the MSE and cycle terms.

        Returns
        -------
        loss : Tensor
            Weighted sum; zero (with grad) when there is nothing to learn.
        parts : dict
            The unweighted terms as detached tensors, for the history (no device sync here).
        """
        feats = feats.detach()
        B, M, _ = feats.shape
        zero = sum(p.sum() * 0.0 for p in self.parameters()) if M > 1 else feats.sum() * 0.0
        if M < 2 or B == 0:
            z = feats.new_zeros(())
            return zero, {"mse": z, "kl": z, "cycle": z}
        sw = torch.ones(B, device=feats.device) if sample_weight is None else sample_weight
        sw = sw.to(feats.dtype)
        dev = generator.device if generator is not None else feats.device
        target = torch.randint(0, M, (B,), generator=generator, device=dev).to(feats.device)
        # The cycle source: a random modality other than the target.
        shift = torch.randint(1, M, (B,), generator=generator, device=dev).to(feats.device)
        source = (target + shift) % M
        mse = feats.new_zeros(())
        kl = feats.new_zeros(())
        cyc = feats.new_zeros(())
        n_kl = 0
        ones = torch.ones(B, M, dtype=torch.bool, device=feats.device)
        for t in range(M):
            rows = target == t
            if not bool(rows.any()):
                continue
            f = feats[rows]
            w = sw[rows]
            avail = ones[rows].clone()
            avail[:, t] = False
            g, _ = self.generators[t](f, avail)
            mse = mse + (w * ((g - f[:, t]) ** 2).mean(-1)).sum()
            if int(rows.sum()) >= 2:
                kl = kl + gaussian_moment_kl(f[:, t], g)
                n_kl += 1
            # Cycle: put the generated target back, hide one real source, regenerate that source.
            src = source[rows]
            filled = f.clone()
            filled[:, t] = g
            for s in range(M):
                srows = src == s
                if s == t or not bool(srows.any()):
                    continue
                a2 = torch.ones_like(avail[srows])
                a2[:, s] = False
                r, _ = self.generators[s](filled[srows], a2)
                cyc = cyc + (w[srows] * ((r - f[srows, s]) ** 2).mean(-1)).sum()
        denom = sw.sum().clamp_min(1e-12)
        mse, cyc = mse / denom, cyc / denom
        kl = kl / max(n_kl, 1)
        w_mse, w_kl, w_cyc = weights
        loss = w_mse * mse + w_kl * kl + w_cyc * cyc + zero
        return loss, {"mse": mse.detach(), "kl": kl.detach(), "cycle": cyc.detach()}


def gaussian_moment_kl(real: torch.Tensor, generated: torch.Tensor, eps: float = 1e-3):
    """KL(N(mu_g, var_g) || N(mu_r, var_r)) per feature dimension over the batch, averaged.

    Matching the batch moments keeps generated features as spread out as the real ones. This
    direction grows only logarithmically as the generated variance shrinks (the state of a fresh
    generator), where the other direction grows like ``1 / var_g`` and swamps the MSE early on.
    """
    real = real.float()
    generated = generated.float()
    mu_r, var_r = real.mean(0), real.var(0, unbiased=False) + eps
    mu_g, var_g = generated.mean(0), generated.var(0, unbiased=False) + eps
    kl = 0.5 * (torch.log(var_r / var_g) + (var_g + (mu_r - mu_g) ** 2) / var_r - 1.0)
    return kl.mean()
