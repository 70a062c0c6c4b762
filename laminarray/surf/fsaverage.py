"""Native <-> fsaverage vertex correspondence through spherical registrations.

FreeSurfer's ``?h.sphere.reg`` places every vertex of a subject on the
fsaverage sphere; the nearest vertex on that sphere is the corresponding
vertex (lameg.md §4.10). Both spheres are projected to the unit sphere first,
so radii need not match. Typical use: bring fsaverage data (e.g. BigBrain
layer boundaries) to a subject's columns::

    index = surf.native_to_fsaverage(mesh, {"lh": "lh.sphere.reg", "rh": "rh.sphere.reg"},
                                     {"lh": fs_lh_sphere, "rh": fs_rh_sphere})
    values = surf.sample_fsaverage({"lh": lh_values, "rh": rh_values}, index)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import LaminarrayError, describe
from ..schema import validate_mesh
from ..schema._vocabulary import as_str
from ._checks import as_vertices
from .io import HEMIS, read_surface

__all__ = ["fsaverage_to_native", "native_to_fsaverage", "sample_fsaverage", "sphere_nearest"]


def sphere_nearest(source_sphere: Any, target_sphere: Any) -> np.ndarray:
    """Nearest target vertex on the unit sphere for each source vertex.

    Parameters
    ----------
    source_sphere, target_sphere : array, shape (n, 3) / (m, 3)
        Positions on (registered) spheres, any radius.

    Returns
    -------
    ndarray of int64, shape (n,)
        Index into ``target_sphere``.
    """
    src = _unit(as_vertices(source_sphere, "source_sphere"))
    dst = _unit(as_vertices(target_sphere, "target_sphere"))
    return cKDTree(dst).query(src)[1].astype(np.int64)


def _unit(pos: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(pos, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise LaminarrayError("sphere vertices must not sit at the origin")
    return pos / norms


def _sphere_positions(spec: Any, name: str) -> dict[str, np.ndarray]:
    """``{hemi: (n, 3)}`` from paths, (vertices, faces) tuples or arrays per hemisphere."""
    if isinstance(spec, str) and spec == "fsaverage5":
        from ..datasets.fsaverage import fsaverage5_surfaces

        return {hemi: pos for hemi, (pos, _) in fsaverage5_surfaces("sphere").items()}
    if not isinstance(spec, Mapping) or not spec or set(spec) - set(HEMIS):
        raise LaminarrayError(
            f"`{name}` must be a dict {{'lh': ..., 'rh': ...}} of sphere files or arrays"
            + (" or 'fsaverage5'" if name == "fsaverage_sphere" else "")
            + f"; got {describe(spec)}"
        )
    out = {}
    for hemi in HEMIS:
        if hemi not in spec:
            continue
        value = spec[hemi]
        if isinstance(value, str | os.PathLike):
            value = read_surface(value, coordinates="stored")[0]
        elif isinstance(value, tuple):
            value = value[0]
        out[hemi] = as_vertices(value, f"{name}[{hemi!r}]")
    return out


def _column_spheres(
    mesh: xr.Dataset, native: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Native sphere position and hemisphere of every mesh column."""
    hemis = (
        as_str(mesh["hemi"].values)
        if "hemi" in mesh.coords
        else np.full(mesh.sizes["vertex"], next(iter(native)) if len(native) == 1 else "")
    )
    missing = sorted(set(np.unique(hemis)) - set(native))
    if missing:
        raise LaminarrayError(
            f"`native_sphere` lacks hemisphere(s) {missing} of the mesh "
            "(a mesh without a `hemi` coordinate needs exactly one sphere)"
        )
    combined = np.concatenate([native[h] for h in HEMIS if h in native])
    index = (
        mesh["original_vertex"].values
        if "original_vertex" in mesh.coords
        else np.arange(mesh.sizes["vertex"])
    )
    expected = sum(int(np.sum(hemis == h)) for h in native)
    if "original_vertex" not in mesh.coords and len(combined) != expected:
        raise LaminarrayError(
            f"`native_sphere` has {len(combined)} vertices but the mesh has {expected} columns: "
            "the spheres must be the subject's full-resolution ?h.sphere.reg"
        )
    if index.max() >= len(combined):
        raise LaminarrayError(
            f"`native_sphere` has {len(combined)} vertices, fewer than the mesh's original "
            f"vertex indices (up to {index.max()})"
        )
    return combined[index], hemis


def native_to_fsaverage(
    mesh: xr.Dataset, native_sphere: Any, fsaverage_sphere: Any
) -> xr.DataArray:
    """fsaverage vertex corresponding to each column of a subject's mesh.

    Parameters
    ----------
    mesh : xarray.Dataset
        The subject's mesh (full resolution, or downsampled with an
        ``original_vertex`` coordinate into the full-resolution surfaces);
        ``hemi`` coordinate for two hemispheres.
    native_sphere : dict {"lh": ..., "rh": ...}
        The subject's registered spheres (``?h.sphere.reg`` path, array or
        ``(vertices, faces)``), full resolution, in the vertex order of the
        surfaces the mesh was built from.
    fsaverage_sphere : dict or "fsaverage5"
        fsaverage's spheres per hemisphere (e.g. ``$SUBJECTS_DIR/fsaverage/
        surf/?h.sphere.reg``), or ``"fsaverage5"`` for nilearn's fsaverage5.

    Returns
    -------
    xarray.DataArray of int64, dims ``(vertex,)``
        Named ``fsaverage_vertex``: index into the fsaverage sphere of the
        column's hemisphere (coordinate ``hemi``).
    """
    mesh = validate_mesh(mesh)
    native = _sphere_positions(native_sphere, "native_sphere")
    target = _sphere_positions(fsaverage_sphere, "fsaverage_sphere")
    positions, hemis = _column_spheres(mesh, native)
    index = np.zeros(len(positions), dtype=np.int64)
    for hemi in np.unique(hemis):
        if hemi not in target:
            raise LaminarrayError(f"`fsaverage_sphere` lacks hemisphere {hemi!r}")
        where = hemis == hemi
        index[where] = sphere_nearest(positions[where], target[hemi])
    return xr.DataArray(
        index,
        dims=("vertex",),
        coords={"vertex": mesh["vertex"].values, "hemi": ("vertex", hemis)},
        name="fsaverage_vertex",
        attrs={"long_name": "corresponding fsaverage vertex (per hemisphere)"},
    )


def fsaverage_to_native(
    mesh: xr.Dataset, native_sphere: Any, fsaverage_sphere: Any
) -> xr.DataArray:
    """Mesh column corresponding to each fsaverage vertex (nearest column on the sphere).

    Parameters
    ----------
    mesh, native_sphere, fsaverage_sphere
        As in :func:`native_to_fsaverage`.

    Returns
    -------
    xarray.DataArray of int64, dims ``(hemi, fsaverage_vertex)``
        Named ``vertex``: position (0-based) of the mesh column, among the
        columns of the same hemisphere, nearest to each fsaverage vertex.
    """
    mesh = validate_mesh(mesh)
    native = _sphere_positions(native_sphere, "native_sphere")
    target = _sphere_positions(fsaverage_sphere, "fsaverage_sphere")
    positions, hemis = _column_spheres(mesh, native)
    present = [h for h in HEMIS if h in target and np.any(hemis == h)]
    sizes = {len(target[h]) for h in present}
    if len(sizes) != 1:
        raise LaminarrayError(f"fsaverage spheres must have equal sizes, got {sorted(sizes)}")
    columns = np.stack(
        [
            np.flatnonzero(hemis == h)[sphere_nearest(target[h], positions[hemis == h])]
            for h in present
        ]
    )
    return xr.DataArray(
        columns,
        dims=("hemi", "fsaverage_vertex"),
        coords={"hemi": present},
        name="vertex",
        attrs={"long_name": "mesh column (vertex position) nearest to each fsaverage vertex"},
    )


def sample_fsaverage(values: Mapping[str, Any], index: xr.DataArray) -> xr.DataArray:
    """Take per-hemisphere fsaverage data at the columns given by :func:`native_to_fsaverage`.

    Parameters
    ----------
    values : dict {"lh": ..., "rh": ...}
        Arrays (last axis = fsaverage vertices) or DataArrays with a
        ``fsaverage_vertex`` dim, one per hemisphere.
    index : xarray.DataArray
        Output of :func:`native_to_fsaverage`.

    Returns
    -------
    xarray.DataArray
        The values with ``fsaverage_vertex`` replaced by the mesh's ``vertex``
        (last dim), with ``hemi``.
    """
    hemis = as_str(index["hemi"].values)
    pieces = []
    for hemi in np.unique(hemis):
        if hemi not in values:
            raise LaminarrayError(f"`values` lacks hemisphere {hemi!r} needed by the mesh")
        data = values[hemi]
        if not isinstance(data, xr.DataArray):
            data = np.asarray(data)
            data = xr.DataArray(
                data, dims=(*[f"dim_{k}" for k in range(data.ndim - 1)], "fsaverage_vertex")
            )
        where = np.flatnonzero(hemis == hemi)
        picked = data.isel(fsaverage_vertex=index.values[where]).rename(fsaverage_vertex="vertex")
        pieces.append(picked.assign_coords(vertex=index["vertex"].values[where]))
    out = xr.concat(pieces, dim="vertex").sel(vertex=index["vertex"].values)
    out = out.assign_coords(hemi=("vertex", index["hemi"].sel(vertex=out["vertex"]).values))
    return out.transpose(..., "vertex")
