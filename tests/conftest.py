"""Suite-wide settings and shared data.

One BLAS / torch thread per test process: tests run on small tables where thread start-up costs
more than it saves, and CI has two cores; one thread also keeps floating-point results independent
of the machine's core count.
"""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    if torch is not None:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def views():
    """``load_breast_cancer_views()`` as given (modules needing it scaled define their own)."""
    from radfuse.datasets import load_breast_cancer_views

    return load_breast_cancer_views()


@pytest.fixture(scope="session")
def views_missing(views):
    """The breast-cancer views with 30 % of the blocks blanked (seed 0)."""
    from radfuse.datasets import simulate_missing_modalities

    X, y = views
    return simulate_missing_modalities(X, rate=0.3, random_state=0), y
