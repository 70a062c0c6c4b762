"""Geodesic Gaussian source patches of the current-density simulation (SPM's convention).

A patch of full width at half maximum ``fwhm`` mm centred on vertex ``j`` of
one layer has weights ``q_i = exp(-d_i^2 / (2 sigma^2))`` with ``d_i`` the
exact polyhedral geodesic distance from ``j`` over that layer's surface,
``sigma = fwhm / 2.355``, zero beyond ``d_i > fwhm`` (SPM's support; pass
``cutoff=False`` for an untruncated Gaussian over the whole layer), and
normalised to sum to one; ``fwhm = 0`` is an impulse at ``j``. Unlike the
inversion's smoothing operator, no ``e^-8`` threshold is applied.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..surf import geodesic_distances

__all__ = ["patch_weights"]

#: FWHM / sigma of a Gaussian, as SPM writes it
FWHM_PER_SIGMA = 2.355


def patch_weights(
    mesh: xr.Dataset, layer: int, vertex: int, fwhm: float, *, cutoff: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weights of a geodesic Gaussian patch on one layer, summing to one.

    Parameters
    ----------
    mesh : xarray.Dataset
        Validated multilayer mesh (``vertices (layer, vertex, xyz)`` mm, ``faces``).
    layer : int
        Positional index of the layer.
    vertex : int
        Positional index of the patch centre.
    fwhm : float
        Full width at half maximum in mm (0 = a single vertex).
    cutoff : bool
        Zero the weights beyond ``fwhm`` mm (SPM); ``False`` keeps the whole
        Gaussian over the layer.

    Returns
    -------
    index : ndarray of int, shape (n,)
        Positional vertex indices with non-zero weight.
    weights : ndarray, shape (n,), float64
        Sum to 1.
    """
    if fwhm == 0:
        return np.array([vertex]), np.ones(1)
    dist = geodesic_distances(
        mesh["vertices"].values[layer],
        mesh["faces"].values,
        vertex,
        max_distance=fwhm if cutoff else None,
    ).values
    sigma = fwhm / FWHM_PER_SIGMA
    weights = np.exp(-(dist**2) / (2 * sigma**2))
    if cutoff:
        weights[dist > fwhm] = 0.0
    index = np.flatnonzero(weights > 0)
    return index, weights[index] / weights[index].sum()
