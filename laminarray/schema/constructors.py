"""Constructors: well-formed labelled objects from numpy or dask arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import SchemaError
from ._vocabulary import (
    DEFAULT_UNITS,
    FACE_DIMS,
    GAIN_DIMS,
    MESH_VERTEX_DIMS,
    PROJECTOR_DIMS,
    SENSOR_DIMS,
    SOURCE_DIMS,
    XYZ,
    Labels,
    _as_array,
    _channel_coords,
    _layer_coords,
    _time_coord,
    _trial_coords,
    _vertex_coords,
    sampling_rate,
)
from .validators import (
    validate_gain,
    validate_mesh,
    validate_projector,
    validate_sensor,
    validate_source,
)


def sensor_dataset(
    data: Any,
    channels: Labels,
    times: Any,
    trials: Any = None,
    ch_types: str | Labels = "MEG",
    units: str | None = None,
    *,
    conditions: str | Labels | None = None,
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
        ds.attrs.setdefault("sfreq", sampling_rate(times))
    return validate_sensor(ds)


def gain_dataarray(
    values: Any,
    channels: Labels,
    layers: Labels | None = None,
    vertices: Any = None,
    units: str = "fT/nAm",
    *,
    depth: Any = None,
    hemi: Any = None,
    ch_types: str | Labels = "MEG",
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
    channels: Labels,
    layers: Labels | None = None,
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
    layers: Labels | None = None,
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
    layers: Labels | None = None,
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
