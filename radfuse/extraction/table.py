"""The cohort's tables from per-case outcomes: wide features, errors, diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radfuse.extraction.naming import feature_names
from radfuse.modality import format_name

__all__ = ["ERROR_COLUMNS", "assemble_features", "diagnostics_table", "error_table"]

ERROR_COLUMNS = ["patient_id", "modality", "image", "mask", "error"]


def assemble_features(outcomes, index, modality_order, spec) -> pd.DataFrame:
    """The wide float64 table (blocks in ``modality_order``) from per-case outcomes."""
    expected = feature_names(spec)
    by_mod: dict[str, dict[str, dict]] = {m: {} for m in modality_order}
    for o in outcomes:
        if o.features is not None:
            by_mod.setdefault(o.modality, {})[o.patient_id] = o.features
    blocks = []
    for mod, rows in by_mod.items():
        names = list(expected) if expected is not None else []
        known = set(names)
        for feats in rows.values():  # never drop a feature radfuse did not expect
            for n in feats:
                if n not in known:
                    names.append(n)
                    known.add(n)
        values = np.full((len(index), len(names)), np.nan, dtype=np.float64)
        pos = {pid: i for i, pid in enumerate(index)}
        col = {n: j for j, n in enumerate(names)}
        for pid, feats in rows.items():
            i = pos[pid]
            for n, v in feats.items():
                values[i, col[n]] = v
        blocks.append(
            pd.DataFrame(values, index=index, columns=[format_name(mod, n) for n in names])
        )
    if not blocks:
        return pd.DataFrame(index=index, dtype=np.float64)
    out = pd.concat(blocks, axis=1)
    out.index.name = "patient_id"
    return out


def error_table(outcomes) -> pd.DataFrame:
    """One row per failed case (:data:`ERROR_COLUMNS`), sorted by patient and modality."""
    return pd.DataFrame(
        [
            [o.patient_id, o.modality, o.image, o.mask, o.error]
            for o in outcomes
            if o.status == "failed"
        ],
        columns=ERROR_COLUMNS,
    ).sort_values(["patient_id", "modality"], ignore_index=True)


def diagnostics_table(outcomes) -> pd.DataFrame:
    """PyRadiomics' diagnostics (text), index ``(patient_id, modality)``."""
    diag_rows = {(o.patient_id, o.modality): o.diagnostics for o in outcomes if o.diagnostics}
    diagnostics = pd.DataFrame.from_dict(diag_rows, orient="index")
    if len(diagnostics):
        diagnostics.index = pd.MultiIndex.from_tuples(
            diagnostics.index, names=["patient_id", "modality"]
        )
        diagnostics = diagnostics.sort_index()
    return diagnostics
