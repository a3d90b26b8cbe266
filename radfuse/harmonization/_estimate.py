"""ComBat's estimates for one block of features, in plain NumPy.

The model (Johnson, Li and Rabinovic 2007; Fortin et al. 2017) of feature ``f`` of patient ``j``
at centre ``b`` is ``x = alpha_f + C_j beta_f + gamma_bf + sqrt(delta_bf) sigma_f e``: a grand
mean, covariate effects, an additive and a multiplicative centre effect. The centre effects are
estimated on the standardised data and shrunk towards the other features of the same centre
(empirical Bayes). Every step follows neuroCombat 0.2.12 (the reference the tests compare with);
the non-parametric prior is computed in log space so that large centres do not underflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BlockEstimates", "adjust_block", "fit_block"]

#: Relative change of gamma* and delta* at which the parametric iteration stops (neuroCombat's).
CONV = 1e-4

#: Safety cap on the parametric iteration, far above what converging data needs.
MAX_ITER = 10_000


@dataclass(frozen=True)
class BlockEstimates:
    """What :func:`adjust_block` needs to harmonise new rows of one block.

    Attributes
    ----------
    grand_mean : ndarray of shape (n_features,)
        Centre-size-weighted mean of the centre intercepts.
    var_pooled : ndarray of shape (n_features,)
        Residual variance of the training rows around the design (divided by n, as ComBat).
    beta : ndarray of shape (n_covariates, n_features)
        Covariate effects, added back after harmonisation.
    gamma_hat, delta_hat : ndarray of shape (n_centres, n_features)
        Per-centre location and scale of the standardised data (no shrinkage).
    gamma_star, delta_star : ndarray of shape (n_centres, n_features)
        The (shrunk) estimates that are removed.
    """

    grand_mean: np.ndarray
    var_pooled: np.ndarray
    beta: np.ndarray
    gamma_hat: np.ndarray
    delta_hat: np.ndarray
    gamma_star: np.ndarray
    delta_star: np.ndarray


def standardise(A, C, grand_mean, var_pooled, beta):
    """``(A - grand_mean - C beta) / sqrt(var_pooled)``."""
    return (A - grand_mean - C @ beta) / np.sqrt(var_pooled)


def fit_block(
    A: np.ndarray,
    codes: np.ndarray,
    n_centres: int,
    C: np.ndarray,
    *,
    eb: bool,
    parametric: bool,
    mean_only: bool,
) -> BlockEstimates:
    """Estimate ComBat's parameters on the rows of one block.

    Parameters
    ----------
    A : ndarray of shape (n_rows, n_features)
        Rows where the block is present, no NaN.
    codes : ndarray of int of shape (n_rows,)
        Centre of each row, ``0 .. n_centres - 1``, each occurring at least once.
    n_centres : int
    C : ndarray of shape (n_rows, n_covariates)
        Covariates kept in the design (may have zero columns).
    eb, parametric, mean_only : bool
        As in :class:`~radfuse.harmonization.ComBatHarmonizer`.
    """
    n = A.shape[0]
    onehot = np.zeros((n, n_centres))
    onehot[np.arange(n), codes] = 1.0
    design = np.hstack([onehot, C])
    # the normal equations, as ComBat solves them (the caller checked the design's rank)
    B = np.linalg.solve(design.T @ design, design.T @ A)
    counts = onehot.sum(axis=0)
    grand_mean = (counts / n) @ B[:n_centres]
    beta = B[n_centres:]
    var_pooled = np.mean((A - design @ B) ** 2, axis=0)
    S = standardise(A, C, grand_mean, var_pooled, beta)

    gamma_hat = (onehot.T @ S) / counts[:, None]
    if mean_only:
        delta_hat = np.ones_like(gamma_hat)
    else:
        delta_hat = np.stack([np.var(S[codes == b], axis=0, ddof=1) for b in range(n_centres)])
        delta_hat[delta_hat == 0] = 1.0
    if not eb:
        gamma_star, delta_star = gamma_hat, delta_hat
    elif parametric:
        gamma_star, delta_star = _parametric(S, codes, gamma_hat, delta_hat, mean_only)
    else:
        gamma_star, delta_star = _non_parametric(S, codes, gamma_hat, delta_hat)
    return BlockEstimates(
        grand_mean, var_pooled, beta, gamma_hat, delta_hat, gamma_star, delta_star
    )


def _postmean(g_hat, g_bar, n, d_star, t2):
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def _parametric(S, codes, gamma_hat, delta_hat, mean_only):
    """Normal prior on gamma, inverse-gamma prior on delta, both fitted across features."""
    g_bar = gamma_hat.mean(axis=1)
    t2 = gamma_hat.var(axis=1, ddof=1)
    gamma_star = np.empty_like(gamma_hat)
    delta_star = np.ones_like(delta_hat)
    for b in range(gamma_hat.shape[0]):
        if mean_only:
            # neuroCombat's (and sva's) mean-only posterior uses n = 1 and delta = 1
            gamma_star[b] = _postmean(gamma_hat[b], g_bar[b], 1.0, 1.0, t2[b])
            continue
        m, s2 = delta_hat[b].mean(), delta_hat[b].var(ddof=1)
        a_prior = (2 * s2 + m**2) / s2
        b_prior = (m * s2 + m**3) / s2
        Sb = S[codes == b]
        n = Sb.shape[0]
        g_old, d_old = gamma_hat[b], delta_hat[b]
        for _ in range(MAX_ITER):
            g_new = _postmean(gamma_hat[b], g_bar[b], n, d_old, t2[b])
            sum2 = ((Sb - g_new) ** 2).sum(axis=0)
            d_new = (0.5 * sum2 + b_prior) / (n / 2.0 + a_prior - 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                change = max(
                    (np.abs(g_new - g_old) / g_old).max(), (np.abs(d_new - d_old) / d_old).max()
                )
            g_old, d_old = g_new, d_new
            if not change > CONV:
                break
        gamma_star[b], delta_star[b] = g_new, d_new
    return gamma_star, delta_star


def _non_parametric(S, codes, gamma_hat, delta_hat):
    """Posterior means under the empirical distribution of the *other* features' estimates.

    For feature ``i`` of centre ``b``, every other feature ``k`` contributes its
    ``(gamma_hat, delta_hat)`` with weight the normal likelihood of feature ``i``'s standardised
    rows at that location and scale (Monte-Carlo integration over the prior, as neuroCombat).
    """
    gamma_star = np.empty_like(gamma_hat)
    delta_star = np.empty_like(delta_hat)
    for b in range(gamma_hat.shape[0]):
        Sb = S[codes == b]
        n = Sb.shape[0]
        g, d = gamma_hat[b], delta_hat[b]
        xbar = Sb.mean(axis=0)
        ss = ((Sb - xbar) ** 2).sum(axis=0)
        # sum_j (x_ij - g_k)^2 = ss_i + n (xbar_i - g_k)^2, rows i (target) by columns k (prior)
        sum2 = ss[:, None] + n * (xbar[:, None] - g[None, :]) ** 2
        log_lh = -0.5 * n * np.log(2 * np.pi * d)[None, :] - sum2 / (2 * d[None, :])
        np.fill_diagonal(log_lh, -np.inf)
        w = np.exp(log_lh - log_lh.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        gamma_star[b] = w @ g
        delta_star[b] = w @ d
    return gamma_star, delta_star


def adjust_block(
    A: np.ndarray, codes: np.ndarray, C: np.ndarray, est: BlockEstimates
) -> np.ndarray:
    """Harmonise rows of one block (``codes[j]``: the row's centre in the estimates)."""
    S = standardise(A, C, est.grand_mean, est.var_pooled, est.beta)
    S = (S - est.gamma_star[codes]) / np.sqrt(est.delta_star[codes])
    return S * np.sqrt(est.var_pooled) + est.grand_mean + C @ est.beta
