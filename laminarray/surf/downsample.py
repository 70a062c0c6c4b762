"""Downsampling a multilayer mesh with laminar correspondence, and interpolation back.

One reference surface (pial by default) is decimated with a quadric edge
collapser (``fast-simplification``); every surviving vertex is an original
vertex, and the decimator's (moved) positions are snapped back to it, so the
coarse mesh is a vertex *subset* of the fine one. The same subset and the
same triangles are then used on every layer, which keeps the column
correspondence (design note lameg §4.3). Faces on non-manifold edges are dropped, as
laMEG does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import LaminarrayError, check_option, check_positive, import_optional
from ..schema import validate_mesh
from ._correspondence import rows_in
from .topology import _adjacency

__all__ = ["downsample_mesh", "interpolate"]


def _decimate(
    pos: np.ndarray, faces: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex subset and triangles of a decimated surface.

    Returns
    -------
    keep : ndarray of int64, shape (n_kept,)
        Original indices of the kept vertices, ascending.
    faces : ndarray of int32, shape (n_faces, 3)
        Triangles indexing ``keep``.
    """
    fast_simplification = import_optional("fast_simplification", "decimate", "downsampling a mesh")
    _, tri, collapses = fast_simplification.simplify(
        pos, faces, target_reduction=1.0 - fraction, return_collapses=True
    )
    keep = (
        np.setdiff1d(np.arange(len(pos)), collapses[:, 1])
        if len(collapses)
        else np.arange(len(pos))
    )
    if tri.size and tri.max() >= keep.size:
        raise LaminarrayError("the decimator returned triangles outside its vertex set")
    return keep, _drop_nonmanifold(tri.astype(np.int32))


def _drop_nonmanifold(tri: np.ndarray) -> np.ndarray:
    """Remove every face that has an edge shared by more than two faces."""
    pairs = np.sort(np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], axis=1), axis=2)
    _, inverse, counts = np.unique(
        pairs.reshape(-1, 2), axis=0, return_inverse=True, return_counts=True
    )
    bad = (counts[inverse.reshape(-1)] > 2).reshape(-1, 3).any(axis=1)
    return tri[~bad]


def downsample_mesh(
    mesh: xr.Dataset, ds_factor: float = 0.1, *, reference: str = "pial"
) -> xr.Dataset:
    """Reduce a multilayer mesh to a fraction of its columns, keeping laminar correspondence.

    Parameters
    ----------
    mesh : xarray.Dataset
        High-resolution mesh dataset.
    ds_factor : float
        Fraction of faces (about the fraction of vertices) to keep, in (0, 1].
    reference : str
        Layer whose surface is decimated (default ``"pial"``, as laMEG).

    Returns
    -------
    xarray.Dataset
        The coarse mesh: the kept columns on every layer (exact original
        positions), the decimated triangles, ``thickness`` and
        ``orientation`` of the kept vertices, and a coordinate
        ``original_vertex (vertex)`` giving each column's index in ``mesh``
        (fine -> coarse: ``fine.isel(vertex=coarse.original_vertex)``; coarse
        -> fine: :func:`interpolate`). attrs ``ds_factor`` and
        ``n_original_vertices``.
    """
    mesh = validate_mesh(mesh)
    fraction = check_positive("ds_factor", ds_factor)
    if fraction > 1:
        raise LaminarrayError(f"`ds_factor` must be in (0, 1], got {ds_factor}")
    layers = [str(name) for name in mesh["layer"].values]
    check_option("reference", reference, layers)
    pos = mesh["vertices"].sel(layer=reference).values
    keep, faces = _decimate(pos, mesh["faces"].values, fraction)
    coarse = mesh.drop_vars("faces").isel(vertex=keep)
    original = mesh["original_vertex"].values[keep] if "original_vertex" in mesh.coords else keep
    coarse = coarse.assign(faces=(("face", "corner"), faces, mesh["faces"].attrs))
    coarse = coarse.assign_coords(
        vertex=np.arange(keep.size),
        original_vertex=("vertex", original, {"long_name": "vertex index in the original mesh"}),
    )
    coarse.attrs.update(
        ds_factor=fraction,
        n_original_vertices=int(mesh.attrs.get("n_original_vertices", mesh.sizes["vertex"])),
    )
    return validate_mesh(coarse)


def _interpolation_matrix(source: np.ndarray, target: np.ndarray, k: int) -> sp.csr_array:
    """Inverse-distance weights of the ``k`` nearest ``source`` points of each target."""
    k = min(k, len(source))
    dist, index = cKDTree(source).query(target, k=k)
    dist, index = dist.reshape(len(target), k), index.reshape(len(target), k)
    weights = 1.0 / np.maximum(dist, 1e-6)
    weights /= weights.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(len(target)), k)
    return sp.csr_array((weights.ravel(), (rows, index.ravel())), shape=(len(target), len(source)))


def _neighbour_average(pos: np.ndarray, faces: np.ndarray, rows: np.ndarray) -> sp.csr_array:
    """Operator replacing ``rows`` by the 1/distance-weighted mean of their mesh neighbours."""
    n = len(pos)
    adj = _adjacency(faces, n).tocoo()
    inv_dist = 1.0 / np.maximum(np.linalg.norm(pos[adj.row] - pos[adj.col], axis=1), 1e-6)
    weights = sp.csr_array((inv_dist, (adj.row, adj.col)), shape=(n, n))
    sums = weights.sum(axis=1)
    selected = np.zeros(n, bool)
    selected[rows] = True
    selected &= sums > 0
    scale = np.where(selected, 1.0 / np.where(sums > 0, sums, 1.0), 0.0)
    return sp.diags_array(scale) @ weights + sp.diags_array((~selected).astype(float))


def interpolate(
    data: xr.DataArray,
    coarse: xr.Dataset,
    fine: xr.Dataset,
    *,
    k_neighbors: int = 5,
    smooth: bool = True,
    layer: str = "pial",
) -> xr.DataArray:
    """Interpolate data on a downsampled mesh back to the full-resolution mesh.

    Each fine vertex takes the inverse-distance-weighted mean of its
    ``k_neighbors`` nearest coarse vertices (Euclidean, on ``layer``;
    ``w ∝ 1/d`` with d = 0 replaced by 1e-6). With ``smooth``, the fine
    vertices that were kept in the coarse mesh are then replaced by the
    1/distance-weighted mean of their mesh neighbours (one pass on the
    interpolated values), which removes the spikes exact IDW leaves there.
    laMEG's sequential "refinement" pass, which mixes index spaces, is not
    reproduced (design note lameg §4.11).

    Parameters
    ----------
    data : xarray.DataArray
        Any dims including ``vertex`` (the coarse columns); numpy or dask.
    coarse, fine : xarray.Dataset
        The downsampled mesh and the mesh it came from.
    k_neighbors : int
    smooth : bool
    layer : str
        Layer whose positions define the distances.

    Returns
    -------
    xarray.DataArray
        ``data`` with ``vertex`` replaced by the fine mesh's vertices
        (lazy for dask input; ``vertex`` must be one chunk).
    """
    coarse, fine = validate_mesh(coarse), validate_mesh(fine)
    if "vertex" not in data.dims or data.sizes["vertex"] != coarse.sizes["vertex"]:
        raise LaminarrayError(
            f"`data` must have a `vertex` dim of the coarse mesh's size "
            f"{coarse.sizes['vertex']}; got dims {dict(data.sizes)}"
        )
    if not isinstance(k_neighbors, int | np.integer) or k_neighbors < 1:
        raise LaminarrayError(f"`k_neighbors` must be a positive integer, got {k_neighbors!r}")
    check_option("layer", layer, [str(name) for name in coarse["layer"].values])
    src = coarse["vertices"].sel(layer=layer).values
    dst = fine["vertices"].sel(layer=layer).values
    operator = _interpolation_matrix(src, dst, int(k_neighbors))
    if smooth:
        if "original_vertex" in coarse.coords:
            kept = rows_in(fine, coarse)
        else:
            kept = np.flatnonzero(cKDTree(src).query(dst)[0] < 1e-6)
        operator = _neighbour_average(dst, fine["faces"].values, kept) @ operator
    operator = operator.tocsr()
    out = xr.apply_ufunc(
        lambda block: _apply_vertex_operator(operator, block),
        data.drop_vars([c for c in data.coords if "vertex" in data[c].dims]),
        input_core_dims=[["vertex"]],
        output_core_dims=[["vertex"]],
        exclude_dims={"vertex"},
        dask="parallelized",
        output_dtypes=[np.result_type(data.dtype, np.float64)],
        dask_gufunc_kwargs={"output_sizes": {"vertex": operator.shape[0]}},
        keep_attrs=True,
    )
    coords = {"vertex": fine["vertex"].values}
    if "hemi" in fine.coords:
        coords["hemi"] = ("vertex", fine["hemi"].values)
    return out.assign_coords(coords).transpose(*data.dims)


def _apply_vertex_operator(operator: sp.csr_array, block: np.ndarray) -> np.ndarray:
    """``operator`` applied along the last axis of ``block``."""
    flat = block.reshape(-1, block.shape[-1])
    return np.asarray((operator @ flat.T).T).reshape(*block.shape[:-1], operator.shape[0])
