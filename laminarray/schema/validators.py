"""Validators: check a labelled object at a public boundary and return it in canonical form."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .. import plausibility
from .._validation import SchemaError, describe
from ._vocabulary import (
    FACE_DIMS,
    GAIN_DIMS,
    MESH_VERTEX_DIMS,
    PROJECTOR_DIMS,
    SENSOR_DIMS,
    SENSOR_UNITS,
    SOURCE_DIMS,
    _check_increasing,
    as_str,
    resolved_units,
    split_units,
)


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


def _check_time(obj: Any, what: str, n_trials: int = 1) -> None:
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
    plausibility.check_time_axis(values, what, n_trials)


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
        _check_time(obj, what, obj.sizes.get("trial", 1))
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
    data = _resolve(data, ds.coords.get("ch_units"))
    units = data.attrs["units"]
    if "ch_type" in ds.coords:
        kinds = set(np.unique(as_str(ds.coords["ch_type"].values)).tolist())
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
    return _resolve(gain, gain.coords.get("ch_units"))


def _resolve(var: xr.DataArray, ch_units: Any) -> xr.DataArray:
    """``var`` with ``units="mixed"`` resolved from the channels' units (see resolved_units)."""
    units = resolved_units(var.attrs["units"], None if ch_units is None else ch_units.values)
    return var if units == var.attrs["units"] else var.assign_attrs(units=units)


def validate_projector(proj: xr.DataArray, *, check_finite: bool = False) -> xr.DataArray:
    """Check an inverse projector ``([window,] layer, vertex, channel)``.

    A leading ``window`` dim holds one projector per window of a
    sliding-window inversion. A gain matrix (dims led by ``channel``, units
    sensor units per source units) is refused.

    Returns
    -------
    xarray.DataArray
        Transposed to canonical order.
    """
    if isinstance(proj, xr.DataArray):
        plausibility.check_projector_units(proj, "projector")
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
        sensor_units = resolved_units(
            sensor["data"].attrs.get("units", ""), sensor.coords.get("ch_units")
        )
        numerator, _ = split_units(
            resolved_units(gain.attrs.get("units", ""), gain.coords.get("ch_units"))
        )
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
                    f"{name} and mesh disagree on the number of "
                    f"{'vertices' if dim == 'vertex' else 'layers'}: "
                    f"{name} has {n_obj}, mesh has {n_mesh}"
                )
        if not np.array_equal(as_str(obj["layer"].values), as_str(mesh["layer"].values)):
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


def select_mesh_layers(mesh: xr.Dataset, obj: xr.DataArray, name: str) -> xr.Dataset:
    """The mesh restricted to the layers of ``obj`` (a gain or projector on some of its layers).

    A gain or projector selected to a subset of the mesh's layers (e.g.
    ``gain.sel(layer=["pial", "white"])``) is used with the whole mesh: the
    mesh is reduced to those layers, in ``obj``'s order.

    Raises
    ------
    SchemaError
        ``obj`` names a layer the mesh does not have.
    """
    wanted = as_str(obj["layer"].values)
    names = as_str(mesh["layer"].values)
    if np.array_equal(wanted, names):
        return mesh
    unknown = [str(x) for x in wanted if x not in set(names.tolist())]
    if unknown:
        raise SchemaError(
            f"{name} and mesh layers differ: {name} has layers {unknown} that the mesh "
            f"(layers {names.tolist()}) does not have"
        )
    return mesh.sel(layer=obj["layer"].values)


def _check_same_channels(sensor: xr.Dataset, other: xr.DataArray, name: str) -> None:
    a = set(as_str(sensor["channel"].values).tolist())
    b = set(as_str(other["channel"].values).tolist())
    if a != b:
        only_sensor = sorted(a - b)[:10]
        only_other = sorted(b - a)[:10]
        raise SchemaError(
            f"sensor data and {name} have different channels: only in sensor data "
            f"{only_sensor} ({len(a - b)} in all), only in {name} {only_other} "
            f"({len(b - a)} in all); select matching channels with .sel(channel=...)"
        )
