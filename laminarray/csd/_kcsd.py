"""One-dimensional kernel current source density (kCSD), written from the method papers.

Potworowski, Jakuczun, Łęski & Wójcik (2012), "Kernel current source density
method", Neural Computation 24:541-575, in one dimension (Pettersen et al.
2006's disc model of a laminar recording):

* the CSD is expanded in ``M`` Gaussian basis sources ``b_j`` centred on a
  regular grid covering the electrodes (standard deviation ``R/2``: ``R`` is
  twice the standard deviation, the kCSD convention);
* each basis source produces at depth ``x`` the potential
  ``b̃_j(x) = 1/(2σ) ∫ (sqrt((x - x')² + h²) - |x - x'|) b_j(x') dx'`` (a
  current disc of radius ``h`` in a medium of conductivity ``σ``);
* with the kernel ``K = B̃ᵀB̃`` between electrodes and the cross-kernel
  ``K̃ = BᵀB̃`` between estimation points and electrodes, the estimate is
  ``C = K̃ (K + λI)⁻¹ V``;
* ``λ`` and ``R`` are chosen by leave-one-electrode-out cross-validation: the
  pair minimising the summed norm (over samples) of the prediction errors.

The integral is exact for the ``|x - x'|`` part (closed form for a Gaussian)
and Gauss-Hermite quadrature (smooth integrand) for the square-root part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.special import erf

__all__ = ["DEFAULT_LAMBDAS", "DEFAULT_RS", "KCSDSettings", "kcsd_column"]

DEFAULT_LAMBDAS = np.concatenate([np.logspace(-2, -25, 25), [0.0]])
DEFAULT_RS = np.array([0.23])
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(48)


@dataclass(frozen=True)
class KCSDSettings:
    """Settings of the 1-D kCSD (lengths in mm, conductivity in S/m).

    Attributes
    ----------
    lambdas : tuple of float
        Candidate regularisation parameters (default ``logspace(-2, -25, 25)`` and 0).
    rs : tuple of float
        Candidate basis widths ``R`` in mm (twice the Gaussian's standard deviation).
    sigma : float
        Conductivity (default 1).
    h : float
        Radius of the current discs in mm (default 1).
    n_sources : int
        Number of basis sources (default 300).
    ext_x : float
        Extension of the source grid beyond the electrodes in mm (default 0).
    n_estimates : int
        Estimation points from 0 to the thickness (default 100, i.e. a step of
        ``thickness / 99``; elephant's ``gdx = 0.01 * thickness`` gives 99 or 100
        points depending on float rounding).
    """

    lambdas: tuple[float, ...] = tuple(DEFAULT_LAMBDAS)
    rs: tuple[float, ...] = tuple(DEFAULT_RS)
    sigma: float = 1.0
    h: float = 1.0
    n_sources: int = 300
    ext_x: float = 0.0
    n_estimates: int = 100


def _gauss(x: np.ndarray, centre: np.ndarray, std: float) -> np.ndarray:
    return np.exp(-((x - centre) ** 2) / (2 * std**2)) / (np.sqrt(2 * np.pi) * std)


def _potential_basis(
    x: np.ndarray, centres: np.ndarray, std: float, s: KCSDSettings
) -> np.ndarray:
    """``b̃_j(x_i)``, shape (n_sources, n_points)."""
    delta = x[None, :] - centres[:, None]
    mean_abs = std * np.sqrt(2 / np.pi) * np.exp(-(delta**2) / (2 * std**2)) + delta * erf(
        delta / (std * np.sqrt(2))
    )
    shifts = np.sqrt(2) * std * _NODES
    mean_sqrt = np.sqrt((delta[..., None] - shifts) ** 2 + s.h**2) @ _WEIGHTS / np.sqrt(np.pi)
    return (mean_sqrt - mean_abs) / (2 * s.sigma)


def _kernels(
    electrodes: np.ndarray, estimates: np.ndarray, r: float, s: KCSDSettings
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = electrodes.min() - s.ext_x, electrodes.max() + s.ext_x
    centres = np.linspace(lo, hi, s.n_sources)
    potentials = _potential_basis(electrodes, centres, r / 2, s)
    sources = _gauss(estimates[None, :], centres[:, None], r / 2)
    return potentials.T @ potentials, sources.T @ potentials


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return linalg.solve(matrix, rhs, assume_a="sym")
    except (linalg.LinAlgError, ValueError):
        return linalg.lstsq(matrix, rhs)[0]


def _cv_error(kernel: np.ndarray, potentials: np.ndarray, lam: float) -> float:
    """Leave-one-electrode-out prediction error, summed over electrodes."""
    n = kernel.shape[0]
    error = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        train = kernel[np.ix_(keep, keep)] + lam * np.eye(n - 1)
        predicted = kernel[i, keep] @ _solve(train, potentials[keep])
        error += float(np.linalg.norm(potentials[i] - predicted))
    return error


def kcsd_column(
    potentials: np.ndarray, thickness: float, settings: KCSDSettings
) -> tuple[np.ndarray, float, float]:
    """kCSD of one laminar column.

    Parameters
    ----------
    potentials : ndarray, shape (N, n_samples)
        Potentials at ``N`` equidistant depths from 0 (pial) to ``thickness``,
        in the units the kCSD expects (mV for a result in µA/mm³).
    thickness : float
        Column thickness in mm.
    settings : KCSDSettings

    Returns
    -------
    csd : ndarray, shape (n_estimates, n_samples)
        CSD at ``linspace(0, thickness, n_estimates)``.
    lam, r : float
        The cross-validated regularisation and basis width.
    """
    electrodes = np.linspace(0.0, thickness, potentials.shape[0])
    estimates = np.linspace(0.0, thickness, settings.n_estimates)
    scores = []
    for r in settings.rs:
        kernel, _ = _kernels(electrodes, electrodes, r, settings)
        scores += [(_cv_error(kernel, potentials, lam), lam, r) for lam in settings.lambdas]
    _, lam, r = min(scores, key=lambda score: score[0])
    kernel, cross = _kernels(electrodes, estimates, r, settings)
    weights = _solve(kernel + lam * np.eye(kernel.shape[0]), potentials)
    return cross @ weights, float(lam), float(r)
