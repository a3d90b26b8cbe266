"""Cohort extraction: every (patient, modality) of a manifest through PyRadiomics, in parallel,
cached, into one wide feature table.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field, replace

import pandas as pd

from radfuse._utils.parallel import check_backend, is_dask, parallel_backend
from radfuse.extraction.cache import FeatureCache, file_digest
from radfuse.extraction.case import CaseOutcome, extract_case, run_case
from radfuse.extraction.exact import MODES
from radfuse.extraction.manifest import iter_cases, manifest_modalities, read_manifest
from radfuse.extraction.naming import feature_names
from radfuse.extraction.specs import FeatureSpec, load_spec
from radfuse.extraction.table import (
    ERROR_COLUMNS,
    assemble_features,
    diagnostics_table,
    error_table,
)

__all__ = [
    "ERROR_COLUMNS",
    "ExtractionResult",
    "extract_case",
    "extract_cohort",
    "feature_names",
]

logger = logging.getLogger(__name__)


@dataclass
class ExtractionResult:
    """Result of :func:`extract_cohort`.

    Attributes
    ----------
    features : DataFrame
        Wide table, float64, index ``patient_id``, columns ``"<MOD>__<feature>"``; a modality a
        patient lacks (or whose extraction failed, see ``errors``) is a NaN block.
    errors : DataFrame
        One row per failed case: ``patient_id, modality, image, mask, error``.
    diagnostics : DataFrame
        PyRadiomics' ``diagnostics_*`` values (as text), index ``(patient_id, modality)``.
    summary : dict
        ``n_cases``, ``n_done`` (computed now), ``n_cached``, ``n_failed``, ``seconds``.
    manifest : DataFrame
        The wide manifest used (with ``label`` / ``group`` if given).
    spec : FeatureSpec
    """

    features: pd.DataFrame
    errors: pd.DataFrame
    diagnostics: pd.DataFrame
    summary: dict
    manifest: pd.DataFrame
    spec: FeatureSpec = field(repr=False)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"ExtractionResult({self.features.shape[0]} patients x {self.features.shape[1]} "
            f"features; {s['n_done']} done, {s['n_cached']} cached, {s['n_failed']} failed, "
            f"{s['seconds']:.1f} s)"
        )


def _parallel_outcomes(todo, params, mode, options, n_jobs, backend, scheduler):
    """Yield outcomes of the tasks as they finish."""
    from joblib import Parallel, delayed

    tasks = (delayed(run_case)(case, params, mode, options) for case, _ in todo)
    if scheduler is not None:
        # a scheduler address is a backend of its own; Dask's default protocol is TCP
        backend = scheduler if is_dask(scheduler) else f"tcp://{scheduler}"
    with parallel_backend(backend, n_jobs):
        yield from Parallel(return_as="generator_unordered")(tasks)


def _checked(outcome: CaseOutcome, expected) -> CaseOutcome:
    """A finished case whose block would be partly NaN becomes a failed case.

    Every estimator of radfuse treats a block as present or missing (all NaN) and rejects a
    partly NaN one, so a case with a NaN / infinite value, or without a feature the spec names
    (``expected``; None when it cannot be named in advance), is reported in the error table and
    its block left missing, never filled in part.
    """
    if outcome.status == "failed":
        return outcome
    feats = outcome.features
    bad = [n for n, v in feats.items() if not math.isfinite(v)]
    missing = [n for n in expected if n not in feats] if expected is not None else []
    if not bad and not missing:
        return outcome
    parts = []
    if bad:
        parts.append(
            f"{len(bad)} feature value(s) are NaN or infinite: {bad[:8]}"
            + (" ..." if len(bad) > 8 else "")
        )
    if missing:
        parts.append(
            f"PyRadiomics returned no value for {len(missing)} feature(s) of the spec: "
            f"{missing[:8]}" + (" ..." if len(missing) > 8 else "")
        )
    error = (
        "; ".join(parts)
        + ". The block is left missing rather than partly NaN; check the image and mask (a "
        "degenerate region) or disable those features in the spec."
    )
    return replace(outcome, status="failed", features=None, diagnostics=None, error=error)


def _store(cache: FeatureCache, key: str, outcome: CaseOutcome):
    """Write one finished case; on failure warn and return None (the run goes on uncached)."""
    meta = {"patient_id": outcome.patient_id, "modality": outcome.modality}
    try:
        cache.put(key, outcome.features, outcome.diagnostics, meta)
    except OSError as exc:
        warnings.warn(
            f"cannot write to the cache folder {str(cache.folder)!r} ({type(exc).__name__}: "
            f"{exc}); the extraction goes on without caching (the cases finished from now on "
            "will be computed again by a rerun).",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return cache


def extract_cohort(
    manifest,
    spec="mri_all_filters",
    *,
    n_jobs=1,
    cache_dir=None,
    backend=None,
    progress=True,
    scheduler=None,
    mode="exact",
    resample_mask=False,
    modality_order=None,
) -> ExtractionResult:
    """Extract PyRadiomics features for every patient and modality of a manifest.

    Parameters
    ----------
    manifest : str, path or DataFrame
        See :func:`read_manifest`. Manifest-level problems raise before any extraction.
    spec : str, path, dict or FeatureSpec, default="mri_all_filters"
        Feature spec (see :func:`list_specs`).
    n_jobs : int, default=1
        Parallel workers (joblib's convention: ``-1`` = all cores). With ``backend="dask"``
        and no ``scheduler``, the number of workers of the local cluster.
    cache_dir : str or path, optional
        Cache folder: finished cases are stored one file each, as they finish, and never
        recomputed for the same files, settings and PyRadiomics version (a killed run resumes).
        A folder that cannot be written raises before any extraction; a write that fails later
        (disk full, ...) warns once and the run goes on without caching.
    backend : str, optional
        A joblib backend (``"loky"``, the default, ``"threading"``, ...) or ``"dask"`` (a local
        cluster of ``n_jobs`` single-threaded worker processes).
    progress : bool, default=True
        Show a tqdm progress bar.
    scheduler : str, optional
        Dask scheduler address (implies ``backend="dask"``). Workers must see the image files
        under the same paths (the cache is read and written by the calling process only).
    mode : {"exact", "pyradiomics"}, default="exact"
        ``"exact"`` filters a padded box around the mask (same values, faster);
        ``"pyradiomics"`` runs plain PyRadiomics on the full image.
    resample_mask : bool, default=False
        When image and mask grids differ, resample the mask onto the image (nearest neighbour)
        instead of reporting the case as failed.
    modality_order : list of str, optional
        Blocks of the output, in this order (default: the manifest's modalities, in its order).

    Returns
    -------
    ExtractionResult
        ``.features`` (wide float64 table), ``.errors`` (one row per failed case),
        ``.diagnostics``, ``.summary``.

    Notes
    -----
    A block of the table is either complete (every feature of the spec, all finite) or
    missing (all NaN). A case that PyRadiomics finishes with a NaN or infinite value, or
    without some of the spec's features, is a failed case (a row of ``errors`` listing them);
    so is a 2-D image with 3-D ``shape`` enabled and an image with NaN voxels in the mask.
    """
    from tqdm.auto import tqdm

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    check_backend(backend, "backend")
    t0 = time.perf_counter()
    man = read_manifest(manifest)
    spec = load_spec(spec)
    params = spec.params
    cases = list(iter_cases(man))
    options = {"resample_mask": bool(resample_mask), "mode": mode}
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    fingerprint = spec.fingerprint() if cache is not None else None
    expected = feature_names(spec)

    outcomes: list[CaseOutcome] = []
    todo = []
    for case in cases:
        key = None
        if cache is not None:
            try:
                opts = {**options, "label_value": case.label_value}
                key = cache.key(file_digest(case.image), file_digest(case.mask), fingerprint, opts)
            except OSError:
                pass  # a missing or unreadable file: the worker reports it
            entry = cache.get(key) if key is not None else None
            if entry is not None:
                cached = CaseOutcome(
                    case.patient_id,
                    case.modality,
                    case.image,
                    case.mask,
                    "cached",
                    entry["features"],
                    entry["diagnostics"],
                )
                outcomes.append(_checked(cached, expected))
                continue
        todo.append((case, key))

    bar = tqdm(
        total=len(cases),
        initial=len(outcomes),
        disable=not progress,
        desc=f"radiomics ({spec.name})",
        unit="case",
    )
    keys = {(case.patient_id, case.modality): key for case, key in todo}
    try:
        if todo:
            for outcome in _parallel_outcomes(
                todo, params, mode, options, n_jobs, backend, scheduler
            ):
                outcome = _checked(outcome, expected)
                outcomes.append(outcome)
                key = keys[(outcome.patient_id, outcome.modality)]
                if cache is not None and key is not None and outcome.status == "done":
                    cache = _store(cache, key, outcome)
                bar.update(1)
                if outcome.status == "failed":
                    bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes))
    finally:
        bar.close()

    mods = list(modality_order) if modality_order is not None else manifest_modalities(man)
    features = assemble_features(outcomes, man.index, mods, spec)
    errors = error_table(outcomes)
    diagnostics = diagnostics_table(outcomes)
    summary = {
        "n_cases": len(cases),
        "n_done": sum(o.status == "done" for o in outcomes),
        "n_cached": sum(o.status == "cached" for o in outcomes),
        "n_failed": len(errors),
        "seconds": time.perf_counter() - t0,
    }
    if len(errors):
        logger.warning(
            "%d of %d cases failed; see the error table (result.errors).", len(errors), len(cases)
        )
    return ExtractionResult(features, errors, diagnostics, summary, man, spec)
