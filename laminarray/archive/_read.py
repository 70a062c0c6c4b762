"""Opening study archives lazily."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import xarray as xr
import zarr

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
    store = StrictStore.at(root)
    try:
        tree = xr.open_datatree(store, engine="zarr", consolidated=True, zarr_format=3, chunks={})
    except (KeyError, FileNotFoundError) as exc:
        raise ArchiveError(f"cannot open {root}: {exc}") from exc
    return xr.DataTree.from_dict(
        {
            node.path: _load_labels(node.to_dataset(inherit=False), store, node.path)
            for node in tree.subtree
        }
    )


def _load_labels(ds: xr.Dataset, store: StrictStore, path: str) -> xr.Dataset:
    """Read the string variables (labels: channel, hemi, condition...) into memory as ``str``.

    Labels are small; reading them straight from Zarr (not through dask)
    keeps ``open`` free of dask computations, and turns Zarr 3's
    variable-width strings (numpy ``StringDType``, which much numpy code
    cannot handle: ``astype(str)`` fails) into ordinary fixed-width ``str``.
    """
    prefix = path.strip("/")
    strings = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "OT":
            continue
        if isinstance(var.data, da.Array):
            key = f"{prefix}/{name}" if prefix else str(name)
            values = zarr.open_array(store, path=key, mode="r", zarr_format=3)[...]
        else:
            values = np.asarray(var.values)
        strings[name] = var.copy(data=np.asarray(values).astype(object).astype(str))
    if not strings:
        return ds
    ds = ds.assign_coords({k: v for k, v in strings.items() if k in ds.coords})
    return ds.assign({k: v for k, v in strings.items() if k in ds.data_vars})
