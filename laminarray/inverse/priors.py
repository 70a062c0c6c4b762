"""Source priors on the multilayer source space (design note spm_inversion §2).

- :func:`ebb_prior`: the empirical Bayesian beamformer variance per source.
- :func:`evenly_spaced_patches`: SPM's default MSP patch centres.
- :func:`lead_field_products`: sensor-space covariance ``L·diag(w)·Lᵀ`` and
  other column-blocked products that never form a dense sources × sources
  matrix.

The smoothing operator ``QG`` (sources × sources, sparse, columns are
patches summing to 1) is the geodesic Gaussian of ``laminarray.surf`` or a
user-supplied matrix.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from ._linalg import spm_inv

BLOCK = 16384


def column_blocks(n: int, size: int = BLOCK) -> Iterator[slice]:
    """Consecutive column slices of at most ``size`` columns."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def smooth_lead_field(lead: np.ndarray, smoothing: sp.csc_array, cols: slice) -> np.ndarray:
    """``L·QG[:, cols]``: the sensor patterns of the patches centred on ``cols``.

    Parameters
    ----------
    lead : ndarray, shape (n_modes, n_sources)
    smoothing : sparse, shape (n_sources, n_sources), CSC
    cols : slice

    Returns
    -------
    ndarray, shape (n_modes, n_cols)
    """
    return np.asarray(smoothing[:, cols].T @ lead.T).T


def ebb_prior(lead: np.ndarray, smoothing: sp.csc_array, yy: np.ndarray) -> np.ndarray:
    """Empirical Bayesian beamformer prior variance per source (design note spm_inversion §2.2).

    ``p_i = ‖ℓ_i‖² / (ℓ_iᵀ·spm_inv(YY)·ℓ_i)`` with ``ℓ_i = L·QG[:, i]``
    (0 where ``ℓ_i = 0``), normalised to a maximum of 1. Computed in column
    blocks (memory ``n_modes × BLOCK``).

    Parameters
    ----------
    lead : ndarray, shape (n_modes, n_sources)
        Lead field in spatial-mode space ``A·L``.
    smoothing : sparse, shape (n_sources, n_sources), CSC
    yy : ndarray, shape (n_modes, n_modes)
        Summed data scatter ``Σ_k Ỹ_k Ỹ_kᵀ``.

    Returns
    -------
    ndarray, shape (n_sources,)
    """
    inv = spm_inv(yy)
    power = np.zeros(lead.shape[1])
    for cols in column_blocks(lead.shape[1]):
        patt = smooth_lead_field(lead, smoothing, cols)
        num = np.sum(patt * patt, axis=0)
        den = np.sum(patt * (inv @ patt), axis=0)
        power[cols] = np.divide(num, den, out=np.zeros_like(num), where=num != 0)
    return power / power.max()


def weighted_gram(lead: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``L·diag(w)·Lᵀ`` for non-negative ``w``, in column blocks.

    Each block is a symmetric rank-k update ``X·Xᵀ`` with ``X = L·diag(√w)``
    (half the flops of a general product).

    Parameters
    ----------
    lead : ndarray, shape (n_modes, n_sources)
    weights : ndarray, shape (n_sources,), >= 0

    Returns
    -------
    ndarray, shape (n_modes, n_modes)
    """
    root = np.sqrt(weights)
    out = np.zeros((lead.shape[0], lead.shape[0]))
    for cols in column_blocks(lead.shape[1]):
        scaled = lead[:, cols] * root[cols]
        out += scaled @ scaled.T
    return out


def evenly_spaced_patches(n_sources: int, n_patches: int) -> np.ndarray:
    """SPM's default patch centres ``ceil(k·Nd/Np) − 1``, k = 1..Np (0-based, layer-major).

    Returns
    -------
    ndarray of int, shape (n_patches,)
        Duplicates occur when ``n_sources < n_patches``.
    """
    k = np.arange(1, n_patches + 1, dtype=np.int64)
    return -(-k * n_sources // n_patches) - 1
