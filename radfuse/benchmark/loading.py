"""Benchmark configuration loading: shipped configs by name, YAML files, mappings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from radfuse._utils.resources import data_dirs
from radfuse.benchmark.parsing import parse_config
from radfuse.benchmark.schema import BenchmarkConfig, ConfigError

__all__ = ["default_config_path", "find_config", "load_config"]


def find_config(name: str) -> Path:
    """Path of a shipped benchmark config (``"default"``, ``"breast_cancer_views"``...).

    Looks in the wheel's ``radfuse/_data/benchmarks`` first, then in the repository's
    ``benchmarks/`` folder (see :func:`radfuse._utils.resources.data_dirs`).

    Raises
    ------
    ConfigError
        No shipped config has that name (the message lists the shipped ones).
    """
    fname = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    dirs = data_dirs("benchmarks")
    for folder in dirs:
        if (folder / fname).is_file():
            return folder / fname
    shipped = sorted({p.stem for folder in dirs for p in folder.glob("*.yaml")})
    raise ConfigError(
        f"No benchmark config {name!r}: not a file, and not a shipped config ({shipped})."
    )


def default_config_path() -> Path:
    """Path of the built-in default benchmark (``benchmarks/default.yaml``)."""
    return find_config("default")


def load_config(config: str | Path | Mapping | BenchmarkConfig | None) -> BenchmarkConfig:
    """Load and validate a benchmark configuration.

    Parameters
    ----------
    config : path, str, dict, BenchmarkConfig or None
        A YAML file, the name of a shipped config (``"default"``), a mapping in the YAML's form,
        or None for the built-in default.

    Returns
    -------
    BenchmarkConfig

    Raises
    ------
    ConfigError
        If the file is missing or the content is invalid (the message names the key).
    """
    if isinstance(config, BenchmarkConfig):
        return config
    if config is None:
        config = default_config_path()
    if isinstance(config, Mapping):
        return parse_config(config)
    if not isinstance(config, (str, os.PathLike)):
        raise ConfigError(
            f"the config must be a mapping (or a YAML path, or a shipped config's name), got "
            f"{type(config).__name__} {config!r:.80}."
        )
    path = Path(config)
    if not path.is_file():
        path = find_config(str(config))
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level.")
    try:
        cfg = parse_config(raw, source=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    # relative data paths are relative to the config file
    for d in cfg.datasets:
        if d.path and not Path(d.path).is_absolute():
            d.path = str((path.parent / d.path).resolve())
    return cfg
