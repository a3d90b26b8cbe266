"""The training loop of the torch estimators, as named steps.

A fit trains one network, a :class:`Member`: its module and its own state (``history``, early
stopping with the best weights, the epoch count). :class:`Trainer` runs the estimator's stages
(:class:`Stage`) on a member, one epoch at a time: train the mini-batches, evaluate the
validation rows, record the epoch in the history, advance the progress bar, guard against a
non-finite loss and step the early stopping. Everything a step needs from the model comes from
the estimator's ``_loss``, ``_predict_output`` and ``_valid_score``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from radfuse.estimators._device import autocast

__all__ = [
    "EarlyStopping",
    "FitContext",
    "Member",
    "ProgressBar",
    "Rows",
    "Stage",
    "Trainer",
    "validation_split",
]


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
    """What the loss may need besides the batch.

    ``stage`` (the running :class:`Stage`), ``epoch``, ``training`` (False when the loss is
    evaluated on the validation rows: switch off random augmentations), ``generator`` (a
    ``torch.Generator`` on the device for any random draw of the model's own, so fits are
    reproducible and the global RNG is untouched) and ``device``.
    """

    stage: Stage
    epoch: int
    training: bool
    generator: torch.Generator
    device: torch.device


@dataclass
class EarlyStopping:
    """Stop a stage when the validation loss has not improved by ``tol`` for ``patience`` epochs.

    Keeps a copy of the weights of the best epoch, which :meth:`restore` loads back.
    """

    tol: float
    patience: int
    best: float = np.inf
    no_improve: int = 0
    best_state: dict | None = None

    def step(self, valid_loss: float, module: torch.nn.Module) -> bool:
        """Record an epoch's validation loss; True when the stage should stop."""
        if valid_loss < self.best - self.tol:
            self.best, self.no_improve = valid_loss, 0
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        self.no_improve += 1
        return self.no_improve >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best epoch's weights (if an epoch improved)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


@dataclass
class Member:
    """One network in training and its own state.

    Attributes
    ----------
    module : torch.nn.Module
    history : list of dict
        One entry per epoch (over all stages); the estimator's ``history_``.
    stopper : EarlyStopping or None
        The running stage's early stopping (None when it does not apply).
    """

    module: torch.nn.Module
    history: list = field(default_factory=list)
    stopper: EarlyStopping | None = None

    @property
    def n_epochs(self) -> int:
        """Epochs run so far, over all stages."""
        return len(self.history)

    def record(self, entry: dict) -> None:
        """Append an epoch's entry to the history."""
        self.history.append(entry)


def validation_split(n: int, stratify, fraction: float, seed: int, name: str):
    """Sorted training and validation row indices for early stopping.

    Stratified on ``stratify`` when given; a stratified split that is impossible (a class too
    small) falls back to a random one with a warning.
    """
    idx = np.arange(n)
    try:
        tr, va = train_test_split(idx, test_size=fraction, stratify=stratify, random_state=seed)
    except ValueError as exc:
        if stratify is None:
            raise ValueError(
                f"early_stopping: cannot hold out validation_fraction={fraction} of {n} rows "
                f"({exc})."
            ) from exc
        warnings.warn(
            f"{name}: a stratified validation split is impossible ({exc}); using a random split.",
            UserWarning,
            stacklevel=5,
        )
        tr, va = train_test_split(idx, test_size=fraction, random_state=seed)
    return np.sort(tr), np.sort(va)


class ProgressBar:
    """A tqdm bar of a stage's epochs showing the losses, or nothing when not ``enabled``."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, leave=False)

    def step(self, entry: dict) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k.endswith("loss")})

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def check_finite_loss(entry: dict, *, name: str, lr: float) -> None:
    """Raise when an epoch's training loss is NaN or infinite."""
    if not np.isfinite(entry["train_loss"]):
        raise FloatingPointError(
            f"{name}: the training loss became {entry['train_loss']} in stage "
            f"{entry['stage']!r}, epoch {entry['epoch']}; lower lr (now {lr}) or standardise "
            "the features (e.g. StandardScaler in a Pipeline)."
        )


def to_numpy(t):
    """A tensor (or a tuple / list of them) as float numpy arrays on the host."""
    if isinstance(t, (tuple, list)):
        return [to_numpy(v) for v in t]
    return t.detach().float().cpu().numpy()


class _Batches:
    """The mini-batches of an epoch over the training rows ``tr``."""

    def __init__(self, tr: np.ndarray, batch_size: int, device: torch.device):
        self.rows = torch.as_tensor(tr, device=device)
        self.n = len(tr)
        self.size = int(batch_size)
        self.starts = range(0, self.n, self.size)
        # Rows per batch, to average the batch losses into the epoch's mean.
        self.counts = torch.tensor(
            [min(self.size, self.n - s) for s in self.starts], dtype=torch.float32, device=device
        )[:, None]

    def shuffled(self, generator: torch.Generator):
        perm = self.rows[torch.randperm(self.n, generator=generator, device=generator.device)]
        for start in self.starts:
            yield perm[start : start + self.size]


class Trainer:
    """Runs an estimator's stages on a :class:`Member`, on tensors already on the device.

    Parameters
    ----------
    estimator : TorchEstimatorBase
        Supplies the loss, the prediction, the validation score and the training parameters.
    data : dict of Tensor
        The batch entries of every fit row (see the base's module docstring).
    y : ndarray
        Encoded targets of the fit rows (for the validation score).
    generator : torch.Generator
        Shuffling and the model's own random draws.
    amp_dtype : torch.dtype or None
        Autocast dtype (None: full precision).
    """

    def __init__(self, estimator, data: dict, y: np.ndarray, generator, amp_dtype):
        self.est = estimator
        self.data = data
        self.y = y
        self.generator = generator
        self.device = generator.device
        self.amp_dtype = amp_dtype
        self.scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    def run_stage(self, member: Member, stage: Stage, tr: np.ndarray, va: np.ndarray) -> None:
        """Train ``member`` for one stage on training rows ``tr``, validating on ``va``."""
        est, module = self.est, member.module
        params = list(module.parameters() if stage.parameters is None else stage.parameters(module))
        if not params:
            raise ValueError(f"training stage {stage.name!r} has no parameter to train.")
        trainable = {id(p) for p in params}
        flags = [(p, p.requires_grad) for p in module.parameters()]
        for p in module.parameters():
            p.requires_grad_(id(p) in trainable)
        lr = est.lr if stage.lr is None else stage.lr
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=est.weight_decay)
        n_epochs = est.max_epochs if stage.max_epochs is None else stage.max_epochs
        batches = _Batches(tr, est.batch_size, self.device)
        use_valid = bool(est.early_stopping and stage.early_stopping and len(va))
        member.stopper = EarlyStopping(est.tol, est.n_iter_no_change) if use_valid else None
        valid_batch = {k: v[torch.as_tensor(va, device=self.device)] for k, v in self.data.items()}
        ctx = FitContext(stage, 0, True, self.generator, self.device)
        amp = autocast(self.device, self.amp_dtype)
        name = type(est).__name__
        bar = ProgressBar(est.progress, n_epochs, f"{name} {stage.name}")
        try:
            for epoch in range(1, n_epochs + 1):
                t0 = time.perf_counter()
                entry = {"stage": stage.name, "epoch": epoch}
                entry.update(self.train_epoch(module, opt, ctx, batches, amp, epoch))
                if use_valid:
                    entry.update(self.validate(module, valid_batch, ctx, self.y[va], amp))
                entry["seconds"] = time.perf_counter() - t0
                member.record(entry)
                bar.step(entry)
                check_finite_loss(entry, name=name, lr=lr)
                if use_valid and member.stopper.step(entry["valid_loss"], module):
                    break
        finally:
            bar.close()
            for p, flag in flags:
                p.requires_grad_(flag)
        if member.stopper is not None:
            member.stopper.restore(module)

    def train_epoch(self, module, opt, ctx: FitContext, batches: _Batches, amp, epoch) -> dict:
        """One pass over the shuffled training rows; the mean loss and parts per row."""
        stage = ctx.stage
        module.train()
        for sub in stage.eval_modules(module) if stage.eval_modules else ():
            sub.eval()
        ctx.epoch, ctx.training = epoch, True
        records, names = [], None
        for idx in batches.shuffled(self.generator):
            batch = {k: v[idx] for k, v in self.data.items()}
            with amp:
                loss, parts = self.est._loss(module, batch, ctx)
            opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(opt)
                self.scaler.update()
            else:
                loss.backward()
                opt.step()
            names = names or list(parts)
            records.append(
                torch.stack(
                    [loss.detach().float()]
                    + [
                        torch.as_tensor(parts[k], device=self.device).detach().float()
                        for k in names
                    ]
                )
            )
        # The epoch's only host-device sync.
        means = ((torch.stack(records) * batches.counts).sum(0) / batches.n).tolist()
        return {"train_loss": means[0], **{f"train_{k}": v for k, v in zip(names, means[1:])}}

    def validate(self, module, batch: dict, ctx: FitContext, y: np.ndarray, amp) -> dict:
        """The loss, its parts and the score on the validation rows."""
        module.eval()
        ctx.training = False
        with torch.no_grad(), amp:
            vloss, vparts = self.est._loss(module, batch, ctx)
            out = self.est._predict_output(module, batch)
        entry = {"valid_loss": float(vloss)}
        entry.update({f"valid_{k}": float(v) for k, v in vparts.items()})
        entry["valid_score"] = self.est._valid_score(y, to_numpy(out))
        return entry
