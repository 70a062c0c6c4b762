"""Opening study archives lazily."""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .._validation import ArchiveError
from . import _layout
from ._store import StrictStore


def open(store: str | os.PathLike) -> xr.DataTree:
    """Open a study archive as a lazy, dask-backed DataTree.

    Before returning, the archive's schema version is checked and every group
    is checked for its completion marker and for every chunk listed in its
    manifest; later reads raise an :class:`ArchiveError` if a chunk has gone
    missing, instead of returning Zarr's fill value. Data are read only when
    computed, chunk by chunk (the dask chunks are the storage chunks).

    Parameters
    ----------
    store : str or os.PathLike
        Archive directory written by :func:`laminarray.archive.save`.

    Returns
    -------
    xarray.DataTree
        One node per group (``/<subject>/mesh``, ``/<subject>/sensor``...),
        variables backed by dask arrays, with their ``units`` and ``long_name``.

    Raises
    ------
    ArchiveError
        Missing archive, newer schema version, incomplete group or missing chunk.
    """
    root = _layout.archive_path(store)
    _layout.try_recover(root)
    _layout.check_root(root)
    for parts, path in _layout.iter_groups(root):
        problems = _layout.group_file_problems(path)
        if problems:
            variable, message = problems[0]
            where = _layout.group_name(parts) + (f" variable {variable!r}" if variable else "")
            raise ArchiveError(f"{root}: {where}: {message}")
    try:
        tree = xr.open_datatree(
            StrictStore.at(root), engine="zarr", consolidated=True, zarr_format=3, chunks={}
        )
    except (KeyError, FileNotFoundError) as exc:
        raise ArchiveError(f"cannot open {root}: {exc}") from exc
    return tree.map_over_datasets(labels_as_str)


def labels_as_str(ds: xr.Dataset) -> xr.Dataset:
    """String variables (labels: channel, layer, hemi, condition...) as classic numpy strings.

    Zarr 3 strings read back as numpy's variable-width ``StringDType``, which
    much numpy code cannot handle (``astype(str)`` fails). In-memory labels
    (index coordinates) become fixed-width ``str``; dask-backed ones stay lazy
    as ``object`` arrays of ``str``.
    """
    strings = {
        name: var.copy(data=_as_classic_strings(var.data))
        for name, var in ds.variables.items()
        if var.dtype.kind in "OT"
    }
    if not strings:
        return ds
    ds = ds.assign_coords({k: v for k, v in strings.items() if k in ds.coords})
    return ds.assign({k: v for k, v in strings.items() if k in ds.data_vars})


def _as_classic_strings(data: Any) -> Any:
    if isinstance(data, da.Array):
        return data.map_blocks(_as_object, dtype=object)
    return _as_object(np.asarray(data)).astype(str)


def _as_object(block: np.ndarray) -> np.ndarray:
    return block.astype(object)
