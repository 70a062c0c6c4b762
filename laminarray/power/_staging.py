"""Stage intermediate (…, trial) results on disk so that peak memory does not grow with trials."""

from __future__ import annotations

import itertools

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from .._compute import compute

__all__ = ["stage_trials"]


def stage_trials(
    arrays: dict[str, xr.DataArray], directory: str, *, progress: bool = False
) -> dict[str, xr.DataArray]:
    """Compute lazy arrays one trial chunk at a time into Zarr arrays, return lazy readers.

    Each trial chunk is a separate computation (all vertex chunks of that
    trial chunk, then the next), so only one trial chunk's sensor features
    and blocks are in memory at a time; the results go to uncompressed Zarr
    arrays under ``directory`` with the dask chunking of the inputs.

    Parameters
    ----------
    arrays : dict of str to xarray.DataArray
        dask-backed arrays with a ``trial`` dim, all chunked alike.
    directory : str
        An existing directory (e.g. a temporary one) for the Zarr arrays. On
        a multi-machine cluster it must be visible to every worker.
    progress : bool
        Show a progress bar for each trial chunk.

    Returns
    -------
    dict of str to xarray.DataArray
        The same arrays, backed by lazy Zarr reads with the same chunks.
    """
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
    bounds = np.cumsum((0, *first.data.chunks[axis]))
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
