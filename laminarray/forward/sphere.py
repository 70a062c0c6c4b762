"""MEG gain matrices of a spherically symmetric conductor (Sarvas' formula).

For a current dipole ``q`` at ``r0`` inside a spherically symmetric
conductor centred at the origin, the magnetic field at ``r`` outside it is
(Sarvas 1987, Phys. Med. Biol. 32:11), with ``a = r - r0``,
``a = |a|``, ``r = |r|``::

    B(r) = mu0 / (4 pi F^2) * (F q x r0 - ((q x r0) . r) grad F)
    F      = a (r a + r^2 - r0 . r)
    grad F = (a^2 / r + a.r / a + 2 a + 2 r) r - (a + 2 r + a.r / a) r0

independent of the conductivities and of the sphere radius (as long as the
dipoles are inside and the sensors outside it). A radial dipole
(``q || r0``) produces no field outside the sphere.

The component sensed along ``n`` is linear in ``q``:
``B . n = q . g`` with ``g = (r0 x n) / F - (grad F . n) (r0 x r) / F^2``
(times ``mu0/4pi``), so the kernel forms every term from matrix products of
the sensor and dipole coordinates (``(n_points, n_dipoles)`` temporaries,
never ``(.., 3)`` broadcasts). With positions in mm and moments in nAm,
``mu0/4pi * 1 nAm / mm^2 = 1e5 fT``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option, describe
from ..schema import validate_mesh
from ._assembly import lazy_gain, weight_operator
from .sensors import coil_geometry

__all__ = ["SphereKernel", "fit_sphere", "sarvas_gain", "sphere_gain"]

#: mu0 / (4 pi) * 1 nAm / 1 mm^2, in fT
FIELD_SCALE = 1e5
#: entries of one (n_points, n_dipoles) kernel temporary (cache-sized sub-blocks)
_CACHE_ENTRIES = 2**16


def fit_sphere(points: Any) -> tuple[np.ndarray, float]:
    """Least-squares sphere through surface points (algebraic fit).

    Solves ``|p|^2 = 2 p . c + (R^2 - |c|^2)`` for the centre ``c`` and
    radius ``R`` by linear least squares.

    Parameters
    ----------
    points : array, shape (n, 3)
        Surface points in mm (n >= 4, not coplanar).

    Returns
    -------
    center : ndarray, shape (3,)
        mm.
    radius : float
        mm.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < 4 or not np.all(np.isfinite(pts)):
        raise LaminarrayError(
            f"`points` must be at least 4 finite (n, 3) positions in mm; got {describe(points)}"
        )
    design = np.column_stack([2 * pts, np.ones(len(pts))])
    solution, _, rank, _ = np.linalg.lstsq(design, np.einsum("ij,ij->i", pts, pts), rcond=None)
    if rank < 4:
        raise LaminarrayError("cannot fit a sphere: the points are coplanar or degenerate")
    center = solution[:3]
    return center, float(np.sqrt(solution[3] + center @ center))


def sphere_gain(
    mesh: xr.Dataset,
    sensors: xr.Dataset,
    center: Any = None,
    radius: float | None = None,
    *,
    orientation: str = "fixed",
    reduce_rank: bool = False,
    chunks: int | None = None,
    dtype: Any = np.float64,
) -> xr.DataArray:
    """Gain matrix of a multilayer mesh for a sensor array in a spherical head.

    Lazy: returns a dask-backed gain chunked along ``vertex``; each task
    computes one chunk of vertices (all layers) against every coil
    integration point, in cache-sized sub-blocks, so peak memory is a few
    output chunks whatever the mesh size. :func:`laminarray.forward.gain`
    with ``model="sphere"`` calls this with the sphere of a head model.

    Parameters
    ----------
    mesh : xarray.Dataset
        Multilayer mesh (``vertices (layer, vertex, xyz)`` mm and, for fixed
        orientation, ``orientation (layer, vertex, xyz)``), in the same
        coordinate frame as ``sensors`` (see
        :func:`laminarray.forward.apply_transform`).
    sensors : xarray.Dataset
        Sensor array from :mod:`laminarray.forward.sensors`.
    center : array (3,), optional
        Sphere centre in mm. Default: least-squares sphere of the mesh's
        ``inner_skull_vertices`` if present, else its ``scalp_vertices``.
    radius : float, optional
        Sphere radius in mm, only used to check that every dipole is inside
        and every sensor outside (the field does not depend on it). Default:
        the fitted radius, or with an explicit ``center`` the distance to the
        nearest integration point.
    orientation : {"fixed", "free"}
        ``"fixed"`` uses the mesh's ``orientation``; ``"free"`` returns the
        gain of unit dipoles along x, y and z (trailing ``xyz`` dim).
    reduce_rank : bool
        Drop each dipole's weakest direction before fixing the orientation
        (for a sphere the radial direction, whose field is already zero, so
        this changes nothing but rounding).
    chunks : int, optional
        Vertices per chunk (default: ~8 MB of output per chunk; the kernel
        itself works on cache-sized sub-blocks).
    dtype : numpy dtype
        Output dtype (default float64; computation is always float64).

    Returns
    -------
    xarray.DataArray
        ``gain (channel, layer, vertex[, xyz])`` in fT/nAm with the mesh's
        layer/vertex coords, source positions as coords ``source_x``,
        ``source_y``, ``source_z (layer, vertex)`` (mm), and attrs
        ``forward_model``, ``orientation``, ``reduce_rank``, ``sensor_kind``,
        ``sphere_center_mm``, ``sphere_radius_mm`` (and the sensors'
        ``compensation_grade``/``coord_frame`` as ``sensor_*``). Units are the
        channels' units per nAm (``fT/nAm``, ``fT/mm/nAm`` for planar
        gradiometers, ``mixed/nAm`` with a ``ch_units`` coord for both).

    Raises
    ------
    LaminarrayError
        If a dipole lies outside the sphere or at its centre (where Sarvas'
        field vanishes identically), a sensor point lies inside the sphere,
        or the mesh has no orientation for a fixed-orientation gain.
    """
    check_option("orientation", orientation, ("fixed", "free"))
    mesh = validate_mesh(mesh)
    coil_pos, coil_ori, weights = coil_geometry(sensors)
    center, radius = _sphere(mesh, coil_pos, center, radius)
    _check_geometry(mesh["vertices"].values - center, coil_pos - center, radius)
    return lazy_gain(
        mesh,
        sensors,
        SphereKernel(center, coil_pos, coil_ori, weights),
        orientation=orientation,
        reduce_rank=reduce_rank,
        chunks=chunks,
        dtype=dtype,
        attrs={
            "forward_model": "single sphere (Sarvas)",
            "sphere_center_mm": [float(c) for c in center],
            "sphere_radius_mm": float(radius),
        },
    )


class SphereKernel:
    """Channel-level Sarvas field of dipoles for one sphere (a :mod:`._assembly` kernel).

    Parameters
    ----------
    center : ndarray, shape (3,)
        Sphere centre in mm.
    coil_pos, coil_ori : ndarray, shape (n_coils, 3)
        Integration points (mm) and their sensed directions.
    weights : ndarray, shape (n_channels, n_coils)
        The channels' weights of the points (dense or sparse).
    """

    def __init__(
        self, center: np.ndarray, coil_pos: np.ndarray, coil_ori: np.ndarray, weights: Any
    ) -> None:
        self.center = np.asarray(center, dtype=np.float64)
        self.points = coil_pos - self.center
        self.normals = coil_ori
        self.weights = weight_operator(weights)

    def __call__(self, dipoles: np.ndarray, moments: np.ndarray | None) -> np.ndarray:
        """``(n_channels, n[, 3])`` fT/nAm for dipoles ``(n, 3)`` mm (see the module docs).

        Runs on sub-blocks of dipoles small enough for the kernel's
        temporaries to stay in the CPU cache (~``_CACHE_ENTRIES`` each).
        """
        dip = dipoles - self.center
        free = () if moments is not None else (3,)
        n_channels = self.weights.shape[0]
        out = np.empty((n_channels, dip.shape[0], *free))
        step = max(16, _CACHE_ENTRIES // self.points.shape[0])
        for start in range(0, dip.shape[0], step):
            part = slice(start, start + step)
            g = sarvas_gain(
                dip[part], self.points, self.normals, None if moments is None else moments[part]
            )
            out[:, part] = (self.weights @ g.reshape(g.shape[0], -1)).reshape(
                (n_channels, -1, *free)
            )
        return out


def sarvas_gain(
    dipoles: np.ndarray,
    points: np.ndarray,
    normals: np.ndarray,
    moments: np.ndarray | None = None,
) -> np.ndarray:
    """Field of unit dipoles along ``normals`` at ``points`` (pure-numpy kernel).

    Parameters
    ----------
    dipoles : ndarray, shape (n_dipoles, 3)
        Dipole positions in mm relative to the sphere centre.
    points : ndarray, shape (n_points, 3)
        Field points in mm relative to the sphere centre (outside the sphere).
    normals : ndarray, shape (n_points, 3)
        Unit directions along which the field is measured.
    moments : ndarray, shape (n_dipoles, 3), optional
        Dipole orientations (unit); default the three Cartesian axes.

    Returns
    -------
    ndarray, shape (n_points, n_dipoles) or (n_points, n_dipoles, 3)
        fT per nAm (``B . n``).
    """
    # every temporary is (n_points, n_dipoles); operations run in place to save passes
    r2 = np.einsum("pk,pk->p", points, points)[:, None]
    r = np.sqrt(r2)
    rn = np.einsum("pk,pk->p", points, normals)[:, None]
    r0r = points @ dipoles.T
    a = r0r * -2.0
    a += r2
    a += np.einsum("dk,dk->d", dipoles, dipoles)[None, :]
    grad_n = a.copy()  # a^2, becomes (grad F . n) / F^2 below
    np.sqrt(a, out=a)
    inv_f = r * a
    inv_f += r2
    inv_f -= r0r
    inv_f *= a
    np.reciprocal(inv_f, out=inv_f)
    ar_over_a = np.subtract(r2, r0r, out=r0r)
    ar_over_a /= a
    # coefficient of r: a^2 / r + a.r / a + 2 a + 2 r, projected on n
    grad_n /= r
    grad_n += ar_over_a
    grad_n += a
    grad_n += a
    grad_n += 2.0 * r
    grad_n *= rn
    # coefficient of r0: a + 2 r + a.r / a, projected on n
    ar_over_a += a
    ar_over_a += 2.0 * r
    ar_over_a *= normals @ dipoles.T
    grad_n -= ar_over_a
    del a, ar_over_a, r0r
    grad_n *= inv_f
    grad_n *= inv_f
    cols = [moments] if moments is not None else [np.eye(3)[k][None, :] for k in range(3)]
    out = []
    for q in cols:
        # q . (r0 x n) = n . (q x r0) and q . (r0 x r) = r . (q x r0)
        qxr0 = np.cross(np.broadcast_to(q, dipoles.shape), dipoles)
        field = normals @ qxr0.T
        field *= inv_f
        second = points @ qxr0.T
        second *= grad_n
        field -= second
        field *= FIELD_SCALE
        out.append(field)
    return out[0] if moments is not None else np.stack(out, axis=-1)


def _sphere(
    mesh: xr.Dataset, coil_pos: np.ndarray, center: Any, radius: float | None
) -> tuple[np.ndarray, float]:
    if center is not None:
        center = np.asarray(center, dtype=np.float64)
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise LaminarrayError(
                f"`center` must be 3 finite numbers (mm); got {describe(center)}"
            )
        if radius is None:
            radius = float(np.min(np.linalg.norm(coil_pos - center, axis=-1)))
        return center, float(radius)
    for name in ("inner_skull", "scalp"):
        if f"{name}_vertices" in mesh:
            fitted_center, fitted_radius = fit_sphere(mesh[f"{name}_vertices"].values)
            return fitted_center, float(fitted_radius if radius is None else radius)
    if "head_center_mm" in mesh.attrs:
        center = np.asarray(mesh.attrs["head_center_mm"], dtype=np.float64)
        return center, float(mesh.attrs.get("head_radius_mm") if radius is None else radius)
    raise LaminarrayError(
        "no sphere for the forward model: pass `center=` (and optionally `radius=`) in mm, "
        "or a mesh with `scalp_vertices` or `inner_skull_vertices` to fit one"
    )


def _check_geometry(src: np.ndarray, points: np.ndarray, radius: float) -> None:
    dist = np.linalg.norm(src, axis=-1)
    outside = dist >= radius
    if outside.any():
        layer, vertex = np.nonzero(outside)
        raise LaminarrayError(
            f"{outside.sum()} dipoles lie outside the sphere (radius {radius:.1f} mm), "
            f"e.g. layer index {layer[0]} vertex {vertex[0]} at {dist[layer[0], vertex[0]]:.1f} mm "
            "from its centre: check the sphere centre/radius and that mesh and sensors share "
            "one coordinate frame"
        )
    at_center = dist < 1e-6 * radius
    if at_center.any():
        layer, vertex = np.nonzero(at_center)
        raise LaminarrayError(
            f"a dipole (layer index {layer[0]}, vertex {vertex[0]}) is at the sphere centre, "
            "where the spherical model produces no field for any orientation"
        )
    inside = np.linalg.norm(points, axis=-1) < radius
    if inside.any():
        raise LaminarrayError(
            f"{inside.sum()} sensor integration points lie inside the sphere "
            f"(radius {radius:.1f} mm): sensors must be outside the head"
        )
