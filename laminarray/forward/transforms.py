"""Rigid and similarity transforms between head and MRI coordinates.

A transform is a 4x4 affine matrix acting on homogeneous column vectors of
positions in mm: ``p_out = s·R @ p_in + t`` with ``T[:3, :3] = s·R``, ``R`` a
proper rotation, ``s > 0`` a uniform scale (1 for a rigid transform) and
``t = T[:3, 3]`` a translation in mm.

- :func:`coregister` estimates the rigid (or, with ``scale=True``, the
  similarity) transform that best maps points given in one frame (e.g.
  fiducials digitised in head coordinates) onto the same points in another
  frame (the fiducials marked on the MRI), by least squares (Kabsch/Horn via
  an SVD, never a reflection; Umeyama's closed form for the scale).
- :func:`apply_transform` applies a transform to an array of points, a
  labelled ``DataArray`` with an ``xyz`` dim, or every geometry variable of a
  sensor, mesh or head-model ``Dataset`` (positions in mm are moved, unit
  directions only rotated, lengths in mm scaled).

A uniform scale is how a template anatomy (fsaverage for a subject without
an MRI) is fitted to a subject's head, as MNE's ``coregistration`` does:
coregister the digitised fiducials onto the template's with ``scale=True``
and move the template's cortex, head model and fiducials into the head frame
with the inverse transform, which shrinks or enlarges them to the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe

__all__ = [
    "apply_transform",
    "coregister",
    "invert_transform",
    "rigid_transform",
    "transform_scale",
]

FIDUCIALS = ("nas", "lpa", "rpa")


def rigid_transform(
    rotation: Any = None, translation: Any = None, *, scale: float = 1.0
) -> np.ndarray:
    """Build a 4x4 affine from a rotation matrix, a translation (mm) and a uniform scale.

    Parameters
    ----------
    rotation : array, shape (3, 3), optional
        Proper rotation matrix (default identity).
    translation : array, shape (3,), optional
        Translation in mm (default zero).
    scale : float
        Uniform scale applied before the translation (default 1: rigid).

    Returns
    -------
    ndarray, shape (4, 4), float64
        ``T[:3, :3] = scale·rotation``, ``T[:3, 3] = translation``.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise LaminarrayError(f"`scale` must be a positive number; got {scale!r}")
    transform = np.eye(4)
    transform[:3, :3] *= scale
    if rotation is not None:
        transform[:3, :3] = scale * _as_shape(rotation, (3, 3), "rotation")
    if translation is not None:
        transform[:3, 3] = _as_shape(translation, (3,), "translation")
    return transform


def invert_transform(transform: Any) -> np.ndarray:
    """Inverse of a rigid or similarity transform (exact: ``R.T/s``, ``-R.T @ t/s``).

    Parameters
    ----------
    transform : array, shape (4, 4)

    Returns
    -------
    ndarray, shape (4, 4)
    """
    transform = _check_transform(transform)
    scale = transform_scale(transform)
    rot = transform[:3, :3] / scale
    return rigid_transform(rot.T, -rot.T @ transform[:3, 3] / scale, scale=1.0 / scale)


def transform_scale(transform: Any) -> float:
    """Uniform scale ``s`` of a transform (1 for a rigid one).

    Parameters
    ----------
    transform : array, shape (4, 4)

    Returns
    -------
    float
    """
    matrix = _check_transform(transform)
    return float(np.cbrt(np.linalg.det(matrix[:3, :3])))


def coregister(
    fid_head: Any, fid_mri: Any, *, weights: Any = None, scale: bool = False
) -> np.ndarray:
    """Least-squares rigid (or similarity) transform mapping head-frame points onto MRI points.

    Minimises ``sum_i w_i ||s·R @ head_i + t - mri_i||^2`` over proper
    rotations ``R`` (``det R = +1``), translations ``t`` and, with
    ``scale=True``, a uniform scale ``s > 0`` (else ``s = 1``): Kabsch/Horn's
    SVD of the weighted cross-covariance of the centred point sets, with the
    sign correction that excludes reflections, and Umeyama's closed-form
    scale ``s = Σ σ_k·d_k / Σ w_i·||head_i − mean||²`` (``σ`` the singular
    values, ``d`` the sign correction).

    Parameters
    ----------
    fid_head, fid_mri : array (n, 3), mapping of name -> (3,), or DataArray (..., xyz)
        Corresponding points in mm, at least three not on one line: the
        fiducials (``nas``, ``lpa``, ``rpa``) and optionally more (head-shape
        points already paired, electrodes, ...). Mappings are matched by key
        (the keys must agree); arrays and DataArrays by row.
    weights : array, shape (n,), optional
        Non-negative weight per point pair (default equal weights).
    scale : bool
        Also fit a uniform scale (a template anatomy such as fsaverage
        fitted to a subject's head, MNE's ``scale_mri`` practice; the
        fiducials need not match the template's size). Default False (rigid).

    Returns
    -------
    ndarray, shape (4, 4), float64
        Affine mapping head coordinates (mm) to MRI coordinates (mm). Use
        :func:`apply_transform` to move sensors into the MRI frame, or
        :func:`invert_transform` to move a mesh, head model and fiducials
        into the head frame (scaled to the head when ``scale=True``).

    Raises
    ------
    LaminarrayError
        If the point sets differ in shape, have fewer than 3 points, are
        (nearly) collinear, or contain NaN/inf.

    Examples
    --------
    >>> head = {"nas": [0, 90, 0], "lpa": [-75, 0, 0], "rpa": [75, 0, 0]}
    >>> mri = {"nas": [1, 95, 40], "lpa": [-74, 5, 40], "rpa": [76, 5, 40]}
    >>> transform = coregister(head, mri)
    """
    src, dst = _paired_points(fid_head, fid_mri)
    n_points = src.shape[0]
    if weights is None:
        w = np.full(n_points, 1.0 / n_points)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n_points,) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise LaminarrayError(
                f"`weights` must be {n_points} finite non-negative numbers with a positive "
                f"sum; got {describe(weights)}"
            )
        w = w / w.sum()
    src_mean = w @ src
    dst_mean = w @ dst
    src_c = src - src_mean
    dst_c = dst - dst_mean
    spread = np.linalg.svd(src_c * np.sqrt(w)[:, None], compute_uv=False)
    if spread[1] <= 1e-9 * max(spread[0], 1e-300):
        raise LaminarrayError(
            "`fid_head` points are collinear (or coincide): a rigid transform needs at "
            "least three points that span a plane"
        )
    cross = (src_c * w[:, None]).T @ dst_c
    u, sigma, vt = np.linalg.svd(cross)
    sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    factor = 1.0
    if scale:
        factor = float((sigma[0] + sigma[1] + sign * sigma[2]) / np.sum(w * np.sum(src_c**2, 1)))
        if not factor > 0:
            raise LaminarrayError(
                "`fid_head` and `fid_mri` do not determine a positive scale (the point sets "
                "are mirror images); check the point correspondence"
            )
    return rigid_transform(rotation, dst_mean - factor * rotation @ src_mean, scale=factor)


def apply_transform(transform: Any, points: Any) -> Any:
    """Apply a rigid or similarity 4x4 transform to points, a labelled array or a dataset.

    Parameters
    ----------
    transform : array, shape (4, 4)
        Rigid or similarity affine (mm), e.g. from :func:`coregister`.
    points : array (..., 3), DataArray with an ``xyz`` dim, or Dataset
        - numpy array: positions in mm, transformed as points.
        - DataArray with an ``xyz`` dim: as unit directions (rotated only)
          when its ``units`` attr is ``"1"`` (orientations), else as
          positions (``s·R @ p + t``). Without an ``xyz`` dim and with
          ``units`` ``"mm"``: a length, multiplied by the scale ``s``.
        - Dataset (sensor array, mesh with or without scalp variables, head
          model, fiducials): every data variable with an ``xyz`` dim and
          every length in mm (e.g. a sphere's radius) is transformed by the
          DataArray rule, so that cortex, head model and fiducials move (and
          scale) together; other variables, coords and attrs are kept.

    Returns
    -------
    same type as ``points``
        Transformed copy; the input is not modified.
    """
    transform = _check_transform(transform)
    if isinstance(points, xr.Dataset):
        return points.assign(
            {
                name: apply_transform(transform, var)
                for name, var in points.data_vars.items()
                if _is_geometry(var)
            }
        )
    if isinstance(points, xr.DataArray):
        if "xyz" not in points.dims and points.attrs.get("units") == "mm":
            return points * transform_scale(transform)
        if "xyz" not in points.dims or points.sizes["xyz"] != 3:
            raise LaminarrayError(
                f"`points` must have an `xyz` dim of size 3; got {describe(points)}"
            )
        moved = xr.apply_ufunc(
            _transform_kernel,
            points,
            input_core_dims=[["xyz"]],
            output_core_dims=[["xyz"]],
            kwargs={"transform": transform, "direction": points.attrs.get("units") == "1"},
            dask="parallelized",
            output_dtypes=[np.result_type(points.dtype, np.float64)],
            keep_attrs=True,
        )
        return moved.transpose(*points.dims)
    array = np.asarray(points, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != 3:
        raise LaminarrayError(f"`points` must have shape (..., 3); got {describe(points)}")
    return _transform_kernel(array, transform, direction=False)


def _is_geometry(var: xr.DataArray) -> bool:
    """Positions/directions (an ``xyz`` dim) or lengths in mm."""
    if "xyz" in var.dims:
        return var.sizes["xyz"] == 3
    return var.attrs.get("units") == "mm" and np.issubdtype(var.dtype, np.number)


def _transform_kernel(array: np.ndarray, transform: np.ndarray, direction: bool) -> np.ndarray:
    linear = transform[:3, :3]
    if direction:
        return array @ (linear / np.cbrt(np.linalg.det(linear))).T
    return array @ linear.T + transform[:3, 3]


def _check_transform(transform: Any) -> np.ndarray:
    matrix = _as_shape(transform, (4, 4), "transform")
    linear = matrix[:3, :3]
    det = np.linalg.det(linear)
    scale = np.cbrt(det) if det > 0 else 0.0
    rot = linear / scale if scale > 0 else linear
    if not (
        scale > 0
        and np.allclose(rot @ rot.T, np.eye(3), atol=1e-6)
        and np.allclose(matrix[3], [0, 0, 0, 1])
    ):
        raise LaminarrayError(
            "`transform` must be a rigid or similarity 4x4 affine (a rotation times a "
            f"positive uniform scale, last row [0, 0, 0, 1]); got\n{matrix}"
        )
    return matrix


def _as_shape(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise LaminarrayError(
            f"`{name}` must be a finite array of shape {shape}; got {describe(value)}"
        )
    return array


def _paired_points(head: Any, mri: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(head, Mapping) or isinstance(mri, Mapping):
        if not (isinstance(head, Mapping) and isinstance(mri, Mapping)):
            raise LaminarrayError(
                "`fid_head` and `fid_mri` must both be mappings of point name -> (x, y, z) "
                "or both arrays"
            )
        if set(head) != set(mri):
            raise LaminarrayError(
                f"`fid_head` and `fid_mri` name different points: {sorted(head)} vs {sorted(mri)}"
            )
        keys = list(head)
        head = [head[k] for k in keys]
        mri = [mri[k] for k in keys]
    src = _points(head, "fid_head")
    dst = _points(mri, "fid_mri")
    if src.shape != dst.shape:
        raise LaminarrayError(
            f"`fid_head` and `fid_mri` must hold the same number of points; got "
            f"{src.shape[0]} and {dst.shape[0]}"
        )
    if src.shape[0] < 3:
        raise LaminarrayError(
            f"`fid_head` needs at least 3 point pairs to fix a rigid transform; got {src.shape[0]}"
        )
    return src, dst


def _points(value: Any, name: str) -> np.ndarray:
    if isinstance(value, xr.DataArray) and "xyz" in value.dims:
        value = value.transpose(..., "xyz").values.reshape(-1, 3)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 or not np.all(np.isfinite(array)):
        raise LaminarrayError(
            f"`{name}` must be finite points of shape (n, 3) in mm; got {describe(value)}"
        )
    return array
