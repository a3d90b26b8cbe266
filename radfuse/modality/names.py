"""Column names of a feature table: ``"<MODALITY>__<feature>"``.

The only place in radfuse that splits or formats column names.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SEP", "SINGLE_BLOCK", "format_name", "split_name"]

#: Separator between the modality (block) name and the feature name.
SEP = "__"

#: Block name given to a plain array (or a table whose columns carry no modality prefix).
SINGLE_BLOCK = "X"


def split_name(name: str) -> tuple[str, str]:
    """Split ``"<MODALITY>__<feature>"`` into ``(modality, feature)``.

    The split is at the first ``"__"``, so feature names may contain double underscores.

    Raises
    ------
    ValueError
        If ``name`` is not a string with a non-empty modality and feature around ``"__"``.
    """
    if not isinstance(name, str) or SEP not in name:
        raise ValueError(
            f"Column {name!r} has no modality prefix: expected '<MODALITY>{SEP}<feature>', "
            f"for example 'T1WI{SEP}original_firstorder_Mean'."
        )
    modality, feature = name.split(SEP, 1)
    if not modality or not feature:
        raise ValueError(
            f"Column {name!r} has an empty modality or feature name: expected "
            f"'<MODALITY>{SEP}<feature>'."
        )
    return modality, feature


def format_name(modality: str, feature: str) -> str:
    """Return the column name ``"<modality>__<feature>"``.

    Raises
    ------
    ValueError
        If ``modality`` is empty or contains ``"__"`` (it would not round-trip), or ``feature``
        is empty.
    """
    if not modality or SEP in modality:
        raise ValueError(
            f"Modality name {modality!r} must be non-empty and must not contain {SEP!r}."
        )
    if not feature:
        raise ValueError(f"Feature name for modality {modality!r} must be non-empty.")
    return f"{modality}{SEP}{feature}"


def check_unique(names: Sequence[str]) -> None:
    """Raise ``ValueError`` listing the names that occur more than once."""
    seen, dup = set(), []
    for n in names:
        if n in seen and n not in dup:
            dup.append(n)
        seen.add(n)
    if dup:
        raise ValueError(f"Duplicate column names {dup[:10]}: every column must be unique.")


def abbrev(names: Sequence, limit: int = 8) -> str:
    """The first ``limit`` names, quoted, and how many more there are (for messages)."""
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more
