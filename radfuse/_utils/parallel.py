"""The parallel backend: one joblib context for extraction and the benchmark, local or Dask."""

from __future__ import annotations

import contextlib
import os

__all__ = ["BACKENDS", "check_backend", "effective_jobs", "is_dask", "parallel_backend"]

#: joblib backends accepted by name; ``"dask"`` starts a local cluster.
BACKENDS = ("loky", "threading", "multiprocessing", "sequential", "dask")
_DASK_SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://", "ucx://")


def effective_jobs(n_jobs: int | None) -> int:
    """Number of workers ``n_jobs`` means (joblib's convention: ``-1`` = every CPU)."""
    cpus = os.cpu_count() or 1
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return max(1, n_jobs)


def is_dask(backend: str | None) -> bool:
    """Whether ``backend`` asks for Dask (``"dask"`` or a scheduler address)."""
    return backend is not None and (backend == "dask" or backend.startswith(_DASK_SCHEMES))


def check_backend(backend: str | None, where: str = "backend") -> None:
    """Raise ``ValueError`` naming ``where`` unless ``backend`` is one radfuse can run."""
    if backend is None or backend in BACKENDS or is_dask(backend):
        return
    raise ValueError(
        f"{where}={backend!r}: expected one of {', '.join(map(repr, BACKENDS))} or a Dask "
        "scheduler address such as 'tcp://host:8786'."
    )


@contextlib.contextmanager
def parallel_backend(backend: str | None = None, n_jobs: int | None = None):
    """Context in which ``joblib.Parallel()`` runs on ``backend`` with ``n_jobs`` workers.

    Parameters
    ----------
    backend : str or None
        ``None`` (loky), a joblib backend name, ``"dask"`` (a local cluster of ``n_jobs``
        single-threaded worker processes, dashboard on a free port) or the address of a running
        Dask scheduler (``"tcp://host:8786"``; its workers must see the same files).
    n_jobs : int or None
        Local workers (joblib's convention). Ignored for a scheduler address.

    Yields
    ------
    client : dask.distributed.Client or None
    """
    import joblib

    check_backend(backend)
    if not is_dask(backend):
        with joblib.parallel_config(backend=backend or "loky", n_jobs=n_jobs):
            yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            f"backend {backend!r} needs dask[distributed]: pip install 'radfuse[dask]'."
        ) from exc
    cluster = None
    if backend == "dask":
        cluster = LocalCluster(
            n_workers=effective_jobs(n_jobs),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        client = Client(cluster)
    else:
        client = Client(backend)
    try:
        with joblib.parallel_config(backend="dask"):
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
