"""Checks of a benchmark that need the built models or the loaded data, run before any fit.

:func:`radfuse.benchmark.runner.prepare` calls them, so that a model that cannot give class
probabilities or a positive label that is not a class fails as a :class:`ConfigError` before the
first fit, not as a traceback in a worker.
"""

from __future__ import annotations

import numpy as np

from radfuse.benchmark.build import build_estimator
from radfuse.benchmark.data import BenchData
from radfuse.benchmark.metrics import positive_index
from radfuse.benchmark.schema import BenchmarkConfig, ConfigError

__all__ = ["check_models", "check_positive_label"]


def _final_step(est):
    """The estimator at the end of a pipeline (or ``est`` itself)."""
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


def check_models(cfg: BenchmarkConfig) -> None:
    """Build every model as a fit would; raise unless it can give class probabilities (a
    survival model is only built: its risk is ``predict``).

    ROC AUC and the other ranking metrics are computed from ``predict_proba``. An estimator
    whose probabilities are switched off by a parameter (``SVC(probability=False)``, the
    default) builds, but has none.

    Raises
    ------
    ConfigError
        A model whose construction fails, or that (inside its preprocessing) has no
        ``predict_proba``; the message says which parameter to set where one exists.
    """
    for mcfg in cfg.models:
        where = f"model {mcfg.name!r}"
        try:
            est = build_estimator(mcfg, seed=cfg.seed, device=cfg.device, threads=1)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: building {mcfg.cls} failed: {exc}") from exc
        if hasattr(est, "predict_proba") or cfg.task == "survival":
            continue
        final = _final_step(est)
        hint = (
            " Set `params: {probability: true}` on the model (Platt scaling inside each fit)."
            if "probability" in final.get_params(deep=False)
            else " Use a classifier with predict_proba, or wrap it in "
            "sklearn.calibration.CalibratedClassifierCV."
        )
        raise ConfigError(
            f"{where}: {type(final).__name__} with these parameters has no predict_proba, and the "
            f"benchmark needs class probabilities for ROC AUC.{hint}"
        )


def check_positive_label(cfg: BenchmarkConfig, data: BenchData) -> None:
    """Raise unless the dataset's ``positive_label`` (when set) is one of its classes.

    Raises
    ------
    ConfigError
        Naming the dataset, the label and the classes.
    """
    label = cfg.dataset(data.name).positive_label
    if label is None:
        return
    classes = np.unique(data.y)
    try:
        positive_index(classes, label)
    except ValueError:
        raise ConfigError(
            f"dataset {data.name!r}: positive_label {label!r} is not a class of the label; its "
            f"classes are {classes.tolist()}. Set positive_label to one of them (or remove it)."
        ) from None
