"""Survival metrics of the benchmark, from risk scores and survival functions.

Per test fold (and modality subset), with the training fold's outcome for the censoring weights:

- ``c_harrell``: Harrell's concordance index of the risk (``concordance_index_censored``);
- ``c_uno``: Uno's IPCW concordance index, truncated at ``tau`` = the 90th percentile of the
  training fold's times (``concordance_index_ipcw``);
- ``ibs``: the integrated Brier score of the survival functions on 20 times spread over the 10th
  to 90th percentile of the test times, cut at the 90th percentile of the training times (the
  training follow-up); NaN for a model without ``predict_survival_function``;
- ``td_auc_q25``, ``td_auc_q50``, ``td_auc_q75``: the cumulative/dynamic AUC of the risk at the
  three horizons :func:`fold_horizons`, the quartiles of the *training fold's* times (decided
  before any model is fitted, so every model of a fold is scored at the same horizons, and
  inside the 10th-90th percentile of the times by construction); ``td_auc``: their mean
  (``cumulative_dynamic_auc``'s integrated AUC over the three horizons).

For the IPCW metrics (Uno's C, IBS, td-AUC) a test patient followed beyond the training fold's
last time is censored there (the censoring distribution is unknown past it); Harrell's C uses the
test outcome as it is.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HORIZON_QUANTILES",
    "SURVIVAL_METRICS",
    "compute_survival_metrics",
    "fold_horizons",
    "ibs_times",
]

#: quantiles of the training fold's times used as td-AUC horizons
HORIZON_QUANTILES = (0.25, 0.5, 0.75)
SURVIVAL_METRICS = (
    "c_harrell",
    "c_uno",
    "ibs",
    "td_auc",
    *(f"td_auc_q{round(100 * q)}" for q in HORIZON_QUANTILES),
)
_N_IBS_TIMES = 20


def fold_horizons(y_train) -> np.ndarray:
    """The td-AUC horizons of a fold: the quartiles of its training patients' times."""
    return np.quantile(np.asarray(y_train["time"], float), HORIZON_QUANTILES)


def ibs_times(y_train, y_test) -> np.ndarray:
    """The integrated Brier score's times: 10th-90th percentile of the test times, cut at the
    90th percentile of the training times."""
    lo, hi = np.percentile(y_test["time"], [10, 90])
    hi = min(hi, float(np.percentile(y_train["time"], 90)))
    return np.linspace(lo, hi, _N_IBS_TIMES) if hi > lo else np.array([])


def _truncated(y_test, y_train) -> np.ndarray:
    """``y_test`` censored at the training fold's last time."""
    t_max = float(np.max(y_train["time"]))
    out = y_test.copy()
    late = out["time"] > t_max
    out["time"][late] = t_max
    out["event"][late] = False
    return out


def compute_survival_metrics(y_train, y_test, risk, survival=None) -> dict[str, float]:
    """Survival metrics of one set of predictions (see the module docstring).

    Parameters
    ----------
    y_train, y_test : structured ndarray
        ``(event, time)`` of the training fold and of the scored test patients.
    risk : array-like of shape (n_test,)
        Risk scores (higher = earlier event).
    survival : callable or None
        ``survival(times)`` -> array of shape (n_test, len(times)) of survival probabilities, or
        None for a model without survival functions.

    Returns
    -------
    dict
        Metric name to value.

    Raises
    ------
    ValueError
        The test patients have no event, or a horizon lies outside their follow-up.
    """
    from sksurv.metrics import (
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

    risk = np.asarray(risk, float)
    event, time = y_test["event"].astype(bool), y_test["time"].astype(float)
    if not event.any():
        raise ValueError("the test patients have no event; no concordance can be computed.")
    horizons = fold_horizons(y_train)
    y_ipcw = _truncated(y_test, y_train)
    t = y_ipcw["time"]
    outside = [h for h in horizons if not t.min() <= h < t.max()]
    if outside:
        raise ValueError(
            f"td-AUC horizons {[float(h) for h in outside]} lie outside the test follow-up "
            f"[{t.min()}, {t.max()})."
        )
    out = {
        "c_harrell": float(concordance_index_censored(event, time, risk)[0]),
        "c_uno": float(
            concordance_index_ipcw(
                y_train, y_ipcw, risk, tau=float(np.percentile(y_train["time"], 90))
            )[0]
        ),
    }
    times = ibs_times(y_train, y_ipcw)
    out["ibs"] = (
        float(integrated_brier_score(y_train, y_ipcw, survival(times), times))
        if survival is not None and len(times) > 1
        else float("nan")
    )
    aucs, mean_auc = cumulative_dynamic_auc(y_train, y_ipcw, risk, horizons)
    out["td_auc"] = float(mean_auc)
    for q, a in zip(HORIZON_QUANTILES, aucs):
        out[f"td_auc_q{round(100 * q)}"] = float(a)
    return {k: out[k] for k in SURVIVAL_METRICS}
