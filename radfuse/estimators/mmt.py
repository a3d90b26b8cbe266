"""MMTClassifier: the missing-modality transformer as a scikit-learn classifier."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import torch

from radfuse.estimators.base import (
    FitContext,
    Rows,
    TorchClassifierBase,
    _check_modality_names,
)
from radfuse.nn.mmt import INTERACTIONS, MMT

__all__ = ["MMTClassifier"]


class MMTClassifier(TorchClassifierBase):
    """Missing-modality transformer (MMT) on radiomics feature blocks.

    After Ding et al. (2026): each available modality becomes a token, each absent one a learned
    missing token that the network reconstructs, and a classification token reads from the missing
    tokens; see :mod:`radfuse.nn.mmt` for the architecture and every choice the paper leaves open.

    Two modes:

    ``input_modalities=("T1WI", "FLAIR")`` (MMT-2M; one name: MMT-1M)
        The network reads only these blocks. Every other block of the training X is a
        reconstruction target (rows where it is missing simply get no reconstruction loss); at
        predict time those blocks are ignored and may be NaN. Every training and prediction row
        must have every input modality.
    ``input_modalities=None`` (any subset; beyond the paper)
        One model for every missing-modality pattern. Training randomly hides each available
        block of a row with probability ``modality_dropout`` (always leaving at least one) and
        reconstructs the hidden blocks; at predict time each row's absent blocks are hidden the
        same way and their missing tokens stand in for them. In this mode every modality has a
        missing token in every row (for a present modality it reads that modality's token), so
        the classification token always reads the same ``M`` slots; see :mod:`radfuse.nn.mmt`.
        Rows must have at least one modality.

    Parameters
    ----------
    input_modalities : None, str or sequence of str
        See above. Names of blocks of X (see ``modalities``).
    interaction : {"channel", "sdpa"}, default="channel"
        Channel-wise interaction (element-wise query-key products, softmax over tokens per
        channel) or standard multi-head scaled dot-product attention.
    d_model : int, default=32
        Token width.
    n_layers : int, default=2
        Modal-interaction layers (the paper uses two).
    n_heads : int, default=4
        Heads of ``interaction="sdpa"``.
    attn_dim, ffn_dim : int or None, default=None
        Q/K/V width and feed-forward hidden width (None: ``2 * d_model``).
    head_dims : tuple of int, default=(64, 32)
        Hidden widths of the three-layer MLP head.
    dropout : float, default=0.3
    alpha : float or dict, default=1.0
        Weight of each reconstructed modality's MAE (a dict ``{modality: weight}`` for one
        weight each; modalities not in it get 0).
    beta : float, default=1.0
        Weight of the cross-entropy.
    modality_dropout : float, default=0.3
        Any-subset mode only: probability of hiding each available block of a training row.
    modalities : None, list of str or dict, default=None
        Blocks of X (:meth:`radfuse.modality.ModalityLayout.resolve`); a plain array is one block.
    max_epochs : int, default=200
        The paper's number of epochs.
    batch_size : int, default=32
        The paper's batch size.
    lr : float, default=1e-3
        AdamW learning rate. The paper's 1e-6 to 1e-5 suit its own data; on ~200-300 rows of
        standardised features 1e-3 with 200 epochs trains reliably (see
        ``benchmarks/breast_views_models.py``).
    weight_decay : float, default=1e-2
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=20
    tol : float, default=1e-4
    class_weight : None, "balanced" or dict, default=None
    device : "auto", "cpu", "cuda" or "cuda:N", default="auto"
    mixed_precision : "auto", "bf16", "fp16" or False, default=False
        Autocast on CUDA (see the base). Off by default: these networks are small and
        kernel-launch bound, and bf16 autocast made a 279 x 96 fit about 20% *slower* on an H100
        (``benchmarks/train_speed.py``); it pays off for wide tables or large batches.
    random_state : None, int or RandomState, default=None
    verbose : int, default=0
        See :class:`radfuse.estimators.base.TorchEstimatorBase` for the base parameters.

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_, feature_names_in_ : as in scikit-learn
    layout_ : ModalityLayout
    input_modalities_ : list of str
        Modalities the network reads (all of them in any-subset mode).
    target_modalities_ : list of str
        Modalities it reconstructs.
    module_ : radfuse.nn.mmt.MMT
    history_ : list of dict
        Per epoch: ``train_loss``, ``train_ce``, ``train_mae`` (alpha-weighted), and with early
        stopping ``valid_loss``, ``valid_ce``, ``valid_mae``, ``valid_score`` (accuracy).
    device_ : torch.device
    n_iter_ : int

    Notes
    -----
    Defaults where the paper is silent were measured with 5-fold CV on a 279 x (3 x 32)
    ``make_multimodal_classification`` table (MMT-2M): ``d_model=32``, ``dropout=0.3``,
    ``head_dims=(64, 32)``, ``alpha=1.0`` and ``lr=1e-3`` gave 0.753 ± 0.061 accuracy, against
    0.685-0.742 for ``d_model=64`` / ``dropout=0.1``, ``lr`` 3e-4 or 3e-3, ``alpha=0.5`` or
    ``weight_decay=0.1`` (differences within the fold noise; the smaller network is also
    faster). On a few hundred rows the network fits the training set completely; use
    ``early_stopping=True`` or fewer epochs if validation curves say so.

    Standardise the features (e.g. ``StandardScaler`` in a ``Pipeline``): the reconstruction is
    linear from a token and the MAE is on the features' scale.
    """

    # MMT-2M / MMT-1M: fitted on every block, reading only the subset's (the rest are targets)
    _benchmark_defaults = {"subset_mode": "input_modalities"}

    def __init__(
        self,
        input_modalities=None,
        *,
        interaction="channel",
        d_model=32,
        n_layers=2,
        n_heads=4,
        attn_dim=None,
        ffn_dim=None,
        head_dims=(64, 32),
        dropout=0.3,
        alpha=1.0,
        beta=1.0,
        modality_dropout=0.3,
        modalities=None,
        max_epochs=200,
        batch_size=32,
        lr=1e-3,
        weight_decay=1e-2,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=1e-4,
        class_weight=None,
        device="auto",
        mixed_precision=False,
        random_state=None,
        verbose=0,
    ):
        self.input_modalities = input_modalities
        self.interaction = interaction
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.attn_dim = attn_dim
        self.ffn_dim = ffn_dim
        self.head_dims = head_dims
        self.dropout = dropout
        self.alpha = alpha
        self.beta = beta
        self.modality_dropout = modality_dropout
        self.modalities = modalities
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose

    # -- validation of parameters and rows -----------------------------------------------------
    def _check_params(self):
        if self.interaction not in INTERACTIONS:
            raise ValueError(
                f"interaction must be one of {INTERACTIONS}, got {self.interaction!r}."
            )
        for name in ("d_model", "n_layers", "n_heads"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if not 0 <= self.modality_dropout < 1:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout!r}.")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}.")

    def _prepare_rows(self, rows: Rows, *, fit: bool) -> Rows:
        layout = self.layout_
        name = type(self).__name__
        if fit:
            self._check_params()
            if self.input_modalities is None:
                self.input_modalities_ = list(layout.names)
                self.target_modalities_ = list(layout.names)
            else:
                inputs = _check_modality_names(self.input_modalities, layout, "input_modalities")
                targets = [m for m in layout.names if m not in inputs]
                if not targets:
                    raise ValueError(
                        f"{name}: input_modalities={inputs!r} lists every modality of X, so no "
                        "modality is left for the missing tokens to reconstruct. Use "
                        "input_modalities=None (the any-subset model, which also handles "
                        "complete rows), or name fewer input modalities."
                    )
                self.input_modalities_ = [m for m in layout.names if m in inputs]
                self.target_modalities_ = targets
                for m in targets:
                    if not rows.present[:, layout.names.index(m)].any():
                        raise ValueError(
                            f"{name}: the target modality {m!r} is missing (all NaN) in every "
                            "training row, so its missing token has nothing to reconstruct. "
                            f"Train on rows that have {m!r}, or drop its columns (then this is "
                            f"MMT-{len(self.input_modalities_)}M on the remaining blocks)."
                        )
            self._alpha_ = self._resolve_alpha()
        if self.input_modalities is None:
            none = ~rows.present.any(axis=1)
            if none.any():
                who = [rows.label(i) for i in np.flatnonzero(none)[:5]]
                raise ValueError(
                    f"{name}: patients {who} have no modality at all (every block NaN); there is "
                    "nothing to classify. Remove these rows."
                )
        else:
            ids = [layout.names.index(m) for m in self.input_modalities_]
            lacking = ~rows.present[:, ids]
            if lacking.any():
                r, c = np.nonzero(lacking)
                parts = [
                    f"patient {rows.label(i)!r} lacks {self.input_modalities_[j]!r}"
                    for i, j in list(zip(r, c))[:5]
                ]
                more = f" ({len(r) - 5} more)" if len(r) > 5 else ""
                when = "training" if fit else "prediction"
                raise ValueError(
                    f"{name}(input_modalities={self.input_modalities_!r}) needs every input "
                    f"modality in every {when} row: {'; '.join(parts)}{more}. Drop these rows, "
                    "or use input_modalities=None (the any-subset model, one model for rows with "
                    "any subset of modalities)."
                )
        return rows

    def _resolve_alpha(self):
        targets = self.target_modalities_
        if isinstance(self.alpha, Mapping):
            unknown = [m for m in self.alpha if m not in targets]
            if unknown:
                raise ValueError(
                    f"alpha names {unknown}, which are not reconstructed; the reconstructed "
                    f"modalities are {targets}."
                )
            alpha = [float(self.alpha.get(m, 0.0)) for m in targets]
        elif isinstance(self.alpha, numbers.Real):
            alpha = [float(self.alpha)] * len(targets)
        else:
            raise ValueError(
                f"alpha must be a number or a dict {{modality: weight}}, got {self.alpha!r}."
            )
        if any(a < 0 for a in alpha):
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}.")
        return alpha

    # -- the model ----------------------------------------------------------------------------
    def _build_module(self):
        names = list(self.layout_.names)
        inputs = (
            None
            if self.input_modalities is None
            else [names.index(m) for m in self.input_modalities_]
        )
        return MMT(
            self.layout_.sizes,
            self.n_classes_,
            inputs,
            d_model=self.d_model,
            n_layers=self.n_layers,
            interaction=self.interaction,
            n_heads=self.n_heads,
            attn_dim=self.attn_dim,
            ffn_dim=self.ffn_dim,
            head_dims=tuple(self.head_dims),
            dropout=self.dropout,
        )

    def _availability(self, present, ctx: FitContext | None):
        """Blocks the network reads in this batch (any-subset: random modality dropout)."""
        if ctx is None or not ctx.training or self.modality_dropout == 0:
            return present
        r = torch.rand(present.shape, generator=ctx.generator, device=present.device)
        avail = present & (r >= self.modality_dropout)
        # Rows left with nothing keep one of their present blocks, chosen at random.
        keep = torch.where(present, r, -1.0).argmax(dim=1)
        rescue = torch.nn.functional.one_hot(keep, present.shape[1]).bool()
        return avail | (rescue & ~avail.any(dim=1, keepdim=True))

    def _loss(self, module, batch, ctx):
        present = batch["present"]
        if module.fixed:
            avail = None
            recon_mask = present[:, module.missing_ids]
        else:
            avail = self._availability(present, ctx)
            recon_mask = present & ~avail
        logits, recon = module(batch["x"], avail)
        return module.loss(
            logits,
            recon,
            batch["x"],
            recon_mask,
            batch["y"],
            batch["weight"],
            self._alpha_,
            self.beta,
        )

    def _predict_output(self, module, batch):
        logits, _ = module(batch["x"], None if module.fixed else batch["present"])
        return torch.softmax(logits.float(), dim=-1)

    def reconstruct(self, X):
        """Reconstructions of the target modalities from the inputs each row has.

        Parameters
        ----------
        X : DataFrame or array-like

        Returns
        -------
        dict
            ``{modality: ndarray (n_samples, n_features of the modality)}`` for every modality in
            ``target_modalities_`` (any-subset mode: every modality; for a present block this is
            the network's estimate of it, not the block itself). Values are on the scale of the
            features the model was trained on (standardised, in a Pipeline).
        """
        rows = self._predict_rows(X)
        data = self._tensors(rows, self.device_)
        module = self.module_
        with torch.inference_mode():
            _, recon = module(data["x"], None if module.fixed else data["present"])
        return {m: r.float().cpu().numpy() for m, r in zip(self.target_modalities_, recon)}
