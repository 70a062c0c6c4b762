"""The validation boundary of the inversions: labelled inputs -> trusted numpy problem."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import xarray as xr

from .._validation import LaminarrayError, describe
from ..plausibility import check_amplitude, check_window
from ..schema import (
    as_str,
    check_consistent,
    select_layers,
    validate_gain,
    validate_mesh,
    validate_sensor,
)
from ..schema._vocabulary import sampling_rate, split_units
from ..schema.selection import layer_names
from ..schema.validators import select_mesh_layers
from .modes import inversion_samples
from .rank import DataRank, data_rank
from .sensor_space import channel_modality


@dataclass(frozen=True)
class Problem:
    """A validated inversion problem (sources flat, layer-major).

    Attributes
    ----------
    data : ndarray or dask array, shape (n_channels, n_times, n_trials)
        Good channels, in sensor order.
    gain : ndarray, shape (n_channels, n_layers * n_vertices), float64, Fortran order
    smoothing : scipy.sparse.csc_array, shape (n_sources, n_sources)
    times : ndarray, shape (n_times,)
        Seconds.
    sfreq : float
        Hz.
    channels : ndarray of str
    gain_template : xarray.DataArray
        The (selected) gain, for the layer/vertex coordinates of results.
    sensor_units, source_units : str
    modality : ndarray of str, shape (n_channels,)
        SPM modality of each channel (``MEG``, ``MEGPLANAR``, ``EEG``).
    rank : DataRank or None
        Rank of the data (None when not analysed, ``rank="full"``).
    """

    data: Any
    gain: np.ndarray
    smoothing: sp.csc_array
    times: np.ndarray
    sfreq: float
    channels: np.ndarray
    gain_template: xr.DataArray
    sensor_units: str
    source_units: str
    modality: np.ndarray
    rank: DataRank | None

    @property
    def n_layers(self) -> int:
        """Number of layers inverted."""
        return int(self.gain_template.sizes["layer"])

    @property
    def n_vertices(self) -> int:
        """Vertices per layer."""
        return int(self.gain_template.sizes["vertex"])


def prepare(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None,
    smoothing: Any,
    patch_size: float,
    layer: str | None,
    *,
    rank: str | int = "auto",
    rank_of: Problem | None = None,
) -> Problem:
    """Validate and align the inputs of an inversion.

    Parameters
    ----------
    rank : "auto", "full" or int
        How the data rank is found (:func:`.rank.data_rank`).
    rank_of : Problem, optional
        A problem on the same sensor data whose rank analysis is reused
        (another layer of the same comparison).

    Raises
    ------
    LaminarrayError
        Mismatched channels (named), non-finite gain, free-orientation gain,
        unknown layer, no way to build the smoothing operator.
    """
    sensor = validate_sensor(sensor)
    check_amplitude(sensor)
    gain = validate_gain(gain)
    if mesh is not None:
        mesh = select_mesh_layers(validate_mesh(mesh), gain, "gain")
    if "xyz" in gain.dims:
        raise LaminarrayError(
            "`gain` has a free orientation (dim 'xyz'); the inversions need a fixed-orientation "
            "gain (channel, layer, vertex): project it onto the mesh orientation first"
        )
    check_consistent(gain=gain, mesh=mesh)
    n_all_layers = gain.sizes["layer"]
    all_layers = layer_names(gain)
    if layer is not None:
        gain = select_layers(gain, str(layer), name="layer")
    if "bad" in sensor.coords and np.any(sensor["bad"].values):
        sensor = sensor.isel(channel=np.flatnonzero(~np.asarray(sensor["bad"].values, bool)))
    if sensor.sizes["channel"] == 0:
        raise LaminarrayError("sensor data have no good channels (every `bad` flag is set)")
    channels = as_str(sensor["channel"].values)
    gain_channels = as_str(gain["channel"].values)
    if not np.array_equal(gain_channels, channels) and set(channels) <= set(gain_channels):
        gain = gain.sel(channel=channels)
    check_consistent(sensor=sensor, gain=gain)
    data = sensor["data"]
    values = np.asarray(gain.values)
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))
        raise LaminarrayError(
            f"`gain` contains {len(bad)} NaN/inf values (first at channel "
            f"{channels[bad[0][0]]!r}, layer {gain['layer'].values[bad[0][1]]!r}, vertex "
            f"{int(gain['vertex'].values[bad[0][2]])}); fix the forward model"
        )
    # Fortran order: sources x channels is then C-contiguous for sparse products
    flat = np.array(values.reshape(values.shape[0], -1), dtype=np.float64, order="F")
    operator = _smoothing(
        smoothing,
        mesh,
        patch_size,
        gain,
        n_all_layers,
        all_layers.index(str(layer)) if layer else None,
    )
    times = np.asarray(sensor["time"].values, dtype=np.float64)
    _, source_units = split_units(gain.attrs["units"])
    types = sensor["ch_type"].values if "ch_type" in sensor.coords else ["MEG"] * channels.size
    modality = channel_modality(types)
    if rank_of is not None:
        found = rank_of.rank
    else:
        found = data_rank(data.data, modality, rank=rank, attrs=sensor.attrs)
    return Problem(
        data=data.data,
        gain=flat,
        smoothing=operator,
        times=times,
        sfreq=_sfreq(sensor, times),
        channels=channels,
        gain_template=gain,
        sensor_units=str(sensor["data"].attrs["units"]),
        source_units=source_units,
        modality=modality,
        rank=found,
    )


def _sfreq(sensor: xr.Dataset, times: np.ndarray) -> float:
    if times.size < 2:
        raise LaminarrayError("sensor data need at least 2 samples to invert")
    sfreq = float(sensor.attrs.get("sfreq", sampling_rate(times)))
    nearest = round(sfreq)
    return float(nearest) if abs(sfreq - nearest) < 1e-6 * sfreq else sfreq


def _smoothing(
    smoothing: Any,
    mesh: xr.Dataset | None,
    patch_size: float,
    gain: xr.DataArray,
    n_all_layers: int,
    layer_index: int | None,
) -> sp.csc_array:
    n_layers, n_vertices = gain.sizes["layer"], gain.sizes["vertex"]
    n_sources = n_layers * n_vertices
    if smoothing is None:
        if mesh is None:
            raise LaminarrayError(
                "pass `mesh` (to build the geodesic patch operator) or an explicit sparse "
                "`smoothing` matrix (sources x sources, columns are patches)"
            )
        from ..surf.smoothing import smoothing_operator

        return sp.csc_array(smoothing_operator(select_mesh_layers(mesh, gain, "gain"), patch_size))
    matrix = sp.csc_array(smoothing, dtype=np.float64)
    shape = matrix.shape
    if shape == (n_sources, n_sources):
        return matrix
    if shape == (n_vertices, n_vertices):
        return sp.csc_array(sp.block_diag([matrix] * n_layers, format="csc"))
    if layer_index is not None and shape == (n_all_layers * n_vertices,) * 2:
        block = slice(layer_index * n_vertices, (layer_index + 1) * n_vertices)
        return sp.csc_array(matrix[block, block])
    raise LaminarrayError(
        f"`smoothing` must be a ({n_sources}, {n_sources}) matrix over the layer-major sources "
        f"or a ({n_vertices}, {n_vertices}) per-layer matrix; got {describe(matrix)}"
    )


def woi_samples(woi: tuple[float, float] | None, times: np.ndarray, sfreq: float) -> np.ndarray:
    """Sample indices of ``woi`` (seconds) with SPM's rounding, or a clear error."""
    if woi is None:
        woi_ms = (-math.inf, math.inf)
    else:
        start, end = check_window(woi, times, "woi")
        woi_ms = (1000.0 * start, 1000.0 * end)
    samples = inversion_samples(woi_ms, times, sfreq)
    if samples.size < 2:
        raise LaminarrayError(
            f"`woi` = {woi} s selects {samples.size} sample(s) of the data "
            f"({times[0]:.6g} to {times[-1]:.6g} s); an inversion window needs at least 2"
        )
    return samples


def flat_priors(priors: Sequence[Any], gain: xr.DataArray) -> np.ndarray:
    """Patch centres as flat layer-major indices of ``gain``'s sources.

    Plain ints are laMEG's flat indices; ``(layer, vertex)`` pairs name a
    layer (by name or position) and a vertex label.
    """
    n_layers, n_vertices = gain.sizes["layer"], gain.sizes["vertex"]
    names = [str(x) for x in gain["layer"].values]
    labels = np.asarray(gain["vertex"].values)
    out = []
    for item in priors:
        if isinstance(item, tuple | list):
            lay, vert = item
            li = names.index(str(lay)) if str(lay) in names else _index(lay, n_layers, "layer")
            hits = np.flatnonzero(labels == vert)
            if hits.size != 1:
                raise LaminarrayError(f"`priors` names vertex {vert!r}, not in the gain")
            out.append(li * n_vertices + int(hits[0]))
        else:
            out.append(_index(item, n_layers * n_vertices, "source"))
    if not out:
        raise LaminarrayError("`priors` is empty: give at least one patch centre or None")
    return np.asarray(out, dtype=np.int64)


def _index(value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < size:
        raise LaminarrayError(
            f"`priors` entry {value!r} is not a valid {what} index (0..{size - 1})"
        )
    return int(value)
