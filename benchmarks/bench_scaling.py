"""Fits per minute of the benchmark runner with 1 and with 2 (or more) parallel workers.

Runs the same small benchmark (the breast-cancer views with lean settings unless a config is
given) once per worker count, each into a fresh temporary folder so nothing is reused, and prints
fits per minute and the speed-up over one worker. Dataset preparation, the workers' start-up
(process launch and imports, done once per session and printed) and the report are not timed;
only the fits are (``run_info.json``'s ``fits_seconds``).

    python benchmarks/bench_scaling.py                 # 1 vs 2 workers
    python benchmarks/bench_scaling.py CONFIG --jobs 1 2 4
    python benchmarks/bench_scaling.py --threads 1     # one thread per fit in both runs
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import joblib

from radfuse.benchmark import run_benchmark

SMALL = {
    "name": "scaling",
    "seed": 0,
    "datasets": [{"name": "bc", "kind": "breast_cancer_views", "positive_label": 0}],
    "preprocessing": {"k": 5},
    "models": [
        {"name": "MMT", "class": "MMTClassifier", "params": {"max_epochs": 20, "device": "cpu"}},
        {
            "name": "MFN-VAE",
            "class": "MFNVAEClassifier",
            "params": {"max_epochs": 20, "device": "cpu"},
        },
        {
            "name": "XGBoost",
            "class": "XGBClassifier",
            "params": {"n_estimators": 200, "max_depth": 3},
        },
        {"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 5000}},
    ],
    "subsets": "all",
    "cv": {"n_splits": 3},
    "comparison": {"n_bootstrap": 100},
}


def _warm() -> int:
    """Import what the fits import, so a worker's start-up is not timed as fitting."""
    import torch  # noqa: F401
    import xgboost  # noqa: F401

    import radfuse.estimators
    import radfuse.selection  # noqa: F401

    return os.getpid()


def warm_up(n_jobs: int) -> float:
    """Start (and import into) the loky workers that the benchmark will reuse; return seconds."""
    t0 = time.perf_counter()
    if n_jobs > 1:
        joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_warm)() for _ in range(4 * n_jobs))
    else:
        _warm()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=None, help="benchmark YAML (default: small)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per fit (default: a fair share)"
    )
    args = parser.parse_args(argv)
    config = args.config or SMALL
    if args.threads is not None:
        from radfuse.benchmark import load_config

        config = load_config(config)
        config.threads_per_fit = args.threads
    base = None
    for n in args.jobs:
        startup = warm_up(n)
        with tempfile.TemporaryDirectory() as tmp:
            info = run_benchmark(config, out_dir=tmp, n_jobs=n, progress=False).run_info
        rate = info["n_fits_run"] / info["fits_seconds"] * 60
        base = base or rate
        print(
            f"n_jobs={n}: {info['n_fits_run']} fits in {info['fits_seconds']:.1f} s "
            f"({info['threads_per_fit']} thread(s) per fit) -> {rate:.1f} fits/min, "
            f"x{rate / base:.2f} vs {args.jobs[0]} worker(s); worker start-up {startup:.1f} s "
            "(not timed)",
            flush=True,
        )


if __name__ == "__main__":
    main()
