"""The task store of a benchmark output folder: one JSON file per finished fit, and the plan.

Every file is written atomically (:mod:`radfuse._utils.io`), so an interrupted benchmark leaves
only whole files and resumes where it stopped: a fit whose stored digest matches the plan's is
reused, any other is recomputed.

Layout of ``<out>``: ``tasks/<dataset>/<model>/<subset>__r<repeat>f<fold>.json`` (the fits),
``config.json`` (the validated configuration), ``plan.json`` (the fits and what the report needs
to read them), ``run_info.json`` (versions, timings) and ``splits.json`` (test patients per fold).
"""

from __future__ import annotations

import json
from pathlib import Path

from radfuse._utils.io import atomic_write_json

__all__ = [
    "load_finished",
    "load_task",
    "read_plan",
    "read_run_info",
    "task_path",
    "write_config",
    "write_plan",
    "write_run_info",
    "write_splits",
    "write_task",
]


def task_path(out_dir, key: str) -> Path:
    """File of a finished fit."""
    return Path(out_dir) / "tasks" / f"{key}.json"


def write_task(out_dir, payload: dict) -> Path:
    """Store a finished fit (the dict :func:`radfuse.benchmark.fit.run_fit` returns)."""
    return atomic_write_json(task_path(out_dir, payload["key"]), payload)


def load_task(out_dir, fit_key: str, digest: str | None = None) -> dict | None:
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


def write_config(out_dir, config: dict) -> Path:
    """``config.json``: the validated configuration as a plain dict."""
    return atomic_write_json(Path(out_dir) / "config.json", config, indent=2)


def write_plan(out_dir, plan: dict) -> Path:
    """``plan.json`` (see :func:`radfuse.benchmark.plan.plan_document`)."""
    return atomic_write_json(Path(out_dir) / "plan.json", plan)


def read_plan(out_dir) -> dict:
    """The content of ``plan.json``.

    Raises
    ------
    FileNotFoundError
        ``out_dir`` holds no ``plan.json`` (it is not a benchmark output folder).
    """
    plan_file = Path(out_dir) / "plan.json"
    if not plan_file.is_file():
        raise FileNotFoundError(
            f"{out_dir} is not a benchmark output folder (no plan.json); run `radfuse bench` "
            "with --out pointing there first."
        )
    return json.loads(plan_file.read_text())


def write_run_info(out_dir, run_info: dict) -> Path:
    """``run_info.json``: versions, device, seeds and timings of the last run."""
    return atomic_write_json(Path(out_dir) / "run_info.json", run_info)


def read_run_info(out_dir) -> dict:
    """The content of ``run_info.json``, or ``{}`` when absent."""
    path = Path(out_dir) / "run_info.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def write_splits(out_dir, splits: dict) -> Path:
    """``splits.json``: dataset -> list of ``{"repeat", "fold", "test": [patient ids]}``."""
    return atomic_write_json(Path(out_dir) / "splits.json", splits)


def load_finished(out_dir) -> tuple[list[dict], dict]:
    """The finished fits of a folder, in plan order, and the plan.

    Returns
    -------
    tasks : list of dict
        The stored fits whose digest matches the plan.
    plan : dict
        The content of ``plan.json`` plus ``missing``: keys of planned fits not (yet) finished.
    """
    plan = read_plan(out_dir)
    tasks, missing = [], []
    for f in plan["fits"]:
        t = load_task(out_dir, f["key"], f["digest"])
        if t is None:
            missing.append(f["key"])
        else:
            tasks.append(t)
    plan["missing"] = missing
    return tasks, plan
