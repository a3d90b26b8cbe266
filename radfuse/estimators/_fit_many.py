"""``fit_many``: fit many torch estimators at once, same-architecture ones as one population."""

from __future__ import annotations

import torch

from radfuse.estimators._plan import collecting, finish, train_one
from radfuse.estimators._population import build_modules, signature, train_population
from radfuse.estimators.base import TorchEstimatorBase

__all__ = ["fit_many"]


def _at(i: int, exc: Exception) -> Exception:
    """``exc`` with its message prefixed by the position (same type where it can be rebuilt)."""
    try:
        return type(exc)(f"fit_many: the estimator at position {i}: {exc}")
    except TypeError:
        return exc


def _check(estimators, data) -> None:
    if len(estimators) != len(data):
        raise ValueError(
            f"fit_many: {len(estimators)} estimators but {len(data)} data entries; give one "
            "(X, y) or (X, y, sample_weight) per estimator."
        )
    for i, (est, d) in enumerate(zip(estimators, data)):
        if not isinstance(est, TorchEstimatorBase):
            raise TypeError(
                f"fit_many: the estimator at position {i} is a {type(est).__name__}, not a "
                "radfuse torch estimator (MMTClassifier, MFNVAEClassifier, GMENetClassifier, ...)."
            )
        if not isinstance(d, (tuple, list)) or len(d) not in (2, 3):
            raise ValueError(
                f"fit_many: data at position {i} must be (X, y) or (X, y, sample_weight), got "
                f"{type(d).__name__}"
                + (f" of length {len(d)}" if hasattr(d, "__len__") else "")
                + "."
            )
    for i, est in enumerate(estimators):
        for j in range(i):
            if estimators[j] is est:
                raise ValueError(
                    f"fit_many: positions {j} and {i} hold the same estimator object; pass "
                    "clones (sklearn.base.clone) so each fit has its own."
                )


def fit_many(estimators, data, *, device=None):
    """Fit each estimator on its own data; networks of one architecture train as one population.

    Parameters
    ----------
    estimators : list of TorchEstimatorBase
        radfuse torch estimators (typically clones differing in parameters and
        ``random_state``). A fitted one is refitted, as ``fit`` would.
    data : list of tuple
        One ``(X, y)`` or ``(X, y, sample_weight)`` per estimator.
    device : str, torch.device or None
        Train every estimator there (``"auto"``: CUDA when present); None: each estimator's own
        ``device`` parameter.

    Returns
    -------
    list
        The estimators, fitted (the same objects).

    Notes
    -----
    Each estimator is validated by its own ``fit`` (its errors name its position here). The
    fits are then grouped by model class, device, precision, parameter shapes, tensor shapes and
    stage list; a group trains as one batched population (see
    :mod:`radfuse.estimators._population`): each member with its own rows, shuffling, learning
    rate, weight decay, epochs and early stopping, exactly seeded as its own ``fit`` for the
    initial weights and the mini-batch order. Without random draws in the model (dropout 0, no
    modality dropout or reparameterisation) a member's predictions equal its own ``fit``'s to
    rounding (batched kernels sum in another order); with them, the draws come from one
    population generator, so results agree in distribution, not draw for draw. A group of one,
    a model whose ``_batchable`` is False (GMENet: data-dependent control flow in its generation
    module) and fp16 mixed precision (per-member loss scaling is not implemented) train on the
    exact single-fit path.
    """
    estimators, data = list(estimators), list(data)
    _check(estimators, data)
    plans = []
    with collecting(device) as collected:
        for i, (est, d) in enumerate(zip(estimators, data)):
            try:
                est.fit(*d)
            except Exception as exc:
                raise _at(i, exc) from exc
            plans.append(collected.pop())
    groups: dict = {}
    batchable = [
        i for i, p in enumerate(plans) if p.estimator._batchable and p.amp_dtype != torch.float16
    ]
    modules = dict(zip(batchable, build_modules([plans[i] for i in batchable])))
    for i in batchable:
        groups.setdefault(signature(plans[i], modules[i]), []).append(i)
    members = {}
    for ids in groups.values():
        if len(ids) == 1:
            continue
        labels = [f"fit_many position {i}" for i in ids]
        trained = train_population([plans[i] for i in ids], [modules[i] for i in ids], labels)
        members.update(zip(ids, trained))
    for i, plan in enumerate(plans):
        member = members.get(i)
        if member is None:
            try:
                member = train_one(plan)
            except Exception as exc:
                raise _at(i, exc) from exc
        finish(plan.estimator, member, plan.device)
    return estimators
