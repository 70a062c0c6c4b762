"""Dipole orientation models of laMEG (design note lameg §4.5) with an explicit sign convention.

Convention (laMEG's): unit vectors point **from pial towards white** (into the
cortex). ``link_vector`` does so by construction; for the normal-based models
laMEG negates the outward FreeSurfer normals, and laminarray goes one step
further and orients each layer's normal field to agree, on average, with the
pial -> white link vectors, so that the convention holds whatever the winding
of the input faces. ``flip=True`` gives the opposite polarity (white -> pial),
which negates every source time series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import LaminarrayError, check_option
from ..schema import MESH_VERTEX_DIMS, validate_mesh
from ._correspondence import rows_in
from .topology import _normalize, _vertex_normals

__all__ = ["ORIENTATION_METHODS", "dipole_orientations"]

ORIENTATION_METHODS = ("link_vector", "ds_surf_norm", "orig_surf_norm", "cps")


def _link_vectors(layers: np.ndarray) -> np.ndarray:
    """``normalize(white - pial)`` per column, shape (n_vertices, 3)."""
    return _normalize(layers[-1] - layers[0])


def _inward(normals: np.ndarray, link: np.ndarray) -> np.ndarray:
    """Normals negated (laMEG) and oriented to agree with the pial -> white link vectors."""
    normals = -normals
    agreement = np.einsum("vx,vx->", normals, link)
    return -normals if agreement < 0 else normals


def _orientations(
    layers: np.ndarray,
    faces: np.ndarray,
    method: str,
    fixed: bool,
    original: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
) -> np.ndarray:
    """Orientation kernel: ``(n_layers, n_vertices, 3)`` unit vectors, pial -> white.

    ``original`` is ``(layers_hr (n_layers, n_hr, 3), faces_hr, index)`` of the
    high-resolution mesh this one was downsampled from, ``index`` giving the
    high-resolution vertex of each vertex (or None to find it by nearest
    neighbour). Without it the mesh is its own high-resolution mesh.
    """
    link = _link_vectors(layers)
    if method == "link_vector":
        # zero-thickness columns (e.g. fsaverage's medial wall) take the inward pial normal
        degenerate = np.linalg.norm(layers[-1] - layers[0], axis=1) <= np.finfo(float).eps
        if np.any(degenerate):
            link[degenerate] = _inward(_vertex_normals(layers[0], faces), link)[degenerate]
        return np.broadcast_to(link, layers.shape).copy()
    sources = range(1) if fixed else range(len(layers))
    if method == "ds_surf_norm" or original is None:
        normals = [_inward(_vertex_normals(layers[k], faces), link) for k in sources]
    elif method == "orig_surf_norm":
        hr_layers, hr_faces, index = original
        normals = []
        for k in sources:
            hr_normals = _inward(_vertex_normals(hr_layers[k], hr_faces), _link_vectors(hr_layers))
            nearest = index if index is not None else cKDTree(hr_layers[k]).query(layers[k])[1]
            normals.append(hr_normals[nearest])
    else:  # cps
        hr_layers, hr_faces, _ = original
        normals = []
        for k in sources:
            hr_normals = _inward(_vertex_normals(hr_layers[k], hr_faces), _link_vectors(hr_layers))
            owner = cKDTree(layers[k]).query(hr_layers[k])[1]
            summed = np.stack(
                [
                    np.bincount(owner, hr_normals[:, c], minlength=layers.shape[1])
                    for c in range(3)
                ],
                axis=1,
            )
            empty = np.bincount(owner, minlength=layers.shape[1]) == 0
            own = _inward(_vertex_normals(layers[k], faces), link)
            summed[empty] = own[empty]
            normals.append(_normalize(summed))
    stacked = np.stack(normals)
    return np.broadcast_to(stacked, layers.shape).copy() if fixed else stacked


def dipole_orientations(
    mesh: xr.Dataset,
    method: str = "link_vector",
    fixed: bool = True,
    *,
    original: xr.Dataset | None = None,
    flip: bool = False,
) -> xr.DataArray:
    """Unit dipole orientation of every source of a multilayer mesh (laMEG's four models).

    Parameters
    ----------
    mesh : xarray.Dataset
        Mesh dataset (``vertices (layer, vertex, xyz)``, ``faces``).
    method : {"link_vector", "ds_surf_norm", "orig_surf_norm", "cps"}
        ``link_vector``: direction from the pial to the white vertex of each
        column (same on every layer; the inward pial normal where pial and
        white coincide). ``ds_surf_norm``: vertex normals of the
        mesh itself. ``orig_surf_norm``: normals of the high-resolution
        ``original`` mesh at the vertex each vertex came from (its
        ``original_vertex`` coordinate, else the nearest). ``cps`` (cortical
        patch statistics): mean of the high-resolution normals of the
        original vertices nearest to each vertex (vertices receiving none keep
        their own normal). Without ``original`` the two last reduce to
        ``ds_surf_norm``.
    fixed : bool
        Use the pial orientation on every layer (normal-based methods).
    original : xarray.Dataset, optional
        The high-resolution mesh ``mesh`` was downsampled from (same layers).
    flip : bool
        Reverse the polarity (white -> pial instead of laMEG's pial -> white).

    Returns
    -------
    xarray.DataArray, dims ``(layer, vertex, xyz)``
        Unit vectors named ``orientation``; attrs ``orientation_method``,
        ``orientation_fixed``, ``orientation_convention``
        (``"pial_to_white"`` or ``"white_to_pial"``).
    """
    mesh = validate_mesh(mesh)
    check_option("method", method, ORIENTATION_METHODS)
    layers = mesh["vertices"].values
    faces = mesh["faces"].values
    hr = None
    if original is not None:
        original = validate_mesh(original)
        if original.sizes["layer"] != mesh.sizes["layer"]:
            raise LaminarrayError(
                f"`original` must have the same layers as `mesh`: {original.sizes['layer']} "
                f"vs {mesh.sizes['layer']}"
            )
        index = rows_in(original, mesh) if "original_vertex" in mesh.coords else None
        hr = (original["vertices"].values, original["faces"].values, index)
    values = _orientations(layers, faces, method, bool(fixed), hr)
    return _orientation_dataarray(mesh, -values if flip else values, method, fixed, flip)


def _orientation_dataarray(
    mesh: xr.Dataset, values: np.ndarray, method: str, fixed: bool, flip: bool
) -> xr.DataArray:
    """Label an orientation array with the mesh's coords and the convention attrs."""
    return xr.DataArray(
        values,
        dims=MESH_VERTEX_DIMS,
        coords={k: v for k, v in mesh["vertices"].coords.items()},
        name="orientation",
        attrs={
            "units": "1",
            "long_name": "unit dipole orientation",
            **_orientation_attrs(method, fixed, flip),
        },
    )


def _orientation_attrs(method: str, fixed: bool, flip: bool) -> dict[str, Any]:
    """The attrs that record how orientations were made and their polarity."""
    return {
        "orientation_method": method,
        "orientation_fixed": bool(fixed),
        "orientation_convention": "white_to_pial" if flip else "pial_to_white",
    }
