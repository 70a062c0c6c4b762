"""Cortical laminae: from reconstructed depth layers to the six laminae I–VI.

A multilayer mesh samples each cortical column at ``n_layers`` relative
depths ``d`` (0 = pial, 1 = white). Cytoarchitectonic laminae I..VI occupy
depth intervals of the column given by proportional *boundaries*: the
cumulative thickness fraction, measured from the pial side, at the bottom of
each lamina (BigBrain-style maps, lameg.md §1.5 and §2.4). This module

- turns per-lamina thickness maps into boundaries (:func:`calc_prop`),
- reads the BigBrain proportional thickness maps on fsaverage from GIFTI
  files (:func:`read_bigbrain_boundaries`) and maps them to a subject
  (:func:`bigbrain_boundaries`),
- builds averaging weights ``(vertex, lamina, layer)`` (:func:`laminar_weights`):
  the weighted sum of a layer profile equals the mean of its piecewise-linear
  interpolation in depth over each lamina, integrated exactly,
- applies them to any labelled ``(layer, vertex, ...)`` array, lazily
  (:func:`to_laminae`).

laminarray bundles no atlas data: the maps are read from a directory the user
gives, or from an installed ``lameg`` package's assets.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe, validate_type
from ..schema import validate_mesh
from ..schema._vocabulary import as_str

__all__ = [
    "LAMINAE",
    "bigbrain_boundaries",
    "calc_prop",
    "laminar_weights",
    "read_bigbrain_boundaries",
    "to_laminae",
]

LAMINAE = ("I", "II", "III", "IV", "V", "VI")
"""Names of the six cortical laminae, superficial to deep (coordinate ``lamina``)."""

N_FSAVERAGE = 163842
"""Vertices per hemisphere of fsaverage (ico7); coarser fsaverageN are its first vertices."""

_EDGE_TOL = 1e-8
_BIGBRAIN_FILE = "tpl-fsaverage_hemi-{hemi}_den-164k_desc-layer{k}_thickness.shape.gii"
_LAMEG_ASSETS = ("assets", "big_brain_layer_thickness")


# --------------------------------------------------------------------------- boundaries


def calc_prop(thickness: Any, axis: int = 0) -> np.ndarray:
    """Cumulative proportion of thickness along ``axis`` (laMEG's ``calc_prop``).

    Parameters
    ----------
    thickness : array
        Non-negative thicknesses, laminae along ``axis`` (superficial first).
    axis : int
        Axis holding the laminae.

    Returns
    -------
    ndarray, same shape, float64
        ``cumsum / sum`` along ``axis``; where the sum is 0 (e.g. the medial
        wall, where every lamina has zero thickness) the input is returned
        unchanged. ``[1, 2, 3] -> [1/6, 1/2, 1]``.
    """
    values = np.asarray(thickness, dtype=np.float64)
    total = values.sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = np.cumsum(values, axis=axis) / total
    return np.where(total == 0, values, prop)


def _bigbrain_dir(path: str | Path | None) -> Path:
    """Directory holding the BigBrain thickness GIFTIs: ``path`` or lameg's assets."""
    if path is not None:
        directory = Path(path)
        if not directory.is_dir():
            raise LaminarrayError(
                f"`path` must be a directory holding the BigBrain layer-thickness GIFTI files "
                f"({_BIGBRAIN_FILE.format(hemi='L', k=1)}, ...); {str(directory)!r} is not a "
                "directory"
            )
        return directory
    spec = importlib.util.find_spec("lameg")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            directory = Path(root).joinpath(*_LAMEG_ASSETS)
            if directory.is_dir():
                return directory
    raise LaminarrayError(
        "BigBrain layer-thickness maps not found: laminarray bundles no atlas data. "
        "Either pass `path=` a directory holding the fsaverage GIFTI files "
        f"{_BIGBRAIN_FILE.format(hemi='{L,R}', k='{1..6}')} (BigBrainWarp, Paquola et al.), "
        "or install the `lameg` package, whose assets/big_brain_layer_thickness/ holds them"
    )


def read_bigbrain_boundaries(path: str | Path | None = None) -> xr.DataArray:
    """Read the BigBrain proportional laminar boundaries on fsaverage.

    Parameters
    ----------
    path : str or Path, optional
        Directory holding the 12 files
        ``tpl-fsaverage_hemi-{L,R}_den-164k_desc-layer{1..6}_thickness.shape.gii``
        (one float map of lamina thickness in mm per file, 163842 vertices).
        Default: the assets of an installed ``lameg`` package.

    Returns
    -------
    xarray.DataArray, dims ``(hemi, lamina, fsaverage_vertex)``, float64
        Cumulative thickness fraction from the pial side at the bottom of each
        lamina (:func:`calc_prop` of the six maps): the last lamina is 1, or
        every value 0 where the atlas has no thickness (medial wall).

    Raises
    ------
    LaminarrayError
        If neither ``path`` nor an installed ``lameg`` provides the files, or
        a file is missing or of the wrong length.
    """
    import nibabel as nib

    directory = _bigbrain_dir(path)
    maps = np.empty((2, len(LAMINAE), N_FSAVERAGE))
    for h, hemi in enumerate("LR"):
        for k in range(len(LAMINAE)):
            fname = directory / _BIGBRAIN_FILE.format(hemi=hemi, k=k + 1)
            if not fname.is_file():
                raise LaminarrayError(f"BigBrain thickness map missing: {str(fname)!r}")
            values = np.asarray(nib.load(fname).darrays[0].data, dtype=np.float64).ravel()
            if values.shape != (N_FSAVERAGE,):
                raise LaminarrayError(
                    f"BigBrain thickness map {str(fname)!r} must hold {N_FSAVERAGE} fsaverage "
                    f"vertices; found {values.size}"
                )
            maps[h, k] = values
    return xr.DataArray(
        calc_prop(maps, axis=1),
        dims=("hemi", "lamina", "fsaverage_vertex"),
        coords={"hemi": ["lh", "rh"], "lamina": list(LAMINAE)},
        name="boundaries",
        attrs={
            "units": "1",
            "long_name": "relative depth of the bottom of each lamina (0 = pial, 1 = white)",
            "source": str(directory),
        },
    )


def bigbrain_boundaries(
    mesh: xr.Dataset, fsaverage_vertex: Any, path: str | Path | None = None
) -> xr.DataArray:
    """BigBrain laminar boundaries of each column of a subject mesh.

    Parameters
    ----------
    mesh : xarray.Dataset
        The subject's multilayer mesh.
    fsaverage_vertex : xarray.DataArray or array of int, shape (n_vertices,)
        For each mesh column, the corresponding fsaverage vertex of its
        hemisphere: the output of :func:`laminarray.surf.native_to_fsaverage`
        (laMEG's mapping through the registered spheres, lameg.md §4.10), or plain
        indices together with the mesh's ``hemi`` coordinate. Indices into a
        coarser fsaverage (``fsaverage_sphere="fsaverage5"``: < 10242) index
        the 164k maps directly, since icosahedral vertices nest.
    path : str or Path, optional
        Directory of the BigBrain GIFTI maps (see :func:`read_bigbrain_boundaries`).

    Returns
    -------
    xarray.DataArray, dims ``(lamina, vertex)``
        Input for :func:`laminar_weights`, with the ``hemi`` coordinate.

    Examples
    --------
    >>> index = surf.native_to_fsaverage(mesh, {"lh": "lh.sphere.reg", "rh": "rh.sphere.reg"},
    ...                                  "fsaverage5", native_surface={"lh": "lh.pial",
    ...                                                                "rh": "rh.pial"})
    >>> weights = surf.laminar_weights(mesh, surf.bigbrain_boundaries(mesh, index, path=maps))
    """
    from .fsaverage import sample_fsaverage

    mesh = validate_mesh(validate_type(mesh, xr.Dataset, "mesh"))
    index = _correspondence(mesh, fsaverage_vertex)
    atlas = read_bigbrain_boundaries(path)
    per_hemi = {hemi: atlas.sel(hemi=hemi, drop=True) for hemi in ("lh", "rh")}
    bounds = sample_fsaverage(per_hemi, index).transpose("lamina", "vertex")
    return bounds.rename("boundaries").assign_attrs(atlas.attrs)


def _correspondence(mesh: xr.Dataset, fsaverage_vertex: Any) -> xr.DataArray:
    """The native -> fsaverage index as a ``(vertex,)`` DataArray with ``hemi``, checked."""
    n_vertices = mesh.sizes["vertex"]
    labelled = isinstance(fsaverage_vertex, xr.DataArray) and "hemi" in fsaverage_vertex.coords
    values = np.asarray(fsaverage_vertex)
    if values.shape != (n_vertices,) or (labelled and fsaverage_vertex.dims != ("vertex",)):
        raise LaminarrayError(
            f"`fsaverage_vertex` must hold one index per mesh vertex ({n_vertices}); "
            f"got {describe(fsaverage_vertex)}"
        )
    if not np.issubdtype(values.dtype, np.integer) or (
        values.size and (values.min() < 0 or values.max() >= N_FSAVERAGE)
    ):
        raise LaminarrayError(
            f"`fsaverage_vertex` must be integer indices in 0..{N_FSAVERAGE - 1}; got dtype "
            f"{values.dtype}, range {values.min()}..{values.max()}"
        )
    if labelled:
        return fsaverage_vertex
    if "hemi" not in mesh.coords:
        raise LaminarrayError(
            "`fsaverage_vertex` as plain indices needs the mesh's `hemi (vertex)` "
            "coordinate; pass the output of laminarray.surf.native_to_fsaverage instead"
        )
    return xr.DataArray(
        values,
        dims="vertex",
        coords={"vertex": mesh["vertex"].values, "hemi": ("vertex", mesh["hemi"].values)},
    )


# --------------------------------------------------------------------------- weights


def _hat_antiderivative(points: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """∫ from depth[0] to x of each piecewise-linear hat function, for every x.

    Parameters
    ----------
    points : ndarray, shape (..., m)
        Depths ``x`` within ``[depth[0], depth[-1]]``.
    depth : ndarray, shape (n,)
        Strictly increasing sample depths (the hats' nodes).

    Returns
    -------
    ndarray, shape (..., m, n)
    """
    left, width = depth[:-1], np.diff(depth)
    # Part of each interval j = [d_j, d_j+1] below x; the hat of node j+1 rises
    # over it (area s^2 / 2h), the hat of node j falls (area s - s^2 / 2h).
    s = np.clip(points[..., None], left, depth[1:]) - left
    rising = s * s / (2.0 * width)
    out = np.zeros((*points.shape, depth.size))
    out[..., 1:] += rising
    out[..., :-1] += s - rising
    return out


def _laminar_weights(edges: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Exact lamina-mean weights of a piecewise-linear profile (kernel; trusts inputs).

    Parameters
    ----------
    edges : ndarray, shape (n_columns, n_laminae + 1)
        Strictly increasing lamina edges within ``[depth[0], depth[-1]]``.
    depth : ndarray, shape (n_layers,)

    Returns
    -------
    ndarray, shape (n_columns, n_laminae, n_layers)
        Rows sum to 1.
    """
    integral = np.diff(_hat_antiderivative(edges, depth), axis=1)
    return integral / np.diff(edges, axis=1)[..., None]


def _column_edges(bounds: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``[0, b_1..b_6]`` clipped to the sampled depths, and which columns are valid."""
    edges = np.concatenate([np.zeros((bounds.shape[0], 1)), bounds], axis=1)
    lo, hi = depth[0], depth[-1]
    with np.errstate(invalid="ignore"):
        inside = np.all(np.isfinite(edges), axis=1) & np.all(
            (edges >= lo - _EDGE_TOL) & (edges <= hi + _EDGE_TOL), axis=1
        )
        edges = np.clip(edges, lo, hi)
        valid = inside & np.all(np.diff(edges, axis=1) > 0, axis=1)
    edges[~valid] = np.nan
    return edges, valid


def _as_boundaries(boundaries: Any, vertex: np.ndarray) -> np.ndarray:
    """Boundaries as ``(n_vertices, n_laminae)`` float64 matched to the mesh's vertices."""
    n_laminae, n_vertices = len(LAMINAE), vertex.size
    if isinstance(boundaries, xr.DataArray):
        if set(boundaries.dims) != {"lamina", "vertex"}:
            raise LaminarrayError(
                f"`boundaries` must have dims ('lamina', 'vertex'); got {describe(boundaries)}"
            )
        if "vertex" in boundaries.coords:
            missing = np.setdiff1d(vertex, boundaries["vertex"].values)
            if missing.size:
                raise LaminarrayError(
                    f"`boundaries` lack {missing.size} mesh vertices, e.g. {missing[:5].tolist()}"
                )
            boundaries = boundaries.sel(vertex=vertex)
        values = boundaries.transpose("vertex", "lamina").values
    else:
        values = np.asarray(boundaries, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != n_laminae:
            raise LaminarrayError(
                f"`boundaries` must have shape ({n_laminae}, n_vertices); got {describe(values)}"
            )
        values = values.T
    if values.shape != (n_vertices, n_laminae):
        raise LaminarrayError(
            f"`boundaries` must hold {n_laminae} laminae x {n_vertices} mesh vertices; "
            f"got {describe(boundaries)}"
        )
    return np.asarray(values, dtype=np.float64)


def laminar_weights(mesh: xr.Dataset, boundaries: Any) -> xr.DataArray:
    """Weights averaging a layer profile over each cortical lamina, per column.

    The profile of a column is taken as piecewise linear in depth between the
    mesh's layers; ``weights[v, k, :] @ profile`` is its mean over lamina
    ``k`` of column ``v``, i.e. ``∫ profile / (e_k+1 - e_k)`` over the lamina's
    depth interval, integrated exactly (lameg.md §1.5).

    Parameters
    ----------
    mesh : xarray.Dataset
        Multilayer mesh; its ``depth (layer)`` coordinate (0 = pial, 1 = white,
        at least two layers, strictly increasing) gives the sample depths.
    boundaries : xarray.DataArray ``(lamina, vertex)`` or array, shape (6, n_vertices)
        Relative depth (0 = pial, 1 = white) of the bottom of laminae I..VI in
        each column, e.g. from :func:`bigbrain_boundaries`. The top of lamina I
        is depth 0.

    Returns
    -------
    xarray.DataArray, dims ``(vertex, lamina, layer)``, float64
        Named ``"laminar_weights"``, with coords ``lamina`` (``"I"``..``"VI"``),
        the mesh's ``layer``/``depth``/``vertex`` (and ``hemi``), ``top`` and
        ``bottom (vertex, lamina)`` (the lamina edges used, after clipping to
        the sampled depths) and ``valid (vertex)``. Each valid row sums to 1.
        Columns whose edges are not finite, fall outside the sampled depths or
        do not increase (e.g. the medial wall) are NaN, with a ``RuntimeWarning``.

    Raises
    ------
    LaminarrayError
        Bad depths or boundaries, or no valid column.

    Examples
    --------
    With 11 equidistant layers and ``b = [.08, .14, .34, .41, .64, 1]``,
    lamina I averages the first two layers with weights ``[0.6, 0.4]``.
    """
    mesh = validate_mesh(validate_type(mesh, xr.Dataset, "mesh"))
    depth = np.asarray(mesh["depth"].values, dtype=np.float64)
    if depth.size < 2 or not np.all(np.isfinite(depth)) or np.any(np.diff(depth) <= 0):
        raise LaminarrayError(
            "the mesh `depth` coordinate must hold at least two strictly increasing finite "
            f"depths; got {depth.tolist()}"
        )
    bounds = _as_boundaries(boundaries, np.asarray(mesh["vertex"].values))
    edges, valid = _column_edges(bounds, depth)
    if not valid.any():
        raise LaminarrayError(
            f"`boundaries` give no valid column: edges must be finite, within the mesh depths "
            f"[{depth[0]}, {depth[-1]}] and strictly increasing"
        )
    if not valid.all():
        warnings.warn(
            f"{int((~valid).sum())} of {valid.size} columns have invalid laminar boundaries "
            "(non-finite, outside the sampled depths or not increasing, e.g. the medial wall); "
            "their weights are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    weights = np.full((valid.size, len(LAMINAE), depth.size), np.nan)
    weights[valid] = _laminar_weights(edges[valid], depth)
    coords: dict[str, Any] = {
        "lamina": list(LAMINAE),
        "top": (("vertex", "lamina"), edges[:, :-1], {"long_name": "depth of lamina top"}),
        "bottom": (("vertex", "lamina"), edges[:, 1:], {"long_name": "depth of lamina bottom"}),
        "valid": ("vertex", valid),
    }
    coords.update(
        {name: mesh[name] for name in ("layer", "depth", "vertex", "hemi") if name in mesh.coords}
    )
    return xr.DataArray(
        weights,
        dims=("vertex", "lamina", "layer"),
        coords=coords,
        name="laminar_weights",
        attrs={
            "units": "1",
            "long_name": "weights of the lamina mean of a piecewise-linear depth profile",
        },
    )


def to_laminae(data: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Average any labelled ``(layer, vertex, ...)`` array over cortical laminae.

    ``out[k, v, ...] = Σ_l weights[v, k, l] · data[l, v, ...]``: the mean over
    lamina ``k`` of column ``v``'s piecewise-linear depth profile.

    Parameters
    ----------
    data : xarray.DataArray
        Dims ``layer`` and ``vertex`` plus any others (``time``, ``trial``,
        ...), in any order; numpy or dask backed. Its vertices must be among
        the weights' vertices (an ROI subset is fine) and its layers equal to
        the weights' layers.
    weights : xarray.DataArray
        From :func:`laminar_weights`: ``(vertex, lamina, layer)``, or a single
        column's ``(lamina, layer)`` applied to every vertex.

    Returns
    -------
    xarray.DataArray
        Dims ``(lamina, vertex, ...)`` (other dims in their input order), same
        name, units and non-layer coords as ``data``. Lazy when ``data`` is
        dask-backed; invalid columns are NaN.
    """
    validate_type(data, xr.DataArray, "data")
    validate_type(weights, xr.DataArray, "weights")
    for dim in ("layer", "vertex"):
        if dim not in data.dims:
            raise LaminarrayError(f"`data` must have a `{dim}` dim; got {describe(data)}")
    if set(weights.dims) not in ({"vertex", "lamina", "layer"}, {"lamina", "layer"}):
        raise LaminarrayError(
            "`weights` must have dims ('vertex', 'lamina', 'layer') or ('lamina', 'layer'); "
            f"got {describe(weights)}"
        )
    data_layers = as_str(data["layer"].values)
    weight_layers = as_str(weights["layer"].values)
    if data_layers.tolist() != weight_layers.tolist():
        raise LaminarrayError(
            f"`data` layers {data_layers.tolist()} must equal the weights' layers "
            f"{weight_layers.tolist()} (all layers enter the depth integral)"
        )
    if "vertex" in weights.dims:
        wanted = np.asarray(data["vertex"].values)
        missing = np.setdiff1d(wanted, weights["vertex"].values)
        if missing.size:
            raise LaminarrayError(
                f"`data` has {missing.size} vertices without weights, e.g. {missing[:5].tolist()}"
            )
        weights = weights.sel(vertex=wanted)
    rest = [d for d in data.dims if d not in ("layer", "vertex")]
    data = data.transpose("layer", "vertex", *rest)
    dtype = np.result_type(data.dtype, np.float32)
    per_vertex = "vertex" in weights.dims
    matrix = weights.transpose(*(("vertex",) if per_vertex else ()), "lamina", "layer")
    matrix = np.asarray(matrix.values, dtype=dtype)
    array = data.data
    if isinstance(array, da.Array):
        index = "".join(chr(ord("a") + i) for i in range(len(rest)))
        w_index = "vkl" if per_vertex else "kl"
        w_chunks = (array.chunks[1], -1, -1) if per_vertex else (-1, -1)
        result = da.blockwise(
            _lamina_kernel,
            "kv" + index,
            da.from_array(matrix, chunks=w_chunks),
            w_index,
            array,
            "lv" + index,
            dtype=dtype,
            concatenate=True,
        )
    else:
        result = _lamina_kernel(matrix, np.asarray(array))
    coords = {name: coord for name, coord in data.coords.items() if "layer" not in coord.dims}
    attrs = {**data.attrs}
    if "long_name" in attrs:
        attrs["long_name"] = f"{attrs['long_name']}, lamina mean"
    return xr.DataArray(
        result,
        dims=("lamina", "vertex", *rest),
        coords={**coords, "lamina": list(weights["lamina"].values)},
        name=data.name,
        attrs=attrs,
    )


def _lamina_kernel(weights: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``out[k, v, ...] = Σ_l W[(v,) k, l] · block[l, v, ...]`` (numpy kernel, BLAS matmul)."""
    block = block.astype(weights.dtype, copy=False)
    n_layers, n_vertices = block.shape[:2]
    flat = block.reshape(n_layers, n_vertices, int(np.prod(block.shape[2:])))
    if weights.ndim == 2:
        out = (weights @ flat.reshape(n_layers, -1)).reshape(weights.shape[0], *flat.shape[1:])
    else:  # one (lamina, layer) matrix per vertex: a batched matmul over vertices
        out = np.matmul(weights, flat.transpose(1, 0, 2)).transpose(1, 0, 2)
    return out.reshape(out.shape[0], *block.shape[1:])
