"""Cross-validation splits of a benchmark dataset: the same train/test rows for every model.

Stratified K-fold (``seed + repeat`` shuffles), stratified group K-fold (``cv.group_aware``) or
an independent test group (``cv.test_group``: one split per repeat). Every split must hold every
class on both sides. A survival dataset's folds are stratified on the event (and checked by
:func:`radfuse.benchmark.survival_data.check_survival_splits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radfuse.benchmark.data import BenchData
from radfuse.benchmark.schema import BenchmarkConfig, ConfigError
from radfuse.benchmark.survival_data import check_survival_splits, is_survival

__all__ = ["Split", "make_splits"]


@dataclass(frozen=True)
class Split:
    """One train/test split of a dataset (row positions)."""

    repeat: int
    fold: int
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)


def make_splits(data: BenchData, cfg: BenchmarkConfig) -> list[Split]:
    """The train/test splits of a dataset, identical for every model.

    Raises
    ------
    ConfigError
        Group CV without a group column or with too few groups, an unknown test group, too few
        patients of a class for the folds, or a split where a class is absent.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    cv = cfg.cv
    survival = is_survival(data.y)
    y = data.y["event"] if survival else data.y
    where = f"dataset {data.name!r}"
    needs_groups = cv.group_aware or cv.test_group is not None
    if needs_groups and data.groups is None:
        raise ConfigError(
            f"{where}: cv asks for groups (group_aware or test_group) but the dataset has no "
            "group column; set 'group:' on the dataset."
        )
    splits: list[Split] = []
    positions = np.arange(len(y))
    if cv.test_group is not None:
        g = np.asarray(data.groups).astype(str)
        test = positions[g == str(cv.test_group)]
        if len(test) == 0:
            raise ConfigError(
                f"{where}: test_group {cv.test_group!r} is not a group of the data; groups are "
                f"{sorted(set(g))}."
            )
        if len(set(g)) < 2:
            raise ConfigError(
                f"{where}: test_group needs at least two groups, got {sorted(set(g))}."
            )
        train = positions[g != str(cv.test_group)]
        splits = [Split(r, 0, train, test) for r in range(cv.n_repeats)]
    elif cv.group_aware:
        g = np.asarray(data.groups).astype(str)
        n_groups = len(set(g))
        if n_groups < 2:
            raise ConfigError(
                f"{where}: group-aware CV needs at least two groups; the group column has only "
                f"{sorted(set(g))}. Drop 'group_aware' or provide centres."
            )
        if n_groups < cv.n_splits:
            raise ConfigError(
                f"{where}: group-aware CV with n_splits={cv.n_splits} needs at least that many "
                f"groups; there are {n_groups} ({sorted(set(g))}). Lower cv.n_splits."
            )
        for r in range(cv.n_repeats):
            sgkf = StratifiedGroupKFold(
                n_splits=cv.n_splits, shuffle=True, random_state=cfg.seed + r
            )
            for f, (tr, te) in enumerate(sgkf.split(positions, y, g)):
                splits.append(Split(r, f, tr, te))
    else:
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < cv.n_splits:
            raise ConfigError(
                f"{where}: class {classes[counts.argmin()]!r} has {counts.min()} patients, fewer "
                f"than cv.n_splits={cv.n_splits}; some test folds would lack it. Lower n_splits."
            )
        for r in range(cv.n_repeats):
            skf = StratifiedKFold(n_splits=cv.n_splits, shuffle=True, random_state=cfg.seed + r)
            for f, (tr, te) in enumerate(skf.split(positions, y)):
                splits.append(Split(r, f, tr, te))
    if survival:
        check_survival_splits(data.name, data.y, splits)
        return splits
    classes = np.unique(y)
    for s in splits:
        for part, idx in (("training", s.train), ("test", s.test)):
            absent = sorted(set(classes.tolist()) - set(np.unique(y[idx]).tolist()))
            if absent:
                raise ConfigError(
                    f"{where}: repeat {s.repeat} fold {s.fold}: the {part} set has no patient of "
                    f"class {absent} (ROC AUC and the fit need every class). Use fewer folds, "
                    "group-aware CV with more groups, or another test group."
                )
    return splits
