"""Modality blocks of a wide feature table: which columns belong to which modality."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from radfuse.modality.names import SEP, SINGLE_BLOCK, abbrev, check_unique, split_name

__all__ = ["ModalityLayout", "check_blocks", "infer_modalities", "presence_mask"]


def infer_modalities(columns: Iterable[str]) -> list[str]:
    """Return the modality names of ``columns`` in order of first appearance.

    Raises
    ------
    ValueError
        If any column lacks the ``"<MODALITY>__"`` prefix (all offending names are listed).
    """
    return list(ModalityLayout.from_feature_names(columns, require_blocks=True).names)


@dataclass(frozen=True, eq=False)
class ModalityLayout:
    """Which columns of a feature matrix belong to which modality.

    Build it with :meth:`from_feature_names`, :meth:`from_mapping`, :meth:`single_block` or, in an
    estimator, :meth:`resolve`.

    Attributes
    ----------
    names : tuple of str
        Modality names, in block order.
    indices : tuple of ndarray of int
        Column indices of each block, in the same order.
    n_features : int
        Number of columns of the matrix the layout describes.
    feature_names : ndarray of str or None
        Column names, when known.
    """

    names: tuple[str, ...]
    indices: tuple[np.ndarray, ...]
    n_features: int
    feature_names: np.ndarray | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def single_block(
        cls, n_features: int, feature_names=None, name: str = SINGLE_BLOCK
    ) -> ModalityLayout:
        """One block spanning every column (a plain array)."""
        fn = None if feature_names is None else np.asarray(feature_names, dtype=object)
        return cls((name,), (np.arange(n_features),), int(n_features), fn)

    @classmethod
    def from_feature_names(
        cls, feature_names: Iterable[str], *, require_blocks: bool = False
    ) -> ModalityLayout:
        """Blocks from the ``"<MODALITY>__"`` prefixes of the column names.

        Parameters
        ----------
        feature_names : iterable of str
            Column names.
        require_blocks : bool, default=False
            If True every name must carry a prefix. If False, names of which *none* has a
            prefix form a single block; a mixture of prefixed and unprefixed names is always an
            error, because one cannot tell which block the unprefixed columns belong to.
        """
        names = [str(n) for n in feature_names]
        check_unique(names)
        has_sep = [SEP in n for n in names]
        if not require_blocks and not any(has_sep):
            return cls.single_block(len(names), names)
        bad = [n for n, ok in zip(names, has_sep) if not ok]
        if bad:
            raise ValueError(
                f"Columns {abbrev(bad)} have no modality prefix: every column must be named "
                f"'<MODALITY>{SEP}<feature>' (e.g. 'T1WI{SEP}original_firstorder_Mean'; clinical "
                f"variables as 'CLIN{SEP}age'), or pass modalities= explicitly."
            )
        order: dict[str, list[int]] = {}
        for j, n in enumerate(names):
            order.setdefault(split_name(n)[0], []).append(j)
        return cls(
            tuple(order),
            tuple(np.asarray(v, dtype=np.intp) for v in order.values()),
            len(names),
            np.asarray(names, dtype=object),
        )

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Sequence],
        *,
        feature_names: Sequence[str] | None = None,
        n_features: int | None = None,
    ) -> ModalityLayout:
        """Blocks from an explicit ``{modality: columns}`` mapping.

        Columns are given as names (needs ``feature_names``) or integer positions. Blocks may
        not overlap and must together cover every column, so no column is silently ignored.
        """
        if feature_names is not None:
            feature_names = [str(n) for n in feature_names]
            check_unique(feature_names)
            n_features = len(feature_names)
        if n_features is None:
            raise ValueError("from_mapping needs feature_names or n_features.")
        pos = {n: j for j, n in enumerate(feature_names or [])}
        names, indices, owner = [], [], {}
        for mod, cols in mapping.items():
            if isinstance(cols, str):
                cols = [cols]
            cols = list(cols)
            if not cols:
                raise ValueError(f"Modality {mod!r} in modalities= has no columns.")
            idx = []
            unknown = []
            for c in cols:
                if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                    if not 0 <= int(c) < n_features:
                        unknown.append(c)
                    else:
                        idx.append(int(c))
                elif str(c) in pos:
                    idx.append(pos[str(c)])
                else:
                    unknown.append(c)
            if unknown:
                raise ValueError(
                    f"modalities= maps {mod!r} to columns that do not exist: {abbrev(unknown)}. "
                    f"Expected column names of X or integer positions in [0, {n_features})."
                )
            for j in idx:
                if j in owner:
                    label = feature_names[j] if feature_names else j
                    raise ValueError(
                        f"Blocks overlap: column {label!r} is in both {owner[j]!r} and {mod!r}; "
                        "each column must belong to exactly one modality."
                    )
                owner[j] = mod
            names.append(str(mod))
            indices.append(np.asarray(idx, dtype=np.intp))
        missing = [j for j in range(n_features) if j not in owner]
        if missing:
            labels = [feature_names[j] for j in missing] if feature_names else missing
            raise ValueError(
                f"modalities= leaves columns {abbrev(labels)} outside every block; map every "
                "column to a modality (or drop the columns before this step)."
            )
        fn = None if feature_names is None else np.asarray(feature_names, dtype=object)
        return cls(tuple(names), tuple(indices), int(n_features), fn)

    @classmethod
    def resolve(
        cls,
        modalities=None,
        *,
        feature_names=None,
        n_features: int,
    ) -> ModalityLayout:
        """Build the layout an estimator uses from its ``modalities`` parameter.

        Parameters
        ----------
        modalities : None, sequence of str, or mapping
            ``None``: blocks from the column-name prefixes, or a single block for a plain array.
            A sequence of modality names: the prefix blocks, in that order; it must name every
            prefix present. A mapping ``{modality: columns}``: see :meth:`from_mapping`.
        feature_names : array-like of str or None
            ``feature_names_in_`` of the estimator, if it was fitted on a DataFrame.
        n_features : int
            ``n_features_in_``.
        """
        if modalities is None:
            if feature_names is None:
                return cls.single_block(n_features)
            return cls.from_feature_names(feature_names)
        if isinstance(modalities, Mapping):
            return cls.from_mapping(modalities, feature_names=feature_names, n_features=n_features)
        if isinstance(modalities, str):
            modalities = [modalities]
        wanted = [str(m) for m in modalities]
        check_unique(wanted)
        if feature_names is None:
            raise ValueError(
                f"modalities={wanted!r} names blocks, but X has no column names; pass a DataFrame "
                f"with '<MODALITY>{SEP}<feature>' columns or a mapping of column positions."
            )
        base = cls.from_feature_names(feature_names, require_blocks=True)
        unknown = [m for m in wanted if m not in base.names]
        if unknown:
            raise ValueError(
                f"modalities= names {unknown} that are not in X; "
                f"X has modalities {list(base.names)}."
            )
        extra = [m for m in base.names if m not in wanted]
        if extra:
            raise ValueError(
                f"X has modalities {extra} that modalities={wanted} does not list; list every "
                "block of X or drop those columns first."
            )
        return base.subset(wanted)

    # -- queries ------------------------------------------------------------------------------
    @property
    def n_modalities(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of columns of each block."""
        return tuple(len(i) for i in self.indices)

    def index(self, modality: str) -> np.ndarray:
        """Column indices of ``modality``."""
        try:
            return self.indices[self.names.index(modality)]
        except ValueError:
            raise ValueError(
                f"Unknown modality {modality!r}; the layout has {list(self.names)}."
            ) from None

    def block(self, X, modality: str):
        """The columns of ``modality`` of ``X`` (an ndarray or DataFrame)."""
        idx = self.index(modality)
        if hasattr(X, "iloc"):
            return X.iloc[:, idx]
        return np.asarray(X)[:, idx]

    def subset(self, modalities: Sequence[str]) -> ModalityLayout:
        """The same layout restricted to (and reordered as) ``modalities``.

        Column indices still refer to the full matrix.
        """
        idx = [self.index(m) for m in modalities]
        return ModalityLayout(tuple(modalities), tuple(idx), self.n_features, self.feature_names)

    def feature_names_of(self, modality: str) -> np.ndarray:
        """Column names of a block (positions as strings when names are unknown)."""
        idx = self.index(modality)
        if self.feature_names is None:
            return np.asarray([f"x{j}" for j in idx], dtype=object)
        return self.feature_names[idx]

    def presence_mask(self, X) -> np.ndarray:
        """Boolean array ``(n_samples, n_modalities)``: True where a block is not entirely NaN."""
        A = _as_float(X)
        return (
            np.column_stack([~np.all(np.isnan(A[:, idx]), axis=1) for idx in self.indices])
            if self.indices
            else np.zeros((A.shape[0], 0), dtype=bool)
        )

    def partial_mask(self, X) -> np.ndarray:
        """Boolean array ``(n_samples, n_modalities)``: True where a block is *partly* NaN."""
        A = _as_float(X)
        out = np.zeros((A.shape[0], self.n_modalities), dtype=bool)
        for k, idx in enumerate(self.indices):
            nan = np.isnan(A[:, idx])
            out[:, k] = nan.any(axis=1) & ~nan.all(axis=1)
        return out

    def check_blocks(self, X, row_labels=None, *, context: str = "") -> np.ndarray:
        """Raise if any block is partly NaN; return the presence mask.

        Parameters
        ----------
        X : array-like or DataFrame
        row_labels : sequence, optional
            Patient identifiers for the message (a DataFrame's index is used by default).
        context : str
            Prefix for the error message (e.g. the estimator name).

        Raises
        ------
        ValueError
            Naming the first offending patients and modalities.
        """
        if row_labels is None and hasattr(X, "index"):
            row_labels = list(X.index)
        partial = self.partial_mask(X)
        if partial.any():
            A = _as_float(X)
            rows, mods = np.nonzero(partial)
            parts = []
            for r, m in list(zip(rows, mods))[:5]:
                n_nan = int(np.isnan(A[r, self.indices[m]]).sum())
                who = row_labels[r] if row_labels is not None else f"row {r}"
                parts.append(
                    f"patient {who!r}, modality {self.names[m]!r}: {n_nan} of "
                    f"{len(self.indices[m])} values NaN"
                )
            more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
            prefix = f"{context}: " if context else ""
            raise ValueError(
                f"{prefix}bad values inside present modality blocks: {'; '.join(parts)}{more}. "
                "A missing modality must be a whole block of NaN; impute the bad values (or blank "
                "the whole block) before this step."
            )
        return self.presence_mask(X)

    def __repr__(self) -> str:
        blocks = ", ".join(f"{n}:{s}" for n, s in zip(self.names, self.sizes))
        return f"ModalityLayout({blocks})"


def _as_float(X) -> np.ndarray:
    A = np.asarray(X, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"Expected a 2-D feature table, got an array of shape {A.shape}.")
    return A


def presence_mask(X, modalities=None):
    """Per-row presence of each modality of a feature table.

    Parameters
    ----------
    X : DataFrame or ndarray
        A feature table in the radfuse convention.
    modalities : None, sequence or mapping
        As in :meth:`ModalityLayout.resolve`.

    Returns
    -------
    DataFrame or ndarray
        Booleans ``(n_samples, n_modalities)``; a DataFrame (index of ``X``, one column per
        modality) when ``X`` is one.
    """
    names = list(X.columns) if hasattr(X, "columns") else None
    layout = ModalityLayout.resolve(modalities, feature_names=names, n_features=np.shape(X)[1])
    mask = layout.presence_mask(X)
    if hasattr(X, "columns"):
        import pandas as pd

        return pd.DataFrame(mask, index=X.index, columns=list(layout.names))
    return mask


def check_blocks(X, modalities=None):
    """Validate a feature table: raise on partly-NaN blocks, naming patient and modality.

    Returns the presence mask as :func:`presence_mask` does.
    """
    names = list(X.columns) if hasattr(X, "columns") else None
    layout = ModalityLayout.resolve(modalities, feature_names=names, n_features=np.shape(X)[1])
    layout.check_blocks(X)
    return presence_mask(X, modalities)
