"""Datasets of a benchmark: load or build each one into a feature table, labels and groups.

Every dataset ends up as a :class:`BenchData`: a wide feature table in the radfuse convention
(index ``patient_id``, columns ``"<MODALITY>__<feature>"``, a NaN block = a missing modality), the
labels, optional groups (centres) and a record of what was done to get there (extraction time,
failed cases, columns dropped for bad values), so nothing is silently lost.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radfuse._utils.hashing import json_digest
from radfuse.benchmark.schema import ConfigError, DatasetConfig
from radfuse.benchmark.sources import load_sksurv, make_multicentre_table
from radfuse.benchmark.survival_data import survival_frame, survival_target
from radfuse.modality import ModalityLayout
from radfuse.modality.validation import check_numeric

__all__ = ["BenchData", "load_dataset"]

# length of cache keys in file names (kept: existing caches stay valid)
_KEY_LENGTH = 12


@dataclass
class BenchData:
    """One prepared dataset.

    Attributes
    ----------
    name : str
    X : DataFrame
        Feature table (index ``patient_id``).
    y : ndarray
        Labels, aligned with ``X``; for a survival dataset the structured ``(event, time)``
        array (:mod:`radfuse.benchmark.survival_data`).
    groups : ndarray or None
        Group (centre) of each row.
    modalities : list of str
        Modality blocks of ``X`` in column order.
    info : dict
        Provenance: source, sizes, class counts, missing blocks per modality, seconds spent,
        extraction errors and dropped columns.
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray | None
    modalities: list[str]
    info: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A hash of the table, labels and groups (a changed dataset invalidates stored tasks)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.X.to_numpy(dtype=float)).tobytes())
        h.update("|".join(map(str, self.X.columns)).encode())
        h.update("|".join(map(str, self.X.index)).encode())
        y = np.asarray(self.y)
        h.update(y.tobytes() if y.dtype.names else y.astype(str).tobytes())
        if self.groups is not None:
            h.update(np.asarray(self.groups).astype(str).tobytes())
        return h.hexdigest()[:16]


def _read_table(path: Path) -> pd.DataFrame:
    """A feature table indexed by ``patient_id`` (or its first column), the ids read as text."""
    if not path.is_file():
        raise ConfigError(f"Feature table {path} does not exist.")
    if path.suffix.lower() in (".parquet", ".pq"):
        df = pd.read_parquet(path, engine="pyarrow")
        if df.index.name != "patient_id":
            df = df.set_index("patient_id" if "patient_id" in df.columns else df.columns[0])
        ids = df.index.astype(str)
    else:  # ids as written: "007" stays "007", and "NA" is an id, not a missing value
        first = pd.read_csv(path, nrows=0).columns
        id_col = "patient_id" if "patient_id" in first else first[0]
        df = pd.read_csv(path, dtype={id_col: str}).set_index(id_col)
        ids = pd.read_csv(path, usecols=[id_col], dtype=str, keep_default_na=False)[id_col]
    df.index = pd.Index(np.asarray(ids, dtype=object), name="patient_id")
    bad = [p for p in df.index if not p.strip()] + df.index[df.index.duplicated()].tolist()
    if bad:
        raise ConfigError(
            f"Feature table {path}: patient ids must be non-empty and unique; {bad[:8]} are not."
        )
    return df


def _outcome_columns(dcfg: DatasetConfig) -> list[str]:
    """The outcome columns of a table or manifest: the label, or the time and event."""
    return [dcfg.time, dcfg.event] if dcfg.task == "survival" else [dcfg.label]


def _survival_source(dcfg: DatasetConfig, seed: int):
    """Features and outcome table of a ``sksurv`` or ``multimodal_survival`` dataset."""
    if dcfg.kind == "sksurv":
        X, y = load_sksurv(dcfg.params["name"])
    else:
        from radfuse.datasets import make_multimodal_survival

        X, y = make_multimodal_survival(**{"random_state": seed, **dcfg.params})
    return X, pd.DataFrame({"time": y["time"], "event": y["event"]}, index=X.index)


def _extract(manifest_path: Path, dcfg: DatasetConfig, cache: Path, n_jobs, progress, info):
    """Extract a manifest's features with a cache so reruns are instant."""
    from radfuse import extract_cohort, read_manifest

    manifest = read_manifest(manifest_path)
    outcome = _outcome_columns(dcfg)
    if dcfg.task == "survival" and not set(outcome) <= set(manifest.columns):
        raise ConfigError(
            f"dataset {dcfg.name!r}: manifest {manifest_path} lacks the time/event columns "
            f"{outcome} (columns: {list(manifest.columns)}); add them or set 'time:'/'event:'."
        )
    if dcfg.label not in manifest.columns and dcfg.task == "classification":
        raise ConfigError(
            f"dataset {dcfg.name!r}: manifest {manifest_path} has no label column "
            f"{dcfg.label!r} (columns: {list(manifest.columns)}); add it or set 'label:'."
        )
    key = json_digest(
        {"manifest": str(manifest_path), "spec": dcfg.spec, "mtime": manifest_path.stat().st_mtime},
        _KEY_LENGTH,
    )
    table_file = cache / f"features_{dcfg.name}_{key}.parquet"
    errors_file = cache / f"errors_{dcfg.name}_{key}.csv"
    t0 = time.perf_counter()
    if table_file.is_file():
        features = pd.read_parquet(table_file, engine="pyarrow")
        errors = pd.read_csv(errors_file) if errors_file.is_file() else pd.DataFrame()
        info["extraction_cached"] = True
    else:
        result = extract_cohort(
            manifest,
            spec=dcfg.spec,
            n_jobs=n_jobs,
            cache_dir=cache / "extraction",
            progress=progress,
        )
        features, errors = result.features, result.errors
        cache.mkdir(parents=True, exist_ok=True)
        features.to_parquet(table_file, engine="pyarrow")
        if errors is not None and len(errors):
            errors.to_csv(errors_file, index=False)
        info["extraction_cached"] = False
    info["extraction_seconds"] = round(time.perf_counter() - t0, 2)
    info["spec"] = dcfg.spec
    if errors is not None and len(errors):
        info["extraction_errors"] = errors.astype(str).to_dict(orient="records")
    labels = manifest[outcome] if dcfg.task == "survival" else manifest[dcfg.label]
    groups = manifest[dcfg.group] if dcfg.group and dcfg.group in manifest.columns else None
    if dcfg.group and groups is None:
        raise ConfigError(
            f"dataset {dcfg.name!r}: manifest {manifest_path} has no group column {dcfg.group!r} "
            f"(columns: {list(manifest.columns)})."
        )
    features = features.reindex(manifest.index)
    return features, labels, groups


def _phantom(dcfg: DatasetConfig, cache: Path, n_jobs, progress, seed, info):
    from radfuse.datasets import make_phantom_cohort

    params = {"random_state": seed, **dcfg.params}
    folder = cache / f"phantom_{json_digest(params, _KEY_LENGTH)}"
    marker = folder / ".radfuse_complete.json"
    t0 = time.perf_counter()
    if not marker.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        make_phantom_cohort(folder, progress=progress, overwrite=True, **params)
        marker.write_text(json.dumps(params, default=str))
        info["phantom_cached"] = False
    else:
        info["phantom_cached"] = True
    info["phantom_seconds"] = round(time.perf_counter() - t0, 2)
    info["phantom_folder"] = str(folder)
    return _extract(folder / "manifest.csv", dcfg, folder, n_jobs, progress, info)


def _drop_bad_columns(X: pd.DataFrame, info: dict) -> pd.DataFrame:
    """Drop columns with NaN inside present blocks, or non-finite values; record them."""
    layout = ModalityLayout.from_feature_names(X.columns, require_blocks=True)
    values = X.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    present = layout.presence_mask(values)
    bad = []
    for k, idx in enumerate(layout.indices):
        block = values[present[:, k]][:, idx]
        bad += [X.columns[j] for j, col in zip(idx, block.T) if np.isnan(col).any()]
    # a column that does not vary cannot inform any model; dropping it keeps scalers quiet
    constant = [c for c in X.columns if c not in bad and np.nanstd(X[c].to_numpy(float)) == 0]
    if bad:
        info["dropped_bad_value_columns"] = bad
    if constant:
        info["dropped_constant_columns"] = constant
    keep = [c for c in X.columns if c not in set(bad) | set(constant)]
    return pd.DataFrame(values, index=X.index, columns=X.columns)[keep]


def _labels(y) -> np.ndarray:
    """Labels as an array; numbers read as text (CSV manifests) become numbers again."""
    y = pd.Series(y)
    if not pd.api.types.is_numeric_dtype(y):
        num = pd.to_numeric(y, errors="coerce")
        if num.notna().all():
            y = num
    if pd.api.types.is_float_dtype(y) and (y == y.round()).all():
        y = y.astype(int)
    if pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return y.to_numpy()
    return y.astype(object).to_numpy()


def load_dataset(
    dcfg: DatasetConfig,
    *,
    cache_dir: Path,
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = True,
) -> BenchData:
    """Build one dataset of a benchmark.

    Parameters
    ----------
    dcfg : DatasetConfig
    cache_dir : path
        Where phantom cohorts, extraction caches and extracted tables are kept.
    seed : int
        Benchmark seed (default random state of generators and of missing-block simulation).
    n_jobs : int
        Extraction workers when ``dcfg.extract_n_jobs`` is not set.
    progress : bool
        Show extraction progress bars.

    Raises
    ------
    ConfigError
        A missing label or group column, unknown modalities, a table without modality blocks.
    """
    info: dict = {"kind": dcfg.kind}
    t0 = time.perf_counter()
    cache = Path(cache_dir)
    ext_jobs = dcfg.extract_n_jobs or n_jobs
    groups = None
    where = f"dataset {dcfg.name!r}"
    if dcfg.kind == "breast_cancer_views":
        from radfuse.datasets import load_breast_cancer_views

        X, y = load_breast_cancer_views(**dcfg.params)
    elif dcfg.kind == "multimodal":
        from radfuse.datasets import make_multimodal_classification

        X, y = make_multimodal_classification(**{"random_state": seed, **dcfg.params})
    elif dcfg.kind == "multicentre":
        X, y, groups = make_multicentre_table(**{"random_state": seed, **dcfg.params})
    elif dcfg.kind in ("sksurv", "multimodal_survival"):
        X, y = _survival_source(dcfg, seed)
    elif dcfg.kind == "table":
        df = _read_table(Path(dcfg.path))
        outcome = _outcome_columns(dcfg)
        if dcfg.task == "survival" and not set(outcome) <= set(df.columns):
            raise ConfigError(
                f"{where}: table {dcfg.path} lacks the time/event columns {outcome}; its "
                f"non-feature columns are {[c for c in df.columns if '__' not in str(c)]}. Set "
                "'time:' and 'event:'."
            )
        if dcfg.task == "survival":
            y = df[outcome]
            df = df.drop(columns=outcome)
        elif dcfg.label not in df.columns:
            raise ConfigError(
                f"{where}: table {dcfg.path} has no label column {dcfg.label!r}; its non-feature "
                f"columns are {[c for c in df.columns if '__' not in str(c)]}. Set 'label:'."
            )
        else:
            y = df.pop(dcfg.label)
        if dcfg.group:
            if dcfg.group not in df.columns:
                raise ConfigError(
                    f"{where}: table {dcfg.path} has no group column {dcfg.group!r}; set 'group:' "
                    "to the centre column or remove it."
                )
            groups = df.pop(dcfg.group)
        X = df
    elif dcfg.kind == "manifest":
        X, y, groups = _extract(Path(dcfg.path), dcfg, cache / dcfg.name, ext_jobs, progress, info)
    else:  # phantom (the configuration admits no other kind)
        X, y, groups = _phantom(dcfg, cache, ext_jobs, progress, seed, info)

    non_block = [c for c in X.columns if "__" not in str(c)]
    if non_block:
        raise ConfigError(
            f"{where}: columns {non_block[:8]} are not '<MODALITY>__<feature>' feature columns; "
            "name them so, or drop them (the label is taken from 'label:', the centre from "
            "'group:')."
        )
    # a text cell that is not a number would turn into NaN below and cost its whole column
    check_numeric(X, context=f"{where}: {dcfg.path or dcfg.kind}", error=ConfigError)
    X = X.apply(pd.to_numeric, errors="coerce") if X.dtypes.ne(float).any() else X
    layout = ModalityLayout.from_feature_names(X.columns, require_blocks=True)
    mods = list(layout.names)
    if dcfg.keep_modalities is not None:
        unknown = [m for m in dcfg.keep_modalities if m not in mods]
        if unknown:
            raise ConfigError(
                f"{where}: keep_modalities {unknown} are not in the data; it has {mods}."
            )
        X = X[[c for m in dcfg.keep_modalities for c in layout.feature_names_of(m)]]
    if dcfg.task == "survival":
        y = survival_frame(y, f"{where}: {dcfg.path or dcfg.kind}")
    elif y.isna().any():
        raise ConfigError(
            f"{where}: patients {list(y.index[y.isna()][:8])} have no label; remove them or fill "
            f"the {dcfg.label!r} column."
        )
    if dcfg.missing:
        from radfuse.datasets import simulate_missing_modalities

        X = simulate_missing_modalities(X, **{"random_state": seed, **dcfg.missing})
    X = _drop_bad_columns(X, info)
    layout = ModalityLayout.from_feature_names(X.columns, require_blocks=True)
    present = layout.presence_mask(X.to_numpy(dtype=float))
    empty = ~present.any(axis=1)
    if empty.any():
        info["dropped_rows_without_any_modality"] = [str(p) for p in X.index[empty]]
        X, y = X[~empty], y[~empty]
        groups = None if groups is None else groups[~empty]
        present = present[~empty]
    if dcfg.task == "survival":
        y_arr = survival_target(y)
        n_events = int(y_arr["event"].sum())
        outcome = {"event_counts": {"event": n_events, "censored": len(y_arr) - n_events}}
    else:
        y_arr = _labels(y)
        classes, counts = np.unique(y_arr, return_counts=True)
        if len(classes) < 2:
            raise ConfigError(f"{where}: the label has a single class {classes.tolist()}.")
        outcome = {"class_counts": {str(c): int(n) for c, n in zip(classes, counts)}}
    info.update(
        n_patients=len(X),
        n_features=X.shape[1],
        features_per_modality={m: len(ix) for m, ix in zip(layout.names, layout.indices)},
        **outcome,
        missing_per_modality={m: int((~present[:, k]).sum()) for k, m in enumerate(layout.names)},
        seconds=round(time.perf_counter() - t0, 2),
    )
    if groups is not None:
        g = np.asarray(groups).astype(str)
        info["group_counts"] = dict(zip(*(x.tolist() for x in np.unique(g, return_counts=True))))
        groups = np.asarray(groups)
    X.index.name = "patient_id"
    return BenchData(dcfg.name, X, y_arr, groups, list(layout.names), info)
