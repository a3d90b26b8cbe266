"""One shared base for radfuse's PyTorch-backed estimators.

Every torch estimator (``MMTClassifier``, ``MFNVAEClassifier``, ``GMENetClassifier``, ...) derives
from :class:`TorchClassifierBase` (or :class:`TorchEstimatorBase` for non-classifiers) and adds
only its network and its loss. The base owns everything else, once: input validation
(``validate_data`` with NaN allowed, because a NaN block is a missing modality), the modality
layout (:meth:`radfuse.modality.ModalityLayout.resolve`), target encoding, sample and class
weights, the device, seeding, the training loop (AdamW, mini-batches by index over float32
tensors kept on the device, optional early stopping, several training stages), mixed precision
on CUDA, progress bars, the per-epoch ``history_`` and pickling.

Contract for a model
--------------------
A subclass

1. defines ``__init__`` listing *every* parameter (its own and the base ones below, which
   :meth:`TorchEstimatorBase._check_base_params` validates) and storing them unchanged;
2. overrides :meth:`~TorchEstimatorBase._build_module` (``self -> torch.nn.Module``; it may use
   the fitted attributes ``layout_``, ``n_classes_`` / ``classes_``, ``n_features_in_`` and
   whatever its ``_prepare_rows`` set) and :meth:`~TorchEstimatorBase._loss`
   (``(module, batch, ctx) -> (loss, parts)``);
3. overrides :meth:`~TorchClassifierBase._predict_output` if the module's forward does not
   return logits (the default applies a softmax to ``module(batch["x"], batch["present"])``);
4. optionally overrides the extension points: :meth:`~TorchEstimatorBase._prepare_rows`
   (validate or transform rows before training and prediction), :meth:`~TorchEstimatorBase._stages`
   (staged training), ``_multi_task = True`` (targets of shape ``(n, t)``, see
   :class:`TorchClassifierBase`).

Base parameters (each subclass's ``__init__`` must accept them, with these names)
    ``modalities, max_epochs, batch_size, lr, weight_decay, early_stopping, validation_fraction,
    n_iter_no_change, tol, class_weight, device, mixed_precision, random_state, verbose``.

The batch
    A ``dict`` of tensors on the training device, rows in the same order in every entry:

    ``"x"``       float32 ``(b, n_features)``, columns in *block order* (block 0's columns, then
                  block 1's, ... as in ``layout_``; see :func:`block_slices`), NaN replaced by 0.
    ``"present"`` bool ``(b, n_modalities)``: the block holds data in this row (not all NaN).
    ``"y"``       int64 ``(b,)`` encoded labels (``classes_[y]`` is the label); multi-task:
                  ``(b, t)`` with ``-1`` where a task's label is masked. Absent at predict time.
    ``"weight"``  float32, same shape as ``"y"``: sample weight times class weight, normalised to
                  mean 1 over the training rows (per task; 0 where masked). Absent at predict time.
                  Use :func:`radfuse.nn.losses.weighted_mean` so the loss is an unbiased
                  estimate of the weighted mean over the training set.

The context ``ctx`` (:class:`FitContext`)
    ``ctx.stage`` (the running :class:`Stage`), ``ctx.epoch``, ``ctx.training`` (False when the
    loss is evaluated on the validation rows: switch off random augmentations),
    ``ctx.generator`` (a ``torch.Generator`` on the device: use it, e.g.
    ``torch.rand(..., generator=ctx.generator, device=ctx.device)``, for any random draw of your
    own, so fits are reproducible and the global RNG is untouched), ``ctx.device``.

``_loss`` returns ``(loss, parts)``: ``loss`` a scalar tensor to minimise, ``parts`` a ``dict`` of
scalar tensors (``{"ce": ..., "mae": ...}``) that ``history_`` records as ``train_<part>`` and
``valid_<part>``; keep them tensors (no ``.item()``): the base syncs once per epoch, not per batch.

Reproducibility
    ``fit`` derives all seeds from ``random_state``; training runs inside
    ``torch.random.fork_rng`` (dropout masks use the seeded, forked global torch RNG) and shuffling
    uses a local generator, so the global numpy and torch RNGs are left exactly as they were
    (``random_state=None`` draws fresh OS entropy instead of reading the global numpy RNG). Same
    ``random_state`` on CPU gives identical ``predict_proba``. CUDA kernels may be
    nondeterministic.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from radfuse.modality import ModalityLayout

__all__ = [
    "FitContext",
    "Rows",
    "Stage",
    "TorchClassifierBase",
    "TorchEstimatorBase",
    "block_slices",
    "resolve_device",
]

#: Rows per forward pass at predict time (memory bound only; results do not depend on it).
PREDICT_CHUNK = 8192


def block_slices(layout: ModalityLayout) -> list[slice]:
    """Slices of each block in the block-ordered ``batch["x"]`` (block 0 first)."""
    out, start = [], 0
    for size in layout.sizes:
        out.append(slice(start, start + size))
        start += size
    return out


def resolve_device(device) -> torch.device:
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` picks CUDA when available, else CPU. An explicit CUDA (or MPS) device that is not
    available raises: radfuse never falls back to the CPU silently when a GPU was asked for.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was asked for, but CUDA is not available (torch "
                f"{torch.__version__}, torch.cuda.is_available() is False). Install a CUDA build "
                "of PyTorch on a machine with an NVIDIA GPU, or use device='auto' (CUDA when "
                "present, else CPU) or device='cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r} was asked for, but MPS is not available.")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: radfuse supports 'auto', 'cpu', 'cuda[:N]', 'mps'.")
    return dev


@dataclass
class Rows:
    """The rows of a fit or predict call, as numpy arrays, before they become tensors.

    Attributes
    ----------
    X : ndarray (n, n_features), float64
        Validated features in the *original* column order; NaN blocks mark missing modalities.
    present : ndarray (n, n_modalities), bool
        Block presence (``layout_.presence_mask``).
    y : ndarray or None
        Encoded targets (``(n,)`` or ``(n, t)`` int64, ``-1`` masked); None at predict time.
    sample_weight : ndarray (n,) or None
        Raw sample weights (ones when none were given); None at predict time.
    labels : list or None
        Patient identifiers for messages (the DataFrame index), None for a plain array.
    """

    X: np.ndarray
    present: np.ndarray
    y: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    labels: list | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    def label(self, i: int):
        """Patient id of row ``i`` for error messages."""
        return self.labels[i] if self.labels is not None else f"row {i}"

    def take(self, index) -> Rows:
        """The rows selected by a boolean mask or integer index."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Rows(
            self.X[index],
            self.present[index],
            None if self.y is None else self.y[index],
            None if self.sample_weight is None else self.sample_weight[index],
            None if self.labels is None else [self.labels[i] for i in index],
        )


@dataclass
class Stage:
    """One stage of training; a model returns a list of them from ``_stages``.

    Stages run in order with a fresh AdamW each, on the same module.

    Attributes
    ----------
    name : str
        Recorded in ``history_`` and visible to the loss as ``ctx.stage.name``.
    max_epochs : int or None
        Epochs of this stage; None uses the estimator's ``max_epochs``.
    parameters : callable or None
        ``module -> iterable of parameters`` that train in this stage; all others are frozen
        (``requires_grad=False``, not in the optimiser) for the stage. None trains every parameter.
    rows : callable or None
        ``Rows -> bool mask`` of the rows this stage trains (and validates) on, e.g. complete rows
        only. None uses every row. A stage left with no training row raises.
    lr : float or None
        Learning rate of this stage; None uses the estimator's ``lr``.
    early_stopping : bool
        Whether the estimator's early stopping applies to this stage (if it is switched on).
    eval_modules : callable or None
        ``module -> iterable of sub-modules`` kept in eval mode (no dropout, fixed
        normalisation statistics) while this stage trains, typically the frozen parts whose
        outputs are the stage's targets or fixed inputs.
    """

    name: str = "train"
    max_epochs: int | None = None
    parameters: Callable[[torch.nn.Module], Iterable[torch.nn.Parameter]] | None = None
    rows: Callable[[Rows], np.ndarray] | None = None
    lr: float | None = None
    early_stopping: bool = True
    eval_modules: Callable[[torch.nn.Module], Iterable[torch.nn.Module]] | None = None


@dataclass
class FitContext:
    """What the loss may need besides the batch (see the module docstring)."""

    stage: Stage
    epoch: int
    training: bool
    generator: torch.Generator
    device: torch.device
    extra: dict = field(default_factory=dict)


def _row_labels(X):
    # A DataFrame's index (patient ids) for messages; numpy arrays have an unrelated .index.
    if hasattr(X, "iloc") and hasattr(X, "index"):
        return list(X.index)
    return None


class TorchEstimatorBase(BaseEstimator):
    """Base of every radfuse torch estimator: validation, device, seeding, training loop.

    Not used directly; see the module docstring for the contract of a subclass and the meaning of
    the base parameters:

    modalities : None, list of str or dict
        Blocks of X (:meth:`radfuse.modality.ModalityLayout.resolve`).
    max_epochs : int
        Epochs (per stage unless a stage sets its own).
    batch_size : int
        Rows per mini-batch (the last batch of an epoch may be smaller).
    lr, weight_decay : float
        AdamW learning rate and decoupled weight decay.
    early_stopping : bool
        Hold out a stratified ``validation_fraction`` of the rows, stop a stage when the
        validation loss has not improved by ``tol`` for ``n_iter_no_change`` epochs, and restore
        the weights of the best epoch.
    class_weight : None, "balanced" or dict
        Weights of the classes in the loss (multi-task: a list with one entry per task).
    device : "auto", "cpu", "cuda", "cuda:N" or torch.device
        Where to train and predict; ``"auto"`` = CUDA when available, else CPU.
    mixed_precision : "auto", "bf16", "fp16" or False
        Autocast on CUDA: ``"auto"`` uses bf16 where the GPU supports it (else fp16 with a
        gradient scaler) and nothing on the CPU; ``"bf16"`` / ``"fp16"`` require a CUDA device.
    random_state : None, int or RandomState
        Seeds of the weight init, shuffling, dropout and validation split.
    verbose : int
        0: silent; 1: a tqdm progress bar per stage showing the losses.
    """

    #: Subclasses that accept ``y`` of shape ``(n, t)`` set this to True.
    _multi_task = False

    # -- hooks a model overrides ----------------------------------------------------------------
    def _build_module(self) -> torch.nn.Module:
        raise NotImplementedError

    def _loss(self, module, batch: dict, ctx: FitContext):
        raise NotImplementedError

    def _predict_output(self, module, batch: dict):
        raise NotImplementedError

    def _stages(self) -> list[Stage]:
        """Training stages, run in order (default: one stage on every row and parameter)."""
        return [Stage("train")]

    def _prepare_rows(self, rows: Rows, *, fit: bool) -> Rows:
        """Validate (or transform) the rows before training (``fit=True``) or prediction.

        Called after ``layout_``, ``classes_`` (at fit) and the presence mask are known. May
        raise with a message naming the patient and modality, set fitted attributes derived from
        the parameters and the layout (at fit), or return transformed rows (at predict it must
        keep every row, in order).
        """
        return rows

    # -- parameter checks -----------------------------------------------------------------------
    def _check_base_params(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")

        positive_int("max_epochs")
        positive_int("batch_size")
        positive_int("n_iter_no_change")
        for name in ("lr", "weight_decay", "tol"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}.")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}.")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}."
            )
        if self.mixed_precision not in ("auto", "bf16", "fp16", False, None):
            raise ValueError(
                f"mixed_precision must be 'auto', 'bf16', 'fp16' or False, got "
                f"{self.mixed_precision!r}."
            )

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Feature table; a whole NaN block is a missing modality.
        y : array-like of shape (n_samples,) (or (n_samples, n_tasks) for multi-task models)
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the rows in the loss.

        Returns
        -------
        self
        """
        self._check_base_params()
        labels = _row_labels(X)
        X = validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
        self.layout_ = ModalityLayout.resolve(
            self.modalities,
            feature_names=getattr(self, "feature_names_in_", None),
            n_features=self.n_features_in_,
        )
        present = self.layout_.check_blocks(X, labels, context=type(self).__name__)
        y_enc = self._encode_targets(y, n_samples=X.shape[0])
        sw = self._check_sample_weight(sample_weight, X.shape[0])
        rows = Rows(X, present, y_enc, sw, labels)
        rows = self._prepare_rows(rows, fit=True)
        weights = self._row_weights(rows)
        self._fit_rows(rows, weights)
        return self

    def _check_sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return np.ones(n)
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim == 0:
            sw = np.full(n, float(sw))
        if sw.shape != (n,):
            raise ValueError(
                f"sample_weight.shape == {sw.shape}, expected {(n,)} (one weight per row of X)."
            )
        if not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise ValueError("sample_weight must be finite and non-negative.")
        if sw.sum() <= 0:
            raise ValueError("sample_weight sums to zero: no row would contribute to the loss.")
        return sw

    def _encode_targets(self, y, *, n_samples):
        raise NotImplementedError

    def _row_weights(self, rows: Rows) -> np.ndarray:
        raise NotImplementedError

    def _stratify(self, y):
        """Labels to stratify the validation split on (None: random split)."""
        return None

    def _valid_score(self, y, output) -> float:
        """Score recorded in ``history_`` for the validation rows (higher is better)."""
        return float("nan")

    def _mixed_precision_dtype(self, device: torch.device):
        mp = self.mixed_precision
        if mp in (False, None):
            return None
        if device.type != "cuda":
            if mp == "auto":
                return None
            raise ValueError(
                f"mixed_precision={mp!r} runs on CUDA only, but the device is {device}; use "
                "mixed_precision='auto' (CUDA only) or False."
            )
        if mp == "fp16":
            return torch.float16
        if mp == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16

    def _seeds(self):
        if self.random_state is None:
            # Fresh entropy rather than the global numpy RNG, so fit never moves it.
            rng = np.random.RandomState(np.random.SeedSequence().generate_state(1)[0])
        else:
            rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(0, 2**31 - 1, size=3)]

    def _tensors(self, rows: Rows, device, weights=None) -> dict:
        order = np.concatenate(self.layout_.indices)
        x = np.nan_to_num(rows.X[:, order], nan=0.0).astype(np.float32)
        data = {
            "x": torch.as_tensor(x, device=device),
            "present": torch.as_tensor(rows.present, dtype=torch.bool, device=device),
        }
        if rows.y is not None:
            data["y"] = torch.as_tensor(rows.y, dtype=torch.int64, device=device)
        if weights is not None:
            data["weight"] = torch.as_tensor(weights, dtype=torch.float32, device=device)
        return data

    def _split(self, rows: Rows, seed: int):
        n = len(rows)
        idx = np.arange(n)
        if not self.early_stopping:
            return idx, idx[:0]
        strat = self._stratify(rows.y)
        try:
            tr, va = train_test_split(
                idx, test_size=self.validation_fraction, stratify=strat, random_state=seed
            )
        except ValueError as exc:
            if strat is None:
                raise ValueError(
                    f"early_stopping: cannot hold out validation_fraction="
                    f"{self.validation_fraction} of {n} rows ({exc})."
                ) from exc
            warnings.warn(
                f"{type(self).__name__}: a stratified validation split is impossible ({exc}); "
                "using a random split.",
                UserWarning,
                stacklevel=3,
            )
            tr, va = train_test_split(idx, test_size=self.validation_fraction, random_state=seed)
        return np.sort(tr), np.sort(va)

    def _fit_rows(self, rows: Rows, weights: np.ndarray) -> None:
        device = resolve_device(self.device)
        amp_dtype = self._mixed_precision_dtype(device)
        init_seed, shuffle_seed, split_seed = self._seeds()
        train_idx, valid_idx = self._split(rows, split_seed)
        stages = self._stages()
        stage_rows = [
            np.ones(len(rows), bool) if s.rows is None else np.asarray(s.rows(rows), dtype=bool)
            for s in stages
        ]

        cuda_devices = [device.index] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices, device_type="cuda"):
            torch.random.default_generator.manual_seed(init_seed)
            if cuda_devices:
                torch.cuda.default_generators[device.index].manual_seed(init_seed)
            module = self._build_module().to(device)
            generator = torch.Generator(device=device)
            generator.manual_seed(shuffle_seed)
            data = self._tensors(rows, device, weights)
            self.history_ = []
            scaler = None
            if amp_dtype == torch.float16:
                scaler = torch.amp.GradScaler("cuda")
            for stage, mask in zip(stages, stage_rows):
                tr = train_idx[mask[train_idx]]
                va = valid_idx[mask[valid_idx]]
                if len(tr) == 0:
                    raise ValueError(
                        f"{type(self).__name__}: training stage {stage.name!r} selects no row of "
                        "the training data."
                    )
                self._run_stage(
                    module, stage, data, rows, tr, va, device, generator, amp_dtype, scaler
                )
        module.eval()
        self.module_ = module
        self.device_ = device
        self.n_iter_ = len(self.history_)

    def _run_stage(self, module, stage, data, rows, tr, va, device, generator, amp_dtype, scaler):
        params = list(module.parameters() if stage.parameters is None else stage.parameters(module))
        if not params:
            raise ValueError(f"training stage {stage.name!r} has no parameter to train.")
        trainable = {id(p) for p in params}
        flags = [(p, p.requires_grad) for p in module.parameters()]
        for p in module.parameters():
            p.requires_grad_(id(p) in trainable)
        lr = self.lr if stage.lr is None else stage.lr
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=self.weight_decay)
        n_epochs = self.max_epochs if stage.max_epochs is None else stage.max_epochs
        tr_t = torch.as_tensor(tr, device=device)
        n_tr = len(tr)
        bs = int(self.batch_size)
        use_valid = bool(self.early_stopping and stage.early_stopping and len(va))
        valid_batch = {k: v[torch.as_tensor(va, device=device)] for k, v in data.items()}
        autocast = (
            torch.autocast(device_type=device.type, dtype=amp_dtype)
            if amp_dtype is not None
            else contextlib.nullcontext()
        )
        ctx = FitContext(stage, 0, True, generator, device)
        starts = range(0, n_tr, bs)
        # Rows per batch, to average the batch losses into the epoch's mean (one tensor per stage).
        batch_rows = torch.tensor(
            [min(bs, n_tr - s) for s in starts], dtype=torch.float32, device=device
        )[:, None]
        best, best_state, no_improve = np.inf, None, 0
        bar = _progress(self.verbose, n_epochs, f"{type(self).__name__} {stage.name}")
        try:
            for epoch in range(1, n_epochs + 1):
                t0 = time.perf_counter()
                module.train()
                for sub in stage.eval_modules(module) if stage.eval_modules else ():
                    sub.eval()
                ctx.epoch, ctx.training = epoch, True
                perm = tr_t[torch.randperm(n_tr, generator=generator, device=device)]
                records, names = [], None
                for start in starts:
                    idx = perm[start : start + bs]
                    batch = {k: v[idx] for k, v in data.items()}
                    with autocast:
                        loss, parts = self._loss(module, batch, ctx)
                    opt.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(opt)
                        scaler.update()
                    else:
                        loss.backward()
                        opt.step()
                    names = names or list(parts)
                    records.append(
                        torch.stack(
                            [loss.detach().float()]
                            + [
                                torch.as_tensor(parts[k], device=device).detach().float()
                                for k in names
                            ]
                        )
                    )
                # The epoch's only host-device sync.
                means = ((torch.stack(records) * batch_rows).sum(0) / n_tr).tolist()
                entry = {"stage": stage.name, "epoch": epoch, "train_loss": means[0]}
                entry.update({f"train_{k}": v for k, v in zip(names, means[1:])})
                if use_valid:
                    module.eval()
                    ctx.training = False
                    with torch.no_grad(), autocast:
                        vloss, vparts = self._loss(module, valid_batch, ctx)
                        out = self._predict_output(module, valid_batch)
                    entry["valid_loss"] = float(vloss)
                    entry.update({f"valid_{k}": float(v) for k, v in vparts.items()})
                    entry["valid_score"] = self._valid_score(rows.y[va], _to_numpy(out))
                entry["seconds"] = time.perf_counter() - t0
                self.history_.append(entry)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k.endswith("loss")})
                if not np.isfinite(entry["train_loss"]):
                    raise FloatingPointError(
                        f"{type(self).__name__}: the training loss became {entry['train_loss']} "
                        f"in stage {stage.name!r}, epoch {epoch}; lower lr (now {lr}) or "
                        "standardise the features (e.g. StandardScaler in a Pipeline)."
                    )
                if use_valid:
                    if entry["valid_loss"] < best - self.tol:
                        best, no_improve = entry["valid_loss"], 0
                        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                    else:
                        no_improve += 1
                        if no_improve >= self.n_iter_no_change:
                            break
        finally:
            if bar is not None:
                bar.close()
            for p, flag in flags:
                p.requires_grad_(flag)
        if best_state is not None:
            module.load_state_dict(best_state)

    # -- prediction -----------------------------------------------------------------------------
    def _predict_rows(self, X):
        """Validated rows of X for prediction (after ``_prepare_rows``)."""
        check_is_fitted(self, "module_")
        labels = _row_labels(X)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        present = self.layout_.check_blocks(X, labels, context=type(self).__name__)
        return self._prepare_rows(Rows(X, present, labels=labels), fit=False)

    def _forward(self, X):
        """``_predict_output`` over X in chunks, as numpy (an array or a list of arrays)."""
        rows = self._predict_rows(X)
        module, device = self.module_, self.device_
        amp_dtype = self._mixed_precision_dtype(device)
        module.eval()
        outs = []
        data = self._tensors(rows, device)
        with torch.inference_mode():
            for start in range(0, max(len(rows), 1), PREDICT_CHUNK):
                batch = {k: v[start : start + PREDICT_CHUNK] for k, v in data.items()}
                if amp_dtype is not None:
                    with torch.autocast(device_type=device.type, dtype=amp_dtype):
                        outs.append(self._predict_output(module, batch))
                else:
                    outs.append(self._predict_output(module, batch))
        if isinstance(outs[0], (tuple, list)):
            return [np.concatenate([_to_numpy(o[j]) for o in outs]) for j in range(len(outs[0]))]
        return np.concatenate([_to_numpy(o) for o in outs])

    # -- persistence ----------------------------------------------------------------------------
    def __getstate__(self):
        # A copy: object.__getstate__ may return the live __dict__.
        state = dict(super().__getstate__())
        module = state.get("module_")
        if module is not None and any(
            t.device.type != "cpu" for t in [*module.parameters(), *module.buffers()]
        ):
            # Store the weights on CPU so that a model trained on a GPU loads anywhere.
            state["module_"] = copy.deepcopy(module).to("cpu")
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "device_" in state:
            dev = torch.device(state["device_"])
            if dev.type == "cuda" and not (
                torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
            ):
                dev = torch.device("cpu")
            self.device_ = dev
            if getattr(self, "module_", None) is not None:
                self.module_.to(dev)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class TorchClassifierBase(ClassifierMixin, TorchEstimatorBase):
    """Base of radfuse's torch classifiers: ``classes_``, ``predict_proba``, ``predict``.

    Single task (default): ``y`` of shape ``(n,)`` with any label type; ``classes_`` an array,
    ``predict_proba`` ``(n, n_classes)``.

    Multi-task (a subclass sets ``_multi_task = True``): ``y`` of shape ``(n, t)``, ``t >= 2``;
    each task's labels are encoded on their own and a masked label (NaN, None, pandas NA or ``-1``)
    becomes ``-1`` in ``batch["y"]`` (so in multi-task mode ``-1`` cannot be a real label).
    ``classes_`` is then a list of ``t`` arrays, ``n_classes_`` a list of ints, ``predict_proba`` a
    list of ``t`` arrays ``(n, n_classes_[j])``, ``predict`` an array ``(n, t)`` and ``score`` the
    mean over tasks of the accuracy on labelled rows. ``class_weight`` may then be a list with one
    entry per task. ``_predict_output`` must return a tuple of ``t`` probability tensors.
    """

    def _encode_targets(self, y, *, n_samples):
        y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] > 1 and self._multi_task:
            return self._encode_multi_task(y_arr, n_samples)
        y_arr = column_or_1d(y_arr, warn=True)
        if y_arr.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} rows but y has {y_arr.shape[0]}; they must match.")
        if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
            raise ValueError(
                "Input y contains NaN or infinity; every training row needs a class label."
            )
        check_classification_targets(y_arr)
        classes, y_enc = np.unique(y_arr, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {classes[0]!r}."
            )
        self.classes_ = classes
        self.n_classes_ = len(classes)
        self.n_tasks_ = 1
        return y_enc.astype(np.int64)

    def _encode_multi_task(self, y_arr, n_samples):
        import pandas as pd

        if y_arr.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} rows but y has {y_arr.shape[0]}; they must match.")
        classes, enc = [], np.full(y_arr.shape, -1, dtype=np.int64)
        for j in range(y_arr.shape[1]):
            col = y_arr[:, j]
            masked = np.asarray(pd.isna(col), dtype=bool)
            with np.errstate(invalid="ignore"):
                masked |= np.array([_is_minus_one(v) for v in col], dtype=bool)
            labelled = col[~masked]
            if labelled.dtype == object:
                labelled = np.asarray(labelled.tolist())
            check_classification_targets(labelled)
            cls, inv = np.unique(labelled, return_inverse=True)
            if len(cls) < 2:
                raise ValueError(
                    f"{type(self).__name__}: task {j} needs labelled samples of at least 2 "
                    f"classes, but has {len(cls)} ({list(cls)})."
                )
            classes.append(cls)
            enc[~masked, j] = inv
        self.classes_ = classes
        self.n_classes_ = [len(c) for c in classes]
        self.n_tasks_ = y_arr.shape[1]
        return enc

    def _row_weights(self, rows: Rows) -> np.ndarray:
        sw = rows.sample_weight
        if rows.y.ndim == 1:
            cw = self._class_weights(self.class_weight, self.classes_, rows.y, sw)
            w = sw * cw[rows.y]
            if np.count_nonzero(np.bincount(rows.y[w > 0], minlength=self.n_classes_)) < 2:
                raise ValueError(
                    f"{type(self).__name__}: after sample_weight and class_weight only one class "
                    "has positive weight; it needs at least 2 classes."
                )
            # Mean 1 over the rows that take part (zero-weight rows are dropped before training).
            return w / w[w > 0].mean()
        cws = self.class_weight
        if cws is None or isinstance(cws, str):
            cws = [cws] * self.n_tasks_
        if len(cws) != self.n_tasks_:
            raise ValueError(
                f"class_weight has {len(cws)} entries but y has {self.n_tasks_} tasks; give one "
                "per task."
            )
        w = np.zeros(rows.y.shape)
        for j in range(self.n_tasks_):
            lab = rows.y[:, j] >= 0
            cw = self._class_weights(cws[j], self.classes_[j], rows.y[lab, j], sw[lab])
            w[lab, j] = sw[lab] * cw[rows.y[lab, j]]
            if w[:, j].sum() <= 0:
                raise ValueError(f"task {j} has no labelled row with positive weight.")
            w[:, j] /= w[w[:, j] > 0, j].mean()
        return w

    @staticmethod
    def _class_weights(class_weight, classes, y_enc, sw):
        if class_weight is None:
            return np.ones(len(classes))
        if isinstance(class_weight, str) and class_weight == "balanced":
            # Balanced on the weighted class counts, as scikit-learn does with sample weights.
            counts = np.bincount(y_enc, weights=sw, minlength=len(classes))
            with np.errstate(divide="ignore"):
                cw = np.where(counts > 0, counts.sum() / (len(classes) * counts), 0.0)
            return cw
        if isinstance(class_weight, dict):
            return compute_class_weight(class_weight, classes=classes, y=classes[y_enc])
        raise ValueError(
            f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got "
            f"{class_weight!r}."
        )

    def _fit_rows(self, rows, weights):
        # Zero-weight rows contribute nothing to the loss; leaving them out keeps mini-batches
        # (and so the fit) the same as if they were not passed. Multi-task rows are all kept: a
        # row without any label can still serve a model's unsupervised loss terms.
        keep = weights > 0 if weights.ndim == 1 else np.ones(len(weights), dtype=bool)
        if not keep.all():
            rows, weights = rows.take(keep), weights[keep]
        super()._fit_rows(rows, weights)

    def _stratify(self, y):
        return y if y.ndim == 1 else None

    def _valid_score(self, y, output) -> float:
        if y.ndim == 1:
            return float(np.mean(np.argmax(output, axis=1) == y))
        accs = []
        for j, proba in enumerate(output):
            lab = y[:, j] >= 0
            if lab.any():
                accs.append(np.mean(np.argmax(proba[lab], axis=1) == y[lab, j]))
        return float(np.mean(accs)) if accs else float("nan")

    def _predict_output(self, module, batch):
        logits = module(batch["x"], batch["present"])
        return torch.softmax(logits.float(), dim=-1)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or a list of one such array per task
        """
        out = self._forward(X)
        if isinstance(out, list):
            return [_normalise(p) for p in out]
        return _normalise(out)

    def predict(self, X):
        """Most probable class of each row (``(n, t)`` for multi-task models)."""
        proba = self.predict_proba(X)
        if isinstance(proba, list):
            return np.column_stack([c[np.argmax(p, axis=1)] for c, p in zip(self.classes_, proba)])
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            if isinstance(proba, list):
                return [np.log(p) for p in proba]
            return np.log(proba)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (multi-task: mean over tasks of the accuracy on labelled rows)."""
        if not (self._multi_task and isinstance(self.classes_, list)):
            return super().score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        import pandas as pd

        accs = []
        for j in range(pred.shape[1]):
            col = y_arr[:, j]
            lab = ~np.asarray(pd.isna(col), dtype=bool) & ~np.array(
                [_is_minus_one(v) for v in col], dtype=bool
            )
            if lab.any():
                sw = None if sample_weight is None else np.asarray(sample_weight)[lab]
                accs.append(np.average(pred[lab, j] == col[lab], weights=sw))
        return float(np.mean(accs))


def _is_minus_one(v) -> bool:
    try:
        return not isinstance(v, (str, bytes)) and float(v) == -1.0
    except (TypeError, ValueError):
        return False


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return p / p.sum(axis=1, keepdims=True)


def _to_numpy(t):
    if isinstance(t, (tuple, list)):
        return [_to_numpy(v) for v in t]
    return t.detach().float().cpu().numpy()


def _progress(verbose, total, desc):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def _check_modality_names(names: Sequence[str] | str, layout: ModalityLayout, param: str):
    """Validate a list of modality names given as a parameter against the fitted layout."""
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in layout.names]
    if unknown:
        raise ValueError(
            f"{param}={names!r} names {unknown}, which X does not have; X has modalities "
            f"{list(layout.names)} (from the '<MODALITY>__<feature>' column prefixes or "
            "modalities=)."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{param}={names!r} lists a modality twice.")
    return names
