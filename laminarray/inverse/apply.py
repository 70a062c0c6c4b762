"""Apply an inverse projector to sensor data: a lazy source estimate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .._blas import blas_task
from .._projection import (
    align_channels,
    as_dask,
    auto_chunk,
    fused_projection,
    project_block,
)
from .._validation import LaminarrayError, describe
from ..options import task_budget
from ..plausibility import check_amplitude, check_selection
from ..power._features import mode_features
from ..power._window import covered_samples
from ..schema import as_projector, select_layers, validate_sensor
from ..schema._vocabulary import split_units

#: One output block of the source estimate: this multiple of ``task_bytes`` (sensor
#: trial blocks take half of it).
BLOCK_SCALE = 1.0


def apply_inverse(
    inverse: xr.Dataset | xr.DataArray,
    sensor: xr.Dataset,
    vertices: Any = None,
    layers: str | Sequence[str] | None = None,
    *,
    temporal: bool = False,
    time: Any = None,
    uncovered: str = "drop",
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
    temporal : bool
        Also apply the inversion's temporal projector, ``x = W·Y·S·Sᵀ``, as
        laMEG's ``load_source_time_series`` does (needs an inverse dataset
        with a ``temporal_projector``). Computed in temporal-mode space: each
        block projects the r mode coefficients ``Y_k·S`` of its trials (r
        columns instead of every sample) and expands them with the rows of
        ``S`` at the requested samples, so a short ``time`` window costs
        only its samples.
    time : (float, float) or slice, optional
        Samples to reconstruct, ``(start, stop)`` in s inclusive (default
        all). With ``temporal`` the modes are still taken over the whole
        inversion window (exact), only the expansion is restricted.
    uncovered : {"drop", "zero"}
        With ``temporal``: samples the temporal projector does not cover
        are dropped (default) or reconstructed as 0 (laMEG 0.2.1); as in
        :func:`laminarray.power.window_power`.

    Returns
    -------
    xarray.DataArray
        ``source (layer, vertex, time, trial)``, dask-backed and lazy, chunked
        along ``vertex`` and ``trial`` (each block is one matrix product of a
        projector block and a trial block, ~64 MB); dtype of the sensor data
        (float32 stays float32). Units: the projector's numerator (nAm).
        Without ``temporal`` (the default) the estimate keeps the full band
        of the data.

    Examples
    --------
    >>> src = apply_inverse(inv, sensor, layers="pial")  # doctest: +SKIP
    >>> src.sel(time=slice(0.1, 0.2)).mean("trial").compute()  # doctest: +SKIP
    >>> lameg_like = apply_inverse(inv, sensor, temporal=True, time=(0.1, 0.2))  # doctest: +SKIP
    """
    temporal_projector = None
    if temporal:
        if not isinstance(inverse, xr.Dataset) or "temporal_projector" not in inverse:
            raise LaminarrayError(
                "`temporal=True` needs an inverse dataset with a `temporal_projector`; got "
                f"{describe(inverse)}"
            )
        temporal_projector = inverse["temporal_projector"]
    projector = select_layers(as_projector(inverse), layers)
    sensor = validate_sensor(sensor)
    check_amplitude(sensor, lazy_ok=False)
    if vertices is not None:
        projector = projector.sel(
            vertex=check_selection(vertices, projector["vertex"], "vertices")
        )
    data = align_channels(sensor["data"], projector)
    units = str(projector.attrs["units"])
    sensor_units, source_units = (
        split_units(units, per="sensor") if "/" in units else (data.attrs["units"], units)
    )
    if sensor_units != data.attrs["units"]:
        raise LaminarrayError(
            f"the projector maps {sensor_units!r} but the sensor data are in "
            f"{data.attrs['units']!r}; convert the data to {sensor_units!r}"
        )
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.dtype(np.float64)
    if temporal_projector is None:
        data = _select_time(data, time)
        labelled, basis = data, None
    else:
        data, modes = covered_samples(data, temporal_projector, uncovered=uncovered)
        labelled = _select_time(data, time)  # the samples reconstructed
        basis = modes[data.indexes["time"].get_indexer(labelled["time"].values)]
    n_layers, n_vertices, n_channels = projector.shape
    n_times = data.sizes["time"] if basis is None else basis.shape[0]
    n_trials = data.sizes["trial"]
    sensor_array = as_dask(data.data).rechunk({0: -1, 1: -1})
    if not isinstance(data.data, da.Array):
        per_trial = n_channels * data.sizes["time"] * dtype.itemsize
        sensor_array = sensor_array.rechunk(
            {2: auto_chunk(n_trials, per_trial, task_budget(BLOCK_SCALE / 2))}
        )
    trial_chunk = max(sensor_array.chunks[2])
    per_vertex = n_layers * n_times * trial_chunk * dtype.itemsize
    proj_array = (
        as_dask(projector.data)
        .astype(dtype)
        .rechunk({0: -1, 1: auto_chunk(n_vertices, per_vertex, task_budget(BLOCK_SCALE)), 2: -1})
    )
    if basis is None:
        out = da.blockwise(
            blas_task(project_block),
            "lvtk",
            proj_array,
            "lvc",
            sensor_array,
            "ctk",
            dtype=dtype,
            concatenate=True,
            meta=np.empty((0, 0, 0, 0), dtype=dtype),
        )
    else:
        features = sensor_array.map_blocks(
            mode_features,
            temporal=modes,
            out_dtype=dtype,
            dtype=dtype,
            chunks=((n_channels,), (modes.shape[1],), sensor_array.chunks[2]),
            meta=np.empty((0, 0, 0), dtype=dtype),
        )
        out = fused_projection(
            proj_array,
            features,
            expand_modes,
            (n_times,),
            dtype=dtype,
            name="temporal-sources",
            basis=basis.astype(dtype),
        )
    coords = {
        name: coord.variable
        for name, coord in projector.coords.items()
        if set(coord.dims) <= {"layer", "vertex"}
    }
    coords.update(
        {
            name: coord.variable
            for name, coord in labelled.coords.items()
            if set(coord.dims) <= {"time", "trial"} and coord.dims
        }
    )
    return xr.DataArray(
        out,
        dims=("layer", "vertex", "time", "trial"),
        coords=coords,
        name="source",
        attrs={"units": source_units, "long_name": "source current"},
    )


def expand_modes(projector: np.ndarray, features: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Source time courses of a block from mode features: ``(W·(Y_k·S))·S_tᵀ``.

    Parameters
    ----------
    projector : ndarray, shape (L, v, C)
    features : ndarray, shape (C, r, k)
        ``Y_k·S`` per trial (:func:`laminarray.power._features.mode_features`).
    basis : ndarray, shape (t, r)
        The rows of ``S`` at the samples to reconstruct.

    Returns
    -------
    ndarray, shape (L, v, t, k)
    """
    coefficients = project_block(projector, features)  # (L, v, r, k)
    return np.einsum("lvrk,tr->lvtk", coefficients, basis, optimize=True)


def _select_time(data: xr.DataArray, time: Any) -> xr.DataArray:
    """``data`` at the samples of ``time`` ((start, stop) s inclusive, or a slice)."""
    from ..study import select

    picked = select(data, time=time)
    if picked.sizes["time"] == 0:
        raise LaminarrayError(f"`time` {time!r} selects no sample of the data")
    return picked
