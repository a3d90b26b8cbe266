"""Discrete-time survival: time bins, hazards, survival curves, risk and the likelihood loss.

Conventions (one place for all of radfuse's discrete-time survival code):

* **Events.** ``event`` is 1 (True) where the event was observed at the row's time and 0 (False)
  where the row is right-censored at that time (the scikit-survival convention, not the
  "censorship" flag of some survival codebases).
* **Bins.** ``edges`` has ``n_bins + 1`` increasing values, ``edges[0] = -inf`` and
  ``edges[-1] = +inf``. Bin ``j`` (0-based, ``j = 0, ..., n_bins - 1``) is the right-closed
  interval ``(edges[j], edges[j + 1]]``; a time equal to a cut point belongs to the lower bin.
  :func:`time_bins` puts the ``n_bins - 1`` inner cut points at the quantiles
  ``1 / n_bins, ..., (n_bins - 1) / n_bins`` of the *uncensored* times (NumPy's default linear
  quantile), so each bin holds about as many events; pass the training fold only.
* **Hazards.** A network returns one logit per bin, ``l`` (b, n_bins). The discrete hazard is
  ``h_j = sigmoid(l_j) = P(T in bin j | T not in an earlier bin)`` and the survival function is
  ``S_j = prod_{k <= j} (1 - h_k) = P(T beyond bin j)``, with ``S_{-1} = 1``.
* **Risk.** ``risk = -sum_j S_j`` (higher risk, shorter expected survival): the score a
  concordance index ranks.
* **Loss.** The negative log-likelihood of the discrete-time model
  (:func:`discrete_time_nll`): an event in bin ``j`` contributes ``-log S_{j-1} - log h_j``
  (survived the earlier bins, failed in bin ``j``), a row censored in bin ``j`` contributes
  ``-log S_j`` (survived bin ``j``, as the published SurMoE / MCAT code assumes). It is computed
  from the logits with ``logsigmoid`` (``log h = logsigmoid(l)``,
  ``log(1 - h) = logsigmoid(-l)``), which is exact for any finite logit, so no clamping constant
  is needed.

This module imports neither scikit-learn nor pandas.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radfuse.nn.losses import weighted_mean

__all__ = [
    "bin_times",
    "discrete_time_nll",
    "risk_from_survival",
    "survival_from_hazards",
    "time_bins",
]


def _check_times(times, events=None):
    times = np.asarray(times, dtype=float)
    if times.ndim != 1:
        raise ValueError(f"times must be one-dimensional, got shape {times.shape}.")
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise ValueError(f"times must be finite; row {bad[0]} has {times[bad[0]]}.")
    if events is None:
        return times
    events = np.asarray(events)
    if events.shape != times.shape:
        raise ValueError(
            f"events must have one value per time: got shape {events.shape}, "
            f"expected {times.shape}."
        )
    bad = np.flatnonzero((events != 0) & (events != 1))
    if bad.size:
        raise ValueError(f"events must be 0/1 or bool; row {bad[0]} has {events[bad[0]]!r}.")
    return times, events.astype(bool)


def time_bins(times, events, n_bins: int = 4) -> np.ndarray:
    """Bin edges at the quantiles of the uncensored times (see the module docstring).

    Parameters
    ----------
    times : array-like of shape (n,)
        Event or censoring times of the training rows.
    events : array-like of shape (n,) of bool or {0, 1}
        1 where the event was observed.
    n_bins : int, default=4
        Number of bins (the paper's 4: cut points at the quartiles).

    Returns
    -------
    edges : ndarray of shape (n_bins + 1,)
        ``[-inf, q_1, ..., q_{n_bins - 1}, +inf]``; bin ``j`` is ``(edges[j], edges[j + 1]]``.

    Raises
    ------
    ValueError
        If no time is uncensored, or if tied event times make two cut points equal (a bin would
        be empty whatever the data; use fewer bins).
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    times, events = _check_times(times, events)
    observed = times[events]
    if observed.size == 0:
        raise ValueError("time_bins needs at least one uncensored time; every row is censored.")
    cuts = np.quantile(observed, np.arange(1, n_bins) / n_bins)
    if np.any(np.diff(cuts) <= 0):
        raise ValueError(
            f"the {n_bins - 1} cut points at the quantiles of the {observed.size} uncensored "
            f"times are not strictly increasing ({cuts.tolist()}): tied event times; "
            "use fewer bins."
        )
    return np.concatenate([[-np.inf], cuts, [np.inf]])


def bin_times(times, edges) -> np.ndarray:
    """Bin index of each time: ``j`` such that ``edges[j] < t <= edges[j + 1]``.

    Parameters
    ----------
    times : array-like of shape (n,)
    edges : array-like of shape (n_bins + 1,)
        As returned by :func:`time_bins` (``-inf`` and ``+inf`` ends).

    Returns
    -------
    ndarray of shape (n,) of int64, values in ``0, ..., n_bins - 1``
    """
    times = _check_times(times)
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or edges[0] != -np.inf or edges[-1] != np.inf:
        raise ValueError(
            "edges must be a one-dimensional array starting at -inf and ending at +inf "
            f"(as time_bins returns), got {edges.tolist()}."
        )
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be strictly increasing, got {edges.tolist()}.")
    # side="left" counts the inner cut points strictly below t: a tie goes to the lower bin.
    return np.searchsorted(edges[1:-1], times, side="left").astype(np.int64)


def survival_from_hazards(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hazards and survival function from hazard logits.

    Parameters
    ----------
    logits : (b, n_bins) tensor

    Returns
    -------
    hazards : (b, n_bins) tensor, ``sigmoid(logits)``
    survival : (b, n_bins) tensor, ``S_j = prod_{k <= j} (1 - h_k)`` (computed in log space)
    """
    logits = logits.float()
    return torch.sigmoid(logits), torch.exp(torch.cumsum(F.logsigmoid(-logits), dim=1))


def risk_from_survival(survival: torch.Tensor) -> torch.Tensor:
    """Risk score ``-sum_j S_j`` of each row (higher: shorter expected survival)."""
    return -survival.sum(dim=1)


def discrete_time_nll(
    hazard_logits: torch.Tensor,
    bin_index: torch.Tensor,
    event: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Negative log-likelihood of the discrete-time survival model (see the module docstring).

    Parameters
    ----------
    hazard_logits : (b, n_bins) tensor
    bin_index : (b,) int tensor
        Bin of each row's time (:func:`bin_times`).
    event : (b,) bool or {0, 1} tensor
        1 where the event was observed in that bin, 0 where the row is censored in it.
    sample_weight : (b,) tensor or None
        Per-row weights (0 masks a row); the weighted sum is divided by the batch size
        (:func:`radfuse.nn.losses.weighted_mean`).

    Returns
    -------
    Scalar tensor.
    """
    logits = hazard_logits.float()
    n_bins = logits.shape[1]
    j = bin_index.long().view(-1, 1)
    if j.numel() and (int(j.min()) < 0 or int(j.max()) >= n_bins):
        raise ValueError(
            f"bin_index must lie in 0..{n_bins - 1} (one per hazard logit), "
            f"got values from {int(j.min())} to {int(j.max())}."
        )
    log_surv_step = F.logsigmoid(-logits)  # log(1 - h_k)
    log_surv = torch.cumsum(log_surv_step, dim=1)  # log S_k
    # log S_{j-1}, with S_{-1} = 1: the cumulative sum shifted right by one bin.
    log_surv_prev = F.pad(log_surv[:, :-1], (1, 0))
    log_s_j = log_surv.gather(1, j).squeeze(1)
    log_s_prev = log_surv_prev.gather(1, j).squeeze(1)
    log_h_j = F.logsigmoid(logits).gather(1, j).squeeze(1)
    event = event.to(logits.dtype)
    per_row = -(event * (log_s_prev + log_h_j) + (1.0 - event) * log_s_j)
    return weighted_mean(per_row, sample_weight)
