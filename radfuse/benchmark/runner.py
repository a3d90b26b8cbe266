"""The benchmark runner: datasets x models x modality subsets x CV folds.

:func:`run_benchmark` loads the configuration, prepares every dataset (its splits and planned
fits, see :mod:`radfuse.benchmark.plan`), runs the fits not yet stored in ``<out>/tasks/``
(:mod:`radfuse.benchmark.fit` in the workers of :mod:`radfuse.benchmark.backends`), records the
run (:mod:`radfuse.benchmark.environment`, :mod:`radfuse.benchmark.store`) and writes the report
(:mod:`radfuse.benchmark.report`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from radfuse._utils.io import unwritable_folder
from radfuse._utils.parallel import effective_jobs
from radfuse.benchmark.backends import checked_backend, run_parallel, schedule, threads_per_fit
from radfuse.benchmark.checks import check_models, check_positive_label
from radfuse.benchmark.data import load_dataset
from radfuse.benchmark.environment import environment_info
from radfuse.benchmark.fit import run_fit
from radfuse.benchmark.loading import load_config
from radfuse.benchmark.plan import (
    check_before_loading,
    plan_document,
    plan_fits,
    resolve_subsets,
    subset_name,
)
from radfuse.benchmark.report import write_report
from radfuse.benchmark.schema import BenchmarkConfig, ConfigError
from radfuse.benchmark.splits import make_splits
from radfuse.benchmark.store import (
    load_task,
    write_config,
    write_plan,
    write_run_info,
    write_splits,
    write_task,
)

__all__ = ["BenchmarkResult", "prepare", "run_benchmark"]


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


def prepare(
    cfg: BenchmarkConfig, cache_dir: Path, *, n_jobs: int, shuffle_labels: bool, progress: bool
):
    """Load every dataset, make its splits and plan its fits; every check happens here.

    Returns ``(datasets, fits, dataset_info)``: ``datasets`` maps name to BenchData; ``fits`` is
    the plan (a list of :class:`~radfuse.benchmark.plan.Fit`); ``dataset_info`` maps name to the
    dataset's provenance, modalities, subset names and splits.
    """
    check_before_loading(cfg)
    check_models(cfg)
    datasets, fits, info = {}, [], {}
    for dcfg in cfg.datasets:
        data = load_dataset(
            dcfg, cache_dir=cache_dir, seed=cfg.seed, n_jobs=n_jobs, progress=progress
        )
        check_positive_label(cfg, data)
        if shuffle_labels:
            rng = np.random.default_rng(cfg.seed + 7919)
            data.y = data.y[rng.permutation(len(data.y))]
            data.info["shuffled_labels"] = True
        subsets = resolve_subsets(cfg, data)
        splits = make_splits(data, cfg)
        planned = plan_fits(
            cfg,
            data,
            splits,
            subsets,
            shuffle_labels=shuffle_labels,
            fingerprint=data.fingerprint(),
        )
        if not planned:
            raise ConfigError(f"dataset {data.name!r}: no model runs on it (see models.datasets).")
        datasets[data.name] = data
        fits += planned
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
    return datasets, fits, info


def _folders(cfg: BenchmarkConfig, out_dir, shuffle_labels: bool) -> tuple[Path, Path]:
    """``(cache_dir, out_dir)`` of a run (see :func:`run_benchmark`)."""

    def default(shuffled: bool) -> Path:
        return Path("benchmark_results") / (cfg.name + ("_shuffled" if shuffled else ""))

    if cfg.cache_dir:
        cache_dir = Path(cfg.cache_dir)
    elif os.environ.get("RADFUSE_CACHE"):
        cache_dir = Path(os.environ["RADFUSE_CACHE"])
    elif out_dir is None:  # the canary shares the extraction cache of the normal run
        cache_dir = default(False) / "cache"
    else:
        cache_dir = Path(out_dir) / "cache"
    return cache_dir, Path(out_dir) if out_dir is not None else default(shuffle_labels)


def _run_fits(cfg, datasets, todo, out_dir, *, n_jobs, backend, threads, total, progress):
    """Run the fits of ``todo``, storing each as it finishes; return its seconds per fit key."""
    if not todo:
        return {}
    import joblib
    from tqdm.auto import tqdm

    models = {m.name: m for m in cfg.models}
    payloads = {
        name: (d.X.to_numpy(dtype=float), list(d.X.columns), [str(i) for i in d.X.index], d.y)
        for name, d in datasets.items()
    }
    calls = (
        joblib.delayed(run_fit)(
            f,
            models[f.model],
            *payloads[f.dataset],
            seed=cfg.seed,
            device=cfg.device,
            threads=threads,
            positive_label=cfg.dataset(f.dataset).positive_label,
        )
        for f in todo
    )
    task_seconds = {}
    bar = tqdm(
        total=total,
        initial=total - len(todo),
        desc=f"bench {cfg.name}",
        unit="fit",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for payload in run_parallel(calls, len(todo), n_jobs=n_jobs, backend=backend):
            write_task(out_dir, payload)
            task_seconds[payload["key"]] = payload["seconds"]
            bar.update(1)
    finally:
        bar.close()
    return task_seconds


def _run_info(
    cfg: BenchmarkConfig,
    *,
    started: str,
    seconds: dict,
    n_fits: int,
    n_run: int,
    n_jobs: int,
    backend,
    threads: int,
    shuffle_labels: bool,
    cache_dir: Path,
    dataset_info: dict,
    task_seconds: dict,
) -> dict:
    """The content of ``run_info.json``: what ran, how, where, and how long it took."""
    return {
        "name": cfg.name,
        "config_source": cfg.source,
        "started_utc": started,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(seconds["wall"], 2),
        "prepare_seconds": round(seconds["prepare"], 2),
        "fits_seconds": round(seconds["fits"], 2),
        "n_fits": n_fits,
        "n_fits_run": n_run,
        "n_fits_reused": n_fits - n_run,
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
            k: {kk: vv for kk, vv in v.items() if kk != "splits"} for k, v in dataset_info.items()
        },
        "task_seconds_this_run": task_seconds,
    }


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
    t_start = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    cfg = load_config(config)
    cache_dir, out_dir = _folders(cfg, out_dir, shuffle_labels)
    n_jobs = effective_jobs(n_jobs if n_jobs is not None else cfg.n_jobs)
    backend = checked_backend(backend if backend is not None else cfg.backend)
    # results and the extraction cache are written long after the start: check both first
    for what, folder in (("out_dir", out_dir), ("cache_dir", cache_dir)):
        why = unwritable_folder(folder)
        if why is not None:
            raise ConfigError(
                f"{what} {str(folder)!r} cannot be written ({why}); nothing was run. Choose a "
                f"writable folder (radfuse bench --out DIR, or RADFUSE_CACHE for the cache)."
            )
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    datasets, fits, dinfo = prepare(
        cfg, cache_dir, n_jobs=n_jobs, shuffle_labels=shuffle_labels, progress=progress
    )
    seconds = {"prepare": time.perf_counter() - t0}
    write_config(out_dir, cfg.to_dict())
    write_plan(out_dir, plan_document(cfg, fits, dinfo, shuffle_labels=shuffle_labels))

    todo = [f for f in fits if load_task(out_dir, f.key, f.digest) is None]
    todo = schedule(todo, {m.name: m for m in cfg.models})
    threads = threads_per_fit(n_jobs, backend, len(todo), cfg.threads_per_fit)
    t0 = time.perf_counter()
    task_seconds = _run_fits(
        cfg,
        datasets,
        todo,
        out_dir,
        n_jobs=n_jobs,
        backend=backend,
        threads=threads,
        total=len(fits),
        progress=progress,
    )
    seconds["fits"] = time.perf_counter() - t0
    seconds["wall"] = time.perf_counter() - t_start

    run_info = _run_info(
        cfg,
        started=started,
        seconds=seconds,
        n_fits=len(fits),
        n_run=len(todo),
        n_jobs=n_jobs,
        backend=backend,
        threads=threads,
        shuffle_labels=shuffle_labels,
        cache_dir=cache_dir,
        dataset_info=dinfo,
        task_seconds=task_seconds,
    )
    write_run_info(out_dir, run_info)
    write_splits(out_dir, {k: v["splits"] for k, v in dinfo.items()})
    results, summary = write_report(out_dir)
    return BenchmarkResult(out_dir, results, summary, run_info)
