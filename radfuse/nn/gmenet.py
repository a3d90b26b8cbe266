"""GMENet on radiomics feature blocks: stems, CGGM generation, DWEFM fusion, Balanced Softmax heads.

After Song et al., "GMENet: Generative Mixture of Experts Network for Multi-Center Glioma
Diagnosis with Incomplete Imaging Sequences". The paper encodes two MRI sequences with ResNet34s;
here every modality is a block of radiomics features and any number of modalities is allowed.

Choices the paper leaves open (or that differ because the inputs are feature tables):

* **Stems.** One residual MLP per modality, ``Linear -> LayerNorm -> GELU`` then ``n_blocks``
  pre-norm residual blocks and a final LayerNorm, to ``d_model`` dimensions. The final LayerNorm
  puts every modality's feature on the same scale, which both the generator's MSE target and the
  router need.
* **CGGM.** One generator per *target* modality. Each available modality's feature (``d_model``
  values) is split into ``n_tokens`` tokens of ``d_model / n_tokens`` values, projected to the
  attention width (``attn_dim``) and given a learned (modality, position) embedding. Attention
  over one vector per modality would be degenerate (a softmax over one key is 1 and the query
  would receive no gradient), the tokens give it something to choose from. The queries are
  ``n_tokens`` learned vectors: the target-modality embedding plus a learned output-position
  embedding; the attention output of query ``i`` becomes token ``i`` of the generated feature,
  followed by a residual MLP. The gate is ``sigmoid(MLP(concat(generated, available)))``,
  element-wise, where *available* is the mean of the row's available (real) features. Keys of
  the target itself and of absent modalities are masked. Real features are used where a modality
  is present, generated ones only where absent.
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

The stems and the CGGM are in :mod:`radfuse.nn.gmenet_generation`, the fusion modules in
:mod:`radfuse.nn.gmenet_fusion`; this module assembles them. These modules import neither
scikit-learn nor pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from radfuse.nn.gmenet_fusion import DWEFM, ConcatFusion
from radfuse.nn.gmenet_generation import (
    CGGM,
    CrossAttentionGenerator,
    ResidualMLPStem,
    gaussian_moment_kl,
)
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


class GMENet(nn.Module):
    """Generative mixture-of-experts network on modality feature blocks.

    Parameters
    ----------
    block_sizes : sequence of int
        Number of features of each modality block.
    n_classes : sequence of int
        Number of classes of each task (one head per task).
    d_model : int, default=64
        Stem feature dimension.
    n_stem_blocks : int, default=1
        Residual blocks per stem.
    n_tokens, attn_dim, n_heads : int
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
        d_model: int = 64,
        n_stem_blocks: int = 1,
        n_tokens: int = 8,
        attn_dim: int = 32,
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
            ResidualMLPStem(s, d_model, n_stem_blocks, dropout) for s in self.block_sizes
        )
        self.cggm = CGGM(M, d_model, n_tokens, attn_dim, n_heads, dropout)
        if fusion == "dwefm":
            self.fusion = DWEFM(M, d_model, d_model, d_model, dropout)
        elif fusion == "concat":
            self.fusion = ConcatFusion(M, d_model, d_model, dropout)
        else:
            raise ValueError(f"fusion must be 'dwefm' or 'concat', got {fusion!r}.")
        self.heads = nn.ModuleList(nn.Linear(d_model, c) for c in self.n_classes)
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
        """Stem features (B, M, d_model); absent modalities are zero (their inputs are unused)."""
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
        sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sum over tasks of the Balanced Softmax loss; labels < 0 are missing and masked.

        Parameters
        ----------
        logits : list of Tensor (B, n_classes_t)
        targets : Tensor (B,) or (B, t) of int
        sample_weight : Tensor (B,) or (B, t), optional
            Row weights per task, 0 where the label is masked, normalised to mean 1 over the
            labelled training rows (the estimator base's convention): each task's term is then
            ``mean(ce * sample_weight)`` over the batch. Without weights each task's term is the
            mean over its labelled rows.
        """
        if targets.ndim == 1:
            targets = targets.unsqueeze(1)
        if sample_weight is not None and sample_weight.ndim == 1:
            sample_weight = sample_weight.unsqueeze(1)
        total = logits[0].new_zeros((), dtype=torch.float32)
        for t, lg in enumerate(logits):
            if sample_weight is None:
                total = total + balanced_softmax_loss(lg, targets[:, t], self.log_prior(t))
            else:
                ce = balanced_softmax_loss(lg, targets[:, t], self.log_prior(t), reduction="none")
                total = total + (ce * sample_weight[:, t].float()).mean()
        return total
