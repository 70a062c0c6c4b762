"""Native <-> fsaverage vertex correspondence through spherical registrations.

FreeSurfer's ``?h.sphere.reg`` places every vertex of a subject on the
fsaverage sphere; the nearest vertex on that sphere is the corresponding
vertex (lameg.md §4.10). Both spheres are projected to the unit sphere first,
so radii need not match. Two methods:

* ``method="lameg"`` (default) reproduces laMEG's
  ``convert_native_to_fsaverage``/``convert_fsaverage_to_native`` on
  downsampled meshes: a column is tied to the full-resolution surface by the
  nearest full-resolution vertex **in space** (of either hemisphere), and an
  fsaverage vertex reaches a column through its nearest subject sphere
  vertex, that vertex's position on the full-resolution surface and the
  column nearest to it **in space** (of either hemisphere). It needs the
  full-resolution surfaces of the layer (``native_surface``).
* ``method="sphere"``: a column is its own full-resolution vertex
  (``original_vertex``) and an fsaverage vertex goes to the column nearest
  **on the sphere**, among the columns of its hemisphere. This never jumps
  across a sulcus or the midline (3-D nearest neighbours can) and needs no
  extra surfaces; use it when laMEG parity is not the aim.

Typical use: bring fsaverage data (e.g. BigBrain layer boundaries) to a
subject's columns::

    index = surf.native_to_fsaverage(mesh, {"lh": "lh.sphere.reg", "rh": "rh.sphere.reg"},
                                     {"lh": fs_lh_sphere, "rh": fs_rh_sphere},
                                     native_surface={"lh": "lh.pial", "rh": "rh.pial"})
    values = surf.sample_fsaverage({"lh": lh_values, "rh": rh_values}, index)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import LaminarrayError, check_option, describe
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


def _sphere_positions(spec: Any, name: str, coordinates: str = "stored") -> dict[str, np.ndarray]:
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
            value = read_surface(value, coordinates=coordinates)[0]
        elif isinstance(value, tuple):
            value = value[0]
        out[hemi] = as_vertices(value, f"{name}[{hemi!r}]")
    return out


def _column_hemis(mesh: xr.Dataset, native: dict[str, np.ndarray]) -> np.ndarray:
    """Hemisphere of every mesh column (the only sphere's, without a ``hemi`` coordinate)."""
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
    return hemis


def _column_spheres(
    mesh: xr.Dataset, native: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Native sphere position and hemisphere of every mesh column."""
    hemis = _column_hemis(mesh, native)
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


METHODS = ("lameg", "sphere")


def _layer_positions(mesh: xr.Dataset, layer: str) -> np.ndarray:
    """Column positions (n_columns, 3) on ``layer``."""
    layers = [str(name) for name in mesh["layer"].values]
    check_option("layer", layer, layers)
    return mesh["vertices"].sel(layer=layer).values


def _full_surfaces(
    native_surface: Any, native: dict[str, np.ndarray], mesh: xr.Dataset, layer: str
) -> dict[str, np.ndarray]:
    """Full-resolution layer surfaces per hemisphere, one vertex per sphere vertex.

    Without ``native_surface``, a full-resolution mesh (no ``original_vertex``)
    is its own full-resolution surface.
    """
    if native_surface is None:
        if "original_vertex" in mesh.coords:
            raise LaminarrayError(
                "method='lameg' on a downsampled mesh needs `native_surface`: the subject's "
                "full-resolution surfaces of the layer per hemisphere ({'lh': 'lh.pial', "
                "'rh': 'rh.pial'}), in the mesh's space; or use method='sphere'"
            )
        positions, hemis = _layer_positions(mesh, layer), _column_hemis(mesh, native)
        surfaces = {h: positions[hemis == h] for h in HEMIS if np.any(hemis == h)}
    else:
        surfaces = _sphere_positions(native_surface, "native_surface", "scanner")
    sizes = {h: (len(pos), len(native.get(h, ()))) for h, pos in surfaces.items()}
    mismatched = {h: size for h, size in sizes.items() if size[0] != size[1]}
    if mismatched:
        raise LaminarrayError(
            "the full-resolution surfaces and `native_sphere` must have the same vertices "
            f"(pass `native_surface`); (surface, sphere) vertex counts: {mismatched}"
        )
    return surfaces


def _lameg_hemispheres(
    positions: np.ndarray, surfaces: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest full-resolution vertex of each position, in the closer hemisphere (ties: rh)."""
    hemis = [h for h in HEMIS if h in surfaces]
    found = [cKDTree(surfaces[h]).query(positions) for h in hemis]
    if len(hemis) == 1:
        return np.full(len(positions), hemis[0]), found[0][1]
    (d_lh, i_lh), (d_rh, i_rh) = found
    left = d_lh < d_rh
    return np.where(left, "lh", "rh"), np.where(left, i_lh, i_rh)


def native_to_fsaverage(
    mesh: xr.Dataset,
    native_sphere: Any,
    fsaverage_sphere: Any,
    *,
    native_surface: Any = None,
    layer: str = "pial",
    method: str = "lameg",
) -> xr.DataArray:
    """fsaverage vertex corresponding to each column of a subject's mesh.

    Parameters
    ----------
    mesh : xarray.Dataset
        The subject's mesh (full resolution, or downsampled with an
        ``original_vertex`` coordinate into the full-resolution surfaces);
        ``hemi`` coordinate for two hemispheres (``method="sphere"``).
    native_sphere : dict {"lh": ..., "rh": ...}
        The subject's registered spheres (``?h.sphere.reg`` path, array or
        ``(vertices, faces)``), full resolution, in the vertex order of the
        surfaces the mesh was built from.
    fsaverage_sphere : dict or "fsaverage5"
        fsaverage's spheres per hemisphere (e.g. ``$SUBJECTS_DIR/fsaverage/
        surf/?h.sphere.reg``), or ``"fsaverage5"`` for nilearn's fsaverage5.
    native_surface : dict {"lh": ..., "rh": ...}, optional
        ``method="lameg"``: the subject's full-resolution surfaces of
        ``layer`` (same vertices as ``native_sphere``, medial wall included,
        in the mesh's coordinate space: laMEG's ``converted`` surfaces).
        Paths are read in scanner RAS when their volume geometry is known
        (as :func:`read_surface`). Default: a full-resolution mesh (no
        ``original_vertex``) is its own full-resolution surface; a
        downsampled mesh needs it.
    layer : str
        Layer whose column positions are matched (default ``"pial"``).
    method : {"lameg", "sphere"}
        ``"lameg"``: laMEG's ``convert_native_to_fsaverage`` — each column's
        position on ``layer`` goes to the nearest vertex of the lh and of the
        rh full-resolution surface; the closer one (ties: rh) gives the
        hemisphere and the sphere position. ``"sphere"``: each column's own
        full-resolution vertex (``original_vertex``) and its ``hemi``.

    Returns
    -------
    xarray.DataArray of int64, dims ``(vertex,)``
        Named ``fsaverage_vertex``: index (0-based) of a vertex of the
        fsaverage sphere of the hemisphere given by the coordinate ``hemi``
        (laMEG's returned index and hemisphere lists).
    """
    mesh = validate_mesh(mesh)
    check_option("method", method, METHODS)
    native = _sphere_positions(native_sphere, "native_sphere")
    target = _sphere_positions(fsaverage_sphere, "fsaverage_sphere")
    if method == "lameg":
        surfaces = _full_surfaces(native_surface, native, mesh, layer)
        hemis, nearest = _lameg_hemispheres(_layer_positions(mesh, layer), surfaces)
        positions = np.zeros((len(hemis), 3))
        for hemi in np.unique(hemis):
            positions[hemis == hemi] = native[hemi][nearest[hemis == hemi]]
    else:
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
        attrs={
            "long_name": "corresponding fsaverage vertex (index in the hemisphere's sphere)",
            "method": method,
        },
    )


def fsaverage_to_native(
    mesh: xr.Dataset,
    native_sphere: Any,
    fsaverage_sphere: Any,
    *,
    native_surface: Any = None,
    layer: str = "pial",
    method: str = "lameg",
) -> xr.DataArray:
    """Mesh column corresponding to each fsaverage vertex.

    Parameters
    ----------
    mesh, native_sphere, fsaverage_sphere, native_surface, layer
        As in :func:`native_to_fsaverage`.
    method : {"lameg", "sphere"}
        ``"lameg"``: laMEG's ``convert_fsaverage_to_native`` — the fsaverage
        vertex's nearest subject sphere vertex (same hemisphere), that
        vertex's position on the full-resolution ``native_surface``, and the
        column nearest to it in space on ``layer`` (of either hemisphere).
        ``"sphere"``: the column nearest on the sphere among the columns of
        the same hemisphere (through their ``original_vertex``).

    Returns
    -------
    xarray.DataArray of int64, dims ``(hemi, fsaverage_vertex)``
        Named ``vertex``: the mesh's ``vertex`` label of the corresponding
        column (for laminarray's downsampled meshes and laMEG's ``ds``
        meshes, the 0-based column index over both hemispheres: laMEG's
        returned index). The coordinate ``column`` gives the 0-based
        position of that column in ``mesh`` (for ``isel``).
    """
    mesh = validate_mesh(mesh)
    check_option("method", method, METHODS)
    native = _sphere_positions(native_sphere, "native_sphere")
    target = _sphere_positions(fsaverage_sphere, "fsaverage_sphere")
    if method == "lameg":
        surfaces = _full_surfaces(native_surface, native, mesh, layer)
        columns_tree = cKDTree(_layer_positions(mesh, layer))
        present = [h for h in HEMIS if h in target and h in surfaces]
    else:
        positions, hemis = _column_spheres(mesh, native)
        present = [h for h in HEMIS if h in target and np.any(hemis == h)]
    sizes = {len(target[h]) for h in present}
    if len(sizes) != 1:
        raise LaminarrayError(f"fsaverage spheres must have equal sizes, got {sorted(sizes)}")
    rows = []
    for hemi in present:
        if method == "lameg":
            nearest = sphere_nearest(target[hemi], native[hemi])
            rows.append(columns_tree.query(surfaces[hemi][nearest])[1])
        else:
            own = np.flatnonzero(hemis == hemi)
            rows.append(own[sphere_nearest(target[hemi], positions[own])])
    columns = np.stack(rows).astype(np.int64)
    return xr.DataArray(
        mesh["vertex"].values[columns],
        dims=("hemi", "fsaverage_vertex"),
        coords={"hemi": present, "column": (("hemi", "fsaverage_vertex"), columns)},
        name="vertex",
        attrs={
            "long_name": "mesh column (vertex label) corresponding to each fsaverage vertex",
            "method": method,
        },
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
