"""PyRadiomics' LBP3D with SciPy >= 1.17, which removed ``scipy.special.sph_harm``."""

from __future__ import annotations

import contextlib
import threading

__all__ = ["sph_harm_compat"]

_compat_lock = threading.Lock()
_compat_users = 0
_compat_installed = False


def _sph_harm_legacy(m, n, theta, phi):
    """``scipy.special.sph_harm(m, n, theta, phi)`` (removed in SciPy 1.17).

    The old function took the order first and the azimuthal angle ``theta`` before the polar
    angle ``phi``; ``sph_harm_y(n, m, polar, azimuth)`` takes degree first and polar first.
    PyRadiomics' LBP3D calls it with its own (swapped) angles; this wrapper only maps arguments,
    so LBP3D gives the values it gave with SciPy 1.16 (checked against the reference CSV).
    """
    from scipy.special import sph_harm_y

    return sph_harm_y(n, m, phi, theta)


@contextlib.contextmanager
def sph_harm_compat():
    """Make ``scipy.special.sph_harm`` importable while PyRadiomics runs, if SciPy lacks it.

    PyRadiomics' ``getLBP3DImage`` imports ``sph_harm`` inside the function and, when the import
    fails, logs a warning and yields nothing (LBP3D silently disappears). Inside this context
    ``scipy.special.sph_harm`` is :func:`_sph_harm_legacy`; the attribute is removed again when
    the last user leaves (reference counted, thread-safe). With a SciPy that still has
    ``sph_harm`` nothing is changed.
    """
    global _compat_users, _compat_installed
    import scipy.special

    with _compat_lock:
        if _compat_users == 0 and not hasattr(scipy.special, "sph_harm"):
            scipy.special.sph_harm = _sph_harm_legacy
            _compat_installed = True
        _compat_users += 1
    try:
        yield
    finally:
        with _compat_lock:
            _compat_users -= 1
            if _compat_users == 0 and _compat_installed:
                del scipy.special.sph_harm
                _compat_installed = False
