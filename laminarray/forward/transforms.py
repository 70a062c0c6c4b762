"""Rigid transforms between head and MRI coordinates.

A transform is a 4x4 affine matrix acting on homogeneous column vectors of
positions in mm: ``p_out = R @ p_in + t`` with ``R = T[:3, :3]`` a proper
rotation and ``t = T[:3, 3]`` a translation in mm.

- :func:`coregister` estimates the rigid transform that best maps points
  given in one frame (e.g. fiducials digitised in head coordinates) onto the
  same points in another frame (the fiducials marked on the MRI), by least
  squares (Kabsch/Horn via an SVD, never a reflection).
- :func:`apply_transform` applies a transform to an array of points, a
  labelled ``DataArray`` with an ``xyz`` dim, or every ``xyz`` variable of a
  sensor or mesh ``Dataset`` (positions in mm are moved, unit directions are
  only rotated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe

__all__ = ["apply_transform", "coregister", "invert_transform", "rigid_transform"]

FIDUCIALS = ("nas", "lpa", "rpa")


def rigid_transform(rotation: Any = None, translation: Any = None) -> np.ndarray:
    """Build a 4x4 affine from a rotation matrix and a translation (mm).

    Parameters
    ----------
    rotation : array, shape (3, 3), optional
        Proper rotation matrix (default identity).
    translation : array, shape (3,), optional
        Translation in mm (default zero).

    Returns
    -------
    ndarray, shape (4, 4), float64
    """
    transform = np.eye(4)
    if rotation is not None:
        transform[:3, :3] = _as_shape(rotation, (3, 3), "rotation")
    if translation is not None:
        transform[:3, 3] = _as_shape(translation, (3,), "translation")
    return transform


def invert_transform(transform: Any) -> np.ndarray:
    """Inverse of a rigid transform (exact: ``R.T``, ``-R.T @ t``).

    Parameters
    ----------
    transform : array, shape (4, 4)

    Returns
    -------
    ndarray, shape (4, 4)
    """
    transform = _check_transform(transform)
    rot = transform[:3, :3]
    return rigid_transform(rot.T, -rot.T @ transform[:3, 3])


def coregister(fid_head: Any, fid_mri: Any, *, weights: Any = None) -> np.ndarray:
    """Least-squares rigid transform mapping head-frame points onto MRI-frame points.

    Minimises ``sum_i w_i ||R @ head_i + t - mri_i||^2`` over proper rotations
    ``R`` (``det R = +1``) and translations ``t`` (Kabsch/Horn: SVD of the
    weighted cross-covariance of the centred point sets, with the sign
    correction that excludes reflections).

    Parameters
    ----------
    fid_head, fid_mri : array (n, 3), mapping of name -> (3,), or DataArray (..., xyz)
        Corresponding points in mm, at least three not on one line: the
        fiducials (``nas``, ``lpa``, ``rpa``) and optionally more (head-shape
        points already paired, electrodes, ...). Mappings are matched by key
        (the keys must agree); arrays and DataArrays by row.
    weights : array, shape (n,), optional
        Non-negative weight per point pair (default equal weights).

    Returns
    -------
    ndarray, shape (4, 4), float64
        Affine mapping head coordinates (mm) to MRI coordinates (mm). Use
        :func:`apply_transform` to move sensors into the MRI frame, or
        :func:`invert_transform` to move a mesh into the head frame.

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
    u, _, vt = np.linalg.svd(cross)
    sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    return rigid_transform(rotation, dst_mean - rotation @ src_mean)


def apply_transform(transform: Any, points: Any) -> Any:
    """Apply a rigid 4x4 transform to points, a labelled array or a whole dataset.

    Parameters
    ----------
    transform : array, shape (4, 4)
        Rigid affine (mm), e.g. from :func:`coregister`.
    points : array (..., 3), DataArray with an ``xyz`` dim, or Dataset
        - numpy array: positions in mm, transformed as points.
        - DataArray: transformed along ``xyz``; as unit directions (rotated
          only) when its ``units`` attr is ``"1"`` (orientations), else as
          positions.
        - Dataset (sensor array from :mod:`laminarray.forward.sensors`, mesh
          from :func:`laminarray.mesh_dataset` with or without scalp
          variables): every data variable with an ``xyz`` dim is transformed
          by the DataArray rule; other variables, coords and attrs are kept.

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
                if "xyz" in var.dims
            }
        )
    if isinstance(points, xr.DataArray):
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


def _transform_kernel(array: np.ndarray, transform: np.ndarray, direction: bool) -> np.ndarray:
    moved = array @ transform[:3, :3].T
    return moved if direction else moved + transform[:3, 3]


def _check_transform(transform: Any) -> np.ndarray:
    matrix = _as_shape(transform, (4, 4), "transform")
    rot = matrix[:3, :3]
    if not (
        np.allclose(rot @ rot.T, np.eye(3), atol=1e-6)
        and np.isclose(np.linalg.det(rot), 1.0, atol=1e-6)
        and np.allclose(matrix[3], [0, 0, 0, 1])
    ):
        raise LaminarrayError(
            "`transform` must be a rigid 4x4 affine (orthonormal rotation with determinant "
            f"+1, last row [0, 0, 0, 1]); got\n{matrix}"
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
