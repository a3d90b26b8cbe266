"""A synthetic multi-modal survival table: hazards driven by shared and modality-specific latents.

The target follows scikit-survival's convention (a structured array with a boolean ``event`` and
a float ``time`` field, as ``sksurv.util.Surv.from_arrays`` builds it) without importing
scikit-survival, which is an optional extra.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from radfuse.modality import format_name

__all__ = ["SURVIVAL_DTYPE", "make_multimodal_survival"]

#: dtype of a survival target (scikit-survival's: event first, then time)
SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


def _censoring_rate(t_event: np.ndarray, u: np.ndarray, target: float, follow_up: float) -> float:
    """The exponential censoring rate that censors about ``target`` of the patients.

    ``u`` are fixed uniform draws (censoring times ``-log(u) / rate``), so the result is a
    deterministic function of the sample; bisection on the log-rate.
    """
    e = -np.log(u)
    lo, hi = -12.0, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        censored = np.minimum(e / np.exp(mid), follow_up) < t_event
        lo, hi = (lo, mid) if censored.mean() > target else (mid, hi)
    return float(np.exp((lo + hi) / 2))


def make_multimodal_survival(
    n_samples: int = 300,
    modalities: Mapping[str, int] | None = None,
    *,
    censoring: float = 0.3,
    shared_fraction: float = 0.5,
    n_latent: int = 4,
    n_informative: int = 8,
    effect_size: float = 1.0,
    noise: float = 0.5,
    random_state=None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A synthetic multi-modal feature table with a right-censored survival outcome.

    Each patient has a shared latent vector ``s`` and one specific latent vector ``u_m`` per
    modality (``n_latent`` dimensions each). The first ``n_informative`` features of block ``m``
    are random mixtures of ``sqrt(shared_fraction) * s`` and ``sqrt(1 - shared_fraction) * u_m``
    plus noise; the other features are mixtures of a nuisance latent plus noise. The log-hazard is
    ``effect_size * (s . b_s + sum_m u_m . b_m) / scale`` (unit variance before
    ``effect_size``), so every modality carries its own part of the risk and the shared part is
    in all of them. Event times are exponential given the log-hazard; censoring times are
    exponential with the rate that censors about ``censoring`` of the patients, and follow-up
    ends (administrative censoring) at the 95th percentile of the event times.

    Parameters
    ----------
    n_samples : int, default=300
    modalities : mapping of str to int, default={"T1WI": 32, "FLAIR": 32, "DWI": 32}
        Features per block.
    censoring : float in [0, 1), default=0.3
        Target share of censored patients.
    shared_fraction : float in [0, 1], default=0.5
        Share of the informative variance that comes from the shared latent.
    n_latent : int, default=4
    n_informative : int, default=8
        Informative features per block (at most the block's size).
    effect_size : float, default=1.0
        Standard deviation of the log-hazard (0: no signal).
    noise : float, default=0.5
        Standard deviation of the feature noise.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : DataFrame
        Index ``patient_id`` (``"P0001"`` ...), columns ``"<MODALITY>__f<j>"``.
    y : structured ndarray of shape (n_samples,)
        Fields ``event`` (bool) and ``time`` (float, > 0).
    """
    if not 0.0 <= censoring < 1.0:
        raise ValueError(f"censoring must be in [0, 1), got {censoring!r}.")
    if not 0.0 <= shared_fraction <= 1.0:
        raise ValueError(f"shared_fraction must be in [0, 1], got {shared_fraction!r}.")
    modalities = dict(modalities or {"T1WI": 32, "FLAIR": 32, "DWI": 32})
    rng = check_random_state(random_state)
    n = int(n_samples)
    shared = rng.normal(size=(n, n_latent))
    eta = shared @ rng.normal(size=n_latent)
    blocks = []
    for mod, size in modalities.items():
        specific = rng.normal(size=(n, n_latent))
        eta = eta + specific @ rng.normal(size=n_latent)
        # both latents stay recoverable from the block (k >= 2 * n_latent informative features)
        latent = np.hstack(
            [np.sqrt(shared_fraction) * shared, np.sqrt(1 - shared_fraction) * specific]
        )
        nuisance = rng.normal(size=(n, n_latent))
        k = min(int(n_informative), int(size))
        values = np.hstack(
            [
                latent @ rng.normal(size=(2 * n_latent, k)) / np.sqrt(n_latent),
                nuisance @ rng.normal(size=(n_latent, size - k)) / np.sqrt(n_latent),
            ]
        )
        values = values + noise * rng.normal(size=values.shape)
        blocks.append(
            pd.DataFrame(values, columns=[format_name(mod, f"f{j}") for j in range(size)])
        )
    eta = effect_size * (eta - eta.mean()) / (eta.std() or 1.0)
    t_event = rng.exponential(size=n) / np.exp(eta)
    follow_up = float(np.quantile(t_event, 0.95))
    u = rng.uniform(size=n)
    rate = _censoring_rate(t_event, u, censoring, follow_up) if censoring > 0 else 0.0
    t_cens = np.minimum(-np.log(u) / rate, follow_up) if rate > 0 else np.full(n, follow_up)
    y = np.empty(n, dtype=SURVIVAL_DTYPE)
    y["event"] = t_event <= t_cens
    y["time"] = np.minimum(t_event, t_cens)
    width = max(4, len(str(n)))
    X = pd.concat(blocks, axis=1)
    X.index = pd.Index([f"P{i + 1:0{width}d}" for i in range(n)], name="patient_id")
    return X, y
