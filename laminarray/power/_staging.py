"""Stage intermediate (…, trial) results on disk so that peak memory does not grow with trials."""

from __future__ import annotations

import itertools
import os

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from .._compute import compute

__all__ = ["stage_trials"]


def stage_trials(
    arrays: dict[str, xr.DataArray],
    directory: str,
    *,
    progress: bool | None = None,
    chunks_per_pass: int | None = None,
) -> dict[str, xr.DataArray]:
    """Compute lazy arrays one trial chunk at a time into Zarr arrays, return lazy readers.

    A few trial chunks at a time are one computation (all vertex chunks of
    those trial chunks, then the next few), so that only their sensor
    features and blocks are in memory; the results go to uncompressed Zarr
    arrays under ``directory`` with the dask chunking of the inputs.

    Parameters
    ----------
    arrays : dict of str to xarray.DataArray
        dask-backed arrays with a ``trial`` dim, all chunked alike.
    directory : str
        An existing directory (e.g. a temporary one) for the Zarr arrays. On
        a multi-machine cluster it must be visible to every worker.
    progress : bool, optional
        Show a progress bar for each pass (default
        :func:`laminarray.options.show_progress`).
    chunks_per_pass : int, optional
        Trial chunks computed together (default: the number of CPUs, at most
        4, so that their sensor features are computed in parallel).

    Returns
    -------
    dict of str to xarray.DataArray
        The same arrays, backed by lazy Zarr reads with the same chunks.
    """
    if chunks_per_pass is None:
        chunks_per_pass = min(4, os.cpu_count() or 1)
    first = next(iter(arrays.values()))
    axis = first.get_axis_num("trial")
    targets = {
        name: zarr.create_array(
            store=f"{directory}/{name}",
            shape=array.shape,
            chunks=tuple(int(c[0]) for c in array.data.chunks),
            dtype=array.dtype,
            compressors=None,
        )
        for name, array in arrays.items()
    }
    bounds = np.cumsum((0, *first.data.chunks[axis]))[::chunks_per_pass]
    if bounds[-1] != first.sizes["trial"]:
        bounds = np.append(bounds, first.sizes["trial"])
    for start, stop in itertools.pairwise(bounds):
        region = tuple(
            slice(int(start), int(stop)) if i == axis else slice(None) for i in range(first.ndim)
        )
        store = da.store(
            [array.data[region] for array in arrays.values()],
            list(targets.values()),
            regions=[region] * len(arrays),
            lock=False,
            compute=False,
        )
        compute(store, progress=progress)
    return {
        name: array.copy(data=da.from_zarr(targets[name], chunks=array.data.chunks))
        for name, array in arrays.items()
    }
