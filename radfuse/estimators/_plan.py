"""A fit as data: what :func:`fit_many` and a single ``fit`` share before and after training.

``fit`` validates its input, then :func:`make_plan` fixes everything training needs (device,
seeds, the early-stopping split, each stage's rows, the tensors); :func:`train_one` trains the
plan's network on the exact single-fit path and :func:`finish` sets the fitted attributes. A
``fit`` called inside :func:`collecting` stops after the plan and hands it over instead, so
:func:`radfuse.estimators.fit_many` reuses every estimator's own validation unchanged.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import torch

from radfuse.estimators._device import mixed_precision_dtype, resolve_device
from radfuse.estimators._training import Member, Rows, Stage, Trainer

__all__ = ["FitPlan", "collect", "collecting", "finish", "make_plan", "seeded_rng", "train_one"]

# The plans of the fits called inside ``collecting`` (None: fit trains as usual).
_COLLECTED: ContextVar[list | None] = ContextVar("radfuse_collected_plans", default=None)


@dataclass
class FitPlan:
    """One fit's inputs to training, fixed before any weight is drawn.

    Attributes
    ----------
    estimator : TorchEstimatorBase
    rows : Rows
        The training rows (after ``_prepare_rows`` and the zero-weight filter).
    data : dict of Tensor
        The batch entries of every row, on ``device``.
    device : torch.device
    amp_dtype : torch.dtype or None
    init_seed, shuffle_seed : int
        Seed of the global torch RNG (initial weights, then dropout) and of the shuffling.
    train_idx, valid_idx : ndarray
        The early-stopping split (``valid_idx`` empty without early stopping).
    stages : list of Stage
    stage_masks : list of ndarray of bool
        Per stage, the rows it trains on (``Stage.rows``).
    """

    estimator: object
    rows: Rows
    data: dict
    device: torch.device
    amp_dtype: object
    init_seed: int
    shuffle_seed: int
    train_idx: np.ndarray
    valid_idx: np.ndarray
    stages: list
    stage_masks: list

    def stage_rows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation rows of stage ``k``; raises when it has no training row."""
        mask = self.stage_masks[k]
        tr = self.train_idx[mask[self.train_idx]]
        if len(tr) == 0:
            raise ValueError(
                f"{type(self.estimator).__name__}: training stage {self.stages[k].name!r} selects "
                "no row of the training data."
            )
        return tr, self.valid_idx[mask[self.valid_idx]]

    def n_epochs(self, stage: Stage) -> int:
        """Epochs of ``stage`` for this estimator."""
        return self.estimator.max_epochs if stage.max_epochs is None else stage.max_epochs

    def lr(self, stage: Stage) -> float:
        """Learning rate of ``stage`` for this estimator."""
        return self.estimator.lr if stage.lr is None else stage.lr


def make_plan(est, rows: Rows, weights: np.ndarray, device=None) -> FitPlan:
    """The plan of ``est``'s fit on ``rows`` (``device`` overrides ``est.device`` when given)."""
    device = resolve_device(est.device if device is None else device)
    amp_dtype = mixed_precision_dtype(est.mixed_precision, device)
    init_seed, shuffle_seed, split_seed = est._seeds()
    train_idx, valid_idx = est._split(rows, split_seed)
    stages = est._stages()
    masks = [
        np.ones(len(rows), bool) if s.rows is None else np.asarray(s.rows(rows), dtype=bool)
        for s in stages
    ]
    return FitPlan(
        est,
        rows,
        est._tensors(rows, device, weights),
        device,
        amp_dtype,
        init_seed,
        shuffle_seed,
        train_idx,
        valid_idx,
        stages,
        masks,
    )


@contextlib.contextmanager
def collecting(device=None):
    """Within the block, ``fit`` appends its :class:`FitPlan` to the yielded list, untrained."""
    plans: list = []
    token = _COLLECTED.set((plans, device))
    try:
        yield plans
    finally:
        _COLLECTED.reset(token)


def collect(est, rows: Rows, weights: np.ndarray) -> bool:
    """Hand the plan over when inside :func:`collecting` (True), else do nothing (False)."""
    target = _COLLECTED.get()
    if target is None:
        return False
    plans, device = target
    plans.append(make_plan(est, rows, weights, device))
    return True


@contextlib.contextmanager
def seeded_rng(device: torch.device, seed: int):
    """A forked global torch RNG (CPU and ``device``'s CUDA generator) seeded with ``seed``."""
    cuda_devices = [device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if cuda_devices:
            torch.cuda.default_generators[device.index].manual_seed(seed)
        yield


def train_one(plan: FitPlan) -> Member:
    """Train the plan's network on the exact single-fit path."""
    est, device = plan.estimator, plan.device
    with seeded_rng(device, plan.init_seed):
        member = Member(est._build_module().to(device))
        generator = torch.Generator(device=device)
        generator.manual_seed(plan.shuffle_seed)
        trainer = Trainer(est, plan.data, plan.rows.y, generator, plan.amp_dtype)
        # The live list: a fit stopped by an error keeps the epochs it ran.
        est.history_ = member.history
        for k, stage in enumerate(plan.stages):
            trainer.run_stage(member, stage, *plan.stage_rows(k))
    return member


def finish(est, member: Member, device: torch.device) -> None:
    """Set the fitted attributes of a trained member."""
    member.module.eval()
    est.module_ = member.module
    est.device_ = device
    est.history_ = member.history
    est.n_iter_ = member.n_epochs
