"""Opening study archives lazily, on one snapshot."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from .._validation import ArchiveError
from . import _layout
from ._snapshot import Snapshot
from ._store import StrictStore


def open(store: str | os.PathLike) -> xr.DataTree:
    """Open a study archive as a lazy, dask-backed DataTree of one consistent version.

    The tree reads the version of the archive that is committed when it is
    opened, for as long as any of its variables lives, whatever writers do
    meanwhile: later saves and appends create new versions and leave this one
    in place until it is released (see docs/archives.md, "Snapshot reads").
    Before returning, the archive's schema version is checked, the
    consolidated metadata are compared with every node's own metadata, and
    every group is checked for its completion marker and for every chunk
    listed in its manifest; later reads raise an :class:`ArchiveError` if a
    chunk has gone missing, instead of returning Zarr's fill value. Data are
    read only when computed, chunk by chunk (the dask chunks are the storage
    chunks).

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
        Missing archive, newer schema version, consolidated metadata that
        differ from the stored nodes, incomplete group or missing chunk.
    """
    root = _layout.archive_path(store)
    snapshot = Snapshot(root)
    _layout.check_root(snapshot.path, root)
    problems = [
        (_layout.group_name(group), variable, message)
        for group, variable, message in _layout.consolidation_problems(snapshot.path)
    ]
    for parts, path in _layout.iter_groups(snapshot.path):
        problems += [
            (_layout.group_name(parts), v, m) for v, m in _layout.group_file_problems(path)
        ]
    if problems:
        group, variable, message = problems[0]
        where = group + (f" variable {variable!r}" if variable else "")
        raise ArchiveError(f"{root}: {where}: {message}")
    store = StrictStore.of(snapshot)
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
