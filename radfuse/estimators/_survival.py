"""Survival base of the torch estimators: scikit-survival targets, time bins and predictions.

:class:`TorchSurvivalBase` sits beside :class:`~radfuse.estimators.base.TorchClassifierBase`
and follows scikit-survival's conventions:

* ``y`` is a structured array of two fields, the event indicator (bool or 0/1) then the event or
  censoring time (finite, >= 0), as ``sksurv.util.Surv.from_arrays(event, time)`` makes it;
* ``predict(X)`` is a risk score (higher: earlier event), ``score(X, y)`` Harrell's C-index;
* ``predict_survival_function(X)`` returns one ``sksurv.functions.StepFunction`` per row over
  ``unique_times_`` (or the array of their values with ``return_array=True``).

The network is a discrete-time model (:mod:`radfuse.nn.survival`): it returns one hazard logit
per time bin, the bins are cut at the quantiles of the event times of the rows given to ``fit``
(never of the rows predicted), and it trains on the discrete-time negative log-likelihood, which
is also the validation loss that early stopping monitors. The validation split is stratified on
the event indicator; ``history_`` records the validation C-index as ``valid_score``.

A subclass has an ``n_bins`` parameter and defines ``_build_module`` (its forward is
``module(x, present) -> (b, n_bins)`` hazard logits); :meth:`_hazard_logits` changes how the
logits are obtained.

The batch's ``"y"`` is int64 ``(b, 3)``: the bin of the row's time, the event indicator and the
rank of the time among ``unique_times_`` (the validation C-index needs only the order of times).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from sksurv.base import SurvivalAnalysisMixin
from sksurv.functions import StepFunction
from sksurv.metrics import concordance_index_censored

from radfuse.estimators._params import BASE_CONSTRAINTS
from radfuse.estimators.base import Rows, TorchEstimatorBase
from radfuse.nn.survival import (
    bin_times,
    discrete_time_nll,
    risk_from_survival,
    survival_from_hazards,
    time_bins,
)

__all__ = [
    "SURVIVAL_CONSTRAINTS",
    "TorchSurvivalBase",
    "check_survival_target",
]

#: The base constraints without ``class_weight`` (a survival target has no classes).
SURVIVAL_CONSTRAINTS: dict = {k: v for k, v in BASE_CONSTRAINTS.items() if k != "class_weight"}


def check_survival_target(y, n_samples: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(event, time)`` of a scikit-survival target, with errors that say what is wrong.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Two fields: the event indicator (bool, or numbers that are all 0 or 1), then the time.
    n_samples : int
        Rows of X.
    name : str
        The estimator's name, for messages.

    Returns
    -------
    event : ndarray of bool
    time : ndarray of float64
    """
    fields = getattr(getattr(y, "dtype", None), "names", None)
    if not isinstance(y, np.ndarray) or fields is None or len(fields) != 2:
        raise ValueError(
            f"{name}: y must be a structured array with two fields, the event indicator then the "
            "time, as sksurv.util.Surv.from_arrays(event, time) returns it; got "
            f"{type(y).__name__} with dtype {getattr(y, 'dtype', None)}."
        )
    y = y.ravel()
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but y has {y.shape[0]}; they must match.")
    ev_name, t_name = fields
    event, time = y[ev_name], y[t_name]
    if event.dtype != bool:
        bad = np.flatnonzero(~np.isin(event, (0, 1)))
        if event.dtype.kind not in "biuf" or bad.size:
            row = bad[0] if bad.size else 0
            raise ValueError(
                f"{name}: the event indicator y[{ev_name!r}] must be bool or 0/1; row {row} has "
                f"{event[row : row + 1].tolist()[0]!r} (dtype {event.dtype})."
            )
    if time.dtype.kind not in "iuf":
        raise ValueError(f"{name}: the time y[{t_name!r}] must be numeric, got dtype {time.dtype}.")
    time = time.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(time) | (time < 0))
    if bad.size:
        raise ValueError(
            f"{name}: the time y[{t_name!r}] must be finite and >= 0; row {bad[0]} has "
            f"{time[bad[0]]} ({bad.size} such rows)."
        )
    return event.astype(bool), time


class TorchSurvivalBase(SurvivalAnalysisMixin, TorchEstimatorBase):
    """Base of radfuse's torch survival estimators (see the module docstring).

    Fitted attributes set here: ``unique_times_`` (sorted unique times of the training rows),
    ``event_times_`` (the unique times with an observed event) and ``bin_edges_`` (``n_bins + 1``
    edges from ``-inf`` to ``+inf``, :func:`radfuse.nn.survival.time_bins`).
    """

    _parameter_constraints: ClassVar[dict] = dict(SURVIVAL_CONSTRAINTS)

    # -- targets --------------------------------------------------------------------------------
    def _encode_targets(self, y, *, n_samples):
        event, time = check_survival_target(y, n_samples, type(self).__name__)
        # Times as ranks among the unique times: batch["y"] is int64.
        self.unique_times_, rank = np.unique(time, return_inverse=True)
        return np.column_stack([rank, event]).astype(np.int64)

    def _prepare_rows(self, rows: Rows, *, fit: bool) -> Rows:
        if not fit:
            return rows
        name = type(self).__name__
        time, event = self.unique_times_[rows.y[:, 0]], rows.y[:, 1].astype(bool)
        keep = rows.sample_weight > 0
        if not event[keep].any():
            raise ValueError(
                f"{name}: every training row (with positive sample_weight) is censored; a "
                "survival model needs at least one observed event."
            )
        # Zero-weight rows are dropped before training: they must not shape the time grid.
        self.unique_times_ = np.unique(time[keep])
        self.event_times_ = np.unique(time[keep & event])
        try:
            self.bin_edges_ = time_bins(time[keep], event[keep], self.n_bins)
        except ValueError as exc:
            raise ValueError(f"{name}(n_bins={self.n_bins}): {exc}") from exc
        rank = np.searchsorted(self.unique_times_, time)
        y = np.column_stack([bin_times(time, self.bin_edges_), event, rank]).astype(np.int64)
        return Rows(rows.X, rows.present, y, rows.sample_weight, rows.labels)

    def _row_weights(self, rows: Rows) -> np.ndarray:
        sw = rows.sample_weight
        return sw / sw[sw > 0].mean()

    def _fit_rows(self, rows: Rows, weights: np.ndarray) -> None:
        # As the classifiers: zero-weight rows are left out, as if they had not been passed.
        keep = weights > 0
        if not keep.all():
            rows, weights = rows.take(keep), weights[keep]
        super()._fit_rows(rows, weights)

    def _stratify(self, y):
        return y[:, 1]

    # -- training -------------------------------------------------------------------------------
    def _hazard_logits(self, module, batch: dict):
        """Hazard logits ``(b, n_bins)`` of a batch."""
        return module(batch["x"], batch["present"])

    def _loss(self, module, batch, ctx):
        y = batch["y"]
        nll = discrete_time_nll(
            self._hazard_logits(module, batch), y[:, 0], y[:, 1], batch["weight"]
        )
        return nll, {"nll": nll}

    def _predict_output(self, module, batch):
        return survival_from_hazards(self._hazard_logits(module, batch))[1]

    def _valid_score(self, y, output) -> float:
        event = y[:, 1].astype(bool)
        if not event.any():
            return float("nan")
        return float(concordance_index_censored(event, y[:, 2].astype(float), _risk(output))[0])

    # -- prediction -----------------------------------------------------------------------------
    def predict_bin_survival(self, X):
        """Survival probability at the end of each time bin.

        Returns
        -------
        ndarray of shape (n_samples, n_bins)
            ``S_j = P(T > bin_edges_[j + 1])`` (the last column is at ``+inf`` in name only: the
            probability of outliving the last cut point's bin).
        """
        return np.asarray(self._forward(X), dtype=np.float64)

    def predict(self, X):
        """Risk score of each row, ``-sum_j S_j`` (higher: earlier event).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return _risk(self.predict_bin_survival(X))

    def predict_survival_function(self, X, return_array=False):
        """Survival function of each row, as scikit-survival's estimators return it.

        The model's survival is constant within a time bin; at a time ``t`` it is ``S_j`` of the
        bin ``j`` holding ``t`` (``bin_edges_[j] < t <= bin_edges_[j + 1]``), given here at the
        training times ``unique_times_``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        return_array : bool, default=False
            Return the values ``(n_samples, len(unique_times_))`` instead of step functions.

        Returns
        -------
        ndarray of ``sksurv.functions.StepFunction`` of shape (n_samples,), or of float
        """
        values = self._at_unique_times(self.predict_bin_survival(X))
        return values if return_array else _step_functions(self.unique_times_, values)

    def predict_cumulative_hazard_function(self, X, return_array=False):
        """Cumulative hazard ``-log S(t)`` at ``unique_times_`` (see
        :meth:`predict_survival_function`).
        """
        with np.errstate(divide="ignore"):
            values = -np.log(self._at_unique_times(self.predict_bin_survival(X)))
        return values if return_array else _step_functions(self.unique_times_, values)

    def _at_unique_times(self, surv: np.ndarray) -> np.ndarray:
        return surv[:, bin_times(self.unique_times_, self.bin_edges_)]

    def score(self, X, y):
        """Harrell's concordance index of :meth:`predict` on ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : structured ndarray of shape (n_samples,)
            Event indicator and time (``sksurv.util.Surv.from_arrays``).

        Returns
        -------
        float
            ``sksurv.metrics.concordance_index_censored(event, time, predict(X))[0]``.
        """
        event, time = check_survival_target(y, len(y), type(self).__name__)
        return float(concordance_index_censored(event, time, self.predict(X))[0])


def _risk(surv) -> np.ndarray:
    # radfuse.nn.survival owns the definition of the risk score.
    return risk_from_survival(torch.as_tensor(np.asarray(surv, dtype=np.float64))).numpy()


def _step_functions(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    funcs = np.empty(len(values), dtype=object)
    for i, row in enumerate(values):
        funcs[i] = StepFunction(x=x, y=row)
    return funcs
