"""GMENet on radiomics feature blocks: stems, CGGM generation, DWEFM fusion, Balanced Softmax heads.

After Song et al., "GMENet: Generative Mixture of Experts Network for Multi-Center Glioma
Diagnosis with Incomplete Imaging Sequences". The paper encodes two MRI sequences with ResNet34s;
here every modality is a block of radiomics features and any number of modalities is allowed.

Choices the paper leaves open (or that differ because the inputs are feature tables):

* **Stems.** One residual MLP per modality, ``Linear -> LayerNorm -> GELU`` then ``n_blocks``
  pre-norm residual blocks and a final LayerNorm, to ``d`` dimensions. The final LayerNorm puts
  every modality's feature on the same scale, which both the generator's MSE target and the
  router need.
* **CGGM.** One generator per *target* modality. Each available modality's ``d``-dimensional
  feature is split into ``n_tokens`` tokens of ``d / n_tokens`` values, projected to the attention
  width and given a learned (modality, position) embedding. Attention over one vector per modality
  would be degenerate (a softmax over one key is 1 and the query would receive no gradient), the
  tokens give it something to choose from. The queries are ``n_tokens`` learned vectors: the
  target-modality embedding plus a learned output-position embedding; the attention output of
  query ``i`` becomes token ``i`` of the generated feature, followed by a residual MLP. The gate is
  ``sigmoid(MLP(concat(generated, available)))``, element-wise, where *available* is the mean of
  the row's available (real) features. Keys of the target itself and of absent modalities are
  masked. Real features are used where a modality is present, generated ones only where absent.
* **CGGM loss.** On complete rows one modality per row is masked at random and regenerated from
  the others: ``MSE`` to the real feature, a ``KL`` term between per-dimension Gaussians fitted
  over the batch to the generated and the real features (the paper only says "KL"; this form
  counters the variance shrinkage of MSE regression, which pulls every generated feature to the
  conditional mean), and cycle-consistency (one available modality is regenerated from the
  generated feature plus the rest, and compared to its real feature). Stem features enter the
  CGGM loss *detached*: the reconstruction terms can never push the stems to constant features,
  whatever the training schedule (the collapse guard; the estimator additionally freezes them).
* **DWEFM.** Expert ``m`` (``Linear -> GELU -> LayerNorm -> Linear``) is applied to modality
  ``m``'s own feature and to the mean of the other modalities' features (the cross feature); both
  outputs are concatenated. The router is a two-layer MLP on the concatenated (real or generated)
  features *and the presence mask* (so it can learn to trust generated features less) giving a
  softmax over modalities; each modality's expert output is scaled by its weight, the scaled
  outputs are concatenated and projected (``Linear -> LayerNorm -> GELU``) to the fused feature.
* **Heads.** One linear head per task, trained with Balanced Softmax
  (:func:`balanced_softmax_loss`); predictions come from the raw logits.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from radfuse.nn.losses import balanced_softmax_loss

__all__ = [
    "CGGM",
    "DWEFM",
    "ConcatFusion",
    "CrossAttentionGenerator",
    "GMENet",
    "ResidualMLPStem",
    "gaussian_moment_kl",
]


class ResidualMLPStem(nn.Module):
    """Residual MLP projecting one modality block to a ``d``-dimensional feature.

    Parameters
    ----------
    in_features : int
        Number of columns of the block.
    d : int
        Output dimension.
    n_blocks : int, default=1
        Number of pre-norm residual blocks ``x + Linear(GELU(Linear(LayerNorm(x))))``.
    dropout : float, default=0.1
        Dropout inside the residual blocks and after the input projection.
    """

    def __init__(self, in_features: int, d: int, n_blocks: int = 1, dropout: float = 0.1):
        super().__init__()
        self.inp = nn.Sequential(
            nn.Linear(in_features, d), nn.LayerNorm(d), nn.GELU(), nn.Dropout(dropout)
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(d),
                nn.Linear(d, 2 * d),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(2 * d, d),
            )
            for _ in range(n_blocks)
        )
        self.out = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def _masked_mean(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``feats`` (B, M, d) over the modalities where ``mask`` (B, M) is True."""
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
    d : int
        Feature dimension; must be divisible by ``n_tokens``.
    n_tokens : int
        Tokens each feature is split into (keys per source modality and queries).
    d_attn : int
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
        d: int,
        n_tokens: int = 8,
        d_attn: int = 32,
        n_heads: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        if d % n_tokens:
            raise ValueError(f"d={d} must be divisible by n_tokens={n_tokens}.")
        if d_attn % n_heads:
            raise ValueError(f"d_attn={d_attn} must be divisible by n_heads={n_heads}.")
        self.n_modalities, self.target, self.d = n_modalities, target, d
        self.n_tokens, self.d_attn, self.n_heads = n_tokens, d_attn, n_heads
        d_tok = d // n_tokens
        self.token_proj = nn.Linear(d_tok, d_attn)
        # Learned position of every (source modality, token) key, and the target query embedding.
        self.key_pos = nn.Parameter(torch.randn(n_modalities, n_tokens, d_attn) * 0.02)
        self.query = nn.Parameter(torch.randn(d_attn) * 0.02)
        self.query_pos = nn.Parameter(torch.randn(n_tokens, d_attn) * 0.02)
        self.kv_norm = nn.LayerNorm(d_attn)
        self.q_proj = nn.Linear(d_attn, d_attn)
        self.k_proj = nn.Linear(d_attn, d_attn)
        self.v_proj = nn.Linear(d_attn, d_attn)
        self.attn_drop = nn.Dropout(dropout)
        self.out_tok = nn.Linear(d_attn, d_tok)
        self.refine = nn.Sequential(
            nn.LayerNorm(d),
            nn.Linear(d, 2 * d),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * d, d),
        )
        self.gate = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, d))

    def forward(self, feats: torch.Tensor, available: torch.Tensor, return_attention: bool = False):
        """Generate the target feature.

        Parameters
        ----------
        feats : Tensor (B, M, d)
            Features of every modality (values of unavailable ones are ignored).
        available : Tensor (B, M) of bool
            Which modalities may be attended to; the target is excluded regardless.
        return_attention : bool
            Also return the attention weights ``(B, heads, n_tokens, M * n_tokens)``.

        Returns
        -------
        generated : Tensor (B, d)
            Gated generated feature; zero for rows with no available source.
        gate : Tensor (B, d)
            The gate values in (0, 1).
        """
        B, M, d = feats.shape
        T, H, A = self.n_tokens, self.n_heads, self.d_attn
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
        d: int,
        n_tokens: int = 8,
        d_attn: int = 32,
        n_heads: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.n_modalities = n_modalities
        self.generators = nn.ModuleList(
            CrossAttentionGenerator(n_modalities, t, d, n_tokens, d_attn, n_heads, dropout)
            for t in range(n_modalities if n_modalities > 1 else 0)
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        """Complete ``feats``: real where ``present``, generated where absent.

        Returns
        -------
        completed : Tensor (B, M, d)
        generated : Tensor (B, M, d)
            Generated features for every slot (zeros for slots nobody needed).
        gates : Tensor (B, M, d)
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
        feats : Tensor (B, M, d)
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


class _Expert(nn.Sequential):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__(
            nn.Linear(d, hidden),
            nn.GELU(),
            nn.LayerNorm(hidden),
            nn.Dropout(dropout),
            nn.Linear(hidden, d),
        )


class DWEFM(nn.Module):
    """Dynamically weighted experts fusion.

    Parameters
    ----------
    n_modalities, d : int
        Number of modalities and their feature dimension.
    hidden : int
        Expert hidden width.
    d_out : int
        Fused feature dimension.
    dropout : float
    """

    def __init__(self, n_modalities: int, d: int, hidden: int, d_out: int, dropout: float = 0.1):
        super().__init__()
        self.n_modalities = n_modalities
        self.experts = nn.ModuleList(_Expert(d, hidden, dropout) for _ in range(n_modalities))
        self.router = nn.Sequential(
            nn.Linear(n_modalities * (d + 1), hidden), nn.GELU(), nn.Linear(hidden, n_modalities)
        )
        self.proj = nn.Sequential(
            nn.Linear(n_modalities * 2 * d, d_out),
            nn.LayerNorm(d_out),
            nn.GELU(),
            nn.Dropout(dropout),
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        """Fuse ``feats`` (B, M, d); return ``(fused (B, d_out), router weights (B, M))``."""
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

    def __init__(self, n_modalities: int, d: int, d_out: int, dropout: float = 0.1):
        super().__init__()
        self.n_modalities = n_modalities
        self.proj = nn.Sequential(
            nn.Linear(n_modalities * d, d_out), nn.LayerNorm(d_out), nn.GELU(), nn.Dropout(dropout)
        )

    def forward(self, feats: torch.Tensor, present: torch.Tensor):
        B, M, _ = feats.shape
        weights = torch.full((B, M), 1.0 / M, dtype=feats.dtype, device=feats.device)
        return self.proj(feats.reshape(B, -1)), weights


class GMENet(nn.Module):
    """Generative mixture-of-experts network on modality feature blocks.

    Parameters
    ----------
    block_sizes : sequence of int
        Number of features of each modality block.
    n_classes : sequence of int
        Number of classes of each task (one head per task).
    d : int, default=64
        Stem feature dimension.
    n_stem_blocks : int, default=1
        Residual blocks per stem.
    n_tokens, d_attn, n_heads : int
        CGGM token split, attention width and heads.
    fusion : {"dwefm", "concat"}
        Fusion module; ``"concat"`` is the "w/o DWEFM" ablation.
    generation : bool, default=True
        Generate absent features with the CGGM; False zero-fills them ("w/o CGGM").
    dropout : float, default=0.1
    log_priors : sequence of Tensor, optional
        Log class prior of every task, for :meth:`loss`; stored as buffers.
    """

    def __init__(
        self,
        block_sizes: Sequence[int],
        n_classes: Sequence[int],
        d: int = 64,
        n_stem_blocks: int = 1,
        n_tokens: int = 8,
        d_attn: int = 32,
        n_heads: int = 4,
        fusion: str = "dwefm",
        generation: bool = True,
        dropout: float = 0.1,
        log_priors: Sequence[torch.Tensor] | None = None,
    ):
        super().__init__()
        M = len(block_sizes)
        self.block_sizes = [int(s) for s in block_sizes]
        self.n_classes = [int(c) for c in n_classes]
        self.generation = bool(generation)
        self.stems = nn.ModuleList(
            ResidualMLPStem(s, d, n_stem_blocks, dropout) for s in self.block_sizes
        )
        self.cggm = CGGM(M, d, n_tokens, d_attn, n_heads, dropout)
        if fusion == "dwefm":
            self.fusion = DWEFM(M, d, d, d, dropout)
        elif fusion == "concat":
            self.fusion = ConcatFusion(M, d, d, dropout)
        else:
            raise ValueError(f"fusion must be 'dwefm' or 'concat', got {fusion!r}.")
        self.heads = nn.ModuleList(nn.Linear(d, c) for c in self.n_classes)
        for t, c in enumerate(self.n_classes):
            lp = torch.full((c,), -math.log(c)) if log_priors is None else log_priors[t]
            self.register_buffer(f"log_prior_{t}", torch.as_tensor(lp, dtype=torch.float32))

    # -- parameter groups for staged training --------------------------------------------------
    def stage_parameters(self, stage: int) -> list[nn.Parameter]:
        """Trainable parameters of training stage 1, 2 or 3 (see the estimator)."""
        fh = [*self.fusion.parameters(), *self.heads.parameters()]
        if stage == 1:
            return [*self.stems.parameters(), *fh]
        if stage == 2:
            return list(self.cggm.parameters())
        if stage == 3:
            return fh
        raise ValueError(f"stage must be 1, 2 or 3, got {stage!r}.")

    # -- forward pieces -----------------------------------------------------------------------
    def encode(self, blocks: Sequence[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """Stem features (B, M, d); absent modalities are zero (their inputs are never used)."""
        feats = torch.stack([stem(x) for stem, x in zip(self.stems, blocks)], dim=1)
        return feats * present.to(feats.dtype).unsqueeze(-1)

    def complete(self, feats: torch.Tensor, present: torch.Tensor):
        """Fill absent slots: generated (CGGM) or zeros (``generation=False``)."""
        if self.generation:
            return self.cggm(feats, present)
        zeros = torch.zeros_like(feats)
        return feats, zeros, zeros

    def split_blocks(self, x) -> list[torch.Tensor]:
        """The per-modality blocks of ``x``: a block-ordered ``(B, sum(block_sizes))`` tensor."""
        if isinstance(x, torch.Tensor):
            if x.shape[-1] != sum(self.block_sizes):
                raise ValueError(
                    f"x has {x.shape[-1]} columns, expected {sum(self.block_sizes)} "
                    f"(blocks of {self.block_sizes})."
                )
            return list(torch.split(x, self.block_sizes, dim=-1))
        return list(x)

    def forward(self, x, present: torch.Tensor) -> dict:
        """Run the network.

        Parameters
        ----------
        x : Tensor (B, sum(block_sizes)) or sequence of Tensor (B, n_features_m)
            Features in block order (or one tensor per modality); rows where a modality is
            absent may hold anything finite (zeros, typically): they are never used.
        present : Tensor (B, M) of bool

        Returns
        -------
        dict
            ``logits`` (list of (B, n_classes_t)), ``features`` (stem features), ``completed``,
            ``generated``, ``gates`` and ``router`` (B, M).
        """
        feats = self.encode(self.split_blocks(x), present)
        completed, generated, gates = self.complete(feats, present)
        fused, router = self.fusion(completed, present)
        logits = [head(fused) for head in self.heads]
        return {
            "logits": logits,
            "features": feats,
            "completed": completed,
            "generated": generated,
            "gates": gates,
            "router": router,
        }

    def log_prior(self, task: int) -> torch.Tensor:
        return getattr(self, f"log_prior_{task}")

    def classification_loss(
        self,
        logits: Sequence[torch.Tensor],
        targets: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sum over tasks of the Balanced Softmax loss; labels < 0 are missing and masked.

        Parameters
        ----------
        logits : list of Tensor (B, n_classes_t)
        targets : Tensor (B,) or (B, t) of int
        weight : Tensor (B,) or (B, t), optional
            Row weights per task, 0 where the label is masked, normalised to mean 1 over the
            labelled training rows (the estimator base's convention): each task's term is then
            ``mean(ce * weight)`` over the batch. Without weights each task's term is the mean
            over its labelled rows.
        """
        if targets.ndim == 1:
            targets = targets.unsqueeze(1)
        if weight is not None and weight.ndim == 1:
            weight = weight.unsqueeze(1)
        total = logits[0].new_zeros((), dtype=torch.float32)
        for t, lg in enumerate(logits):
            if weight is None:
                total = total + balanced_softmax_loss(lg, targets[:, t], self.log_prior(t))
            else:
                ce = balanced_softmax_loss(lg, targets[:, t], self.log_prior(t), reduction="none")
                total = total + (ce * weight[:, t].float()).mean()
        return total
