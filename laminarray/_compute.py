"""Computing dask-backed results with optional progress display, locally or on a cluster."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Hashable, Iterator
from typing import Any

import dask
import dask.array as da
import xarray as xr
from dask.diagnostics import ProgressBar

from .options import show_progress

__all__ = ["active_client", "compute", "progress_bar"]


def active_client() -> Any:
    """The current ``dask.distributed`` client, or None (also when distributed is absent)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def compute(*objects: Any, progress: bool | None = None) -> tuple[Any, ...]:
    """Compute dask arrays and xarray objects together.

    Parameters
    ----------
    *objects
        Dask arrays, xarray Datasets/DataArrays (their dask-backed variables
        are computed; numpy-backed ones pass through) or anything
        :func:`dask.compute` accepts. Shared graph parts are computed once.
    progress : bool, optional
        Show progress: distributed's text/notebook progress bar when a
        ``dask.distributed`` Client is active, dask's :class:`ProgressBar`
        (on stderr) for the local (threaded, processes, synchronous)
        schedulers. Default: :func:`laminarray.options.show_progress`.

    Returns
    -------
    tuple
        The computed objects, in order.
    """
    slots: list[tuple[int, Hashable | None]] = []
    arrays: list[Any] = []
    for i, obj in enumerate(objects):
        if isinstance(obj, xr.Dataset | xr.DataArray):
            variables = obj.variables if isinstance(obj, xr.Dataset) else {None: obj.variable}
            for name, var in variables.items():
                if isinstance(var.data, da.Array):
                    slots.append((i, name))
                    arrays.append(var.data)
        else:
            slots.append((i, None))
            arrays.append(obj)
    values = _run(arrays, show_progress(progress))
    results = list(objects)
    for (i, name), value in zip(slots, values, strict=True):
        obj = results[i]
        if isinstance(obj, xr.Dataset):
            results[i] = obj.assign({name: obj[name].copy(data=value)})
        elif isinstance(obj, xr.DataArray):
            results[i] = obj.copy(data=value)
        else:
            results[i] = value
    return tuple(results)


@contextlib.contextmanager
def progress_bar(progress: bool | None = None) -> Iterator[None]:
    """Show dask's progress bar (stderr) for the local computations run inside the block.

    For code that computes through another library (e.g. xarray's
    ``to_zarr``); a no-op when progress is off
    (:func:`laminarray.options.show_progress`) or a distributed Client is
    active (its dashboard reports progress).
    """
    if show_progress(progress) and active_client() is None:
        with ProgressBar(out=sys.stderr):
            yield
    else:
        yield


def _run(arrays: list[Any], progress: bool) -> tuple[Any, ...]:
    """``dask.compute`` of plain dask collections, with the right progress display."""
    if not progress:
        return dask.compute(*arrays)
    client = active_client()
    if client is not None:
        from distributed import progress as distributed_progress

        persisted = client.persist(arrays)
        distributed_progress(persisted)
        return dask.compute(*persisted)
    with ProgressBar(out=sys.stderr):
        return dask.compute(*arrays)
