"""Apply an inverse projector to sensor data: a lazy source estimate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .._projection import align_channels, auto_chunk, project_block
from .._validation import LaminarrayError, describe
from ..plausibility import check_amplitude, check_selection
from ..schema import validate_projector, validate_sensor

#: Target bytes of one output block of the source estimate.
BLOCK_BYTES = 64 * 2**20


def apply_inverse(
    inverse: xr.Dataset | xr.DataArray,
    sensor: xr.Dataset,
    vertices: Any = None,
    layers: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Project sensor data to sources, lazily: ``x = projector · Y`` per trial.

    Parameters
    ----------
    inverse : xarray.Dataset or xarray.DataArray
        An inverse dataset (its ``projector``) or a projector
        ``(layer, vertex, channel)`` in source units per sensor unit.
    sensor : xarray.Dataset
        Sensor data ``data (channel, time, trial)`` holding every projector
        channel (others are ignored).
    vertices : array-like, optional
        Vertex labels to reconstruct (default all): selection happens before
        anything is computed.
    layers : str or sequence of str, optional
        Layer names to reconstruct (default all).

    Returns
    -------
    xarray.DataArray
        ``source (layer, vertex, time, trial)``, dask-backed and lazy, chunked
        along ``vertex`` and ``trial`` (each block is one matrix product of a
        projector block and a trial block, ~64 MB); dtype of the sensor data
        (float32 stays float32). Units: the projector's numerator (nAm).
        Unlike laMEG's ``load_source_time_series`` no temporal projector
        ``S·Sᵀ`` is applied: the estimate keeps the full band of the data.

    Examples
    --------
    >>> src = apply_inverse(inv, sensor, layers="pial")  # doctest: +SKIP
    >>> src.sel(time=slice(0.1, 0.2)).mean("trial").compute()  # doctest: +SKIP
    """
    projector = inverse["projector"] if isinstance(inverse, xr.Dataset) else inverse
    projector = validate_projector(projector)
    sensor = validate_sensor(sensor)
    check_amplitude(sensor, lazy_ok=False)
    if layers is not None:
        projector = projector.sel(layer=check_selection(layers, projector["layer"], "layers"))
    if vertices is not None:
        projector = projector.sel(
            vertex=check_selection(vertices, projector["vertex"], "vertices")
        )
    data = align_channels(sensor["data"], projector)
    units = str(projector.attrs["units"]).split("/")
    if len(units) == 2 and units[1] != data.attrs["units"]:
        raise LaminarrayError(
            f"the projector maps {units[1]!r} but the sensor data are in "
            f"{data.attrs['units']!r}; convert the data to {units[1]!r}"
        )
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.dtype(np.float64)
    n_layers, n_vertices, n_channels = projector.shape
    n_times, n_trials = data.sizes["time"], data.sizes["trial"]
    sensor_array = _as_dask(data.data).rechunk({0: -1, 1: -1})
    if not isinstance(data.data, da.Array):
        per_trial = n_channels * n_times * dtype.itemsize
        sensor_array = sensor_array.rechunk({2: auto_chunk(n_trials, per_trial, BLOCK_BYTES / 2)})
    trial_chunk = max(sensor_array.chunks[2])
    per_vertex = n_layers * n_times * trial_chunk * dtype.itemsize
    proj_array = (
        _as_dask(projector.data)
        .astype(dtype)
        .rechunk({0: -1, 1: auto_chunk(n_vertices, per_vertex, BLOCK_BYTES), 2: -1})
    )
    out = da.blockwise(
        project_block,
        "lvtk",
        proj_array,
        "lvc",
        sensor_array,
        "ctk",
        dtype=dtype,
        concatenate=True,
        meta=np.empty((0, 0, 0, 0), dtype=dtype),
    )
    coords = {
        name: coord.variable
        for name, coord in projector.coords.items()
        if set(coord.dims) <= {"layer", "vertex"}
    }
    coords.update(
        {
            name: coord.variable
            for name, coord in data.coords.items()
            if set(coord.dims) <= {"time", "trial"} and coord.dims
        }
    )
    return xr.DataArray(
        out,
        dims=("layer", "vertex", "time", "trial"),
        coords=coords,
        name="source",
        attrs={"units": units[0], "long_name": "source current"},
    )


def _as_dask(array: Any) -> da.Array:
    if isinstance(array, da.Array):
        return array
    if not isinstance(array, np.ndarray):
        raise LaminarrayError(f"expected a numpy or dask array, got {describe(array)}")
    return da.from_array(array, chunks=array.shape)
