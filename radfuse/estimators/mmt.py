"""MMTClassifier: the missing-modality transformer as a scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from sklearn.utils._param_validation import StrOptions

from radfuse.estimators._params import (
    INPUT_MODALITIES_CONSTRAINT,
    document_base_parameters,
    fraction,
    lacking_inputs,
    non_negative,
    positive_int,
    weight_per_target,
)
from radfuse.estimators.base import FitContext, Rows, TorchClassifierBase
from radfuse.nn.mmt import INTERACTIONS, MMT

__all__ = ["MMTClassifier"]


@document_base_parameters
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
    input_modalities : None, str or sequence of str, default=None
        The blocks the network reads (see above); names of blocks of X (see ``modalities``).
    interaction : {"channel", "sdpa"}, default="channel"
        Channel-wise interaction (element-wise query-key products, softmax over tokens per
        channel) or standard multi-head scaled dot-product attention.
    d_model : int, default=32
        Token width.
    n_layers : int, default=2
        Modal-interaction layers (the paper uses two).
    n_heads : int, default=4
        Heads of ``interaction="sdpa"``.
    attn_dim : int or None, default=None
        Q/K/V width (None: ``2 * d_model``).
    ffn_dim : int or None, default=None
        Feed-forward hidden width (None: ``2 * d_model``).
    head_dims : tuple of int, default=(64, 32)
        Hidden widths of the three-layer MLP head.
    dropout : float in [0, 1), default=0.3
        Dropout of the interaction layers and the head.
    recon_weight : float or dict, default=1.0
        Weight of each reconstructed modality's MAE (alpha in the MMT paper); a dict
        ``{modality: weight}`` gives one weight each (modalities not in it get 0).
    clf_weight : float, default=1.0
        Weight of the cross-entropy (beta in the MMT paper).
    modality_dropout : float in [0, 1), default=0.3
        Any-subset mode only: probability of hiding each available block of a training row.
    {base_parameters}

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_, feature_names_in_ : as in scikit-learn
    layout_ : ModalityLayout
    seen_modalities_ : ndarray of bool
        Blocks some training row had; a prediction row with any other block is refused.
    input_modalities_ : list of str
        Modalities the network reads (all of them in any-subset mode).
    target_modalities_ : list of str
        Modalities it reconstructs.
    module_ : radfuse.nn.mmt.MMT
    history_ : list of dict
        Per epoch: ``train_loss``, ``train_ce``, ``train_mae`` (``recon_weight``-weighted), and
        with early stopping ``valid_loss``, ``valid_ce``, ``valid_mae``, ``valid_score`` (accuracy).
    device_ : torch.device
    n_iter_ : int

    Notes
    -----
    Defaults where the paper is silent were measured with 5-fold CV on a 279 x (3 x 32)
    ``make_multimodal_classification`` table (MMT-2M): ``d_model=32``, ``dropout=0.3``,
    ``head_dims=(64, 32)``, ``recon_weight=1.0`` and ``lr=1e-3`` gave 0.753 ± 0.061 accuracy,
    against 0.685-0.742 for ``d_model=64`` / ``dropout=0.1``, ``lr`` 3e-4 or 3e-3,
    ``recon_weight=0.5`` or ``weight_decay=0.1`` (differences within the fold noise; the
    smaller network is also faster). On a few hundred rows the network fits the training set
    completely; use ``early_stopping=True`` or fewer epochs if validation curves say so.

    ``max_epochs=200`` and ``batch_size=32`` are the paper's. The paper's lr of 1e-6 to 1e-5
    suits its own data; on ~200-300 rows of standardised features 1e-3 with 200 epochs trains
    reliably (see ``benchmarks/breast_views_models.py``).

    Standardise the features (e.g. ``StandardScaler`` in a ``Pipeline``): the reconstruction is
    linear from a token and the MAE is on the features' scale.
    """

    # MMT-2M / MMT-1M: fitted on every block, reading only the subset's (the rest are targets)
    _benchmark_defaults: ClassVar[dict] = {"subset_mode": "input_modalities"}

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
        recon_weight=1.0,
        clf_weight=1.0,
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
        progress=False,
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
        self.recon_weight = recon_weight
        self.clf_weight = clf_weight
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
        self.progress = progress

    _parameter_constraints: ClassVar[dict] = {
        **TorchClassifierBase._parameter_constraints,
        "input_modalities": INPUT_MODALITIES_CONSTRAINT,
        "interaction": [StrOptions(set(INTERACTIONS))],
        "d_model": [positive_int()],
        "n_layers": [positive_int()],
        "n_heads": [positive_int()],
        "attn_dim": [positive_int(), None],
        "ffn_dim": [positive_int(), None],
        "head_dims": [list, tuple],
        "dropout": [fraction()],
        "recon_weight": [non_negative(), Mapping],
        "clf_weight": [non_negative()],
        "modality_dropout": [fraction()],
    }

    # -- validation of the rows ----------------------------------------------------------------
    def _prepare_rows(self, rows: Rows, *, fit: bool) -> Rows:
        layout = self.layout_
        name = type(self).__name__
        if fit:
            if self.input_modalities is None:
                self.target_modalities_ = list(layout.names)
            else:
                inputs = self.input_modalities_
                targets = [m for m in layout.names if m not in inputs]
                if not targets:
                    raise ValueError(
                        f"{name}: input_modalities={inputs!r} lists every modality of X, so no "
                        "modality is left for the missing tokens to reconstruct. Use "
                        "input_modalities=None (the any-subset model, which also handles "
                        "complete rows), or name fewer input modalities."
                    )
                self.target_modalities_ = targets
                for m in targets:
                    if not rows.present[:, layout.names.index(m)].any():
                        raise ValueError(
                            f"{name}: the target modality {m!r} is missing (all NaN) in every "
                            "training row, so its missing token has nothing to reconstruct. "
                            f"Train on rows that have {m!r}, or drop its columns (then this is "
                            f"MMT-{len(inputs)}M on the remaining blocks)."
                        )
            self._recon_weight_ = weight_per_target(self.recon_weight, self.target_modalities_)
        if self.input_modalities is not None:
            # rows with no modality at all are refused by the base's table check
            lacking = lacking_inputs(rows.present, rows, self.input_modalities_, layout.names)
            if lacking:
                when = "training" if fit else "prediction"
                raise ValueError(
                    f"{name}(input_modalities={self.input_modalities_!r}) needs every input "
                    f"modality in every {when} row: {lacking}. Drop these rows, or use "
                    "input_modalities=None (the any-subset model, one model for rows with any "
                    "subset of modalities)."
                )
        return rows

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
            self._recon_weight_,
            self.clf_weight,
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
