"""Cohort extraction: every (patient, modality) of a manifest through PyRadiomics, in parallel,
cached, into one wide feature table.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from radfuse.extraction.cache import FeatureCache, file_digest
from radfuse.extraction.exact import MODES, ExactExtractor
from radfuse.extraction.manifest import Case, iter_cases, manifest_modalities, read_manifest
from radfuse.extraction.specs import FeatureSpec, load_spec
from radfuse.modality import format_name

__all__ = [
    "ERROR_COLUMNS",
    "ExtractionResult",
    "RadiomicsExtractor",
    "extract_case",
    "extract_cohort",
    "feature_names",
]

ERROR_COLUMNS = ["patient_id", "modality", "image", "mask", "error"]
logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# feature names a spec produces
# --------------------------------------------------------------------------------------------
def _derived_image_names(image_type: str, kw: dict) -> list[str] | None:
    if image_type == "Original":
        return ["original"]
    if image_type == "Wavelet":
        import itertools

        n_axes = 2 if kw.get("force2D", False) else 3
        levels = int(kw.get("level", 1))
        names = []
        for idx in range(1, levels + 1):
            for combo in itertools.product("LH", repeat=n_axes):
                dec = "".join(combo)
                if dec == "L" * n_axes:
                    continue
                names.append(f"wavelet-{dec}" if idx == 1 else f"wavelet{idx}-{dec}")
        approx = "L" * n_axes
        names.append(f"wavelet-{approx}" if levels == 1 else f"wavelet{levels}-{approx}")
        return names
    if image_type == "LoG":
        return [f"log-sigma-{str(s).replace('.', '-')}-mm-3D" for s in kw.get("sigma", [])]
    if image_type == "LBP3D":
        levels = int(kw.get("lbp3DLevels", 2))
        return [f"lbp-3D-m{i + 1}" for i in range(levels)] + ["lbp-3D-k"]
    simple = {
        "Square": "square",
        "SquareRoot": "squareroot",
        "Logarithm": "logarithm",
        "Exponential": "exponential",
        "Gradient": "gradient",
        "LBP2D": "lbp-2D",
    }
    if image_type in simple:
        return [simple[image_type]]
    return None


def feature_names(spec) -> list[str] | None:
    """The PyRadiomics feature names a spec yields for a 3D case, in PyRadiomics' order.

    Returns None for an image type radfuse cannot name in advance (a custom filter).
    """
    from radiomics import getFeatureClasses

    spec = load_spec(spec)
    resolved = spec.resolved()
    settings = resolved["setting"]
    classes = resolved["featureClass"]
    available = getFeatureClasses()

    def names_of(cls):
        if classes.get(cls):
            return list(classes[cls])
        return [n for n, deprecated in available[cls].getFeatureNames().items() if not deprecated]

    out = []
    if "shape" in classes:
        out += [f"original_shape_{n}" for n in names_of("shape")]
    if "shape2D" in classes and settings.get("force2D", False):
        out += [f"original_shape2D_{n}" for n in names_of("shape2D")]
    for image_type, custom in resolved["imageType"].items():
        derived = _derived_image_names(image_type, {**settings, **(custom or {})})
        if derived is None:
            return None
        for image_name in derived:
            for cls in classes:
                if cls.startswith("shape"):
                    continue
                out += [f"{image_name}_{cls}_{n}" for n in names_of(cls)]
    return out


# --------------------------------------------------------------------------------------------
# one case (runs in a worker)
# --------------------------------------------------------------------------------------------
@dataclass
class CaseOutcome:
    """What happened to one (patient, modality)."""

    patient_id: str
    modality: str
    image: str
    mask: str
    status: str  # "done", "cached" or "failed"
    features: dict | None = None
    diagnostics: dict | None = None
    error: str | None = None
    seconds: float = 0.0


class CaseError(Exception):
    """A problem with one case's files or mask (becomes a row of the error table)."""


_EXTRACTORS: dict = {}


def _extractor(params: dict, mode: str) -> ExactExtractor:
    # one extractor per process and spec: building one validates the spec (pykwalify)
    key = (json.dumps(params, sort_keys=True, default=str), mode)
    ex = _EXTRACTORS.get(key)
    if ex is None:
        ex = ExactExtractor(params, mode=mode)
        _EXTRACTORS.clear()
        _EXTRACTORS[key] = ex
    return ex


def _read(path: str, what: str):
    import os

    import SimpleITK as sitk

    if not os.path.isfile(path):
        raise CaseError(f"{what} file not found: {path}. Check the path in the manifest.")
    try:
        return sitk.ReadImage(path)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next(
            (ln for ln in first if "ERROR" in ln or "rror" in ln), first[0] if first else ""
        )
        raise CaseError(
            f"cannot read {what} file {path} (unreadable or corrupt): {detail.strip()[:300]}"
        ) from None


def _check_geometry(image, mask, tolerance: float, resample_mask: bool):
    """Compare image and mask grids; return the mask (resampled onto the image if allowed)."""
    import SimpleITK as sitk

    diffs = []
    if image.GetDimension() != mask.GetDimension():
        raise CaseError(
            f"image is {image.GetDimension()}D but mask is {mask.GetDimension()}D; they must "
            "have the same number of dimensions."
        )
    if image.GetSize() != mask.GetSize():
        diffs.append(f"size (image {image.GetSize()}, mask {mask.GetSize()})")
    spacing_i, spacing_m = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    scale = float(np.min(spacing_i))
    if np.any(np.abs(spacing_i - spacing_m) > tolerance * scale):
        diffs.append(f"spacing (image {image.GetSpacing()}, mask {mask.GetSpacing()})")
    origin_i, origin_m = np.array(image.GetOrigin()), np.array(mask.GetOrigin())
    if np.any(np.abs(origin_i - origin_m) > tolerance * scale):
        diffs.append(f"origin (image {image.GetOrigin()}, mask {mask.GetOrigin()})")
    dir_i, dir_m = np.array(image.GetDirection()), np.array(mask.GetDirection())
    if np.any(np.abs(dir_i - dir_m) > tolerance):
        diffs.append(f"direction (image {image.GetDirection()}, mask {mask.GetDirection()})")
    if not diffs:
        return mask
    if not resample_mask:
        raise CaseError(
            "image and mask grids differ in "
            + ", ".join(diffs)
            + ". Fix the mask, or pass resample_mask=True to resample the mask onto the image "
            "grid (nearest neighbour)."
        )
    return sitk.Resample(
        mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()
    )


def _check_mask(mask, label: int):
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    n = int(np.count_nonzero(arr == label))
    if n == 0:
        present = np.unique(arr)
        present = present[present != 0]
        if present.size == 0:
            raise CaseError("mask is empty (no labelled voxel); nothing to extract.")
        raise CaseError(
            f"mask has no voxel with label {label} (labels present: "
            f"{[int(v) for v in present[:10]]}). Set the label in the spec or a "
            "'label_value' column in the manifest."
        )
    if n == 1:
        raise CaseError(
            f"mask has a single voxel with label {label}: texture and shape features need a "
            "region of several voxels."
        )


def extract_case(case: Case, params: dict, mode: str = "exact", *, resample_mask=False):
    """Extract one case; returns ``(features, diagnostics)``; raises on a bad case."""
    settings = params.get("setting") or {}
    label = case.label_value if case.label_value is not None else int(settings.get("label", 1))
    image = _read(case.image, "image")
    mask = _read(case.mask, "mask")
    tol = settings.get("geometryTolerance") or 1e-6
    mask = _check_geometry(image, mask, float(tol), resample_mask)
    _check_mask(mask, label)
    result = _extractor(params, mode).execute(image, mask, label=label)
    features, diagnostics = {}, {}
    for k, v in result.items():
        if k.startswith("diagnostics_"):
            diagnostics[k] = str(v)
        else:
            features[k] = _real(k, v)
    return features, diagnostics


def _real(name: str, value) -> float:
    """A feature value as float; complex values must have a negligible imaginary part.

    With NumPy >= 2.5, PyRadiomics' shape axis lengths (from ``numpy.linalg.eigvals``) come back
    as complex numbers with a zero imaginary part; anything else complex is an error, not a value
    to truncate silently.
    """
    if np.iscomplexobj(value):
        z = complex(value)
        if abs(z.imag) > 1e-9 * max(1.0, abs(z.real)):
            raise ValueError(f"feature {name} is complex ({z!r}); expected a real value")
        return float(z.real)
    return float(value)


_itk_lock = threading.Lock()
_itk_users = 0
_itk_threads = 0


def _run_case(case: Case, params: dict, mode: str, options: dict, cache_folder, key):
    """Worker task: extract, cache, never raise for a bad case."""
    import radiomics
    import SimpleITK as sitk

    # PyRadiomics' warnings would flood a cohort run's output; every condition radfuse relies
    # on is checked explicitly (files, geometry, mask, skipped filters) and reported.
    radiomics.setVerbosity(logging.ERROR)
    # Parallelism is over cases: ITK's own threads only add start-up cost per filter call
    # (measured 2.3 ms -> 0.4 ms per crop) and oversubscribe the cores.
    global _itk_users, _itk_threads
    with _itk_lock:  # reference counted: thread-based backends run several cases at once
        if _itk_users == 0:
            _itk_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        _itk_users += 1
    try:
        return _run_case_inner(case, params, mode, options, cache_folder, key)
    finally:
        with _itk_lock:
            _itk_users -= 1
            if _itk_users == 0:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(_itk_threads)


def _run_case_inner(case, params, mode, options, cache_folder, key):
    t0 = time.perf_counter()
    base = dict(
        patient_id=case.patient_id, modality=case.modality, image=case.image, mask=case.mask
    )
    try:
        features, diagnostics = extract_case(
            case, params, mode, resample_mask=options.get("resample_mask", False)
        )
    except Exception as exc:  # a bad case becomes an error row; the batch goes on
        msg = str(exc).strip() or type(exc).__name__
        if not isinstance(exc, CaseError):
            msg = f"{type(exc).__name__}: {msg}"
        return CaseOutcome(**base, status="failed", error=msg, seconds=time.perf_counter() - t0)
    if cache_folder is not None and key is not None:
        FeatureCache(cache_folder).put(
            key, features, diagnostics, {"patient_id": case.patient_id, "modality": case.modality}
        )
    return CaseOutcome(
        **base,
        status="done",
        features=features,
        diagnostics=diagnostics,
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------------------------
# the cohort
# --------------------------------------------------------------------------------------------
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


def _parallel_outcomes(todo, params, mode, options, cache_folder, n_jobs, backend, scheduler):
    """Yield outcomes of the tasks as they finish."""
    from joblib import Parallel, delayed, parallel_config

    tasks = (
        delayed(_run_case)(case, params, mode, options, cache_folder, key) for case, key in todo
    )
    if backend == "dask" or scheduler is not None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover
            raise ImportError(
                "backend='dask' needs dask[distributed]: pip install 'radfuse[dask]'"
            ) from exc
        cluster = None
        if scheduler is not None:
            client = Client(scheduler)
        else:
            workers = n_jobs if n_jobs and n_jobs > 0 else None
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            client = Client(cluster)
        try:
            with parallel_config(backend="dask"):
                yield from Parallel(return_as="generator_unordered")(tasks)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    yield from Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")(tasks)


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
    modalities=None,
) -> ExtractionResult:
    """Extract PyRadiomics features for every patient and modality of a manifest.

    Parameters
    ----------
    manifest : str, path or DataFrame
        See :func:`read_manifest`. Manifest-level problems raise before any extraction.
    spec : str, path, dict or FeatureSpec, default="mri_all_filters"
        Feature spec (see :func:`list_specs`).
    n_jobs : int, default=1
        Parallel workers (joblib; ``-1`` = all cores). With ``backend="dask"`` and no
        ``scheduler``, the number of workers of the local cluster.
    cache_dir : str or path, optional
        Cache folder: finished cases are stored one file each and never recomputed for the
        same files, settings and PyRadiomics version (a killed run resumes).
    backend : str, optional
        A joblib backend (``"loky"``, ``"threading"``, ...) or ``"dask"`` (a local cluster of
        ``n_jobs`` worker processes, or the cluster at ``scheduler``).
    progress : bool, default=True
        Show a tqdm progress bar.
    scheduler : str, optional
        Dask scheduler address (implies ``backend="dask"``). Workers must see the image files
        and the cache folder under the same paths.
    mode : {"exact", "pyradiomics"}, default="exact"
        ``"exact"`` filters a padded box around the mask (same values, faster);
        ``"pyradiomics"`` runs plain PyRadiomics on the full image.
    resample_mask : bool, default=False
        When image and mask grids differ, resample the mask onto the image (nearest neighbour)
        instead of reporting the case as failed.
    modalities : list of str, optional
        Blocks of the output, in order (default: the manifest's modalities).

    Returns
    -------
    ExtractionResult
        ``.features`` (wide float64 table), ``.errors`` (one row per failed case),
        ``.diagnostics``, ``.summary``.
    """
    from tqdm.auto import tqdm

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    t0 = time.perf_counter()
    man = read_manifest(manifest)
    spec = load_spec(spec)
    params = spec.params
    cases = list(iter_cases(man))
    options = {"resample_mask": bool(resample_mask), "mode": mode}
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    fingerprint = spec.fingerprint() if cache is not None else None

    outcomes: list[CaseOutcome] = []
    todo = []
    for case in cases:
        key = None
        if cache is not None:
            try:
                opts = {**options, "label_value": case.label_value}
                key = cache.key(file_digest(case.image), file_digest(case.mask), fingerprint, opts)
            except OSError:
                key = None  # a missing or unreadable file: the worker reports it
            entry = cache.get(key) if key is not None else None
            if entry is not None:
                outcomes.append(
                    CaseOutcome(
                        case.patient_id,
                        case.modality,
                        case.image,
                        case.mask,
                        "cached",
                        entry["features"],
                        entry["diagnostics"],
                    )
                )
                continue
        todo.append((case, key))

    bar = tqdm(
        total=len(cases),
        initial=len(outcomes),
        disable=not progress,
        desc=f"radiomics ({spec.name})",
        unit="case",
    )
    cache_folder = str(cache.folder) if cache is not None else None
    try:
        if todo:
            for outcome in _parallel_outcomes(
                todo, params, mode, options, cache_folder, n_jobs, backend, scheduler
            ):
                outcomes.append(outcome)
                bar.update(1)
                if outcome.status == "failed":
                    bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes))
    finally:
        bar.close()

    mods = list(modalities) if modalities is not None else manifest_modalities(man)
    features = _assemble(outcomes, man.index, mods, spec)
    errors = pd.DataFrame(
        [
            [o.patient_id, o.modality, o.image, o.mask, o.error]
            for o in outcomes
            if o.status == "failed"
        ],
        columns=ERROR_COLUMNS,
    ).sort_values(["patient_id", "modality"], ignore_index=True)
    diag_rows = {(o.patient_id, o.modality): o.diagnostics for o in outcomes if o.diagnostics}
    diagnostics = pd.DataFrame.from_dict(diag_rows, orient="index")
    if len(diagnostics):
        diagnostics.index = pd.MultiIndex.from_tuples(
            diagnostics.index, names=["patient_id", "modality"]
        )
        diagnostics = diagnostics.sort_index()
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


def _assemble(outcomes, index, modalities, spec) -> pd.DataFrame:
    """The wide float64 table from per-case outcomes."""
    expected = feature_names(spec)
    by_mod: dict[str, dict[str, dict]] = {m: {} for m in modalities}
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


# --------------------------------------------------------------------------------------------
# scikit-learn transformer
# --------------------------------------------------------------------------------------------
class RadiomicsExtractor(TransformerMixin, BaseEstimator):
    """Turn a wide manifest into a wide radiomics feature table (scikit-learn transformer).

    Parameters
    ----------
    spec : str, path or dict, default="mri_all_filters"
        Feature spec (see :func:`radfuse.list_specs`).
    n_jobs : int, default=1
        Parallel workers.
    cache_dir : str or path, optional
        Cache folder (strongly recommended: ``fit_transform`` then ``transform`` of the same
        cases costs one extraction).
    backend : str, optional
        joblib backend or ``"dask"``; see :func:`extract_cohort`.
    scheduler : str, optional
        Dask scheduler address.
    mode : {"exact", "pyradiomics"}, default="exact"
    resample_mask : bool, default=False
    progress : bool, default=False
        Show a progress bar during ``transform``.

    Attributes
    ----------
    spec_ : FeatureSpec
        The validated spec.
    modalities_ : list of str
        Modalities (blocks) of the manifest seen in ``fit``.
    feature_names_in_ : ndarray of str
        Columns of the manifest seen in ``fit``.
    n_features_in_ : int
    last_errors_ : DataFrame
        Error table of the latest ``transform`` (``patient_id, modality, image, mask, error``).

    Notes
    -----
    ``fit`` only validates (manifest, spec); ``transform`` extracts. Cases that fail become NaN
    blocks and rows of ``last_errors_``; the output always has the columns of
    :meth:`get_feature_names_out`.
    """

    def __init__(
        self,
        spec="mri_all_filters",
        n_jobs=1,
        cache_dir=None,
        backend=None,
        scheduler=None,
        mode="exact",
        resample_mask=False,
        progress=False,
    ):
        self.spec = spec
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.backend = backend
        self.scheduler = scheduler
        self.mode = mode
        self.resample_mask = resample_mask
        self.progress = progress

    def fit(self, X, y=None):
        """Validate the manifest and the spec; no extraction.

        Parameters
        ----------
        X : DataFrame, str or path
            Wide (or long) manifest, see :func:`radfuse.read_manifest`.
        y : ignored
        """
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        man = read_manifest(X)
        self.spec_ = load_spec(self.spec)
        names = feature_names(self.spec_)
        if names is None:
            raise ValueError(
                f"spec {self.spec_.name!r} enables an image type radfuse cannot name in advance; "
                "use extract_cohort() for it."
            )
        self.spec_feature_names_ = names
        self.modalities_ = manifest_modalities(man)
        self.feature_names_in_ = np.asarray([str(c) for c in man.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X):
        """Extract the features of every patient of the manifest ``X``.

        Returns
        -------
        DataFrame
            Index ``patient_id``, columns :meth:`get_feature_names_out`, float64.
        """
        check_is_fitted(self, "spec_")
        result = extract_cohort(
            X,
            self.spec_,
            n_jobs=self.n_jobs,
            cache_dir=self.cache_dir,
            backend=self.backend,
            progress=self.progress,
            scheduler=self.scheduler,
            mode=self.mode,
            resample_mask=self.resample_mask,
            modalities=self.modalities_,
        )
        self.last_errors_ = result.errors
        cols = list(self.get_feature_names_out())
        extra = [c for c in result.features.columns if c not in set(cols)]
        if extra:
            raise ValueError(
                f"extraction produced columns not seen in fit (modalities or features): "
                f"{extra[:5]}{' ...' if len(extra) > 5 else ''}. Fit on a manifest with the same "
                "modalities."
            )
        return result.features.reindex(columns=cols)

    def get_feature_names_out(self, input_features=None):
        """Output columns ``"<MOD>__<feature>"`` for every modality seen in ``fit``."""
        check_is_fitted(self, "spec_")
        return np.asarray(
            [format_name(m, n) for m in self.modalities_ for n in self.spec_feature_names_],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
