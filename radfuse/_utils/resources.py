"""Shipped data: the wheel's ``radfuse/_data/<name>`` first, then the repository's ``<name>/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_dirs"]

_REPO = Path(__file__).resolve().parents[2]


def data_dirs(name: str) -> list[Path]:
    """Folders that hold shipped ``name`` files (``"feature_specs"``, ``"benchmarks"``), in order.

    An installed wheel carries them as ``radfuse/_data/<name>`` (see ``pyproject.toml``); an
    editable install or a source checkout has ``<repo>/<name>``. Missing folders are left out.
    """
    dirs = []
    try:
        packaged = resources.files("radfuse").joinpath("_data", name)
        if packaged.is_dir():
            dirs.append(Path(str(packaged)))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):  # pragma: no cover
        pass
    repo = _REPO / name
    if repo.is_dir() and repo not in dirs:
        dirs.append(repo)
    return dirs
