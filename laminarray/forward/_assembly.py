"""Lazy assembly of a gain matrix from a per-dipole field kernel (shared by every head model).

A *kernel* is a callable ``kernel(dipoles, moments) -> gain`` taking dipole
positions ``(n, 3)`` in mm (in the frame of the sensors and head) and unit
moments ``(n, 3)`` (or None for the three Cartesian axes), and returning the
channel-level field ``(n_channels, n[, 3])`` per nAm (the sensor array's
``coil_weight`` matrix already applied to the field at its integration
points, so compensation and gradiometer baselines are part of it). :func:`lazy_gain` maps it over chunks of vertices
(all layers) with :func:`dask.array.map_blocks` and labels the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from scipy import sparse

from .._validation import LaminarrayError
from ..options import task_budget
from ..schema import as_str, gain_dataarray
from .sensors import channel_units

Kernel = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]

#: one dask task's output chunk, as a multiple of the ``task_bytes`` option (8 MiB at
#: the default)
_CHUNK_SCALE = 0.125


def weight_operator(weights: np.ndarray) -> Any:
    """``coil_weight`` as CSR when sparse (separate coils per channel), else dense."""
    if np.count_nonzero(weights) < 0.25 * weights.size:
        return sparse.csr_array(weights)
    return weights


def lazy_gain(
    mesh: xr.Dataset,
    sensors: xr.Dataset,
    kernel: Kernel,
    *,
    orientation: str,
    reduce_rank: bool,
    chunks: int | None,
    dtype: Any,
    attrs: dict[str, Any],
) -> xr.DataArray:
    """Gain ``(channel, layer, vertex[, xyz])`` of ``kernel`` over the mesh, chunked on vertex.

    Parameters
    ----------
    mesh : xarray.Dataset
        Validated multilayer mesh.
    sensors : xarray.Dataset
        Sensor array (channel labels and types).
    kernel : callable
        See the module docstring.
    orientation : {"fixed", "free"}
    reduce_rank : bool
        Remove each dipole's weakest field direction before fixing the
        orientation (see :func:`reduce_rank_block`).
    chunks : int or None
        Vertices per chunk (default ~8 MB of output per chunk).
    dtype : numpy dtype
        Output dtype (the kernels compute in float64).
    attrs : dict
        Attributes of the gain (model and parameters).
    """
    fixed = orientation == "fixed"
    if fixed and "orientation" not in mesh:
        raise LaminarrayError(
            "a fixed-orientation gain needs the mesh's `orientation (layer, vertex, xyz)`; "
            "compute one with laminarray.surf or pass orientation='free'"
        )
    src = mesh["vertices"].transpose("layer", "vertex", "xyz").values.astype(np.float64)
    n_channels = sensors.sizes["channel"]
    n_layers, n_vertices, _ = src.shape
    if chunks is None:
        per_vertex = 8 * n_channels * n_layers * (1 if fixed else 3)
        chunks = max(1, task_budget(_CHUNK_SCALE) // per_vertex)
    chunks = int(min(chunks, n_vertices))
    blocks = [da.from_array(src, chunks=(n_layers, chunks, 3))]
    if fixed:
        moments = mesh["orientation"].transpose("layer", "vertex", "xyz").values
        blocks.append(da.from_array(moments.astype(np.float64), chunks=(n_layers, chunks, 3)))
    lazy = da.map_blocks(
        _block,
        *blocks,
        kernel=kernel,
        n_channels=n_channels,
        reduce_rank=reduce_rank,
        out_dtype=np.dtype(dtype),
        dtype=np.dtype(dtype),
        drop_axis=2 if fixed else None,
        new_axis=0,
        chunks=((n_channels,), (n_layers,), blocks[0].chunks[1]) + (() if fixed else ((3,),)),
        meta=np.empty((0,) * (3 if fixed else 4), dtype=dtype),
    )
    gain = gain_dataarray(
        lazy,
        sensors["channel"].values,
        layers=mesh["layer"].values,
        vertices=mesh["vertex"].values,
        depth=mesh["depth"].values,
        hemi=mesh["hemi"].values if "hemi" in mesh.coords else None,
        ch_types=sensors["ch_type"].values if "ch_type" in sensors.coords else "MEG",
        units=f"{channel_units(sensors)}/nAm",
        attrs={
            **attrs,
            "orientation": orientation,
            "reduce_rank": bool(reduce_rank),
            "sensor_kind": str(sensors.attrs.get("kind", "magnetometer")),
        },
    )
    if channel_units(sensors) == "mixed":
        gain = gain.assign_coords(ch_units=("channel", as_str(sensors["ch_units"].values)))
    for name in ("compensation_grade", "coord_frame"):
        if name in sensors.attrs:
            gain.attrs[f"sensor_{name}"] = sensors.attrs[name]
    return gain.assign_coords(
        {
            f"source_{axis}": (("layer", "vertex"), src[..., i], {"units": "mm"})
            for i, axis in enumerate("xyz")
        }
    )


def _block(
    src: np.ndarray,
    moments: np.ndarray | None = None,
    *,
    kernel: Kernel,
    n_channels: int,
    reduce_rank: bool,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Dask block: (layer, v, 3) dipoles -> (channel, layer, v) or (channel, layer, v, 3)."""
    n_layers, n_v, _ = src.shape
    dip = src.reshape(-1, 3)
    flat_q = None if moments is None else moments.reshape(-1, 3)
    if reduce_rank:
        gain = reduce_rank_block(kernel(dip, None))
        if flat_q is not None:
            gain = np.einsum("cnk,nk->cn", gain, flat_q)
    else:
        gain = kernel(dip, flat_q)
    return gain.astype(out_dtype, copy=False).reshape((n_channels, n_layers, n_v, *gain.shape[2:]))


def reduce_rank_block(gain: np.ndarray) -> np.ndarray:
    """Remove each dipole's weakest field direction: ``L (I - v3 v3^T)``.

    ``gain`` is ``(n_channels, n, 3)``; for each dipole the ``(n_channels, 3)``
    lead field is replaced by its best rank-2 approximation (the direction of
    the smallest singular value, for MEG the quasi-radial one, is dropped), as
    SPM does for MEG before fixing the orientation (FieldTrip's
    ``reducerank = 2``).
    """
    per_dipole = np.moveaxis(gain, 1, 0)  # (n, channel, 3)
    _, _, vt = np.linalg.svd(per_dipole, full_matrices=False)
    weakest = vt[:, 2, :]  # (n, 3)
    along = np.einsum("nck,nk->nc", per_dipole, weakest)
    reduced = per_dipole - along[..., None] * weakest[:, None, :]
    return np.moveaxis(reduced, 0, 1)
