"""Head-shape coregistration: refine the fiducial fit by iterative closest point.

Fiducials marked on the MRI and digitised (or picked on a 3-D face scan) in
head coordinates fix the head -> MRI transform only to a few millimetres. Many
more points of the head surface — digitised head-shape points or the vertices
of a face scan — pin it down: iterative closest point (ICP) alternates between
pairing every head-shape point with the nearest point of the MRI scalp mesh
and re-fitting the rigid transform to those pairs, starting from the fiducial
fit (laMEG's ``coregister_3d_scan_mri``, design note lameg §2.5).

:func:`coregister_headshape` does this with a KD-tree over the scalp
(vertices, or points sampled densely on its faces), a point-to-point (Kabsch,
:func:`laminarray.forward.coregister`) or point-to-plane (linearised
least-squares) update, and robust rejection of outlying points, and returns a
:class:`HeadshapeFit` (transform, fiducials in MRI coordinates, residual
distances).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from .._validation import LaminarrayError, check_option, check_positive, describe
from .sensors import scalp_surface
from .transforms import FIDUCIALS, apply_transform, coregister, invert_transform, rigid_transform

__all__ = ["HeadshapeFit", "coregister_headshape"]

_UNIT_SCALE = {"mm": 1.0, "m": 1000.0}
_MAX_FACE_LEVEL = 16
_MAD_TO_SD = 1.4826
_TUKEY_C = 4.685
_MIN_SCALE_MM = 1e-3


@dataclass(frozen=True)
class HeadshapeFit:
    """Result of :func:`coregister_headshape` (all positions and distances in mm).

    Attributes
    ----------
    transform : ndarray, shape (4, 4)
        Rigid affine mapping head coordinates to MRI coordinates.
    initial_transform : ndarray, shape (4, 4)
        The fiducial-only fit ICP started from.
    fiducials_mri : dict of str -> ndarray (3,)
        The head-frame fiducials moved into MRI coordinates by ``transform``.
    points_mri : ndarray, shape (n_points, 3)
        The head-shape points moved into MRI coordinates.
    initial_points_mri : ndarray, shape (n_points, 3)
        The same moved by ``initial_transform`` (before ICP).
    distance : ndarray, shape (n_points,)
        Distance of each moved point to the scalp after the fit.
    initial_distance : ndarray, shape (n_points,)
        The same after the fiducial fit alone.
    inliers : ndarray of bool, shape (n_points,)
        Points used in the last iteration (others were rejected as outliers).
    n_iterations : int
    converged : bool
        Whether the update fell below ``tolerance`` (or the pairings cycled)
        before ``max_iterations``.
    settings : dict
        The options used (JSON-serialisable provenance).
    """

    transform: np.ndarray
    initial_transform: np.ndarray
    fiducials_mri: dict[str, np.ndarray]
    points_mri: np.ndarray
    initial_points_mri: np.ndarray
    distance: np.ndarray
    initial_distance: np.ndarray
    inliers: np.ndarray
    n_iterations: int
    converged: bool
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_distance(self) -> float:
        """Mean distance (mm) of the inlier points to the scalp after the fit."""
        return float(np.mean(self.distance[self.inliers]))

    @property
    def median_distance(self) -> float:
        """Median distance (mm) of the inlier points to the scalp after the fit."""
        return float(np.median(self.distance[self.inliers]))

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary: transform, fiducials, residuals before/after, settings."""
        return {
            "transform": self.transform.tolist(),
            "fiducials_mri": {k: v.tolist() for k, v in self.fiducials_mri.items()},
            "mean_distance_mm": self.mean_distance,
            "median_distance_mm": self.median_distance,
            "initial_median_distance_mm": float(np.median(self.initial_distance)),
            "n_points": int(self.distance.size),
            "n_outliers": int((~self.inliers).sum()),
            "n_iterations": self.n_iterations,
            "converged": self.converged,
            **self.settings,
        }


# --------------------------------------------------------------------------- inputs


def _headshape_points(headshape: Any, scale: float) -> np.ndarray:
    """(n, 3) head-frame points in mm from points, a (vertices, faces) mesh, a DataArray or a GIFTI."""
    if isinstance(headshape, str | Path):
        import nibabel as nib

        path = Path(headshape)
        if not path.is_file():
            raise LaminarrayError(f"`headshape` file not found: {str(path)!r}")
        headshape = nib.load(path).agg_data("pointset")
    elif isinstance(headshape, tuple) and len(headshape) == 2:
        headshape = headshape[0]  # a face-scan mesh: its vertices are the head-shape points
    if isinstance(headshape, xr.DataArray) and "xyz" in headshape.dims:
        headshape = headshape.transpose(..., "xyz").values.reshape(-1, 3)
    points = np.asarray(headshape, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
        raise LaminarrayError(
            "`headshape` must be finite points (n, 3), a (vertices, faces) scan mesh, a "
            f"DataArray with an `xyz` dim or a GIFTI path; got {describe(headshape)}"
        )
    if points.shape[0] < 6:
        raise LaminarrayError(
            f"`headshape` needs at least 6 points to refine a rigid fit; got {points.shape[0]}"
        )
    return points * scale


def _fiducial_array(fiducials: Any, name: str) -> tuple[list[str], np.ndarray]:
    """Names and (k, 3) positions of fiducials given as a mapping, array or DataArray."""
    if isinstance(fiducials, Mapping):
        return [str(k) for k in fiducials], np.asarray(list(fiducials.values()), dtype=np.float64)
    if isinstance(fiducials, xr.DataArray) and "xyz" in fiducials.dims:
        other = [d for d in fiducials.dims if d != "xyz"]
        labels = fiducials[other[0]].values if other and other[0] in fiducials.coords else None
        array = fiducials.transpose(..., "xyz").values.reshape(-1, 3)
        names = [str(v) for v in labels] if labels is not None else None
    else:
        array = np.asarray(fiducials, dtype=np.float64)
        names = None
    if array.ndim != 2 or array.shape[1] != 3:
        raise LaminarrayError(f"`{name}` must be points (k, 3) in mm; got {describe(fiducials)}")
    if names is None:
        names = list(FIDUCIALS) if array.shape[0] == 3 else [f"p{i}" for i in range(len(array))]
    return names, array


# --------------------------------------------------------------------------- scalp targets


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted (unnormalised) face normals, shape (m, 3)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return np.cross(b - a, c - a)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 0, norm, 1.0)


def _barycentric_grid(level: int) -> np.ndarray:
    """Barycentric weights (k, 3) of a regular grid with ``level`` steps per triangle edge."""
    i, j = np.meshgrid(np.arange(level + 1), np.arange(level + 1), indexing="ij")
    keep = i + j <= level
    i, j = i[keep], j[keep]
    return np.column_stack([level - i - j, i, j]) / level


def _scalp_targets(
    vertices: np.ndarray, faces: np.ndarray, sampling: str, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points on the scalp and their unit normals.

    ``"vertices"``: the mesh vertices with area-weighted vertex normals.
    ``"faces"``: a barycentric grid on every face, no coarser than ``spacing``
    mm along the longest edge, each point with its face's normal.
    """
    normals = _face_normals(vertices, faces)
    if sampling == "vertices":
        vertex_normals = np.zeros_like(vertices)
        for corner in range(3):
            np.add.at(vertex_normals, faces[:, corner], normals)
        return vertices, _unit(vertex_normals)
    corners = vertices[faces]  # (m, 3 corners, 3)
    longest = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max(axis=1)
    levels = np.clip(np.ceil(longest / spacing).astype(int), 1, _MAX_FACE_LEVEL)
    points, point_normals = [], []
    unit_normals = _unit(normals)
    for level in np.unique(levels):
        chosen = levels == level
        grid = _barycentric_grid(int(level))
        points.append(np.einsum("kc,fcx->fkx", grid, corners[chosen]).reshape(-1, 3))
        point_normals.append(np.repeat(unit_normals[chosen], grid.shape[0], axis=0))
    return np.concatenate(points), np.concatenate(point_normals)


# --------------------------------------------------------------------------- ICP steps


def _point_to_plane_step(
    src: np.ndarray, dst: np.ndarray, normals: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Rigid update minimising Σ w ((R src + t - dst)·n)² to first order in the rotation.

    Rotation about the weighted centroid of ``src`` (for conditioning); the
    rotation vector is turned into an exact rotation.
    """
    centre = weights @ src / weights.sum()
    arm = src - centre
    design = np.column_stack([np.cross(arm, normals), normals])  # (n, 6): [ω, t]
    rhs = np.einsum("ij,ij->i", dst - src, normals)
    sqrt_w = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(design * sqrt_w, rhs * sqrt_w[:, 0], rcond=None)
    rotation = Rotation.from_rotvec(solution[:3]).as_matrix()
    return rigid_transform(rotation, centre + solution[3:] - rotation @ centre)


def _robust_weights(distance: np.ndarray, threshold: float | None) -> np.ndarray:
    """Weight of each point in an ICP update; 0 marks an outlier.

    With ``threshold`` (mm): 1 within it, 0 beyond. Otherwise Tukey's biweight
    ``(1 - (d / c)^2)^2`` with ``c = 4.685`` robust SDs of the distances (the
    SD estimated as 1.4826 x their median, distances being ``|noise|``), so
    that the weights, hence the iterations, change continuously.
    """
    if threshold is not None:
        weights = (distance <= threshold).astype(np.float64)
    else:
        scale = _TUKEY_C * max(_MAD_TO_SD * float(np.median(distance)), _MIN_SCALE_MM)
        weights = np.clip(1.0 - (distance / scale) ** 2, 0.0, None) ** 2
    return weights if np.count_nonzero(weights) >= 6 else np.ones_like(distance)


def _update(
    method: str,
    src: np.ndarray,
    dst: np.ndarray,
    plane: np.ndarray,
    weights: np.ndarray,
    fid_src: np.ndarray,
    fid_dst: np.ndarray,
    fid_weights: np.ndarray,
) -> np.ndarray:
    """One ICP update from paired scalp points (with their planes) and fiducial pairs."""
    if method == "point_to_point":
        # pair with the foot of the perpendicular on the nearest face (or vertex) plane
        foot = src - np.einsum("ij,ij->i", src - dst, plane)[:, None] * plane
        return coregister(
            np.concatenate([src, fid_src]),
            np.concatenate([foot, fid_dst]),
            weights=np.concatenate([weights, fid_weights]),
        )
    # each fiducial pair enters as three planes (x, y, z): a point-to-point term
    return _point_to_plane_step(
        np.concatenate([src, np.repeat(fid_src, 3, axis=0)]),
        np.concatenate([dst, np.repeat(fid_dst, 3, axis=0)]),
        np.concatenate([plane, np.tile(np.eye(3), (len(fid_src), 1))]),
        np.concatenate([weights, np.repeat(fid_weights, 3)]),
    )


#: how many past transforms a cycle of closest-point pairings may span
_CYCLE_MEMORY = 8


def _motion(step: np.ndarray) -> float:
    """Size of a rigid update (mm): its translation plus its rotation angle at 100 mm."""
    return float(
        np.linalg.norm(step[:3, 3]) + 100.0 * Rotation.from_matrix(step[:3, :3]).magnitude()
    )


def _distance(points: np.ndarray, tree: cKDTree, targets: np.ndarray, normals: Any) -> Any:
    """Nearest scalp target of each point, and the point-to-scalp distance."""
    _, nearest = tree.query(points)
    offset = points - targets[nearest]
    if normals is None:
        return nearest, np.linalg.norm(offset, axis=1)
    return nearest, np.abs(np.einsum("ij,ij->i", offset, normals[nearest]))


def coregister_headshape(
    headshape: Any,
    scalp: Any,
    fid_head: Any,
    fid_mri: Any,
    *,
    units: str = "mm",
    method: str = "point_to_plane",
    sampling: str = "faces",
    spacing: float = 2.0,
    fiducial_weight: float = 0.0,
    outlier_distance: float | None = None,
    max_iterations: int = 50,
    tolerance: float = 1e-2,
) -> HeadshapeFit:
    """Refine the head -> MRI transform by ICP between head-shape points and the scalp.

    Starts from the fiducial fit ``coregister(fid_head, fid_mri)`` and
    iterates: move the head-shape points with the current transform, pair
    each with its nearest scalp point (KD-tree), drop outliers, and update the
    transform from the pairs, until the update moves no point of a 100 mm
    head by more than ``tolerance`` mm or the pairings cycle (the transform
    returns within ``tolerance`` to one of its last 8 values).

    Parameters
    ----------
    headshape : array (n, 3), (vertices, faces) tuple, DataArray (..., xyz) or path
        Head-shape points in head coordinates: digitised points, or a 3-D
        face scan (its vertices are used; a GIFTI path is read with nibabel).
        At least 6 points; a few hundred are plenty.
    scalp : Dataset or (vertices (n, 3), faces (m, 3)) tuple
        The MRI scalp surface in mm: a mesh Dataset carrying
        ``scalp_vertices``/``scalp_faces``, or the arrays.
    fid_head : mapping name -> (3,), array (k, 3) or DataArray (fiducial, xyz)
        Fiducials (nas, lpa, rpa, ...) in head coordinates, in ``units``.
    fid_mri : same form as ``fid_head``
        The same fiducials marked on the MRI, in mm.
    units : {"mm", "m"}
        Units of ``headshape`` and ``fid_head`` (face scans are often in m).
    method : {"point_to_plane", "point_to_point"}
        Update rule: linearised point-to-plane least squares (converges in a
        few iterations and slides along the surface), or the closed-form
        point-to-point Kabsch fit of the pairs.
    sampling : {"faces", "vertices"}
        Scalp points paired with: a grid sampled on every face (``spacing`` mm
        or finer, with face normals) or the mesh vertices (vertex normals).
    spacing : float
        Sampling distance on the scalp faces, mm.
    fiducial_weight : float
        Weight of each fiducial pair relative to one head-shape point; 0
        (default) lets the head shape alone decide after the fiducial start.
    outlier_distance : float, optional
        Points farther than this (mm) from the scalp are ignored in an
        iteration. Default: a robust rule, median + 3 robust SD of the current
        distances.
    max_iterations : int
    tolerance : float
        Convergence threshold on the update, mm.

    Returns
    -------
    HeadshapeFit
        ``transform`` (head -> MRI, 4x4, mm), ``fiducials_mri``, per-point
        ``distance`` (after) and ``initial_distance`` (fiducial fit only),
        ``mean_distance``/``median_distance`` (mm, inliers), ``inliers``.
        Distances are to the plane of the nearest scalp face
        (``sampling="faces"``) or to the nearest vertex (``"vertices"``).

    Raises
    ------
    LaminarrayError
        Bad shapes, units or options.

    Examples
    --------
    >>> fit = coregister_headshape(points_head, mesh, fid_head, fid_mri)
    >>> fit.median_distance, fit.fiducials_mri["nas"]
    """
    check_option("units", units, _UNIT_SCALE)
    check_option("method", method, ("point_to_plane", "point_to_point"))
    check_option("sampling", sampling, ("faces", "vertices"))
    spacing = check_positive("spacing", spacing)
    fiducial_weight = check_positive("fiducial_weight", fiducial_weight, allow_zero=True)
    tolerance = check_positive("tolerance", tolerance)
    if outlier_distance is not None:
        outlier_distance = check_positive("outlier_distance", outlier_distance)
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer):
        raise LaminarrayError(f"`max_iterations` must be an integer; got {max_iterations!r}")
    scale = _UNIT_SCALE[units]
    points = _headshape_points(headshape, scale)
    names, head_fids = _fiducial_array(fid_head, "fid_head")
    head_fids = head_fids * scale
    mri_names, mri_fids = _fiducial_array(fid_mri, "fid_mri")
    if isinstance(fid_head, Mapping) and isinstance(fid_mri, Mapping):
        if set(names) != set(mri_names):
            raise LaminarrayError(
                f"`fid_head` and `fid_mri` name different points: {names} vs {mri_names}"
            )
        mri_fids = mri_fids[[mri_names.index(n) for n in names]]
    vertices, faces = scalp_surface(scalp)

    initial = coregister(head_fids, mri_fids)
    targets, normals = _scalp_targets(vertices, faces, sampling, spacing)
    tree = cKDTree(targets)
    report_normals = normals if sampling == "faces" else None
    initial_points = apply_transform(initial, points)
    _, initial_distance = _distance(initial_points, tree, targets, report_normals)

    transform = initial
    recent: collections.deque[np.ndarray] = collections.deque(maxlen=_CYCLE_MEMORY)
    converged = False
    n_iterations = 0
    fid_weights = np.full(len(head_fids), fiducial_weight)
    for n_iterations in range(1, max_iterations + 1):  # noqa: B007  (reported after the loop)
        moved = apply_transform(transform, points)
        nearest, distance = _distance(moved, tree, targets, report_normals)
        weights = _robust_weights(distance, outlier_distance)
        used = weights > 0
        step = _update(
            method,
            moved[used],
            targets[nearest[used]],
            normals[nearest[used]],
            weights[used],
            apply_transform(transform, head_fids),
            mri_fids,
            fid_weights,
        )
        # converged when the update is negligible, or when the pairing cycles through a
        # few states (back where we were up to _CYCLE_MEMORY steps ago)
        recent.append(transform)
        transform = step @ transform
        if _motion(step) < tolerance or any(
            _motion(transform @ invert_transform(seen)) < tolerance for seen in recent
        ):
            converged = True
            break

    moved = apply_transform(transform, points)
    _, distance = _distance(moved, tree, targets, report_normals)
    return HeadshapeFit(
        transform=transform,
        initial_transform=initial,
        fiducials_mri=dict(zip(names, apply_transform(transform, head_fids), strict=True)),
        points_mri=moved,
        initial_points_mri=initial_points,
        distance=distance,
        initial_distance=initial_distance,
        inliers=_robust_weights(distance, outlier_distance) > 0,
        n_iterations=n_iterations,
        converged=converged,
        settings={
            "method": method,
            "sampling": sampling,
            "spacing": spacing,
            "units": units,
            "fiducial_weight": fiducial_weight,
            "outlier_distance": outlier_distance,
            "max_iterations": int(max_iterations),
            "tolerance": tolerance,
        },
    )
