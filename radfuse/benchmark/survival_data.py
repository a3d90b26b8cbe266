"""The survival outcome of a benchmark dataset: read, checked and turned into the target array.

A survival target is a structured array with a boolean ``event`` and a float ``time`` field
(scikit-survival's convention, :data:`radfuse.datasets.survival.SURVIVAL_DTYPE`); the folds are
stratified on the event, and every training fold must hold events and reach every evaluation
time of its test fold (:func:`check_survival_splits`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radfuse.benchmark.schema import ConfigError
from radfuse.benchmark.survival_metrics import fold_horizons
from radfuse.datasets.survival import SURVIVAL_DTYPE

__all__ = ["check_survival_splits", "is_survival", "survival_frame", "survival_target"]


def is_survival(y) -> bool:
    """Whether ``y`` is a survival target (a structured array with fields) rather than labels."""
    return getattr(np.asarray(y).dtype, "names", None) is not None


def survival_frame(y, where: str) -> pd.DataFrame:
    """Check an outcome table (columns: time, then event) and return it as ``time``/``event``.

    Raises
    ------
    ConfigError
        Naming the patients: a time that is missing, not a number or not positive, or an event
        that is not 0/1 (or True/False).
    """
    df = pd.DataFrame(y)
    time_col, event_col = df.columns[:2]
    time = pd.to_numeric(df[time_col], errors="coerce")
    bad = df.index[time.isna() | ~(time > 0) | ~np.isfinite(time.fillna(0))]
    if len(bad):
        raise ConfigError(
            f"{where}: the time column {time_col!r} must be a positive number for every patient; "
            f"patients {[str(p) for p in bad[:8]]} have {df.loc[bad[:8], time_col].tolist()}."
        )
    event = df[event_col]
    if pd.api.types.is_bool_dtype(event):
        event = event.astype(int)
    num = pd.to_numeric(event, errors="coerce")
    bad = df.index[~num.isin([0, 1])]
    if len(bad):
        raise ConfigError(
            f"{where}: the event column {event_col!r} must be 0 (censored) or 1 (event); "
            f"patients {[str(p) for p in bad[:8]]} have {df.loc[bad[:8], event_col].tolist()}."
        )
    if not (num == 1).any():
        raise ConfigError(f"{where}: the event column {event_col!r} has no event (all 0).")
    return pd.DataFrame({"time": time.astype(float), "event": num.astype(bool)}, index=df.index)


def survival_target(frame: pd.DataFrame) -> np.ndarray:
    """The structured ``(event, time)`` array of a checked outcome table."""
    y = np.empty(len(frame), dtype=SURVIVAL_DTYPE)
    y["event"] = frame["event"].to_numpy(bool)
    y["time"] = frame["time"].to_numpy(float)
    return y


def check_survival_splits(name: str, y: np.ndarray, splits) -> None:
    """Raise unless every split can be scored: events on both sides, and the horizons of the
    time-dependent AUC (from the training fold) inside the test fold's follow-up.

    Raises
    ------
    ConfigError
        Naming the dataset, repeat and fold.
    """
    for s in splits:
        where = f"dataset {name!r}: repeat {s.repeat} fold {s.fold}"
        for part, idx in (("training", s.train), ("test", s.test)):
            if not y["event"][idx].any():
                raise ConfigError(
                    f"{where}: the {part} set has no event (every patient censored); the model "
                    "cannot be fitted or scored. Use fewer folds."
                )
        test_time = y["time"][s.test]
        horizons = fold_horizons(y[s.train])
        outside = [h for h in horizons if not test_time.min() <= h < test_time.max()]
        if outside:
            raise ConfigError(
                f"{where}: horizons {outside} (quartiles of the training fold's times) lie "
                f"outside the test fold's follow-up [{test_time.min()}, {test_time.max()}); "
                "use fewer folds."
            )
