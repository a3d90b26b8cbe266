"""The environment record of a benchmark run: package versions, Python, platform and device."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

__all__ = ["environment_info"]

_PACKAGES = (
    "radfuse",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "imbalanced-learn",
    "torch",
    "xgboost",
    "pyradiomics-bhklab",
    "SimpleITK",
    "joblib",
    "dask",
    "distributed",
    "matplotlib",
)


def environment_info() -> dict:
    """Package versions, Python, platform and device of this process.

    Returns
    -------
    dict
        ``python``, ``platform``, ``host``, ``packages`` (name -> version, None when not
        installed) and ``device`` (``cpu_count``, ``processor``, ``torch_cuda`` and, with CUDA,
        ``cuda_device``).
    """
    import torch

    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    device = {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    device["torch_cuda"] = bool(torch.cuda.is_available())
    if device["torch_cuda"]:
        device["cuda_device"] = torch.cuda.get_device_name(0)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": versions,
        "device": device,
    }
