"""Validation of raw mesh arrays at the public boundary of :mod:`laminarray.surf`."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe


def as_vertices(vertices: Any, name: str = "vertices") -> np.ndarray:
    """``(n_vertices, 3)`` float64 positions, finite, or a :class:`LaminarrayError`."""
    if isinstance(vertices, xr.DataArray):
        vertices = vertices.values
    try:
        pos = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError):
        raise LaminarrayError(
            f"`{name}` must be an array of positions (n_vertices, 3) in mm, got {describe(vertices)}"
        ) from None
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise LaminarrayError(
            f"`{name}` must have shape (n_vertices, 3) in mm, got shape {pos.shape}"
        )
    if not np.all(np.isfinite(pos)):
        bad = np.unique(np.nonzero(~np.isfinite(pos))[0])
        raise LaminarrayError(
            f"`{name}` contains NaN/inf coordinates at {bad.size} vertices "
            f"(first: {bad[:10].tolist()})"
        )
    return np.ascontiguousarray(pos)


def as_faces(faces: Any, n_vertices: int, name: str = "faces") -> np.ndarray:
    """``(n_faces, 3)`` int32 triangle indices into ``n_vertices``, or a :class:`LaminarrayError`."""
    if isinstance(faces, xr.DataArray):
        faces = faces.values
    try:
        tri = np.asarray(faces)
    except ValueError:
        raise LaminarrayError(
            f"`{name}` must be triangles of shape (n_faces, 3); got rows of unequal length "
            "(non-triangular faces)"
        ) from None
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise LaminarrayError(
            f"`{name}` must be triangles of shape (n_faces, 3), got shape {tri.shape}"
            + (" (non-triangular faces)" if tri.ndim == 2 else "")
        )
    if tri.size and not np.issubdtype(tri.dtype, np.integer) and not np.all(np.mod(tri, 1) == 0):
        raise LaminarrayError(f"`{name}` must hold integer vertex indices, got dtype {tri.dtype}")
    tri = tri.astype(np.int64)
    if tri.size and (tri.min() < 0 or tri.max() >= n_vertices):
        raise LaminarrayError(
            f"`{name}` index vertices outside 0..{n_vertices - 1}: found range "
            f"{tri.min()}..{tri.max()}"
        )
    degenerate = (tri[:, 0] == tri[:, 1]) | (tri[:, 1] == tri[:, 2]) | (tri[:, 0] == tri[:, 2])
    if np.any(degenerate):
        raise LaminarrayError(
            f"`{name}` has {int(degenerate.sum())} triangles with a repeated vertex "
            f"(first at face {int(np.argmax(degenerate))})"
        )
    return np.ascontiguousarray(tri.astype(np.int32))


def as_vertex_index(source: Any, n_vertices: int, name: str = "source") -> np.ndarray:
    """1-D int32 array of vertex indices in range, or a :class:`LaminarrayError`."""
    index = np.atleast_1d(np.asarray(source))
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise LaminarrayError(
            f"`{name}` must be a vertex index or a 1-D array of vertex indices, got {source!r}"
        )
    if index.min() < 0 or index.max() >= n_vertices:
        raise LaminarrayError(
            f"`{name}` must index vertices 0..{n_vertices - 1}, got {index.min()}..{index.max()}"
        )
    return index.astype(np.int32)
