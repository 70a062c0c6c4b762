"""laMEG 0.2.1 source files (HDF5 schema "1.0") -> lazy labelled source estimates and archives.

laMEG's ``export_source_time_series_hdf5`` writes the source time series of
a sliding-window laminar inversion to one HDF5 file (design note lameg §3.3)::

    /source_ts          (layer, column, time[, trial])  float32
    /time_ms            (time,)      strictly increasing, milliseconds
    /woi_ms             (window, 2)  windows of the sliding inversion, ms
    /window_count       (time,)      windows averaged at each sample
    /layer_depth        (layer,)     0 = pial ... 1 = white
    /source_vertices    (layer, column, 3)  MNI positions of the sources, mm
    /bigbrain/          optional: edges (column, 7), weights (column, 6, layer),
                        labels (6,), valid_columns (column,)
    root attrs          lameg_schema_version = "1.0", subject_id, ...

:func:`read_lameg_dataset` maps it onto laminarray's data model (times in
seconds, laMEG's layer names, the BigBrain mapping as ``laminar_weights``),
reading the sources lazily in chunks straight from the file;
:func:`read_lameg_sources` returns just the source estimate and
:func:`lameg_to_archive` stores everything in a study archive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np
import xarray as xr
from dask.base import tokenize

from .. import schema
from .._compute import progress_bar
from ..surf.laminae import LAMINAE
from .errors import FileFormatError, MissingFileError

__all__ = ["LAMEG_SCHEMA_VERSION", "lameg_to_archive", "read_lameg_dataset", "read_lameg_sources"]

LAMEG_SCHEMA_VERSION = "1.0"
"""The laMEG source-file schema this reader understands."""

_REQUIRED = ("source_ts", "time_ms", "layer_depth")
_DEPTH_TOL = 1e-6


class _H5Array:
    """Array-like view of one HDF5 dataset that opens the file for every read.

    Picklable (it holds only the path and the dataset name), so dask graphs
    built on it run on threads, processes or a distributed cluster.
    """

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.name, self.shape, self.dtype = path, name, shape, dtype
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        with h5py.File(self.path, "r") as handle:
            return handle[self.name][key]


def _text(value: Any) -> Any:
    """HDF5 attribute value as a JSON-serialisable Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_text(v) for v in value.tolist()] if value.ndim else _text(value.item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_small(handle: h5py.File, name: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(handle[name][()])
    except KeyError:
        raise FileFormatError(f"{path}: laMEG source file lacks the `/{name}` dataset") from None


def _check_schema(handle: h5py.File, path: Path) -> dict[str, Any]:
    """Root attrs of a laMEG source file, after checking its schema version and datasets."""
    attrs = {key: _text(value) for key, value in handle.attrs.items()}
    version = attrs.get("lameg_schema_version")
    if version is None:
        raise FileFormatError(
            f"{path}: not a laMEG source file (no `lameg_schema_version` root attribute); "
            f"expected laMEG 0.2.1's export_source_time_series_hdf5 output, schema "
            f"{LAMEG_SCHEMA_VERSION!r}"
        )
    if str(version) != LAMEG_SCHEMA_VERSION:
        raise FileFormatError(
            f"{path}: laMEG source-file schema {str(version)!r} is not supported; this reader "
            f"understands schema {LAMEG_SCHEMA_VERSION!r} (laMEG 0.2.1)"
        )
    missing = [name for name in _REQUIRED if name not in handle]
    if missing:
        raise FileFormatError(f"{path}: laMEG source file lacks the datasets {missing}")
    return attrs


def _layer_names(depth: np.ndarray) -> list[str]:
    """laMEG's names from depths: ``pial``, then ``f"{1 - depth:.3f}"``, then ``white``."""
    names = [f"{1.0 - d:.3f}" for d in depth]
    names[0], names[-1] = "pial", "white"
    return names


def _check_axes(
    shape: tuple[int, ...], time_ms: np.ndarray, depth: np.ndarray, path: Path
) -> None:
    if len(shape) not in (3, 4):
        raise FileFormatError(
            f"{path}: `/source_ts` must be (layer, column, time[, trial]); found shape {shape}"
        )
    if time_ms.shape != (shape[2],) or not np.all(np.diff(time_ms) > 0):
        raise FileFormatError(
            f"{path}: `/time_ms` must hold {shape[2]} strictly increasing times; found "
            f"shape {time_ms.shape}"
        )
    if (
        depth.shape != (shape[0],)
        or depth.size < 2
        or abs(depth[0]) > _DEPTH_TOL
        or abs(depth[-1] - 1.0) > _DEPTH_TOL
        or not np.all(np.diff(depth) > 0)
    ):
        raise FileFormatError(
            f"{path}: `/layer_depth` must rise strictly from 0 (pial) to 1 (white) over the "
            f"{shape[0]} layers of `/source_ts`; found {depth.tolist()}"
        )


def _lazy_sources(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> da.Array:
    """``/source_ts`` as a dask array in archive-sized chunks (all layers and times per chunk)."""
    from ..archive import storage_chunks

    dims = schema.SOURCE_DIMS[: len(shape)]
    chunks = storage_chunks(dims, shape, dtype.itemsize)
    stat = path.stat()
    return da.from_array(
        _H5Array(str(path), "source_ts", shape, dtype),
        chunks=chunks,
        name=f"lameg-source-{tokenize(str(path), stat.st_size, stat.st_mtime_ns)}",
        asarray=True,
        meta=np.empty((0,) * len(shape), dtype),
    )


def _bigbrain(
    group: h5py.Group, path: Path, n_columns: int, layers: dict[str, Any]
) -> dict[str, Any]:
    """laMEG's ``/bigbrain`` group as ``laminar_weights`` (vertex, lamina, layer) + edges."""
    edges = _read_small(group, "edges", path).astype(np.float64)
    weights = _read_small(group, "weights", path).astype(np.float64)
    n_layers = len(layers["layer"][1])
    expected = {"edges": (n_columns, 7), "weights": (n_columns, 6, n_layers)}
    for name, array in (("edges", edges), ("weights", weights)):
        if array.shape != expected[name]:
            raise FileFormatError(
                f"{path}: `/bigbrain/{name}` must have shape {expected[name]}; found {array.shape}"
            )
    valid = (
        _read_small(group, "valid_columns", path).astype(bool)
        if "valid_columns" in group
        else np.all(np.isfinite(edges), axis=1)
    )
    coords = {
        "lamina": list(LAMINAE),
        "top": (("vertex", "lamina"), edges[:, :-1], {"long_name": "depth of lamina top"}),
        "bottom": (("vertex", "lamina"), edges[:, 1:], {"long_name": "depth of lamina bottom"}),
        "valid": ("vertex", valid),
        **layers,
    }
    return {
        "laminar_weights": xr.DataArray(
            weights,
            dims=("vertex", "lamina", "layer"),
            coords=coords,
            attrs={
                "units": "1",
                "long_name": "weights of the lamina mean of a piecewise-linear depth profile",
            },
        )
    }


def read_lameg_dataset(path: str | os.PathLike, *, units: str = "nAm") -> xr.Dataset:
    """Read a laMEG 0.2.1 source file (schema "1.0") into a lazy labelled Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file written by laMEG's ``export_source_time_series_hdf5``.
    units : str
        Units of the source values (laMEG stores SPM's ``M·U·Y``; default ``"nAm"``).

    Returns
    -------
    xarray.Dataset
        - ``source (layer, vertex, time, trial)``: dask-backed, read from the
          file chunk by chunk (a file without trials gets one trial); ``time``
          in seconds (laMEG's ms / 1000) with the ``window_count`` coordinate
          when present; laMEG's layer names and ``depth``.
        - ``source_position (layer, vertex, xyz)`` mm: laMEG's MNI-space
          ``source_vertices`` (when present).
        - ``laminar_weights (vertex, lamina, layer)`` with ``top``/``bottom``/
          ``valid`` coords, from the optional ``/bigbrain`` group (apply with
          :func:`laminarray.surf.to_laminae`).
        - coords ``window_start``/``window_end (window)`` in s from ``woi_ms``.
        - attrs: laMEG's root attributes under ``lameg`` and ``source_file``.

    Raises
    ------
    MissingFileError
        The file does not exist.
    FileFormatError
        Not a laMEG source file, another schema version, or inconsistent
        datasets (named with the expected and found shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"laMEG source file not found: {str(path)!r}")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not an HDF5 file ({exc})") from None
    with handle:
        attrs = _check_schema(handle, path)
        source = handle["source_ts"]
        shape, dtype = tuple(source.shape), source.dtype
        time_ms = _read_small(handle, "time_ms", path).astype(np.float64).ravel()
        depth = _read_small(handle, "layer_depth", path).astype(np.float64).ravel()
        _check_axes(shape, time_ms, depth, path)
        extra = {
            name: _read_small(handle, name, path)
            for name in ("woi_ms", "window_count", "source_vertices")
            if name in handle
        }
        bigbrain_group = handle.get("bigbrain")
        layers = {"layer": ("layer", _layer_names(depth)), "depth": ("layer", depth)}
        bigbrain = _bigbrain(bigbrain_group, path, shape[1], layers) if bigbrain_group else {}
    source_da = schema.source_dataarray(
        _lazy_sources(path, shape, dtype),
        time_ms / 1000.0,
        layers=_layer_names(depth),
        depth=depth,
        units=units,
        attrs={"long_name": "source current (laMEG sliding-window inversion)"},
    )
    if "window_count" in extra:
        counts = np.asarray(extra["window_count"]).ravel()
        if counts.shape != time_ms.shape:
            raise FileFormatError(
                f"{path}: `/window_count` must have {time_ms.size} values; found {counts.size}"
            )
        source_da = source_da.assign_coords(
            window_count=("time", counts, {"long_name": "windows averaged at this sample"})
        )
    data_vars: dict[str, Any] = {"source": source_da, **bigbrain}
    if "source_vertices" in extra:
        positions = np.asarray(extra["source_vertices"], dtype=np.float64)
        if positions.shape != (shape[0], shape[1], 3):
            raise FileFormatError(
                f"{path}: `/source_vertices` must have shape {(shape[0], shape[1], 3)}; "
                f"found {positions.shape}"
            )
        data_vars["source_position"] = xr.DataArray(
            positions,
            dims=schema.MESH_VERTEX_DIMS,
            coords={"xyz": list(schema.XYZ)},
            attrs={"units": "mm", "long_name": "source position (MNI, SPM forward mesh)"},
        )
    ds = xr.Dataset(
        data_vars,
        attrs={"source_file": str(path.absolute()), "lameg": attrs},
    )
    if "woi_ms" in extra:
        woi = np.asarray(extra["woi_ms"], dtype=np.float64).reshape(-1, 2) / 1000.0
        ds = ds.assign_coords(
            window_start=("window", woi[:, 0], {"units": "s"}),
            window_end=("window", woi[:, 1], {"units": "s"}),
        )
    return ds


def read_lameg_sources(path: str | os.PathLike, *, units: str = "nAm") -> xr.DataArray:
    """Read the source estimate of a laMEG 0.2.1 source file, lazily.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file of schema "1.0" (laMEG's ``export_source_time_series_hdf5``).
    units : str
        Units of the source values (default ``"nAm"``).

    Returns
    -------
    xarray.DataArray
        ``source (layer, vertex, time, trial)``, dask-backed (read from the
        file chunk by chunk when computed), ``time`` in seconds; the file's
        root attributes in ``attrs["lameg"]``. See :func:`read_lameg_dataset`
        for the positions, windows and BigBrain weights.

    Raises
    ------
    FileFormatError
        Not a laMEG source file or another schema version.
    """
    ds = read_lameg_dataset(path, units=units)
    return ds["source"].assign_attrs(lameg=ds.attrs["lameg"], source_file=ds.attrs["source_file"])


def lameg_to_archive(
    path: str | os.PathLike,
    store: str | os.PathLike,
    subject: str | None = None,
    name: str = "lameg",
    *,
    mode: str = "w",
    units: str = "nAm",
    progress: bool | None = None,
) -> str:
    """Convert a laMEG 0.2.1 source file into a group of a laminarray study archive.

    The sources are copied chunk by chunk (memory stays bounded by one
    chunk); times become seconds. Provenance records this function, its
    parameters and the input file's hash.

    Parameters
    ----------
    path : str or os.PathLike
        laMEG source file (HDF5, schema "1.0").
    store : str or os.PathLike
        Archive directory (created if missing).
    subject : str, optional
        Subject group; default the file's ``subject_id`` attribute.
    name : str
        Name of the source group: ``/<subject>/source/<name>``.
    mode : {"w", "w-"}
        Replace an existing group, or refuse to.
    units : str
        Units of the source values (default ``"nAm"``).
    progress : bool, optional
        Show a progress bar over the copied chunks on stderr (default
        :func:`laminarray.options.show_progress`).

    Returns
    -------
    str
        The group written, ``"<subject>/source/<name>"``.
    """
    from .. import archive

    ds = read_lameg_dataset(path, units=units)
    subject = subject if subject is not None else ds.attrs["lameg"].get("subject_id")
    if not subject:
        raise FileFormatError(
            f"{path}: the file has no `subject_id` attribute; pass `subject=` to lameg_to_archive"
        )
    group = f"{subject}/source/{name}"
    with progress_bar(progress):
        archive.save(
            ds,
            store,
            group,
            mode=mode,
            provenance={
                "function": "laminarray.io.lameg_to_archive",
                "parameters": {"subject": str(subject), "name": name, "units": units},
                "inputs": [str(path)],
            },
        )
    return group
