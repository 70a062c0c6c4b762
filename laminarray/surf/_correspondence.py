"""Correspondence between meshes derived from one full-resolution surface (``original_vertex``)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import LaminarrayError


def original_index(mesh: xr.Dataset) -> np.ndarray:
    """Index of each column in the full-resolution surfaces (``original_vertex``, else its row)."""
    if "original_vertex" in mesh.coords:
        return np.asarray(mesh["original_vertex"].values, dtype=np.int64)
    return np.arange(mesh.sizes["vertex"], dtype=np.int64)


def rows_in(fine: xr.Dataset, coarse: xr.Dataset) -> np.ndarray:
    """Row of ``fine`` holding each column of ``coarse``, matched through ``original_vertex``.

    Both meshes refer to the same full-resolution surfaces (``coarse`` was
    derived from ``fine`` by downsampling and/or a medial-wall cut, and
    ``fine`` may itself have been cut). Raises a :class:`LaminarrayError`
    when a column of ``coarse`` is not in ``fine``.
    """
    source, target = original_index(fine), original_index(coarse)
    lookup = np.full(max(int(source.max(initial=-1)), int(target.max(initial=-1))) + 1, -1)
    lookup[source] = np.arange(source.size)
    rows = lookup[target]
    if np.any(rows < 0):
        missing = target[rows < 0]
        raise LaminarrayError(
            f"{missing.size} columns of the coarse mesh are not in the fine mesh (original "
            f"vertices {missing[:10].tolist()}); pass the mesh the coarse one was derived from"
        )
    return rows
