"""Built-in multi-modal feature tables: one real, public table and synthetic ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from radfuse.modality import ModalityLayout, format_name

__all__ = [
    "load_breast_cancer_views",
    "make_multimodal_classification",
    "simulate_missing_modalities",
]

# scikit-learn's feature names are "<stat> <feature>" / "<feature> error"; the three statistics are
# the natural blocks of the table.
_BC_VIEWS = {"MEAN": "mean {}", "SE": "{} error", "WORST": "worst {}"}
_BC_FEATURES = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)


def _patient_ids(n: int) -> pd.Index:
    width = max(4, len(str(n)))
    return pd.Index([f"P{i + 1:0{width}d}" for i in range(n)], name="patient_id")


def load_breast_cancer_views() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's Wisconsin breast cancer table as a three-modality feature table.

    The 30 features of :func:`sklearn.datasets.load_breast_cancer` are image-derived (from
    digitised fine-needle-aspirate images) and fall into three natural blocks of ten: the mean over
    the cell nuclei (``MEAN__*``), its standard error (``SE__*``) and the worst value
    (``WORST__*``). It is a small, real stand-in for a three-modality radiomics table.

    Returns
    -------
    X : DataFrame of shape (569, 30)
        Index ``patient_id`` (``"P0001"`` ...), columns ``MEAN__radius`` ...
        ``WORST__fractal_dimension``.
    y : Series of shape (569,)
        The target as scikit-learn returns it: **0 = malignant (212 cases), 1 = benign (357)**.
        Note that class 1 (the positive class of ROC AUC) is *benign*.
    """
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    pos = {name: j for j, name in enumerate(data.feature_names)}
    columns, order = [], []
    for view, pattern in _BC_VIEWS.items():
        for feat in _BC_FEATURES:
            order.append(pos[pattern.format(feat)])
            columns.append(format_name(view, feat.replace(" ", "_")))
    index = _patient_ids(len(data.target))
    X = pd.DataFrame(data.data[:, order], index=index, columns=columns)
    y = pd.Series(data.target, index=index, name="label")
    return X, y


def make_multimodal_classification(
    n_samples: int = 279,
    modalities: Mapping[str, int] | None = None,
    *,
    n_informative: int = 8,
    shared_fraction: float = 0.5,
    n_latent: int = 4,
    weights: Sequence[float] | None = None,
    n_classes: int = 2,
    class_sep: float = 1.0,
    noise: float = 0.5,
    random_state=None,
) -> tuple[pd.DataFrame, pd.Series]:
    """A synthetic multi-modal feature table with a latent shared across modalities.

    Each patient has a *shared* latent vector ``s`` (common to every modality) and one *specific*
    latent vector ``u_m`` per modality, each ``n_latent``-dimensional and shifted by a
    class-dependent mean. The informative features of modality ``m`` are a random linear mix of
    ``sqrt(shared_fraction) * s + sqrt(1 - shared_fraction) * u_m`` plus noise, so a missing block
    is partly recoverable from the others (fully so as ``shared_fraction -> 1``) and each block
    also carries signal of its own. The remaining features are correlated nuisance: random mixes
    of a class-independent latent plus noise, like the many redundant radiomics features.

    Parameters
    ----------
    n_samples : int, default=279
        Number of patients (the reference study's cohort size).
    modalities : mapping of str to int, default={"T1WI": 32, "FLAIR": 32, "DWI": 32}
        Modality names and their feature counts.
    n_informative : int, default=8
        Informative features per modality (capped at the block size).
    shared_fraction : float in [0, 1], default=0.5
        Share of the informative variance that comes from the shared latent.
    n_latent : int, default=4
        Dimension of each latent vector.
    weights : sequence of float, optional
        Class proportions (normalised); default balanced.
    n_classes : int, default=2
    class_sep : float, default=1.0
        Distance scale between class means in latent space.
    noise : float, default=0.5
        Standard deviation of the per-feature noise.
    random_state : int, RandomState or None

    Returns
    -------
    X : DataFrame of shape (n_samples, sum of block sizes)
        Columns ``"<MOD>__f00"`` ..., index ``patient_id``.
    y : Series of shape (n_samples,)
        Integer labels ``0 .. n_classes - 1``, name ``label``.
    """
    if modalities is None:
        modalities = {"T1WI": 32, "FLAIR": 32, "DWI": 32}
    if not modalities:
        raise ValueError("modalities must name at least one modality with its feature count.")
    for mod, size in modalities.items():
        if int(size) < 1:
            raise ValueError(f"Modality {mod!r} must have at least one feature, got {size}.")
    if n_samples < n_classes:
        raise ValueError(f"n_samples={n_samples} must be at least n_classes={n_classes}.")
    if not 0.0 <= shared_fraction <= 1.0:
        raise ValueError(f"shared_fraction must be in [0, 1], got {shared_fraction}.")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
    rng = check_random_state(random_state)

    if weights is None:
        weights = np.full(n_classes, 1.0 / n_classes)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_classes,) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(
            f"weights must be {n_classes} non-negative numbers (class proportions), got {weights}."
        )
    weights = weights / weights.sum()
    counts = np.floor(weights * n_samples).astype(int)
    counts[np.argmax(weights)] += n_samples - counts.sum()
    y = rng.permutation(np.repeat(np.arange(n_classes), counts))

    # Class means in latent space: random unit directions scaled by class_sep.
    def class_means():
        m = rng.normal(size=(n_classes, n_latent))
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        return class_sep * m

    shared = class_means()[y] + rng.normal(size=(n_samples, n_latent))
    nuisance = rng.normal(size=(n_samples, n_latent))
    blocks, columns = [], []
    for mod, size in modalities.items():
        size = int(size)
        specific = class_means()[y] + rng.normal(size=(n_samples, n_latent))
        latent = np.sqrt(shared_fraction) * shared + np.sqrt(1.0 - shared_fraction) * specific
        k = min(n_informative, size)
        informative = latent @ rng.normal(size=(n_latent, k)) / np.sqrt(n_latent)
        redundant = nuisance @ rng.normal(size=(n_latent, size - k)) / np.sqrt(n_latent)
        block = np.hstack([informative, redundant]) + noise * rng.normal(size=(n_samples, size))
        # Informative columns are not all first: shuffle positions within the block.
        blocks.append(block[:, rng.permutation(size)])
        width = max(2, len(str(size - 1)))
        columns += [format_name(mod, f"f{j:0{width}d}") for j in range(size)]
    index = _patient_ids(n_samples)
    X = pd.DataFrame(np.hstack(blocks), index=index, columns=columns)
    return X, pd.Series(y, index=index, name="label")


def simulate_missing_modalities(
    X,
    rate: float | Mapping[str, float] | None = None,
    *,
    patterns=None,
    modalities=None,
    random_state=None,
):
    """Blank whole modality blocks of a feature table, never all of a row's blocks.

    Give exactly one of ``rate`` and ``patterns``.

    Parameters
    ----------
    X : DataFrame or ndarray
        A complete (or partly missing) feature table in the radfuse convention.
    rate : float or mapping of str to float
        Probability that each (row, modality) block is blanked, independently; a mapping gives a
        rate per modality. When every block of a row would be blanked, one of them, chosen at
        random, is kept.
    patterns : mapping or sequence
        Presence patterns to draw each row from: a mapping ``{("T1WI", "FLAIR"): 0.2, ...}``
        from the tuple of *present* modalities to its probability (normalised), or a sequence of
        such tuples drawn uniformly. Every pattern must keep at least one modality.
    modalities : None, sequence or mapping
        Block layout, as in :meth:`radfuse.modality.ModalityLayout.resolve`.
    random_state : int, RandomState or None

    Returns
    -------
    DataFrame or ndarray
        A copy of ``X`` with the blanked blocks set to NaN. Blocks that were already missing stay
        missing.
    """
    if (rate is None) == (patterns is None):
        raise ValueError("Give exactly one of rate= and patterns=.")
    rng = check_random_state(random_state)
    names = list(X.columns) if hasattr(X, "columns") else None
    n_features = np.shape(X)[1]
    if modalities is None and names is not None:
        layout = ModalityLayout.from_feature_names(names, require_blocks=True)
    else:
        layout = ModalityLayout.resolve(modalities, feature_names=names, n_features=n_features)
    n, m = np.shape(X)[0], layout.n_modalities
    if m < 2:
        raise ValueError(
            f"X has a single modality block {list(layout.names)}; blanking it would blank whole "
            "rows. Missing modalities need at least two blocks."
        )

    if rate is not None:
        if isinstance(rate, Mapping):
            unknown = sorted(set(rate) - set(layout.names))
            if unknown:
                raise ValueError(f"rate names unknown modalities {unknown}; X has {layout.names}.")
            p = np.array([float(rate.get(mod, 0.0)) for mod in layout.names])
        else:
            p = np.full(m, float(rate))
        if np.any((p < 0) | (p > 1)):
            raise ValueError(f"rate must be in [0, 1], got {rate}.")
        keep = rng.random_sample((n, m)) >= p
    else:
        if isinstance(patterns, Mapping):
            pats, probs = list(patterns), np.asarray(list(patterns.values()), dtype=float)
        else:
            pats = list(patterns)
            probs = np.ones(len(pats))
        if not pats or np.any(probs < 0) or probs.sum() <= 0:
            raise ValueError("patterns must be a non-empty sequence or mapping of probabilities.")
        table = np.zeros((len(pats), m), dtype=bool)
        for i, pat in enumerate(pats):
            pat = (pat,) if isinstance(pat, str) else tuple(pat)
            unknown = [mod for mod in pat if mod not in layout.names]
            if unknown:
                raise ValueError(
                    f"pattern {pat} names unknown modalities {unknown}; X has {list(layout.names)}."
                )
            if not pat:
                raise ValueError("A pattern must keep at least one modality (an empty row).")
            table[i, [layout.names.index(mod) for mod in pat]] = True
        keep = table[rng.choice(len(pats), size=n, p=probs / probs.sum())]

    # Blocks already missing stay missing; a row never loses its last present block (one of its
    # present blocks, drawn at random, is kept instead).
    present = layout.presence_mask(X)
    keep &= present
    for r in np.flatnonzero(~keep.any(axis=1) & present.any(axis=1)):
        keep[r, rng.choice(np.flatnonzero(present[r]))] = True

    A = np.array(X, dtype=float, copy=True)
    for k, idx in enumerate(layout.indices):
        rows = np.flatnonzero(~keep[:, k])
        A[np.ix_(rows, idx)] = np.nan
    if hasattr(X, "columns"):
        return pd.DataFrame(A, index=X.index, columns=X.columns)
    return A
