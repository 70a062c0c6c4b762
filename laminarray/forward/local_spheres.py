"""Local (overlapping) spheres MEG forward model (Huang et al. 1999; SPM's "MEG Local Spheres").

Huang, Mosher & Leahy (1999, Phys. Med. Biol. 44:423) give every channel
its own sphere, fitted to the part of the inner skull under it, and compute
that channel's field with Sarvas' formula in its sphere: the head's local
curvature, not a global average, shapes each sensor's lead field. Here, as
in SPM/FieldTrip's implementation of the method, each channel's sphere is
the least-squares sphere (:func:`~laminarray.forward.fit_sphere`) through
the inner-skull vertices within ``local_radius`` (default 85 mm) of the
channel's integration point nearest the head; every coil of a gradiometer
uses its channel's sphere. A channel with fewer than 10 such vertices, or
whose fitted sphere is implausible (radius over 200 mm, or not enclosing the
patch's centroid side), falls back to the sphere fitted to the whole inner
skull.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import check_positive
from .head import surface_arrays
from .sphere import fit_sphere, sarvas_gain

__all__ = ["LocalSpheresKernel", "local_spheres_kernel"]

_MIN_POINTS = 10
_MAX_RADIUS_MM = 200.0


class LocalSpheresKernel:
    """Channel-level field with one Sarvas sphere per channel (a :mod:`._assembly` kernel).

    ``centers (n_channels, 3)`` mm; ``coils[c]`` the indices of channel
    ``c``'s integration points in ``coil_pos``/``coil_ori``, ``weights[c]``
    their weights.
    """

    def __init__(
        self,
        centers: np.ndarray,
        coil_pos: np.ndarray,
        coil_ori: np.ndarray,
        coils: list[np.ndarray],
        weights: list[np.ndarray],
    ) -> None:
        self.centers = centers
        self.coil_pos = coil_pos
        self.coil_ori = coil_ori
        self.coils = coils
        self.weights = weights

    def __call__(self, dipoles: np.ndarray, moments: np.ndarray | None) -> np.ndarray:
        """``(n_channels, n[, 3])`` fT/nAm for dipoles ``(n, 3)`` mm."""
        free = () if moments is not None else (3,)
        out = np.empty((len(self.centers), len(dipoles), *free))
        for c, center in enumerate(self.centers):
            k = self.coils[c]
            g = sarvas_gain(dipoles - center, self.coil_pos[k] - center, self.coil_ori[k], moments)
            out[c] = np.einsum("k,k...->...", self.weights[c], g)
        return out


def local_spheres_kernel(
    head: xr.Dataset,
    coil_pos: np.ndarray,
    coil_ori: np.ndarray,
    weights: np.ndarray,
    local_radius: float = 85.0,
) -> tuple[LocalSpheresKernel, dict[str, Any]]:
    """Fit one sphere per channel to the inner skull near it.

    Parameters
    ----------
    head : xarray.Dataset
        Head model with an inner skull surface.
    coil_pos, coil_ori : ndarray, shape (n_coils, 3)
        Coil integration points (mm) and sensed directions.
    weights : ndarray, shape (n_channels, n_coils)
        The channels' weights of the points (a channel's sphere is fitted
        near its point nearest the head and used for all its points,
        compensation references included).
    local_radius : float
        Radius (mm) of the inner-skull patch around each channel.

    Returns
    -------
    kernel : LocalSpheresKernel
    attrs : dict
        ``forward_model``, ``local_radius_mm``, ``n_fallback_channels``.
    """
    local_radius = check_positive("local_radius", local_radius)
    vertices, _ = surface_arrays(head, "inner_skull")
    global_center, _ = fit_sphere(vertices)
    tree = cKDTree(vertices)
    coils = [np.flatnonzero(row) for row in weights]
    centers = np.empty((len(weights), 3))
    fallback = 0
    for c, k in enumerate(coils):
        points = coil_pos[k]
        nearest = points[np.argmin(np.linalg.norm(points - global_center, axis=1))]
        patch = vertices[tree.query_ball_point(nearest, local_radius)]
        center = None
        if len(patch) >= _MIN_POINTS:
            try:
                center, radius = fit_sphere(patch)
            except ValueError:
                center = None
            if center is not None and not (
                radius < _MAX_RADIUS_MM
                and np.linalg.norm(nearest - center) > radius
                and np.dot(patch.mean(axis=0) - center, nearest - center) > 0
            ):
                center = None
        if center is None:
            center = global_center
            fallback += 1
        centers[c] = center
    attrs = {
        "forward_model": "local spheres (Huang et al. 1999)",
        "local_radius_mm": float(local_radius),
        "n_fallback_channels": int(fallback),
    }
    kernel = LocalSpheresKernel(
        centers, coil_pos, coil_ori, coils, [weights[c, k] for c, k in enumerate(coils)]
    )
    return kernel, attrs
