"""Manifests: which image and mask belong to which patient and modality.

The canonical (wide) manifest is a DataFrame with index ``patient_id`` and, per modality,
columns ``"<MOD>__image"`` and ``"<MOD>__mask"`` (optionally ``"<MOD>__label_value"``, the mask
label to use), plus optional ``label`` (the class) and ``group`` (e.g. the centre). A long CSV
(one row per patient and modality: ``patient_id, modality, image, mask[, label_value][, label]
[, group]``) is accepted too.

Errors that concern the manifest as a whole (duplicate patient/modality, unknown column, a
relative path that cannot be resolved) raise :class:`ManifestError` before any extraction.
Problems of a single case (missing or corrupt file, geometry mismatch, empty mask, ...) are
found during extraction and reported as rows of the error table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radfuse.modality import format_name, split_name

__all__ = ["Case", "ManifestError", "iter_cases", "manifest_modalities", "read_manifest"]

#: Per-modality fields of a wide manifest (``"<MOD>__<field>"``).
CASE_FIELDS = ("image", "mask", "label_value")
#: Patient-level columns that are carried along but never extracted.
PATIENT_COLUMNS = ("label", "group")
_LONG_REQUIRED = ("patient_id", "modality", "image", "mask")
_LONG_OPTIONAL = ("label_value", "label", "group")
#: Columns read as text: pandas would read an id or modality "NA", "nan", "None", "null" as NaN.
_TEXT_COLUMNS = ("patient_id", "modality")


class ManifestError(ValueError):
    """The manifest itself is wrong; nothing was extracted."""


@dataclass(frozen=True)
class Case:
    """One (patient, modality) extraction task."""

    patient_id: str
    modality: str
    image: str
    mask: str
    label_value: int | None = None


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _resolve(value, base: Path | None, where: str, problems: list[str]):
    if _missing(value):
        return None
    text = os.path.expanduser(str(value).strip())
    path = Path(text)
    if not path.is_absolute():
        if base is None:
            problems.append(
                f"{where}: relative path {text!r} but the manifest is a DataFrame without a "
                "folder to resolve it against; use absolute paths or read the manifest from its "
                "CSV file (or pass base_dir=)"
            )
            return text
        path = base / path
    # A path whose folder does not exist cannot have been meant relative to this manifest's
    # folder: stop now. A missing *file* in an existing folder is a per-case error later.
    if not path.parent.is_dir():
        problems.append(
            f"{where}: {text!r} does not resolve: folder {str(path.parent)!r} does not exist"
            + (f" (relative paths are resolved against {str(base)!r})" if base else "")
        )
    return str(path)


def _from_long(df: pd.DataFrame, source: str) -> pd.DataFrame:
    cols = [str(c) for c in df.columns]
    unknown = [c for c in cols if c not in _LONG_REQUIRED + _LONG_OPTIONAL]
    if unknown:
        raise ManifestError(
            f"{source}: unknown column(s) {unknown} in a long manifest; expected "
            f"{list(_LONG_REQUIRED)} and optionally {list(_LONG_OPTIONAL)}."
        )
    missing = [c for c in _LONG_REQUIRED if c not in cols]
    if missing:
        raise ManifestError(f"{source}: long manifest lacks column(s) {missing}.")
    df = df.copy()
    df["patient_id"] = df["patient_id"].astype(str)
    df["modality"] = df["modality"].astype(str)
    dup = df[df.duplicated(["patient_id", "modality"], keep=False)]
    if len(dup):
        pairs = sorted(set(zip(dup["patient_id"], dup["modality"])))
        raise ManifestError(
            f"{source}: duplicate (patient, modality) rows {pairs[:10]}: each patient may have "
            "one image and mask per modality. Remove or rename the duplicates."
        )
    wide = {}
    for (pid, mod), row in df.set_index(["patient_id", "modality"]).iterrows():
        entry = wide.setdefault(pid, {})
        for fld in CASE_FIELDS:
            # image and mask always (an empty one is reported below), label_value when given
            if fld in ("image", "mask") or (fld in row.index and not _missing(row[fld])):
                entry[format_name(mod, fld)] = row[fld]
        for col in PATIENT_COLUMNS:
            if col in row.index and not _missing(row[col]):
                if col in entry and entry[col] != row[col]:
                    raise ManifestError(
                        f"{source}: patient {pid!r} has different {col!r} values "
                        f"({entry[col]!r} and {row[col]!r}) on different rows."
                    )
                entry[col] = row[col]
    out = pd.DataFrame.from_dict(wide, orient="index")
    out.index.name = "patient_id"
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV as text; empty cells of path and label columns NaN, ids and modalities as written.

    Ids and modality names are read a second time without pandas' missing-value strings, so a
    patient ``NA`` or a sodium MRI modality ``NA`` stay text.
    """
    df = pd.read_csv(path, dtype=str)
    text = pd.read_csv(
        path, dtype=str, keep_default_na=False, usecols=lambda c: str(c) in _TEXT_COLUMNS
    )
    for col in text.columns:
        df[col] = text[col].to_numpy()
    return df


def _check_ids(df: pd.DataFrame, source: str, csv: bool) -> None:
    """Raise :class:`ManifestError` naming the rows whose patient id or modality is empty."""
    for col in _TEXT_COLUMNS:
        if col not in df.columns:
            continue
        rows = [i for i, v in enumerate(df[col]) if _missing(v)]
        if not rows:
            continue
        where = (
            f"line(s) {[i + 2 for i in rows[:10]]} (the header is line 1)"
            if csv
            else f"row(s) {rows[:10]} (by position)"
        )
        hint = (
            ""
            if csv
            else " A frame read with pandas' defaults turns ids such as 'NA', 'nan', 'None' or "
            "'null' into NaN: read the CSV with keep_default_na=False (or pass its path)."
        )
        raise ManifestError(f"{source}: {col} is empty on {where}; every row needs one.{hint}")


def read_manifest(path_or_frame, *, base_dir=None) -> pd.DataFrame:
    """Read a manifest into the wide form, with absolute paths.

    Parameters
    ----------
    path_or_frame : str, path or DataFrame
        A CSV file (wide or long form, detected from its columns) or a DataFrame.
        A wide DataFrame has index ``patient_id`` (or a ``patient_id`` column) and columns
        ``"<MOD>__image"``, ``"<MOD>__mask"``, optionally ``"<MOD>__label_value"``, ``label``,
        ``group``. A long one has columns ``patient_id, modality, image, mask`` and optionally
        ``label_value`` (mask label), ``label``, ``group``.
    base_dir : str or path, optional
        Folder against which relative paths are resolved. Default: the CSV's folder; for a
        DataFrame, relative paths need ``base_dir``.

    Returns
    -------
    DataFrame
        Index ``patient_id`` (str); columns ``"<MOD>__image"``, ``"<MOD>__mask"`` (absolute path
        strings, NaN where a patient lacks that modality), ``"<MOD>__label_value"`` if given,
        then ``label`` / ``group`` if given.

    Raises
    ------
    ManifestError
        No rows, an empty patient id or modality (ids and modality names are text: ``NA`` is
        an id, not a missing value), duplicate (patient, modality), unknown column, a modality
        with an image but no mask (or the reverse), or a relative path whose folder does not
        exist. All problems are listed.
    """
    if isinstance(path_or_frame, pd.DataFrame):
        df = path_or_frame.copy()
        source = "manifest DataFrame"
        base = Path(base_dir).expanduser().resolve() if base_dir is not None else None
        if "patient_id" not in df.columns:
            # the index holds the patients (named patient_id or unnamed)
            df = df.rename_axis("patient_id").reset_index()
    else:
        path = Path(path_or_frame).expanduser()
        if not path.is_file():
            raise ManifestError(f"Manifest file {str(path)!r} does not exist.")
        source = f"manifest {str(path)!r}"
        base = Path(base_dir).expanduser().resolve() if base_dir else path.resolve().parent
        df = _read_csv(path)
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise ManifestError(f"the {source} has no rows (a header only): nothing to extract.")
    if "patient_id" not in df.columns:
        raise ManifestError(f"{source}: no 'patient_id' column or index.")
    _check_ids(df, source, csv=not isinstance(path_or_frame, pd.DataFrame))

    if "modality" in df.columns:
        wide = _from_long(df, source)
    else:
        dup = df["patient_id"].astype(str)
        dup = sorted(set(dup[dup.duplicated()]))
        if dup:
            raise ManifestError(
                f"{source}: duplicate patient_id {dup[:10]} in a wide manifest (one row per "
                "patient): merge the rows or use the long form with one row per modality."
            )
        wide = df.assign(patient_id=df["patient_id"].astype(str)).set_index("patient_id")

    # columns: "<MOD>__image|mask|label_value", label, group
    problems: list[str] = []
    modalities: list[str] = []
    for col in wide.columns:
        if col in PATIENT_COLUMNS:
            continue
        try:
            mod, fld = split_name(col)
        except ValueError:
            problems.append(
                f"unknown column {col!r}: expected '<MOD>__image', '<MOD>__mask', "
                f"'<MOD>__label_value', {PATIENT_COLUMNS[0]!r} or {PATIENT_COLUMNS[1]!r}"
            )
            continue
        if fld not in CASE_FIELDS:
            problems.append(
                f"unknown column {col!r}: the part after '__' must be one of {list(CASE_FIELDS)}"
            )
            continue
        if mod not in modalities:
            modalities.append(mod)
    if problems:
        raise ManifestError(f"{source}: " + "; ".join(problems) + ".")
    if not modalities:
        raise ManifestError(f"{source}: no '<MOD>__image' / '<MOD>__mask' columns.")

    out = pd.DataFrame(index=pd.Index(wide.index.astype(str), name="patient_id"))
    for mod in modalities:
        for fld in ("image", "mask"):
            col = format_name(mod, fld)
            if col not in wide.columns:
                raise ManifestError(f"{source}: modality {mod!r} has no {col!r} column.")
        images, masks = [], []
        for pid, img, msk in zip(
            wide.index, wide[format_name(mod, "image")], wide[format_name(mod, "mask")]
        ):
            where = f"patient {pid!r}, modality {mod!r}"
            if _missing(img) != _missing(msk):
                which = "mask" if _missing(msk) else "image"
                problems.append(f"{where}: {which} is missing while the other file is given")
            images.append(_resolve(img, base, f"{where}, image", problems))
            masks.append(_resolve(msk, base, f"{where}, mask", problems))
        out[format_name(mod, "image")] = pd.array(images, dtype=object)
        out[format_name(mod, "mask")] = pd.array(masks, dtype=object)
        lv = format_name(mod, "label_value")
        if lv in wide.columns:
            values = []
            for pid, v in zip(wide.index, wide[lv]):
                if _missing(v):
                    values.append(np.nan)
                    continue
                try:
                    values.append(int(float(v)))
                except (TypeError, ValueError):
                    problems.append(
                        f"patient {pid!r}, modality {mod!r}: label_value {v!r} is not an integer"
                    )
                    values.append(np.nan)
            out[lv] = pd.array(values, dtype="Float64").astype(float)
    for col in PATIENT_COLUMNS:
        if col in wide.columns:
            out[col] = wide[col].to_numpy()
    if problems:
        shown = problems[:20]
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ManifestError(f"{source}: " + "; ".join(shown) + more + ".")
    return out


def manifest_modalities(manifest: pd.DataFrame) -> list[str]:
    """Modalities of a wide manifest, in column order."""
    mods: list[str] = []
    for col in manifest.columns:
        if col in PATIENT_COLUMNS:
            continue
        mod, _ = split_name(col)
        if mod not in mods:
            mods.append(mod)
    return mods


def iter_cases(manifest: pd.DataFrame):
    """Yield a :class:`Case` for every present (patient, modality) of a wide manifest."""
    mods = manifest_modalities(manifest)
    for pid, row in manifest.iterrows():
        for mod in mods:
            img = row[format_name(mod, "image")]
            msk = row[format_name(mod, "mask")]
            if _missing(img) or _missing(msk):
                continue
            lv = row.get(format_name(mod, "label_value"), np.nan)
            label_value = None if _missing(lv) else int(lv)
            yield Case(str(pid), mod, str(img), str(msk), label_value)
