"""Dimension names, units, layer names and the coordinate builders shared by constructors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import dask.array as da
import numpy as np
import xarray as xr

from .._validation import SchemaError, describe

SCHEMA_VERSION = 1

#: Labels (channel, layer, type names): a sequence of str or a numpy array of them.
Labels: TypeAlias = Sequence[str] | np.ndarray

SENSOR_DIMS = ("channel", "time", "trial")
GAIN_DIMS = ("channel", "layer", "vertex")
PROJECTOR_DIMS = ("layer", "vertex", "channel")
SOURCE_DIMS = ("layer", "vertex", "time", "trial")
MESH_VERTEX_DIMS = ("layer", "vertex", "xyz")
FACE_DIMS = ("face", "corner")
XYZ = ("x", "y", "z")

_FIELD = ("fT", "T", "pT")
#: accepted units of each channel type (SPM's channel types; planar gradiometers are
#: field differences per length)
SENSOR_UNITS = {
    "MEG": _FIELD,
    "MEGMAG": _FIELD,
    "MEGGRAD": _FIELD,
    "REFMAG": _FIELD,
    "REFGRAD": _FIELD,
    "MEGPLANAR": ("fT/mm", "T/m", "fT/cm"),
    "EEG": ("uV", "V", "mV"),
}
DEFAULT_UNITS = {"MEG": "fT", "MEGMAG": "fT", "MEGGRAD": "fT", "MEGPLANAR": "fT/mm", "EEG": "uV"}
#: units of data whose channels have different units (per channel in ``ch_units``)
MIXED = "mixed"


def split_units(units: str, *, per: str = "source") -> tuple[str, str]:
    """Split compound units of a gain or an inverse projector into their two sides.

    Sensor units may themselves be compound (planar gradiometers: ``fT/mm``),
    so a gain ``"fT/mm/nAm"`` is sensor units per source units split at the
    *last* ``/`` and a projector ``"nAm/fT/mm"`` at the *first*.

    Parameters
    ----------
    units : str
        ``"<sensor>/<source>"`` (gain) or ``"<source>/<sensor>"`` (projector).
    per : {"source", "sensor"}
        What the units are per: ``"source"`` for a gain, ``"sensor"`` for a
        projector.

    Returns
    -------
    (sensor units, source units) : tuple of str

    Raises
    ------
    SchemaError
        If ``units`` has no ``/``.
    """
    text = str(units)
    if "/" not in text:
        raise SchemaError(f"expected compound units like 'fT/nAm'; found {units!r}")
    if per == "source":
        sensor, _, source = text.rpartition("/")
    else:
        source, _, sensor = text.partition("/")
    return sensor, source


def resolved_units(units: str, ch_units: Any) -> str:
    """``units`` with ``"mixed"`` replaced by the channels' one unit when they share it.

    Selecting one channel type of a dataset with magnetometers and planar
    gradiometers leaves ``units="mixed"`` in attrs; every validator resolves
    it from the ``ch_units`` coordinate of the channels present.
    """
    if MIXED not in str(units) or ch_units is None:
        return str(units)
    found = np.unique(as_str(ch_units))
    if found.size != 1:
        return str(units)
    return str(units).replace(MIXED, str(found[0]), 1)


def default_layer_names(n_layers: int) -> list[str]:
    """laMEG's layer names for ``n_layers`` equidistant surfaces.

    Parameters
    ----------
    n_layers : int
        Number of layers (>= 1).

    Returns
    -------
    list of str
        ``["pial", "0.900", ..., "0.100", "white"]`` for 11 layers: the
        interior names are the fraction of thickness measured from white,
        formatted with three decimals. One layer is ``["pial"]``.
    """
    n_layers = _as_count(n_layers, "n_layers")
    if n_layers == 1:
        return ["pial"]
    spacing = np.linspace(1.0, 0.0, n_layers)
    return ["pial", *[f"{s:.3f}" for s in spacing[1:-1]], "white"]


def layer_depths(n_layers: int) -> np.ndarray:
    """Relative depth of equidistant layers: 0 = pial, 1 = white.

    Returns
    -------
    ndarray, shape (n_layers,), float64
    """
    n_layers = _as_count(n_layers, "n_layers")
    if n_layers == 1:
        return np.zeros(1)
    return np.linspace(0.0, 1.0, n_layers)


def _as_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SchemaError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


def _layer_coords(n_layers: int, layers: Labels | None, depth: Any) -> dict[str, Any]:
    if layers is None:
        names = default_layer_names(n_layers)
    else:
        names = [str(name) for name in layers]
        if len(names) != n_layers:
            raise SchemaError(
                f"`layers` must have one name per layer: expected {n_layers}, got {len(names)}"
            )
    _check_unique(names, "layers")
    if depth is None:
        depth = layer_depths(n_layers)
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != (n_layers,):
        raise SchemaError(f"`depth` must have shape ({n_layers},), got {depth.shape}")
    return {
        "layer": ("layer", np.array(names, dtype=object).astype(str)),
        "depth": ("layer", depth, {"long_name": "relative cortical depth (0 = pial, 1 = white)"}),
    }


def _vertex_coords(n_vertices: int, vertices: Any, hemi: Any) -> dict[str, Any]:
    index = np.arange(n_vertices) if vertices is None else np.asarray(vertices)
    if index.shape != (n_vertices,):
        raise SchemaError(f"`vertices` must have shape ({n_vertices},), got {index.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        raise SchemaError(f"`vertices` must be integer indices, got dtype {index.dtype}")
    _check_unique(index, "vertices")
    coords: dict[str, Any] = {"vertex": ("vertex", index.astype(np.int64))}
    if hemi is not None:
        coords["hemi"] = ("vertex", _hemi_labels(hemi, n_vertices))
    return coords


def _hemi_labels(hemi: Any, n_vertices: int) -> np.ndarray:
    labels = np.full(n_vertices, hemi) if isinstance(hemi, str) else np.asarray(hemi)
    labels = as_str(labels)
    if labels.shape != (n_vertices,):
        raise SchemaError(f"`hemi` must have shape ({n_vertices},), got {labels.shape}")
    unknown = set(np.unique(labels)) - {"lh", "rh"}
    if unknown:
        raise SchemaError(f"`hemi` values must be 'lh' or 'rh', found {sorted(unknown)}")
    return labels


def as_str(values: Any) -> np.ndarray:
    """Fixed-width unicode copy of labels, also from numpy's variable-width ``StringDType``.

    Zarr 3 string arrays read back as ``StringDType``, which cannot be cast to
    ``str`` directly.

    Parameters
    ----------
    values : array_like of str
        Labels (any string dtype, or objects).

    Returns
    -------
    ndarray of str
        Same shape, dtype ``<U``; ``values`` itself when already one.
    """
    values = np.asarray(values)
    if values.dtype.kind == "U":
        return values
    return values.astype(object).astype(str)


def _check_unique(values: Any, name: str) -> None:
    values = np.asarray(values)
    uniq, counts = np.unique(values, return_counts=True)
    if uniq.size != values.size:
        dup = uniq[counts > 1][:5].tolist()
        raise SchemaError(f"`{name}` must be unique; duplicated: {dup}")


# --------------------------------------------------------------------------- helpers


def _as_array(data: Any, name: str, ndim: int | tuple[int, ...]) -> Any:
    """numpy or dask array of the given ndim (no copy, no compute)."""
    if isinstance(data, xr.DataArray):
        data = data.data
    if not isinstance(data, np.ndarray | da.Array):
        data = np.asarray(data)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if data.ndim not in allowed:
        raise SchemaError(
            f"`{name}` must be a {' or '.join(f'{n}-D' for n in allowed)} array, "
            f"got {describe(data)}"
        )
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise SchemaError(f"`{name}` must hold real numbers, got dtype {data.dtype}")
    return data


def _channel_coords(channels: Any, n_channels: int, ch_types: Any, bad: Any) -> dict[str, Any]:
    labels = as_str(channels)
    if labels.shape != (n_channels,):
        raise SchemaError(
            f"`channels` must have one label per channel: expected {n_channels}, got {labels.size}"
        )
    _check_unique(labels, "channels")
    types = np.full(n_channels, ch_types) if isinstance(ch_types, str) else np.asarray(ch_types)
    types = as_str(types)
    if types.shape != (n_channels,):
        raise SchemaError(f"`ch_types` must have shape ({n_channels},), got {types.shape}")
    flags = np.zeros(n_channels, bool) if bad is None else np.asarray(bad, dtype=bool)
    if flags.shape != (n_channels,):
        raise SchemaError(f"`bad` must have shape ({n_channels},), got {flags.shape}")
    return {"channel": labels, "ch_type": ("channel", types), "bad": ("channel", flags)}


def _time_coord(times: Any, n_times: int) -> tuple[str, np.ndarray, dict[str, str]]:
    values = np.asarray(times, dtype=np.float64)
    if values.shape != (n_times,):
        raise SchemaError(
            f"`times` must have one value per sample: expected {n_times}, got shape {values.shape}"
        )
    _check_increasing(values, "times")
    return ("time", values, {"units": "s", "long_name": "time"})


def time_axis(n_times: int, sfreq: float, tmin: float = 0.0) -> np.ndarray:
    """Sample times ``tmin + arange(n_times) / sfreq`` in s, as exact as floats allow.

    When ``tmin`` falls on the sample grid (``tmin * sfreq`` an integer ``k0``
    up to float rounding)
    the times are computed as ``(k0 + k) / sfreq``: each is then the float
    nearest the true time, so t = 0 is exactly 0 and ``.sel(time=0.1)`` finds
    the sample at 100 ms (``-0.2 + 180 / 600`` would be 0.09999999999999998).

    Parameters
    ----------
    n_times : int
        Number of samples.
    sfreq : float
        Sampling rate, Hz.
    tmin : float
        Time of the first sample, s.

    Returns
    -------
    ndarray, shape (n_times,), float64
    """
    sfreq = float(sfreq)
    first = float(tmin) * sfreq
    k0 = round(first)
    if abs(first - k0) <= 8 * np.finfo(np.float64).eps * max(1.0, abs(first)):
        return (k0 + np.arange(n_times, dtype=np.float64)) / sfreq
    return float(tmin) + np.arange(n_times, dtype=np.float64) / sfreq


def sampling_rate(times: Any) -> float:
    """Sampling rate (Hz) of a regular time axis, exact when it was built as ``tmin + k / sfreq``.

    The rate is ``(n - 1) / (t[-1] - t[0])``, rounded to the nearest integer
    when within a relative 1e-9 of it (float rounding of the times), so that
    ``-0.2 + arange(420) / 600`` gives exactly 600.0.

    Parameters
    ----------
    times : array, shape (n_times,), n_times >= 2
        Increasing sample times, s.

    Returns
    -------
    float
    """
    values = np.asarray(times, dtype=np.float64)
    rate = (values.size - 1) / float(values[-1] - values[0])
    nearest = round(rate)
    return float(nearest) if nearest and abs(rate - nearest) < 1e-9 * rate else rate


def _check_increasing(values: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(values)):
        raise SchemaError(f"`{name}` must be finite")
    steps = np.diff(values)
    if steps.size and not np.all(steps > 0):
        where = int(np.argmin(steps > 0))
        raise SchemaError(
            f"`{name}` must be strictly increasing; found {values[where]} followed by "
            f"{values[where + 1]} at index {where}"
        )


def _trial_coords(trials: Any, n_trials: int, conditions: Any) -> dict[str, Any]:
    index = np.arange(n_trials) if trials is None else np.asarray(trials)
    if index.shape != (n_trials,):
        raise SchemaError(f"`trials` must have shape ({n_trials},), got {index.shape}")
    _check_unique(index, "trials")
    coords: dict[str, Any] = {"trial": index}
    if conditions is not None:
        labels = (
            np.full(n_trials, conditions) if isinstance(conditions, str) else as_str(conditions)
        )
        if labels.shape != (n_trials,):
            raise SchemaError(f"`conditions` must have shape ({n_trials},), got {labels.shape}")
        coords["condition"] = ("trial", as_str(labels))
    return coords


# --------------------------------------------------------------------------- constructors
