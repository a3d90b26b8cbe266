"""Atomic writes: a reader (or a resumed run) sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_json", "atomic_write_text", "json_default", "unwritable_folder"]


def json_default(o):
    """JSON fallback for NumPy scalars and arrays; anything else is written with ``str``."""
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def unwritable_folder(folder) -> str | None:
    """Why files cannot be written in ``folder``, or None when they can; nothing is left behind.

    A folder that does not exist yet is judged by its nearest existing ancestor, the one that
    would hold it. Checked with a real temporary file, so the answer holds for root too (who
    ignores mode bits) and for read-only or full file systems: call it before long work whose
    results go there, then create the folder.
    """
    base = Path(folder)
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        return f"{str(base)!r} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".radfuse-probe-", dir=base)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The folder is created if needed. On any failure the temporary file is removed and the
    exception propagates, so the previous content of ``path`` (if any) survives.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path, payload, *, indent: int | None = None) -> Path:
    """:func:`atomic_write_text` of ``payload`` as JSON.

    Floats are written with ``repr`` (they read back bit-identical); NaN and infinity are kept
    (``allow_nan``), NumPy values go through :func:`json_default`.
    """
    return atomic_write_text(path, json.dumps(payload, default=json_default, indent=indent))
