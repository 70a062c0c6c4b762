"""Restricted maximum likelihood (ReML) hyperparameter estimation and free energy.

Two estimators from design note spm_inversion §3, both operating on a
*summed* scatter matrix ``YY`` of ``N`` samples (float64 throughout):

- :func:`reml_sc`: covariance components ``C = V + Σ exp(λᵢ)·Qᵢ`` with
  log-normal hyperpriors, Fisher scoring through a local-linearisation step,
  and the variational free energy (accuracy minus complexity). Every quirk
  that changes SPM's numbers is reproduced (persistent gradient/curvature
  arrays, frozen components, pre-update covariance in F).
- :func:`sparse_reml`: automatic relevance determination over components
  given as low-rank bases (the ARD stage of MSP, §3.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._linalg import pinv_spm, spm_dx, spm_inv, spm_logdet, trace_product

_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class RemlResult:
    """Output of :func:`reml_sc`.

    Attributes
    ----------
    cov : ndarray, shape (n, n)
        Model covariance ``Σ`` in the units of ``YY / N`` (fixed part included).
    hyper : ndarray, shape (m,)
        Component scales ``hᵢ`` such that ``Σ ≈ V + Σ hᵢ·Qᵢ``.
    free_energy : float
        Variational free energy ``F = accuracy − complexity``.
    accuracy : float
        Gaussian log-likelihood of the data under ``Σ`` (in original units).
    complexity : float
        KL divergence of the log-hyperparameter posterior from the prior.
    n_iter : int
        Iterations performed.
    """

    cov: np.ndarray
    hyper: np.ndarray
    free_energy: float
    accuracy: float
    complexity: float
    n_iter: int


def reml_sc(
    yy: np.ndarray,
    components: Sequence[np.ndarray],
    n_samples: int,
    fixed: np.ndarray,
    *,
    prior_mean: float = -4.0,
    prior_var: float = 16.0,
    max_iter: int = 32,
) -> RemlResult:
    """Non-negative ReML with log-normal hyperpriors (SPM's ``spm_reml_sc``, design note spm_inversion §3.1).

    Parameters
    ----------
    yy : ndarray, shape (n, n)
        Sum over samples of ``y·yᵀ``.
    components : sequence of ndarray, shape (n, n)
        Covariance components ``Qᵢ``.
    n_samples : int
        Number of samples ``N`` summed in ``yy``.
    fixed : ndarray, shape (n, n)
        Fixed covariance ``V`` (noise floor).
    prior_mean, prior_var : float
        Prior mean and variance of every log-hyperparameter (−4, 16).
    max_iter : int
        Maximum Fisher-scoring iterations (32).

    Returns
    -------
    RemlResult
    """
    n = yy.shape[0]
    m = len(components)
    big_n = float(n_samples)
    scale_y = np.trace(yy) / (big_n * n)
    yy = yy / scale_y
    fixed = fixed / scale_y
    scale_q = np.array([np.trace(q) / n for q in components])
    comps = [q / s for q, s in zip(components, scale_q, strict=True)]
    lam = np.zeros(m)
    eta = np.full(m, prior_mean)
    prec = spm_inv(np.array([[prior_var]]))[0, 0] * np.eye(m)
    grad = np.zeros(m)
    curv = np.zeros((m, m))
    active = np.arange(m)
    step_t = 4.0
    last_df = np.inf
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007  (n_iter is reported)
        cov = fixed + sum(np.exp(lam[i]) * comps[i] for i in active)
        p = spm_inv(cov)
        u = np.eye(n) - p @ yy / big_n
        pq = {i: p @ comps[i] for i in active}
        for i in active:
            grad[i] = -trace_product(pq[i], u) * big_n / 2
        for a, i in enumerate(active):
            for j in active[a:]:
                curv[i, j] = curv[j, i] = -trace_product(pq[i], pq[j]) * big_n / 2
        err = lam - eta
        grad = grad * np.exp(lam) - prec @ err
        curv = curv * np.outer(np.exp(lam), np.exp(lam)) - prec
        step = spm_dx(curv[np.ix_(active, active)], grad[active], step_t)
        lam[active] += step
        df = float(grad[active] @ step)
        step_t = step_t - 1.0 if df > last_df else step_t + 0.125
        last_df = df
        if df < 1e-2:
            break
        active = np.flatnonzero(lam > eta)
        if active.size == 0:
            break
    post_prec = -curv
    ft = np.trace(prec @ np.linalg.inv(post_prec)) - m
    complexity = ft / 2 + err @ prec @ err / 2 + spm_logdet(post_prec @ np.linalg.inv(prec)) / 2
    fit = trace_product(cov @ p, yy @ p)
    accuracy = ft / 2 - fit / 2 - big_n * n * _LOG_2PI / 2 - big_n * spm_logdet(cov) / 2
    shift = big_n * n * np.log(scale_y) / 2
    free_energy = accuracy - complexity - shift
    return RemlResult(
        cov=scale_y * cov,
        hyper=scale_y * np.exp(lam) / scale_q,
        free_energy=float(free_energy),
        accuracy=float(accuracy - ft / 2 - shift),
        complexity=float(complexity - ft / 2),
        n_iter=n_iter,
    )


def sparse_reml(
    yy: np.ndarray,
    bases: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    n_samples: int,
    *,
    prior_mean: float = -32.0,
    prior_var: float = 256.0,
    max_iter: int = 128,
) -> np.ndarray:
    """ARD over low-rank components ``Qc = Bc·diag(vc)·Bcᵀ`` (SPM's ``spm_sp_reml``, design note spm_inversion §3.5).

    Parameters
    ----------
    yy : ndarray, shape (n, n)
        Summed scatter matrix.
    bases : sequence of ndarray, shape (n, r_c)
        Basis columns of each component.
    weights : sequence of ndarray, shape (r_c,)
        Weight of each basis column.
    n_samples : int
        Number of samples ``N``.
    prior_mean, prior_var : float
        Log-hyperparameter prior (−32, 256).
    max_iter : int
        Maximum iterations (128).

    Returns
    -------
    ndarray, shape (n_components,)
        Component scales ``h_c``.
    """
    n = yy.shape[0]
    m = len(bases)
    big_n = float(n_samples)
    scale_y = n * np.trace(yy) / big_n
    yy = yy / scale_y
    scale_q = np.array(
        [n * np.sum(v * np.sum(b * b, axis=0)) for b, v in zip(bases, weights, strict=True)]
    )
    basis = np.concatenate([b / np.sqrt(s) for b, s in zip(bases, scale_q, strict=True)], axis=1)
    col_w = np.concatenate([np.asarray(v, dtype=np.float64) for v in weights])
    owner = np.concatenate([np.full(b.shape[1], c) for c, b in enumerate(bases)])
    lam = np.zeros(m)
    prec = 1.0 / prior_var
    active = np.arange(m)
    for k in range(1, max_iter + 1):
        eps_b = col_w * np.exp(lam[owner])
        cov = (basis * eps_b) @ basis.T
        p = np.linalg.inv(cov + np.exp(-32.0) * np.eye(n))
        w = p @ (yy / big_n - cov) @ p.T
        cols = np.flatnonzero(np.isin(owner, active))
        b = basis[:, cols]
        pb = p @ b
        d_eps = big_n / 2 * np.sum(b * (w @ b), axis=0)
        dd_eps = -big_n / 2 * (b.T @ pb) ** 2
        # chain rule to the components' log-scales: sum over each component's columns
        group = np.searchsorted(active, owner[cols])
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        scale = eps_b[cols]
        grad = np.add.reduceat(scale * d_eps, starts) - prec * (lam[active] - prior_mean)
        curv = np.add.reduceat(
            np.add.reduceat(dd_eps * np.outer(scale, scale), starts, axis=0), starts, axis=1
        ) - prec * np.eye(active.size)
        step = -pinv_spm(curv, grad) / np.log(k + 2)
        lam[active] += step
        df = float(grad @ step)
        if df < 1e-2 or k == max_iter:
            break
        active = np.flatnonzero(lam > -16.0)
        lam[lam <= -16.0] = prior_mean
        lam = np.minimum(lam, 1.0)
    return scale_y * np.exp(lam) / scale_q
