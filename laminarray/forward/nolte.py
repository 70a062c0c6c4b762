"""Single-shell MEG forward model (Nolte 2003, "corrected sphere"; SPM's "Single Shell").

Nolte (2003, Phys. Med. Biol. 48:3637) writes the MEG lead field of a
homogeneous conductor bounded by an arbitrary closed surface (the inner
skull) as the lead field of a sphere plus a correction:

    L(r0) = L_sphere(r0) + grad Phi(r0),
    Phi(r0) = sum_{l=1..order} sum_m a_lm r^l Y_lm(r0 - c)

``L_sphere`` is the Sarvas lead field of the sphere fitted to the surface
(centre ``c``; :mod:`~laminarray.forward.sphere`), ``r^l Y_lm`` are regular
solid harmonics about ``c`` (harmonic inside the conductor, so the
correction is a pure volume-current term), and the coefficients, one set per
coil integration point, make the normal component of the lead field vanish
on the surface (no current leaves the conductor, by reciprocity):

    n(s) . grad Phi(s) = -n(s) . L_sphere(s)   at every surface vertex s,

solved in the least-squares sense weighted by each vertex's share of the
surface area (a discretised surface integral). The sphere term already
carries the part of the field that varies fast near the sensors, so a low
expansion order converges; order 10 is SPM's. On a spherical surface the
right-hand side vanishes and the model is exactly Sarvas'.

The surface normals are Max's (1999) vertex normals, exact for vertices on
a sphere. The solid harmonics and their gradients are evaluated by their
three-term recursions in Cartesian coordinates (the regular harmonics
``R_l^m = r^l P_l^m(cos theta) e^{i m phi} / (l + m)!``:
``R_l^l = -(x + i y) R_{l-1}^{l-1} / (2l)`` and
``(l - m)(l + m) R_l^m = (2l - 1) z R_{l-1}^m - r^2 R_{l-2}^m``), with the
gradients carried through the same recursions (product rule), so the basis
is exact, harmonic and free of pole singularities. Each basis function is
scaled to unit RMS normal derivative on the surface before the solve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError
from .head import surface_arrays, vertex_areas, vertex_normals
from .sphere import SphereKernel, fit_sphere, sarvas_gain

__all__ = ["NolteKernel", "nolte_kernel", "solid_harmonic_gradients"]

#: SPM's expansion order
DEFAULT_ORDER = 10


def solid_harmonic_gradients(points: np.ndarray, order: int) -> np.ndarray:
    """Gradients of the real regular solid harmonics of degree 1..``order``.

    Parameters
    ----------
    points : ndarray, shape (n, 3)
        Positions relative to the expansion centre (any unit; the harmonics
        are homogeneous polynomials of the coordinates).
    order : int
        Highest degree ``L``.

    Returns
    -------
    ndarray, shape (n, 3, L (L + 2))
        For each degree ``l`` the ``2 l + 1`` functions ``Re R_l^0``,
        ``Re R_l^m``, ``Im R_l^m`` (``m = 1..l``), in that order.
    """
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    n = len(points)
    r2 = x * x + y * y + z * z
    xy = x + 1j * y
    unit_xy = np.array([1.0, 1j, 0.0])
    unit_z = np.array([0.0, 0.0, 1.0])
    # values[l][m] (n,), grads[l][m] (n, 3), for m = 0..l
    values = [[np.ones(n, dtype=complex)]]
    grads = [[np.zeros((n, 3), dtype=complex)]]
    columns = []
    for deg in range(1, order + 1):
        row_v, row_g = [], []
        for m in range(deg):
            prev_v, prev_g = values[deg - 1][m], grads[deg - 1][m]
            v = (2 * deg - 1) * z * prev_v
            g = (2 * deg - 1) * (unit_z * prev_v[:, None] + z[:, None] * prev_g)
            if m <= deg - 2:
                old_v, old_g = values[deg - 2][m], grads[deg - 2][m]
                v = v - r2 * old_v
                g = g - (2 * points * old_v[:, None] + r2[:, None] * old_g)
            scale = 1.0 / ((deg - m) * (deg + m))
            row_v.append(v * scale)
            row_g.append(g * scale)
        top_v, top_g = values[deg - 1][deg - 1], grads[deg - 1][deg - 1]
        row_v.append(-xy * top_v / (2 * deg))
        row_g.append(-(unit_xy * top_v[:, None] + xy[:, None] * top_g) / (2 * deg))
        values.append(row_v)
        grads.append(row_g)
        columns.append(row_g[0].real)
        for m in range(1, deg + 1):
            columns.extend((row_g[m].real, row_g[m].imag))
    return np.stack(columns, axis=-1)


class NolteKernel:
    """Channel-level single-shell field (a :mod:`._assembly` kernel).

    ``sphere`` gives the Sarvas term; ``coefficients (n_basis, n_channels)``
    the correction, applied to the solid-harmonic gradients (with respect to
    the scaled position) of ``(r0 - sphere.center) / scale``, ``scale`` in mm.
    """

    def __init__(
        self,
        sphere: SphereKernel,
        coefficients: np.ndarray,
        order: int,
        scale: float,
    ) -> None:
        self.sphere = sphere
        self.coefficients = coefficients
        self.order = order
        self.scale = scale

    def __call__(self, dipoles: np.ndarray, moments: np.ndarray | None) -> np.ndarray:
        """``(n_channels, n[, 3])`` fT/nAm for dipoles ``(n, 3)`` mm."""
        out = self.sphere(dipoles, moments)
        step = 4096
        for start in range(0, len(dipoles), step):
            part = slice(start, start + step)
            basis = solid_harmonic_gradients(
                (dipoles[part] - self.sphere.center) / self.scale, self.order
            )
            if moments is not None:
                basis = np.einsum("nkb,nk->nb", basis, moments[part])
                out[:, part] += (basis @ self.coefficients).T
            else:
                out[:, part] += np.moveaxis(basis @ self.coefficients, -1, 0)
        return out


def nolte_kernel(
    head: xr.Dataset,
    coil_pos: np.ndarray,
    coil_ori: np.ndarray,
    weights: np.ndarray,
    *,
    order: int = DEFAULT_ORDER,
) -> tuple[NolteKernel, dict[str, Any]]:
    """Fit the single-shell correction of a head model's inner skull for a sensor array.

    Parameters
    ----------
    head : xarray.Dataset
        Head model with an inner skull surface.
    coil_pos, coil_ori : ndarray, shape (n_coils, 3)
        Coil integration points (mm) and sensed directions.
    weights : ndarray, shape (n_channels, n_coils)
        The channels' weights of the points.
    order : int
        Expansion order (>= 1).

    Returns
    -------
    kernel : NolteKernel
    attrs : dict
        ``forward_model``, ``expansion_order``, ``sphere_center_mm``,
        ``sphere_radius_mm``, ``surface_vertices``.
    """
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise LaminarrayError(f"`order` must be an integer >= 1; got {order!r}")
    vertices, faces = surface_arrays(head, "inner_skull")
    n_basis = order * (order + 2)
    if len(vertices) < 2 * n_basis:
        raise LaminarrayError(
            f"an expansion of order {order} has {n_basis} coefficients per coil: the inner "
            f"skull needs at least {2 * n_basis} vertices, it has {len(vertices)}; lower `order`"
        )
    center, radius = fit_sphere(vertices)
    normals = vertex_normals(vertices, faces)
    sqrt_area = np.sqrt(vertex_areas(vertices, faces))
    sphere = SphereKernel(center, coil_pos, coil_ori, weights)
    # normal component of every coil's sphere lead field on the surface: (surface, coil point)
    rhs = sarvas_gain(vertices - center, sphere.points, sphere.normals, normals).T
    design = np.einsum(
        "skb,sk->sb", solid_harmonic_gradients((vertices - center) / radius, order), normals
    )
    design *= sqrt_area[:, None]
    column_rms = np.sqrt(np.mean(design**2, axis=0))
    design /= column_rms
    solution, *_ = np.linalg.lstsq(design, -rhs * sqrt_area[:, None], rcond=None)
    per_coil = solution / column_rms[:, None]  # (basis, coil point)
    coefficients = (sphere.weights @ per_coil.T).T  # (basis, channel)
    attrs = {
        "forward_model": "single shell (Nolte 2003)",
        "expansion_order": int(order),
        "sphere_center_mm": [float(c) for c in center],
        "sphere_radius_mm": float(radius),
        "surface_vertices": len(vertices),
    }
    return NolteKernel(sphere, coefficients, int(order), float(radius)), attrs
