"""Group a benchmark's torch fits into populations that train as one batched fit.

The runner calls, for the fits of one model (subsets x folds, or trials x inner folds)::

    from radfuse.benchmark.populations import fit_group, group_fits

    for ids in group_fits(estimators, n_rows=[len(X) for X, _ in data]):
        fit_group([estimators[i] for i in ids], [data[i] for i in ids], device="auto")

``estimators`` are unfitted clones (not pipelines: the final torch estimator, its input already
transformed); ``data[i]`` is ``(X, y)`` or ``(X, y, sample_weight)``. Each estimator comes back
fitted as by its own ``fit`` (see :func:`radfuse.estimators.fit_many`).
"""

from __future__ import annotations

from radfuse.estimators import TorchEstimatorBase, fit_many
from radfuse.estimators._population import TRAINING_PARAMETERS

__all__ = ["fit_group", "group_fits"]

#: Bytes per parameter and row of a member in training: a float32 upper bound (the batch's
#: activations grow with parameters x rows; weights, gradients and AdamW state are smaller).
BYTES_PER_PARAMETER_ROW = 4


def _key(est) -> str:
    if not isinstance(est, TorchEstimatorBase):
        return repr(("single", id(est)))
    params = est.get_params(deep=False)
    arch = sorted((k, v) for k, v in params.items() if k not in TRAINING_PARAMETERS)
    return repr((type(est).__name__, arch, est.batch_size))


def group_fits(
    estimators,
    *,
    n_rows=None,
    n_parameters=None,
    memory_budget: float = 4e9,
    max_members: int = 256,
) -> list[list[int]]:
    """Positions of ``estimators`` grouped into compatible, memory-sized populations.

    Fits are compatible when they share the model class and every parameter but the training
    ones (``lr``, ``weight_decay``, ``max_epochs``, ``random_state``, early stopping, ...), so
    any subset, fold, seed or learning rate of one architecture groups together; the
    architecture's shapes are checked again by ``fit_many``, which splits anything that does
    not match. A group holds at most ``max_members`` fits and at most ``memory_budget`` bytes,
    a member estimated at ``n_parameters x n_rows x BYTES_PER_PARAMETER_ROW``.

    Parameters
    ----------
    estimators : list of estimators
    n_rows : list of int, optional
        Training rows of each fit (default: its ``batch_size``, the rows of one step).
    n_parameters : int or list of int, optional
        Parameters of each network (default: 100000, MMT-2M's order of magnitude).
    memory_budget : float, default=4e9
    max_members : int, default=256

    Returns
    -------
    list of list of int
        Every position exactly once, in order within each group.
    """
    if n_rows is not None and len(n_rows) != len(estimators):
        raise ValueError(f"n_rows has {len(n_rows)} entries for {len(estimators)} estimators.")
    if max_members < 1:
        raise ValueError(f"max_members must be >= 1, got {max_members}.")
    sizes = (
        n_parameters
        if isinstance(n_parameters, (list, tuple))
        else [n_parameters] * len(estimators)
    )
    groups: dict[str, list[list[int]]] = {}
    used: dict[str, float] = {}
    for i, est in enumerate(estimators):
        key = _key(est)
        rows = n_rows[i] if n_rows is not None else int(getattr(est, "batch_size", 1) or 1)
        cost = float(sizes[i] or 100_000) * rows * BYTES_PER_PARAMETER_ROW
        chunks = groups.setdefault(key, [[]])
        if chunks[-1] and (
            len(chunks[-1]) >= max_members or used.get(key, 0.0) + cost > memory_budget
        ):
            chunks.append([])
            used[key] = 0.0
        chunks[-1].append(i)
        used[key] = used.get(key, 0.0) + cost
    return [chunk for chunks in groups.values() for chunk in chunks]


def fit_group(estimators, data, device=None) -> list:
    """Fit one group from :func:`group_fits` (``fit_many``); returns the fitted estimators."""
    return fit_many(estimators, data, device=device)
