"""The backends that run a benchmark's fits: joblib (loky, threading, sequential) or Dask.

The backend context itself is :func:`radfuse._utils.parallel.parallel_backend`; this module adds
what the benchmark needs around it: a :class:`ConfigError` for a backend it cannot run, each
fit's share of threads, and the order in which fits are handed out.
"""

from __future__ import annotations

import os

from radfuse._utils.parallel import check_backend, is_dask, parallel_backend
from radfuse.benchmark.plan import Fit
from radfuse.benchmark.schema import ConfigError, ModelConfig

__all__ = ["checked_backend", "run_parallel", "schedule", "threads_per_fit"]

# backends whose workers share this machine's cores
_LOCAL = (None, "loky", "multiprocessing", "threading")


def checked_backend(backend: str | None) -> str | None:
    """``backend`` if the benchmark can run on it.

    Raises
    ------
    ConfigError
        An unknown backend name, or a Dask backend without ``dask[distributed]`` installed.
    """
    try:
        check_backend(backend)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if is_dask(backend):
        try:
            import dask.distributed  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                f"backend {backend!r} needs dask[distributed]: pip install 'radfuse[dask]'."
            ) from exc
    return backend


def threads_per_fit(
    n_jobs: int, backend: str | None, n_fits: int, configured: int | None = None
) -> int:
    """Torch / BLAS threads of each fit: a fair share of the cores among the local workers.

    One thread on a Dask cluster (its workers are single-threaded processes); ``configured``
    (the config's ``threads_per_fit``) wins when given.
    """
    if configured is not None:
        return configured
    if backend not in _LOCAL:
        return 1
    return max(1, (os.cpu_count() or 1) // max(1, min(n_jobs, n_fits or 1)))


def schedule(fits: list[Fit], models: dict[str, ModelConfig]) -> list[Fit]:
    """The fits in the order to hand them out: heavy ones first, so the pool does not end on one
    long straggler (radfuse's networks cost about twice a baseline; a fit scored on many subsets
    costs more)."""
    heavy = {name: m.resolve_class().__module__.startswith("radfuse") for name, m in models.items()}

    def cost(f: Fit) -> float:
        return (2.0 if heavy[f.model] else 1.0) * (len(f.subsets) ** 0.5)

    return sorted(fits, key=cost, reverse=True)


def run_parallel(calls, n_calls: int, *, n_jobs: int, backend: str | None):
    """Run joblib ``delayed`` calls on ``backend``; yield their results as they finish.

    ``min(n_jobs, n_calls)`` workers; one worker without a named backend runs sequentially.
    """
    import joblib

    n_par = min(n_jobs, n_calls)
    with parallel_backend(backend if n_par > 1 or backend else "sequential", n_par):
        yield from joblib.Parallel(n_jobs=n_par, return_as="generator_unordered")(calls)
