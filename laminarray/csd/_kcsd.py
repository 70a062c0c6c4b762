"""One-dimensional kernel current source density (kCSD) as elephant's ``KCSD1D`` computes it.

Potworowski, Jakuczun, Łęski & Wójcik (2012), "Kernel current source density
method", Neural Computation 24:541-575, in one dimension (a laminar recording
modelled as discs of radius ``h``), with the numerical choices of the
reference implementation that laMEG calls (elephant 1.2.1's ``KCSD1D``, the
same algorithm as the ``kcsd`` 2.0.1 package), so that results agree with
laMEG's ``compute_csd(..., method="KCSD1D")``:

* estimation points: ``n = (x_max - x_min) / gdx`` with ``gdx = 0.01 ·
  thickness``, and ``int(n)`` points from 0 to the thickness inclusive (a
  floating-point quotient just below 100 gives 99 points, e.g. at 3.7 mm;
  kcsd 2.0.1 instead takes ``round(n) + 1`` = 101);
* ``M`` (default 1000) Gaussian basis sources ``b_j`` on a regular grid over
  the estimation points, standard deviation ``R / 3`` (``R`` is three
  standard deviations);
* each basis source produces at distance ``d`` the potential
  ``b̃(d) = 1/(2σ) ∫_{-R}^{R} (sqrt((d - x')² + h²) - |d - x'|) b(x') dx'``
  (the Gaussian truncated at three standard deviations), computed by
  adaptive quadrature at 20 log-spaced distances from 0 to the largest
  source-point distance plus ``R`` and interpolated by a not-a-knot cubic
  spline (elephant's look-up table);
* kernels scaled by the number of basis sources: ``K = B̃ᵀB̃ / M`` between
  electrodes and ``K̃ = BᵀB̃ / M`` between estimation points and electrodes;
  the estimate is ``C = K̃ (K + λI)⁻¹ V``;
* ``λ`` and ``R`` are chosen by leave-one-electrode-out cross-validation over
  the grid ``Rs × lambdas``: the error of a pair is the sum over electrodes
  of the Euclidean norm (over samples) of the prediction error, and the
  first minimum (``R`` outer, ``λ`` inner) wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import integrate
from scipy.interpolate import make_interp_spline

__all__ = [
    "DEFAULT_LAMBDAS",
    "DEFAULT_RS",
    "KCSDSettings",
    "elephant_grid_size",
    "kcsd_column",
]

DEFAULT_LAMBDAS = np.concatenate([np.logspace(-2, -25, 25), [0.0]])
DEFAULT_RS = np.array([0.23])
#: Distances at which the basis potential is integrated before interpolation.
_TABLE_SIZE = 20
#: Estimation step as a fraction of the electrode span (elephant's ``gdx``).
_GRID_STEP = 0.01


@dataclass(frozen=True)
class KCSDSettings:
    """Settings of the 1-D kCSD (lengths in mm, conductivity in S/m).

    Attributes
    ----------
    lambdas : tuple of float
        Candidate regularisation parameters (default ``logspace(-2, -25, 25)`` and 0).
    rs : tuple of float
        Candidate basis widths ``R`` in mm: three standard deviations of the
        Gaussian basis source (default 0.23).
    sigma : float
        Conductivity (default 1).
    h : float
        Radius of the current discs in mm (default 1).
    n_sources : int
        Number of basis sources (default 1000, elephant's ``n_src_init``).
    ext_x : float
        Extension of the source grid beyond the estimation range in mm (default 0).
    n_estimates : int or None
        Estimation points from 0 to the thickness. None (default): as many as
        elephant's ``gdx = 0.01 · thickness`` yields (99 or 100, see
        :func:`elephant_grid_size`).
    """

    lambdas: tuple[float, ...] = tuple(DEFAULT_LAMBDAS)
    rs: tuple[float, ...] = tuple(DEFAULT_RS)
    sigma: float = 1.0
    h: float = 1.0
    n_sources: int = 1000
    ext_x: float = 0.0
    n_estimates: int | None = None


def elephant_grid_size(thickness: float) -> int:
    """Number of estimation points elephant's ``KCSD1D`` uses over ``[0, thickness]``.

    elephant divides the span by the step ``0.01 · span`` and keeps the
    integer part of the quotient, which is 99 when rounding leaves it just
    below 100 (e.g. 3.7 or 4.6092634 mm) and 100 otherwise (e.g. 4.0 mm).

    Parameters
    ----------
    thickness : float
        Column thickness in mm.

    Returns
    -------
    int
    """
    return int(thickness / (_GRID_STEP * thickness))


def _gaussian(distance: np.ndarray, r: float) -> np.ndarray:
    """Normalised Gaussian of standard deviation ``r / 3`` (a basis source's density)."""
    std = r / 3.0
    return np.exp(-(distance**2) / (2 * std**2)) / (np.sqrt(2 * np.pi) * std)


def _disc_potential(distance: float, r: float, h: float, sigma: float) -> float:
    """Potential at ``distance`` of a basis source (its Gaussian cut at ``±r``).

    Adaptive quadrature as elephant does it (its tolerance shapes the
    cross-validation's near-ties, so another rule would not reproduce them).
    """
    std = r / 3.0
    norm = 1.0 / (math.sqrt(2.0 * math.pi) * std)
    h2, two_var = h * h, 2.0 * std * std

    def integrand(x: float) -> float:
        offset = distance - x
        gauss = math.exp(-(x * x) / two_var) * norm
        return (math.sqrt(offset * offset + h2) - abs(offset)) * gauss

    return integrate.quad(integrand, -r, r)[0] / (2.0 * sigma)


@lru_cache(maxsize=32)
def _basis(
    thickness: float, n_electrodes: int, n_estimates: int, r: float, settings: KCSDSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Basis potentials at the electrodes ``B̃`` (M, N) and the kernel ``K`` (N, N) for one ``R``."""
    electrodes = np.linspace(0.0, thickness, n_electrodes)
    estimates = np.linspace(0.0, thickness, n_estimates)
    sources = _sources(thickness, settings)
    to_electrodes = np.abs(sources[:, None] - electrodes[None, :])
    # the largest source-point distance: both grids are sorted
    reach = max(to_electrodes.max(), sources[-1] - estimates[0], estimates[-1] - sources[0]) + r
    table_at = np.logspace(0.0, np.log10(reach + 1.0), _TABLE_SIZE) - 1.0
    table = [_disc_potential(d, r, settings.h, settings.sigma) for d in table_at]
    basis_potentials = make_interp_spline(table_at, table, k=3)(to_electrodes)
    kernel = basis_potentials.T @ basis_potentials / settings.n_sources
    basis_potentials.setflags(write=False)
    kernel.setflags(write=False)
    return basis_potentials, kernel


def _sources(thickness: float, settings: KCSDSettings) -> np.ndarray:
    """Basis source centres over the estimation range (extended by ``ext_x``)."""
    return np.linspace(-settings.ext_x, thickness + settings.ext_x, settings.n_sources)


def _cv_errors(kernel: np.ndarray, potentials: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """Leave-one-electrode-out error per ``λ``: Σ_i ‖K_i,-i (K_-i,-i + λI)⁻¹ V_-i − V_i‖."""
    n = kernel.shape[0]
    keep = ~np.eye(n, dtype=bool)
    train = np.stack([kernel[np.ix_(k, k)] for k in keep])  # (N, N-1, N-1)
    regularised = train[None] + lambdas[:, None, None, None] * np.eye(n - 1)
    weights = np.linalg.inv(regularised) @ np.stack([potentials[k] for k in keep])
    rows = np.stack([kernel[i, keep[i]] for i in range(n)])  # (N, N-1)
    predicted = np.einsum("ij,lijs->lis", rows, weights)
    return np.linalg.norm(predicted - potentials[None], axis=-1).sum(axis=-1)


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
        The cross-validated regularisation and basis width (mm).
    """
    n_electrodes = potentials.shape[0]
    n_estimates = settings.n_estimates or elephant_grid_size(thickness)
    lambdas = np.asarray(settings.lambdas, dtype=np.float64)
    errors = np.stack(
        [
            _cv_errors(
                _basis(thickness, n_electrodes, n_estimates, r, settings)[1], potentials, lambdas
            )
            for r in settings.rs
        ]
    )
    best_r, best_lambda = np.unravel_index(np.argmin(errors), errors.shape)
    r, lam = settings.rs[best_r], float(lambdas[best_lambda])
    basis_potentials, kernel = _basis(thickness, n_electrodes, n_estimates, r, settings)
    to_estimates = np.abs(
        _sources(thickness, settings)[:, None] - np.linspace(0.0, thickness, n_estimates)
    )
    cross = _gaussian(to_estimates, r).T @ basis_potentials / settings.n_sources
    weights = np.linalg.inv(kernel + lam * np.eye(n_electrodes)) @ potentials
    return cross @ weights, lam, float(r)
