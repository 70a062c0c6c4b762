"""The labelled data model: dimension names, coordinates, units, constructors, validators.

Every object laminarray reads or writes is built by one of the constructors
here and checked by the matching validator at each public boundary:

============================  ===========================================  =========
object                        dims (canonical order, also on disk)          units
============================  ===========================================  =========
sensor data (Dataset)         ``data (channel, time, trial)``               fT / uV
gain (DataArray)              ``(channel, layer, vertex[, xyz])``           fT/nAm
projector (DataArray)         ``(layer, vertex, channel)``                  nAm/fT
source estimate (DataArray)   ``(layer, vertex, time, trial)``              nAm
mesh (Dataset)                ``vertices (layer, vertex, xyz)``, ``faces    mm
                              (face, corner)``, ``orientation (layer,
                              vertex, xyz)``, ``thickness (vertex)``
============================  ===========================================  =========

Validators never compute dask data: finiteness checks on dask-backed data are
opt-in (``check_finite=True``) and lazy (they raise when the data are computed).
Objects whose dims are in another order are transposed, not rejected.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ._validation import SchemaError, describe

SCHEMA_VERSION = 1

SENSOR_DIMS = ("channel", "time", "trial")
GAIN_DIMS = ("channel", "layer", "vertex")
PROJECTOR_DIMS = ("layer", "vertex", "channel")
SOURCE_DIMS = ("layer", "vertex", "time", "trial")
MESH_VERTEX_DIMS = ("layer", "vertex", "xyz")
FACE_DIMS = ("face", "corner")
XYZ = ("x", "y", "z")

SENSOR_UNITS = {"MEG": ("fT", "T", "pT"), "EEG": ("uV", "V", "mV")}
DEFAULT_UNITS = {"MEG": "fT", "EEG": "uV"}

__all__ = [
    "SCHEMA_VERSION",
    "check_consistent",
    "default_layer_names",
    "gain_dataarray",
    "layer_depths",
    "mesh_dataset",
    "projector_dataarray",
    "sensor_dataset",
    "source_dataarray",
    "validate_gain",
    "validate_mesh",
    "validate_projector",
    "validate_sensor",
    "validate_source",
]


# --------------------------------------------------------------------------- layers


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


def _layer_coords(n_layers: int, layers: Sequence[str] | None, depth: Any) -> dict[str, Any]:
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
    labels = _as_str(labels)
    if labels.shape != (n_vertices,):
        raise SchemaError(f"`hemi` must have shape ({n_vertices},), got {labels.shape}")
    unknown = set(np.unique(labels)) - {"lh", "rh"}
    if unknown:
        raise SchemaError(f"`hemi` values must be 'lh' or 'rh', found {sorted(unknown)}")
    return labels


def _as_str(values: Any) -> np.ndarray:
    """Fixed-width unicode copy of labels, also from numpy's variable-width ``StringDType``
    (what Zarr 3 string arrays read back as), which cannot be cast to ``str`` directly."""
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
    labels = _as_str(channels)
    if labels.shape != (n_channels,):
        raise SchemaError(
            f"`channels` must have one label per channel: expected {n_channels}, got {labels.size}"
        )
    _check_unique(labels, "channels")
    types = np.full(n_channels, ch_types) if isinstance(ch_types, str) else np.asarray(ch_types)
    types = _as_str(types)
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
            np.full(n_trials, conditions) if isinstance(conditions, str) else _as_str(conditions)
        )
        if labels.shape != (n_trials,):
            raise SchemaError(f"`conditions` must have shape ({n_trials},), got {labels.shape}")
        coords["condition"] = ("trial", _as_str(labels))
    return coords


# --------------------------------------------------------------------------- constructors


def sensor_dataset(
    data: Any,
    channels: Sequence[str],
    times: Any,
    trials: Any = None,
    ch_types: str | Sequence[str] = "MEG",
    units: str | None = None,
    *,
    conditions: str | Sequence[str] | None = None,
    bad: Any = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a sensor dataset ``data (channel, time, trial)``.

    Parameters
    ----------
    data : array, shape (n_channels, n_times[, n_trials])
        numpy or dask array; a 2-D array is one trial.
    channels : sequence of str, length n_channels
        Unique channel labels.
    times : array, shape (n_times,)
        Sample times in seconds, strictly increasing.
    trials : array, shape (n_trials,), optional
        Trial identifiers (default ``0..n_trials-1``).
    ch_types : str or sequence of str
        Channel type(s), ``"MEG"`` or ``"EEG"``.
    units : str, optional
        Units of ``data``; default ``"fT"`` for MEG, ``"uV"`` for EEG.
    conditions : str or sequence of str, optional
        Condition label per trial (coordinate ``condition (trial)``).
    bad : array of bool, shape (n_channels,), optional
        Bad-channel flags (coordinate ``bad (channel)``).
    attrs : dict, optional
        Extra dataset attrs (provenance, sampling info).

    Returns
    -------
    xarray.Dataset
        ``data (channel, time, trial)`` with coords ``channel``, ``ch_type``,
        ``bad``, ``time`` (s), ``trial`` and optionally ``condition``.
    """
    array = _as_array(data, "data", (2, 3))
    if array.ndim == 2:
        array = array[:, :, None]
    n_channels, n_times, n_trials = array.shape
    coords = _channel_coords(channels, n_channels, ch_types, bad)
    coords["time"] = _time_coord(times, n_times)
    coords.update(_trial_coords(trials, n_trials, conditions))
    if units is None:
        kinds = np.unique(coords["ch_type"][1])
        units = DEFAULT_UNITS.get(str(kinds[0]), "fT") if kinds.size == 1 else "fT"
    variable = xr.Variable(SENSOR_DIMS, array, {"units": units, "long_name": "sensor signal"})
    ds = xr.Dataset({"data": variable}, coords=coords, attrs=dict(attrs or {}))
    if len(times) > 1:
        ds.attrs.setdefault("sfreq", float(1.0 / np.median(np.diff(np.asarray(times, float)))))
    return validate_sensor(ds)


def gain_dataarray(
    values: Any,
    channels: Sequence[str],
    layers: Sequence[str] | None = None,
    vertices: Any = None,
    units: str = "fT/nAm",
    *,
    depth: Any = None,
    hemi: Any = None,
    ch_types: str | Sequence[str] = "MEG",
    attrs: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Build a gain (lead-field) matrix ``(channel, layer, vertex[, xyz])``.

    Parameters
    ----------
    values : array, shape (n_channels, n_layers, n_vertices[, 3]) or (n_channels, n_sources)
        numpy or dask array. A 2-D array with ``layers`` given (or a layer
        count inferred from ``vertices``) is unflattened from laMEG/SPM's
        layer-major order (all vertices of layer 0, then layer 1, ...). A
        trailing axis of 3 means free orientation (dim ``xyz``).
    channels : sequence of str, length n_channels
    layers : sequence of str, optional
        Layer names, superficial to deep (default laMEG's ``pial, 0.900, ..., white``).
    vertices : array of int, shape (n_vertices,), optional
    units : str
        Default ``"fT/nAm"``.
    depth : array, shape (n_layers,), optional
        Relative depth per layer (0 = pial, 1 = white); default equidistant.
    hemi : str or array of str, optional
        Hemisphere per vertex.
    ch_types : str or sequence of str
    attrs : dict, optional

    Returns
    -------
    xarray.DataArray
        Named ``"gain"``.
    """
    array = _as_array(values, "values", (2, 3, 4))
    if array.ndim == 2:
        n_layers = len(layers) if layers is not None else 1
        if vertices is not None:
            n_layers = array.shape[1] // max(len(np.asarray(vertices)), 1)
        if array.shape[1] % n_layers:
            raise SchemaError(
                f"`values` has {array.shape[1]} sources, not a multiple of {n_layers} layers"
            )
        array = array.reshape(array.shape[0], n_layers, array.shape[1] // n_layers)
    dims = GAIN_DIMS + (("xyz",) if array.ndim == 4 else ())
    if array.ndim == 4 and array.shape[3] != 3:
        raise SchemaError(f"a free-orientation gain needs a trailing axis of 3, got {array.shape}")
    coords = _channel_coords(channels, array.shape[0], ch_types, None)
    del coords["bad"]
    coords.update(_layer_coords(array.shape[1], layers, depth))
    coords.update(_vertex_coords(array.shape[2], vertices, hemi))
    if array.ndim == 4:
        coords["xyz"] = list(XYZ)
    gain = xr.DataArray(
        array,
        dims=dims,
        coords=coords,
        name="gain",
        attrs={"units": units, "long_name": "gain (lead field)", **(attrs or {})},
    )
    return validate_gain(gain)


def projector_dataarray(
    values: Any,
    channels: Sequence[str],
    layers: Sequence[str] | None = None,
    vertices: Any = None,
    units: str = "nAm/fT",
    *,
    depth: Any = None,
    hemi: Any = None,
    attrs: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Build an inverse projector ``(layer, vertex, channel)``.

    Parameters
    ----------
    values : array, shape (n_layers, n_vertices, n_channels) or (n_sources, n_channels)
        A 2-D array is unflattened from the layer-major source order.
    channels, layers, vertices, depth, hemi, attrs
        As in :func:`gain_dataarray`.
    units : str
        Default ``"nAm/fT"``: source nAm per sensor fT.

    Returns
    -------
    xarray.DataArray
        Named ``"projector"``.
    """
    array = _as_array(values, "values", (2, 3))
    if array.ndim == 2:
        n_layers = len(layers) if layers is not None else 1
        if array.shape[0] % n_layers:
            raise SchemaError(
                f"`values` has {array.shape[0]} sources, not a multiple of {n_layers} layers"
            )
        array = array.reshape(n_layers, array.shape[0] // n_layers, array.shape[1])
    coords = _layer_coords(array.shape[0], layers, depth)
    coords.update(_vertex_coords(array.shape[1], vertices, hemi))
    coords["channel"] = _channel_coords(channels, array.shape[2], "MEG", None)["channel"]
    proj = xr.DataArray(
        array,
        dims=PROJECTOR_DIMS,
        coords=coords,
        name="projector",
        attrs={"units": units, "long_name": "inverse projector", **(attrs or {})},
    )
    return validate_projector(proj)


def source_dataarray(
    values: Any,
    times: Any,
    layers: Sequence[str] | None = None,
    vertices: Any = None,
    trials: Any = None,
    units: str = "nAm",
    *,
    depth: Any = None,
    hemi: Any = None,
    conditions: Any = None,
    attrs: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Build a source estimate ``(layer, vertex, time, trial)``.

    Parameters
    ----------
    values : array, shape (n_layers, n_vertices, n_times[, n_trials])
        numpy or dask array; a 3-D array is one trial.
    times : array, shape (n_times,)
        Seconds, strictly increasing.
    layers, vertices, depth, hemi
        As in :func:`gain_dataarray`.
    trials, conditions
        As in :func:`sensor_dataset`.
    units : str
        Default ``"nAm"``.

    Returns
    -------
    xarray.DataArray
        Named ``"source"``.
    """
    array = _as_array(values, "values", (3, 4))
    if array.ndim == 3:
        array = array[..., None]
    coords = _layer_coords(array.shape[0], layers, depth)
    coords.update(_vertex_coords(array.shape[1], vertices, hemi))
    coords["time"] = _time_coord(times, array.shape[2])
    coords.update(_trial_coords(trials, array.shape[3], conditions))
    src = xr.DataArray(
        array,
        dims=SOURCE_DIMS,
        coords=coords,
        name="source",
        attrs={"units": units, "long_name": "source current", **(attrs or {})},
    )
    return validate_source(src)


def mesh_dataset(
    vertices: Any,
    faces: Any,
    orientation: Any = None,
    layers: Sequence[str] | None = None,
    hemi: Any = None,
    *,
    depth: Any = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a multilayer mesh (a ``LaminarMesh``).

    Parameters
    ----------
    vertices : array, shape (n_layers, n_vertices, 3) or (n_vertices, 3)
        Vertex positions in mm, layers ordered superficial (pial) to deep
        (white), the same index being the same cortical column on every layer.
    faces : array of int, shape (n_faces, 3)
        Triangles indexing ``vertex`` (0-based), shared by every layer.
    orientation : array, shape (n_layers, n_vertices, 3) or (n_vertices, 3), optional
        Unit dipole orientations per source; a 2-D array is used on every layer.
    layers : sequence of str, optional
        Layer names (default laMEG's).
    hemi : str or array of str, shape (n_vertices,), optional
    depth : array, shape (n_layers,), optional
        Relative depth of each layer (0 = pial, 1 = white); default equidistant.
    attrs : dict, optional

    Returns
    -------
    xarray.Dataset
        ``vertices (layer, vertex, xyz)`` mm, ``faces (face, corner)``,
        ``thickness (vertex)`` mm (distance between the first and last layer)
        and ``orientation (layer, vertex, xyz)`` when given.
    """
    pos = np.asarray(vertices, dtype=np.float64)
    if pos.ndim == 2:
        pos = pos[None]
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise SchemaError(f"`vertices` must have shape (n_layers, n_vertices, 3), got {pos.shape}")
    tri = np.asarray(faces)
    if tri.ndim != 2:
        raise SchemaError(f"`faces` must have shape (n_faces, 3), got {tri.shape}")
    if orientation is not None:
        orientation = np.asarray(orientation, dtype=np.float64)
        if orientation.shape == pos.shape[1:]:  # one orientation per column, on every layer
            orientation = np.broadcast_to(orientation, pos.shape)
        if orientation.shape != pos.shape:
            raise SchemaError(
                f"`orientation` must have the shape of `vertices` {pos.shape} or "
                f"{pos.shape[1:]}, got {orientation.shape}"
            )
    coords = _layer_coords(pos.shape[0], layers, depth)
    coords.update(_vertex_coords(pos.shape[1], None, hemi))
    coords["xyz"] = list(XYZ)
    data_vars: dict[str, Any] = {
        "vertices": (MESH_VERTEX_DIMS, pos, {"units": "mm", "long_name": "vertex position"}),
        "faces": (FACE_DIMS, tri, {"long_name": "triangle vertex indices (0-based)"}),
        "thickness": (
            "vertex",
            np.linalg.norm(pos[0] - pos[-1], axis=-1),
            {"units": "mm", "long_name": "cortical thickness"},
        ),
    }
    if orientation is not None:
        data_vars["orientation"] = (
            MESH_VERTEX_DIMS,
            np.array(orientation),
            {"units": "1", "long_name": "unit dipole orientation"},
        )
    ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
    return validate_mesh(ds)


# --------------------------------------------------------------------------- validators


def _name(obj: Any, default: str) -> str:
    name = getattr(obj, "name", None)
    return f"{default} {name!r}" if name not in (None, default) else default


def _conform_dims(
    obj: Any,
    expected: tuple[str, ...],
    what: str,
    optional: tuple[str, ...] = (),
    leading: tuple[str, ...] = (),
) -> Any:
    """Transpose ``obj`` to (leading optional dims +) ``expected`` (+ trailing optional dims)."""
    dims = tuple(obj.dims)
    required = set(expected)
    allowed = required | set(optional) | set(leading)
    missing = [d for d in expected if d not in dims]
    extra = [d for d in dims if d not in allowed]
    if missing or extra:
        raise SchemaError(
            f"{what} must have dims {expected}"
            + (f" (optionally with {leading + optional})" if optional or leading else "")
            + f"; found {dims}"
            + (f", missing {missing}" if missing else "")
            + (f", unexpected {extra}" if extra else "")
        )
    order = (
        tuple(d for d in leading if d in dims)
        + tuple(expected)
        + tuple(d for d in optional if d in dims)
    )
    return obj.transpose(*order) if dims != order else obj


def _check_units(var: Any, what: str, allowed: tuple[str, ...] | None = None) -> str:
    units = var.attrs.get("units")
    if not units:
        raise SchemaError(f"{what} has no `units` attribute; set e.g. .attrs['units'] = 'fT'")
    if allowed is not None and units not in allowed:
        raise SchemaError(f"{what} must be in one of {allowed}; found units {units!r}")
    return str(units)


def _check_coord(obj: Any, dim: str, what: str) -> np.ndarray:
    if dim not in obj.coords:
        raise SchemaError(f"{what} is missing the `{dim}` coordinate")
    values = np.asarray(obj.coords[dim].values)
    _check_unique_in(values, dim, what)
    return values


def _check_unique_in(values: np.ndarray, dim: str, what: str) -> None:
    uniq, counts = np.unique(values, return_counts=True)
    if uniq.size != values.size:
        raise SchemaError(f"{what} has duplicated `{dim}` labels: {uniq[counts > 1][:5].tolist()}")


def _check_time(obj: Any, what: str) -> None:
    values = _check_coord(obj, "time", what).astype(np.float64)
    units = obj.coords["time"].attrs.get("units")
    if units not in (None, "s"):
        raise SchemaError(
            f"{what} `time` must be in seconds (attrs units 's'); found units {units!r}: "
            "convert with time / 1000 for milliseconds"
        )
    try:
        _check_increasing(values, "time")
    except SchemaError as exc:
        raise SchemaError(f"{what}: {exc}") from None


def _check_finite(array: Any, what: str, check_finite: bool) -> Any:
    """Eager check for numpy data; lazy (opt-in) check for dask data."""
    if isinstance(array, da.Array):
        if not check_finite:
            return array
        return array.map_blocks(_raise_if_not_finite, what=what, dtype=array.dtype)
    if np.issubdtype(array.dtype, np.floating):
        _raise_if_not_finite(array, what)
    return array


def _raise_if_not_finite(block: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(block)):
        n_bad = int(np.size(block) - np.count_nonzero(np.isfinite(block)))
        raise SchemaError(f"{what} contains {n_bad} NaN/inf values")
    return block


def _check_numeric(array: Any, what: str) -> None:
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise SchemaError(f"{what} must hold real numbers; found dtype {array.dtype}")


def _validate_array(
    obj: xr.DataArray,
    expected: tuple[str, ...],
    what: str,
    check_finite: bool,
    optional: tuple[str, ...] = (),
    leading: tuple[str, ...] = (),
) -> xr.DataArray:
    if not isinstance(obj, xr.DataArray):
        raise SchemaError(f"{what} must be an xarray.DataArray, got {describe(obj)}")
    obj = _conform_dims(obj, expected, what, optional, leading)
    _check_numeric(obj, what)
    _check_units(obj, what)
    for dim in expected:
        if dim in ("layer", "vertex", "channel", "trial"):
            _check_coord(obj, dim, what)
    if "layer" in expected and "depth" not in obj.coords:
        raise SchemaError(f"{what} is missing the `depth (layer)` coordinate")
    if "time" in expected:
        _check_time(obj, what)
    checked = _check_finite(obj.data, what, check_finite)
    return obj.copy(data=checked) if checked is not obj.data else obj


def validate_sensor(ds: xr.Dataset, *, check_finite: bool = False) -> xr.Dataset:
    """Check a sensor dataset and return it in canonical dim order.

    Parameters
    ----------
    ds : xarray.Dataset
        Must hold ``data`` with dims ``(channel, time, trial)`` (any order),
        unique ``channel``/``trial`` labels, ``time`` in seconds strictly
        increasing, and ``units`` in attrs.
    check_finite : bool
        For dask-backed data, add a lazy NaN/inf check that raises when the
        data are computed. numpy data are always checked.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``data`` transposed to ``(channel, time, trial)``.

    Raises
    ------
    SchemaError
        Naming the field, what was expected and what was found.
    """
    if not isinstance(ds, xr.Dataset):
        raise SchemaError(f"sensor data must be an xarray.Dataset, got {describe(ds)}")
    if "data" not in ds.data_vars:
        raise SchemaError(
            f"sensor dataset must have a `data` variable; found {list(ds.data_vars)}"
        )
    data = _validate_array(ds["data"], SENSOR_DIMS, "sensor data", check_finite)
    units = data.attrs["units"]
    if "ch_type" in ds.coords:
        kinds = set(np.unique(_as_str(ds.coords["ch_type"].values)).tolist())
        for kind in kinds & set(SENSOR_UNITS):
            if len(kinds) == 1 and units not in SENSOR_UNITS[kind]:
                raise SchemaError(
                    f"sensor data of type {kind} must be in one of {SENSOR_UNITS[kind]}; "
                    f"found units {units!r}"
                )
    if data is ds["data"]:
        return ds
    return ds.assign(data=data)


def validate_gain(gain: xr.DataArray, *, check_finite: bool = False) -> xr.DataArray:
    """Check a gain matrix ``(channel, layer, vertex[, xyz])`` (units e.g. ``fT/nAm``).

    Returns
    -------
    xarray.DataArray
        Transposed to canonical order.
    """
    gain = _validate_array(gain, GAIN_DIMS, "gain", check_finite, optional=("xyz",))
    if "/" not in gain.attrs["units"]:
        raise SchemaError(
            f"gain units must be sensor units per source units, e.g. 'fT/nAm'; "
            f"found {gain.attrs['units']!r}"
        )
    return gain


def validate_projector(proj: xr.DataArray, *, check_finite: bool = False) -> xr.DataArray:
    """Check an inverse projector ``([window,] layer, vertex, channel)``.

    A leading ``window`` dim holds one projector per window of a
    sliding-window inversion.

    Returns
    -------
    xarray.DataArray
        Transposed to canonical order.
    """
    return _validate_array(proj, PROJECTOR_DIMS, "projector", check_finite, leading=("window",))


def validate_source(src: xr.DataArray, *, check_finite: bool = False) -> xr.DataArray:
    """Check a source estimate ``(layer, vertex, time, trial)``.

    Returns
    -------
    xarray.DataArray
        Transposed to canonical order.
    """
    return _validate_array(src, SOURCE_DIMS, "source estimate", check_finite)


def validate_mesh(mesh: xr.Dataset, *, check_finite: bool = False) -> xr.Dataset:
    """Check a multilayer mesh dataset.

    Checks dims and shapes of ``vertices (layer, vertex, xyz)`` and
    ``faces (face, corner)``, units (mm), integer faces, the ``layer``,
    ``vertex`` and ``depth`` coordinates, and the values: finite positions,
    face indices in range and unit-length ``orientation`` when present.

    Parameters
    ----------
    mesh : xarray.Dataset
    check_finite : bool
        Also check the values of dask-backed variables (computing them; meshes
        are small). numpy-backed values are always checked.

    Returns
    -------
    xarray.Dataset
        With variables transposed to canonical order.
    """
    if not isinstance(mesh, xr.Dataset):
        raise SchemaError(f"mesh must be an xarray.Dataset, got {describe(mesh)}")
    for var in ("vertices", "faces"):
        if var not in mesh.data_vars:
            raise SchemaError(f"mesh must have a `{var}` variable; found {list(mesh.data_vars)}")
    updates: dict[Hashable, Any] = {}
    pos = _conform_dims(mesh["vertices"], MESH_VERTEX_DIMS, "mesh vertices")
    if pos.sizes["xyz"] != 3:
        raise SchemaError(f"mesh vertices must have 3 coordinates, found {pos.sizes['xyz']}")
    _check_units(pos, "mesh vertices", ("mm",))
    faces = _conform_dims(mesh["faces"], FACE_DIMS, "mesh faces")
    if faces.sizes["corner"] != 3:
        raise SchemaError(
            f"mesh faces must be triangles (3 corners), found {faces.sizes['corner']} corners"
        )
    if not np.issubdtype(faces.dtype, np.integer):
        raise SchemaError(f"mesh faces must be integer indices, found dtype {faces.dtype}")
    for dim in ("layer", "vertex"):
        _check_coord(mesh, dim, "mesh")
    if "depth" not in mesh.coords:
        raise SchemaError("mesh is missing the `depth (layer)` coordinate")
    ori = None
    if "orientation" in mesh.data_vars:
        ori = _conform_dims(mesh["orientation"], MESH_VERTEX_DIMS, "mesh orientation")
        updates["orientation"] = ori
    if check_finite or not any(
        isinstance(v.data, da.Array) for v in (pos, faces, ori) if v is not None
    ):
        _check_mesh_values(pos.values, faces.values, None if ori is None else ori.values)
    updates["vertices"] = pos
    updates["faces"] = faces
    changed = {k: v for k, v in updates.items() if v is not mesh[k]}
    return mesh.assign(changed) if changed else mesh


def _check_mesh_values(pos: np.ndarray, tri: np.ndarray, ori: np.ndarray | None) -> None:
    if not np.all(np.isfinite(pos)):
        bad = np.unique(np.nonzero(~np.isfinite(pos))[1])
        raise SchemaError(f"mesh vertices contain NaN/inf at vertex {bad[:10].tolist()}")
    n_vertices = pos.shape[1]
    if tri.size and (tri.min() < 0 or tri.max() >= n_vertices):
        raise SchemaError(
            f"mesh faces index vertices outside 0..{n_vertices - 1}: "
            f"found range {tri.min()}..{tri.max()}"
        )
    if ori is not None:
        norms = np.linalg.norm(ori, axis=-1)
        if not np.allclose(norms, 1.0, atol=1e-4):
            worst = float(np.nanmax(np.abs(norms - 1.0)))
            raise SchemaError(
                f"mesh orientation must be unit vectors; largest deviation of the norm "
                f"from 1 is {worst:.3g}"
            )


def check_consistent(
    *,
    sensor: xr.Dataset | None = None,
    gain: xr.DataArray | None = None,
    mesh: xr.Dataset | None = None,
    projector: xr.DataArray | None = None,
) -> None:
    """Check that objects used together agree with each other.

    Checks that the sensor and gain (or projector) channel sets are equal
    (naming the channels that differ), that gain units are sensor units per
    source units, and that the gain's layers and vertices match the mesh.

    Raises
    ------
    SchemaError
    """
    if sensor is not None and gain is not None:
        _check_same_channels(sensor, gain, "gain")
        sensor_units = sensor["data"].attrs.get("units")
        numerator = str(gain.attrs.get("units", "")).split("/")[0]
        if sensor_units != numerator:
            raise SchemaError(
                f"units disagree: sensor data are in {sensor_units!r} but the gain is in "
                f"{gain.attrs.get('units')!r}; expected gain units '{sensor_units}/<source units>'"
            )
    if sensor is not None and projector is not None:
        _check_same_channels(sensor, projector, "projector")
    for name, obj in (("gain", gain), ("projector", projector)):
        if mesh is None or obj is None:
            continue
        for dim in ("layer", "vertex"):
            n_obj, n_mesh = obj.sizes[dim], mesh.sizes[dim]
            if n_obj != n_mesh:
                raise SchemaError(
                    f"{name} and mesh disagree on the number of {dim}s: "
                    f"{name} has {n_obj}, mesh has {n_mesh}"
                )
        if not np.array_equal(_as_str(obj["layer"].values), _as_str(mesh["layer"].values)):
            raise SchemaError(
                f"{name} and mesh layers differ: {obj['layer'].values.tolist()} vs "
                f"{mesh['layer'].values.tolist()}"
            )
        differ = np.flatnonzero(obj["vertex"].values != mesh["vertex"].values)
        if differ.size:
            raise SchemaError(
                f"{name} and mesh vertex labels differ at {differ.size} positions, first at "
                f"index {differ[0]}: {obj['vertex'].values[differ[0]]} vs "
                f"{mesh['vertex'].values[differ[0]]}"
            )


def _check_same_channels(sensor: xr.Dataset, other: xr.DataArray, name: str) -> None:
    a = set(_as_str(sensor["channel"].values).tolist())
    b = set(_as_str(other["channel"].values).tolist())
    if a != b:
        only_sensor = sorted(a - b)[:10]
        only_other = sorted(b - a)[:10]
        raise SchemaError(
            f"sensor data and {name} have different channels: only in sensor data "
            f"{only_sensor} ({len(a - b)} in all), only in {name} {only_other} "
            f"({len(b - a)} in all); select matching channels with .sel(channel=...)"
        )
