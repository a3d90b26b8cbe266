"""The benchmark runner: datasets x models x modality subsets x CV folds.

The grid is cut into *fits*: one fit is one (dataset, model, fold) for models that serve every
subset from one fitted model (``subset_mode: blank_at_test``), and one (dataset, model, subset,
fold) otherwise. Each fit yields one result row per subset it is evaluated on (so every
(dataset, model, subset, fold) has its row) and the out-of-fold predictions behind it.

Fits run in parallel with joblib (each worker with a fair share of torch and BLAS threads) or on a
Dask cluster through joblib's Dask backend. Every finished fit is written to its own JSON file in
``<out>/tasks/`` (atomically), keyed by a hash of everything it depends on, so an interrupted
benchmark resumes where it stopped and a changed configuration recomputes only what changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from radfuse.benchmark.config import (
    BenchmarkConfig,
    ConfigError,
    ModelConfig,
    _import_object,
    load_config,
)
from radfuse.benchmark.data import BenchData, load_dataset
from radfuse.benchmark.metrics import compute_metrics

__all__ = ["BenchmarkResult", "Split", "make_splits", "plan_fits", "run_benchmark", "subset_name"]

#: Name of the full subset in tables (all modalities of a dataset).
SUBSET_SEP = "+"


def subset_name(subset) -> str:
    """Name of a modality subset in tables and file names (``"T1WI+FLAIR"``)."""
    return SUBSET_SEP.join(subset)


@dataclass(frozen=True)
class Split:
    """One train/test split of a dataset (row positions)."""

    repeat: int
    fold: int
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)


@dataclass
class Fit:
    """One unit of work: fit a model once, evaluate it on one or more subsets."""

    key: str
    dataset: str
    model: str
    subsets: list[tuple[str, ...]]
    fit_subset: tuple[str, ...] | None
    split: Split
    digest: str = ""


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` returns.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    results : DataFrame
        One row per (dataset, model, subset, repeat, fold) with every metric.
    summary : DataFrame
        Mean and standard deviation over folds per (dataset, model, subset).
    run_info : dict
        Versions, device, seeds, timings.
    """

    out_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    run_info: dict


# -- splits -------------------------------------------------------------------------------------
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
    y = data.y
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


# -- planning -----------------------------------------------------------------------------------
def _resolve_subsets(cfg: BenchmarkConfig, data: BenchData) -> list[tuple[str, ...]]:
    mods = data.modalities
    if cfg.subsets == "all":
        return [c for k in range(1, len(mods) + 1) for c in itertools.combinations(mods, k)]
    if cfg.subsets == "single":
        return [(m,) for m in mods] + [tuple(mods)]
    out = []
    for s in cfg.subsets:
        unknown = [m for m in s if m not in mods]
        if unknown:
            raise ConfigError(
                f"subsets: {list(s)} names modality {unknown} that dataset {data.name!r} does not "
                f"have; its modalities are {mods}."
            )
        # keep the dataset's block order so names are canonical
        out.append(tuple(m for m in mods if m in s))
    return list(dict.fromkeys(out))


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_fits(
    cfg: BenchmarkConfig,
    data: BenchData,
    splits: list[Split],
    subsets: list[tuple[str, ...]],
    *,
    shuffle_labels: bool = False,
    fingerprint: str = "",
) -> list[Fit]:
    """The fits of one dataset (see the module docstring)."""
    fits = []
    cfg_dict = cfg.to_dict()
    for m in cfg.models:
        if m.datasets is not None and data.name not in m.datasets:
            continue
        mdict = next(d for d in cfg_dict["models"] if d["name"] == m.name)
        for s in splits:
            base = {
                "dataset": next(d for d in cfg_dict["datasets"] if d["name"] == data.name),
                "data": fingerprint,
                "model": mdict,
                "seed": cfg.seed,
                "device": cfg.device,
                "repeat": s.repeat,
                "test": _digest(s.test.tolist()),
                "shuffle": shuffle_labels,
            }
            tag = f"r{s.repeat}f{s.fold}"
            if m.subset_mode == "blank_at_test":
                fits.append(
                    Fit(
                        f"{data.name}/{m.name}/all__{tag}",
                        data.name,
                        m.name,
                        list(subsets),
                        None,
                        s,
                        _digest({**base, "subsets": subsets}),
                    )
                )
            else:
                for sub in subsets:
                    fits.append(
                        Fit(
                            f"{data.name}/{m.name}/{subset_name(sub)}__{tag}",
                            data.name,
                            m.name,
                            [sub],
                            sub,
                            s,
                            _digest({**base, "subsets": [sub]}),
                        )
                    )
    return fits


# -- one fit (runs in a worker) ----------------------------------------------------------------
def _set_threads(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def build_estimator(
    mcfg: ModelConfig, *, seed: int, device, threads: int, input_modalities=None, defaults=None
):
    """The model of an entry, wrapped in its preprocessing pipeline.

    ``random_state`` (the fit's seed), ``device`` and ``n_jobs`` (the fit's thread share) are set
    unless the entry gives them; ``defaults`` are further parameters set where the class accepts
    them and the entry does not give them.
    """
    cls = mcfg.resolve_class()
    params = dict(mcfg.params)
    accepted = set(cls().get_params(deep=False))
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    if device is not None and "device" in accepted and "device" not in params:
        params["device"] = device
    # scikit-learn's n_jobs=None is already one thread; others (XGBoost) take every core
    if (
        "n_jobs" in accepted
        and params.get("n_jobs") is None
        and not getattr(cls.__init__, "__module__", "").startswith("sklearn")
    ):
        params["n_jobs"] = threads
    if "nthread" in accepted and params.get("nthread") is None and "n_jobs" not in accepted:
        params["nthread"] = threads
    if input_modalities is not None:
        params["input_modalities"] = tuple(input_modalities)
    for k, v in (defaults or {}).items():
        if k in accepted and k not in params:
            params[k] = v
    est = cls(**params)
    if mcfg.preprocessing is None:
        return est
    prep = dict(mcfg.preprocessing)
    factory = prep.pop("factory", "radfuse.make_radiomics_pipeline")
    factory = _import_object(f"model {mcfg.name!r} preprocessing.factory", factory)
    pipe = factory(est, **prep)
    # the preprocessing's own random states (SMOTE...) follow the fit's seed
    updates = {
        k: seed
        for k, v in pipe.get_params(deep=True).items()
        if k.endswith("random_state") and v is None
    }
    if updates:
        pipe.set_params(**updates)
    return pipe


def _blank(X: pd.DataFrame, layout, keep: tuple[str, ...]) -> pd.DataFrame:
    X = X.copy()
    for m in layout.names:
        if m not in keep:
            X.iloc[:, layout.index(m)] = np.nan
    return X


def _columns_of(layout, subset) -> np.ndarray:
    return np.concatenate([layout.index(m) for m in subset])


def run_fit(
    fit: Fit,
    mcfg: ModelConfig,
    values: np.ndarray,
    columns: list,
    index: list,
    y: np.ndarray,
    *,
    seed: int,
    device,
    threads: int,
    positive_label=None,
    importance: bool = True,
) -> dict:
    """Fit one model on one split and evaluate it on its subsets.

    Returns a JSON-serialisable dict with the result rows, the out-of-fold predictions and
    timings. Exceptions are re-raised naming the fit.
    """
    from threadpoolctl import threadpool_limits

    _set_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return _run_fit(
                fit,
                mcfg,
                values,
                columns,
                index,
                y,
                seed,
                device,
                threads,
                positive_label,
                importance,
            )
    except Exception as exc:
        raise RuntimeError(
            f"benchmark fit {fit.key!r} (model {mcfg.name!r}, class {mcfg.cls}) failed: "
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ) from exc


def _run_fit(
    fit, mcfg, values, columns, index, y, seed, device, threads, positive_label, importance
):
    from radfuse.modality import ModalityLayout

    t_start, cpu_start = time.perf_counter(), time.process_time()
    X = pd.DataFrame(
        np.asarray(values, dtype=float), columns=columns, index=pd.Index(index, name="patient_id")
    )
    layout = ModalityLayout.from_feature_names(columns, require_blocks=True)
    all_mods = tuple(layout.names)
    present = layout.presence_mask(X.to_numpy())
    split = fit.split
    model_seed = seed + split.repeat
    tr = split.train
    if mcfg.train_rows == "complete" or (
        mcfg.train_rows == "subset" and mcfg.subset_mode == "blank_at_test"
    ):
        tr = tr[present[tr].all(axis=1)]
    mode = mcfg.subset_mode
    # With every modality as input no reconstruction target is left: the network then runs as a
    # plain fusion model, every block a token and no missing token (input_modalities=None with
    # no modality dropout).
    full_fusion = mode == "input_modalities" and fit.fit_subset == all_mods
    est = build_estimator(
        mcfg,
        seed=model_seed,
        device=device,
        threads=threads,
        input_modalities=fit.fit_subset if mode == "input_modalities" and not full_fusion else None,
        defaults={"modality_dropout": 0.0} if full_fusion else None,
    )
    if mode == "columns":
        cols = _columns_of(layout, fit.fit_subset)
        sub_idx = [all_mods.index(m) for m in fit.fit_subset]
        # rows without any block of the subset carry nothing for this model
        tr = tr[present[tr][:, sub_idx].any(axis=1)]
        if mcfg.train_rows == "subset":
            tr = tr[present[tr][:, sub_idx].all(axis=1)]
        X_train = X.iloc[tr, cols]
    elif mode == "input_modalities":
        # the network reads the subset's blocks, so a training row needs every one of them
        sub_idx = [all_mods.index(m) for m in fit.fit_subset]
        tr = tr[present[tr][:, sub_idx].all(axis=1)]
        X_train = X.iloc[tr]
    else:
        X_train = X.iloc[tr]
    y_train = y[tr]
    t0 = time.perf_counter()
    est.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - t0
    classes = np.asarray(est.classes_)

    rows, oof = [], []
    t0 = time.perf_counter()
    for sub in fit.subsets:
        sub_idx = [all_mods.index(m) for m in sub]
        # subset S is scored on the test patients who have every modality of S, with exactly S
        # available (the same patients for every model)
        te = split.test[present[split.test][:, sub_idx].all(axis=1)]
        X_test = X.iloc[te]
        if mode == "columns":
            proba = est.predict_proba(X_test.iloc[:, _columns_of(layout, sub)])
        else:
            proba = est.predict_proba(_blank(X_test, layout, sub))
        proba = np.asarray(proba, dtype=float)
        metrics = compute_metrics(y[te], proba, classes, positive_label)
        rows.append(
            {
                "dataset": fit.dataset,
                "model": fit.model,
                "subset": subset_name(sub),
                "n_modalities": len(sub),
                "repeat": split.repeat,
                "fold": split.fold,
                "n_train": len(tr),
                "n_test": len(te),
                **metrics,
            }
        )
        oof.append(
            {
                "subset": subset_name(sub),
                "patient_id": [str(p) for p in X.index[te]],
                "y_true": y[te].tolist(),
                "proba": proba.tolist(),
            }
        )
    predict_seconds = time.perf_counter() - t0

    # modality importance: AUC lost when one block is blanked at test time (full-subset fits)
    blanked = {}
    # (blank_at_test models get it from their subset rows; input_modalities models are trained
    # per subset and never see a missing input block, so blanking one would measure nothing
    # meaningful: compare their subset rows instead)
    if importance and all_mods in fit.subsets and len(all_mods) > 1 and mode == "columns":
        te = split.test
        for m in all_mods:
            keep = tuple(x for x in all_mods if x != m)
            rows_ok = te[present[te].all(axis=1)]
            try:
                Xb = _blank(X.iloc[rows_ok], layout, keep)
                with np.errstate(all="ignore"):
                    p = np.asarray(est.predict_proba(Xb), dtype=float)
                if not np.isfinite(p).all():
                    raise ValueError("non-finite probabilities")
                blanked[m] = {
                    "patient_id": [str(x) for x in X.index[rows_ok]],
                    "y_true": y[rows_ok].tolist(),
                    "proba": p.tolist(),
                    "roc_auc": compute_metrics(y[rows_ok], p, classes, positive_label)["roc_auc"],
                }
            except Exception as exc:  # the model cannot take a missing block: say so
                blanked[m] = {"error": f"{type(exc).__name__}: {exc}"[:160]}
    seconds = time.perf_counter() - t_start
    for r in rows:
        r["fit_seconds"] = round(fit_seconds, 3)
        r["predict_seconds"] = round(predict_seconds / len(rows), 3)
    return {
        "key": fit.key,
        "digest": fit.digest,
        "classes": classes.tolist(),
        "rows": rows,
        "oof": oof,
        "blanked": blanked,
        "seconds": round(seconds, 3),
        # CPU time of the worker process (all its threads): contention-free cost of the fit
        "cpu_seconds": round(time.process_time() - cpu_start, 3),
        "fit_seconds": round(fit_seconds, 3),
        "threads": threads,
        "pid": os.getpid(),
        "host": platform.node(),
    }


# -- storage ------------------------------------------------------------------------------------
def task_path(out_dir: Path, key: str) -> Path:
    """File of a finished fit."""
    return Path(out_dir) / "tasks" / f"{key}.json"


def _write_atomic(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, default=_json_default))
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def load_task(out_dir: Path, fit_key: str, digest: str | None = None) -> dict | None:
    """A stored fit, or None when absent, unreadable or computed for another configuration."""
    path = task_path(out_dir, fit_key)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if digest is not None and payload.get("digest") != digest:
        return None
    return payload


# -- environment ---------------------------------------------------------------------------------
_PACKAGES = (
    "radfuse",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "imbalanced-learn",
    "torch",
    "xgboost",
    "pyradiomics-bhklab",
    "SimpleITK",
    "joblib",
    "dask",
    "distributed",
    "matplotlib",
)


def environment_info() -> dict:
    """Package versions, Python, platform and device of this process."""
    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    device = {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    try:
        import torch

        device["torch_cuda"] = bool(torch.cuda.is_available())
        if device["torch_cuda"]:
            device["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        device["torch_cuda"] = False
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": versions,
        "device": device,
    }


# -- running ------------------------------------------------------------------------------------
def _effective_jobs(n_jobs: int) -> int:
    cpus = os.cpu_count() or 1
    return cpus if n_jobs < 0 else n_jobs


@contextlib.contextmanager
def _backend(backend: str | None, n_jobs: int):
    """joblib backend context: loky (default), threading, sequential, or Dask."""
    import joblib

    if backend is None or backend in ("loky", "threading", "multiprocessing", "sequential"):
        with joblib.parallel_config(backend=backend or "loky", n_jobs=n_jobs):
            yield None
        return
    if backend == "dask" or backend.startswith(
        ("tcp://", "tls://", "inproc://", "ws://", "wss://")
    ):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(
                "backend 'dask' needs dask[distributed]: pip install 'radfuse[dask]'."
            ) from exc
        if backend == "dask":
            cluster = LocalCluster(
                n_workers=max(1, _effective_jobs(n_jobs)),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        else:
            cluster, client = None, Client(backend)
        try:
            with joblib.parallel_config(backend="dask"):
                yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    raise ConfigError(
        f"backend {backend!r}: expected 'loky', 'threading', 'sequential', 'dask' or a Dask "
        "scheduler address such as 'tcp://host:8786'."
    )


def _default_out_dir(cfg: BenchmarkConfig, shuffle_labels: bool) -> Path:
    return Path("benchmark_results") / (cfg.name + ("_shuffled" if shuffle_labels else ""))


def _expected_modalities(dcfg) -> list | None:
    """Modalities a dataset will have, when known without loading it."""
    if dcfg.modalities is not None:
        return list(dcfg.modalities)
    if dcfg.kind == "phantom":
        return list(dcfg.params.get("modalities", ("T1WI", "FLAIR", "DWI")))
    if dcfg.kind in ("multimodal", "multicentre"):
        return list(dcfg.params.get("modalities") or ("T1WI", "FLAIR", "DWI"))
    if dcfg.kind == "breast_cancer_views":
        return ["MEAN", "SE", "WORST"]
    return None


def prepare(
    cfg: BenchmarkConfig, cache_dir: Path, *, n_jobs: int, shuffle_labels: bool, progress: bool
):
    """Load every dataset, make its splits and plan its fits; every check happens here.

    Returns ``(datasets, plan, dataset_info)``: ``datasets`` maps name to BenchData; ``plan`` is
    the list of fits.
    """
    datasets, plan, info = {}, [], {}
    # import every model class first: a typo must not wait for an extraction
    for m in cfg.models:
        m.resolve_class()
    # likewise subsets naming modalities that a generated dataset will not have
    for dcfg in cfg.datasets:
        expected = _expected_modalities(dcfg)
        if expected is not None and isinstance(cfg.subsets, list):
            for sub in cfg.subsets:
                unknown = [m for m in sub if m not in expected]
                if unknown:
                    raise ConfigError(
                        f"subsets: {list(sub)} names modality {unknown} that dataset "
                        f"{dcfg.name!r} does not have; its modalities are {list(expected)}."
                    )
        needs_groups = cfg.cv.group_aware or cfg.cv.test_group is not None
        if needs_groups and dcfg.group is None and dcfg.kind != "multicentre":
            raise ConfigError(
                f"dataset {dcfg.name!r}: cv asks for groups (group_aware or test_group) but the "
                "dataset has no group column; set 'group:' on the dataset."
            )
    for dcfg in cfg.datasets:
        data = load_dataset(
            dcfg, cache_dir=cache_dir, seed=cfg.seed, n_jobs=n_jobs, progress=progress
        )
        if shuffle_labels:
            rng = np.random.default_rng(cfg.seed + 7919)
            data.y = data.y[rng.permutation(len(data.y))]
            data.info["shuffled_labels"] = True
        subsets = _resolve_subsets(cfg, data)
        splits = make_splits(data, cfg)
        fits = plan_fits(
            cfg,
            data,
            splits,
            subsets,
            shuffle_labels=shuffle_labels,
            fingerprint=data.fingerprint(),
        )
        if not fits:
            raise ConfigError(f"dataset {data.name!r}: no model runs on it (see models.datasets).")
        datasets[data.name] = data
        plan += fits
        info[data.name] = {
            **data.info,
            "modalities": data.modalities,
            "subsets": [subset_name(s) for s in subsets],
            "n_splits": len(splits),
            "splits": [
                {"repeat": s.repeat, "fold": s.fold, "test": [str(p) for p in data.X.index[s.test]]}
                for s in splits
            ],
        }
    return datasets, plan, info


def run_benchmark(
    config,
    *,
    out_dir=None,
    n_jobs: int | None = None,
    backend: str | None = None,
    shuffle_labels: bool = False,
    progress: bool = True,
) -> BenchmarkResult:
    """Run a benchmark and write its tables and plots.

    Parameters
    ----------
    config : path, str, dict or None
        A benchmark YAML, the name of a shipped one (``"default"``, ``"breast_cancer_views"``,
        ``"gmenet_protocol"``), a dict of the same form, or None for the built-in default.
    out_dir : path, optional
        Output folder (default ``benchmark_results/<name>``, ``..._shuffled`` for the canary).
        Finished fits found there are reused. Phantom cohorts and extracted features are cached
        in the config's ``cache_dir``, else ``$RADFUSE_CACHE``, else ``<out_dir>/cache`` (with the
        default output folder, the canary shares the normal run's cache).
    n_jobs : int, optional
        Parallel fits (default: the config's ``n_jobs``; -1 = all cores).
    backend : str, optional
        ``"loky"`` (default), ``"threading"``, ``"sequential"``, ``"dask"`` (a local cluster) or a
        Dask scheduler address (``"tcp://host:8786"``).
    shuffle_labels : bool, default=False
        The canary: permute the labels before splitting, so every AUC should be near 0.5.
    progress : bool, default=True
        Show tqdm bars (extraction and fits, with an ETA).

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    ConfigError
        Any problem with the configuration or the data, before the first fit.
    """
    import joblib
    from tqdm.auto import tqdm

    from radfuse.benchmark.report import write_report

    t_start = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    cfg = load_config(config)
    if cfg.cache_dir:
        cache_dir = Path(cfg.cache_dir)
    elif os.environ.get("RADFUSE_CACHE"):
        cache_dir = Path(os.environ["RADFUSE_CACHE"])
    elif out_dir is None:  # the canary shares the extraction cache of the normal run
        cache_dir = _default_out_dir(cfg, False) / "cache"
    else:
        cache_dir = Path(out_dir) / "cache"
    out_dir = Path(out_dir) if out_dir is not None else _default_out_dir(cfg, shuffle_labels)
    n_jobs = _effective_jobs(n_jobs if n_jobs is not None else cfg.n_jobs)
    backend = backend if backend is not None else cfg.backend
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    datasets, plan, dinfo = prepare(
        cfg, cache_dir, n_jobs=n_jobs, shuffle_labels=shuffle_labels, progress=progress
    )
    prep_seconds = time.perf_counter() - t0
    models = {m.name: m for m in cfg.models}

    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    plan_doc = {
        "name": cfg.name,
        "shuffle_labels": shuffle_labels,
        "fits": [{"key": f.key, "digest": f.digest} for f in plan],
        "models": [
            {
                "name": m.name,
                "class": m.cls,
                "subset_mode": m.subset_mode,
                "baseline": m.baseline,
                "train_rows": m.train_rows,
            }
            for m in cfg.models
        ],
        "datasets": {
            k: {
                "modalities": v["modalities"],
                "subsets": v["subsets"],
                "positive_label": next(d.positive_label for d in cfg.datasets if d.name == k),
            }
            for k, v in dinfo.items()
        },
        "comparison": cfg.comparison,
        "seed": cfg.seed,
    }
    _write_atomic(out_dir / "plan.json", plan_doc)

    todo = [f for f in plan if load_task(out_dir, f.key, f.digest) is None]

    # heavy fits first so the pool does not end on one long straggler
    def cost(f: Fit) -> float:
        heavy = models[f.model].cls.rsplit(".", 1)[-1] in (
            "MMTClassifier",
            "MFNVAEClassifier",
            "GMENetClassifier",
        ) or models[f.model].cls.startswith("radfuse")
        return (2.0 if heavy else 1.0) * (len(f.subsets) ** 0.5)

    todo.sort(key=cost, reverse=True)
    workers = (
        n_jobs if backend is None or backend in ("loky", "multiprocessing", "threading") else 1
    )
    threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, len(todo) or 1)))
    if backend not in (None, "loky", "multiprocessing", "threading"):
        threads = 1
    if cfg.threads_per_fit is not None:
        threads = cfg.threads_per_fit
    payloads = {
        name: (d.X.to_numpy(dtype=float), list(d.X.columns), [str(i) for i in d.X.index], d.y)
        for name, d in datasets.items()
    }
    positive = {d.name: d.positive_label for d in cfg.datasets}

    def calls():
        for f in todo:
            values, cols, index, y = payloads[f.dataset]
            yield joblib.delayed(run_fit)(
                f,
                models[f.model],
                values,
                cols,
                index,
                y,
                seed=cfg.seed,
                device=cfg.device,
                threads=threads,
                positive_label=positive[f.dataset],
            )

    task_seconds = {}
    t0 = time.perf_counter()
    if todo:
        n_par = min(n_jobs, len(todo))
        with _backend(backend if n_par > 1 or backend else "sequential", n_par):
            parallel = joblib.Parallel(n_jobs=n_par, return_as="generator_unordered")
            bar = tqdm(
                total=len(plan),
                initial=len(plan) - len(todo),
                desc=f"bench {cfg.name}",
                unit="fit",
                disable=not progress,
                dynamic_ncols=True,
            )
            try:
                for payload in parallel(calls()):
                    _write_atomic(task_path(out_dir, payload["key"]), payload)
                    task_seconds[payload["key"]] = payload["seconds"]
                    bar.update(1)
            finally:
                bar.close()
    fits_seconds = time.perf_counter() - t0

    run_info = {
        "name": cfg.name,
        "config_source": cfg.source,
        "started_utc": started,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - t_start, 2),
        "prepare_seconds": round(prep_seconds, 2),
        "fits_seconds": round(fits_seconds, 2),
        "n_fits": len(plan),
        "n_fits_run": len(todo),
        "n_fits_reused": len(plan) - len(todo),
        "n_jobs": n_jobs,
        "backend": backend or "loky",
        "threads_per_fit": threads,
        "seed": cfg.seed,
        "model_seeds": "seed + repeat (random_state of each model and of its preprocessing)",
        "split_seeds": "seed + repeat",
        "shuffle_labels": shuffle_labels,
        "cache_dir": str(cache_dir),
        "device_config": cfg.device,
        "environment": environment_info(),
        "datasets": {
            k: {kk: vv for kk, vv in v.items() if kk != "splits"} for k, v in dinfo.items()
        },
        "task_seconds_this_run": task_seconds,
    }
    _write_atomic(out_dir / "run_info.json", run_info)
    _write_atomic(out_dir / "splits.json", {k: v["splits"] for k, v in dinfo.items()})
    results, summary = write_report(out_dir)
    return BenchmarkResult(out_dir, results, summary, run_info)
