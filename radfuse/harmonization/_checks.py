"""Input checks of :class:`~radfuse.harmonization.ComBatHarmonizer`: centres and covariates."""

from __future__ import annotations

import numbers

import numpy as np


def who(row_labels, r) -> str:
    """A row's patient identifier for a message (its position for arrays)."""
    return repr(row_labels[r]) if row_labels is not None else f"row {r}"


def check_groups(groups, n_rows: int, context: str) -> np.ndarray:
    """Return ``groups`` as a 1-D array of ``n_rows`` centre labels, or raise."""
    g = np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g.ravel()
    if g.ndim != 1:
        raise ValueError(
            f"{context}: groups must be one centre label per row (1-D), got shape {g.shape}."
        )
    if len(g) != n_rows:
        raise ValueError(
            f"{context}: groups has {len(g)} centre labels for {n_rows} rows of X; pass the "
            "centre of every row, in the same order (inside cross-validation the fold's rows "
            "are selected by metadata routing when groups goes through params=)."
        )
    missing = [j for j, v in enumerate(g.tolist()) if v is None or v != v]
    if missing:
        raise ValueError(
            f"{context}: groups has no centre for {len(missing)} row(s) (None or NaN), first "
            f"row {missing[0]}; every row needs its centre."
        )
    return g


def covariate_columns(covariates, feature_names, n_features: int, context: str) -> np.ndarray:
    """Column positions of ``covariates`` (names of X's columns, or positions for arrays)."""
    if covariates is None:
        return np.zeros(0, dtype=np.intp)
    if isinstance(covariates, (str, numbers.Integral)):
        covariates = [covariates]
    pos = {} if feature_names is None else {str(n): j for j, n in enumerate(feature_names)}
    out, unknown = [], []
    for c in covariates:
        if isinstance(c, numbers.Integral) and not isinstance(c, bool) and 0 <= c < n_features:
            out.append(int(c))
        elif str(c) in pos:
            out.append(pos[str(c)])
        else:
            unknown.append(c)
    if unknown:
        known = "X has no column names" if feature_names is None else "not columns of X"
        raise ValueError(
            f"{context}: covariates {unknown} are {known}; name columns of X (e.g. "
            "covariates=['CLIN__age']) or give integer positions for an array."
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{context}: covariates {list(covariates)} name a column twice.")
    return np.asarray(out, dtype=np.intp)


def check_covariate_values(A, cov_idx, row_labels, feature_names, context: str) -> None:
    """Raise when a covariate is NaN in some row (the design needs it for every row)."""
    if not len(cov_idx):
        return
    nan = np.isnan(A[:, cov_idx])
    if nan.any():
        r, c = np.argwhere(nan)[0]
        j = cov_idx[c]
        col = feature_names[j] if feature_names is not None else f"column {j}"
        raise ValueError(
            f"{context}: covariate {col!r} is NaN for patient {who(row_labels, r)} "
            f"({int(nan[:, c].sum())} row(s) in all). ComBat keeps covariates in its design "
            "for every row: impute the covariate, or drop those rows."
        )


def check_rank(design: np.ndarray, covariate_names, modality: str, context: str) -> None:
    """Raise when centre indicators and covariates are collinear on a block's rows."""
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError(
            f"{context}, modality {modality!r}: the design (one indicator per centre plus "
            f"covariates {list(covariate_names)}) is rank-deficient on the rows where "
            f"{modality!r} is present: a covariate is constant, duplicated, or confounded with "
            "the centres, so its effect cannot be told from the centre effect. Drop it from "
            "covariates=."
        )
