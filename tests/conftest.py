"""Suite-wide settings: one BLAS / torch thread per test process.

Tests run on small tables where thread start-up costs more than it saves, and CI has two cores;
one thread also keeps floating-point results independent of the machine's core count.
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
