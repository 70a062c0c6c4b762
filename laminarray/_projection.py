"""Fused projection: project sensor blocks through projector blocks and reduce in one task.

A source estimate ``x = W · Y`` (``W`` the projector ``(layer, vertex,
channel)``, ``Y`` sensor data ``(channel, time, trial)``) is far too large to
materialise (225k sources x 600 samples x 500 trials). Analyses only ever
need a reduction of it (a window power, a trial average), so each task here
receives one projector block ``(layer, vertex-chunk, channel)`` and one
sensor-side block ``(feature..., trial-chunk)``, multiplies and reduces them
with a caller-supplied numpy ``kernel`` and returns only the reduced block.
No task output is larger than one output chunk, and peak memory is bounded by
the chunk sizes whatever the number of trials or vertices.

The sensor side need not be raw data: any per-trial sensor feature whose
leading axis is contracted by the kernel works (window samples, analytic
signals, channel covariances). Examples of use: :mod:`laminarray.power`.
"""

from __future__ import annotations

import math
import string
import warnings
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ._blas import blas_task
from ._validation import SchemaError
from .schema._vocabulary import as_str

__all__ = ["align_channels", "auto_chunk", "fused_projection", "project_block"]

#: Default working-set budget of one task's largest temporary, in bytes.
TASK_BYTES = 64 * 2**20


def project_block(projector: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Multiply a projector block onto a sensor-side block with one GEMM.

    Parameters
    ----------
    projector : ndarray, shape (n_layers, n_vertices, n_channels)
    features : ndarray, shape (n_channels, *feature_shape, n_trials)

    Returns
    -------
    ndarray, shape (n_layers, n_vertices, *feature_shape, n_trials)
        ``einsum("lvc,c...->lv...", projector, features)`` computed as a
        single ``(L·V, C) @ (C, F·K)`` matrix product.
    """
    n_layers, n_vertices, n_channels = projector.shape
    flat = np.ascontiguousarray(features).reshape(n_channels, -1)
    out = projector.reshape(n_layers * n_vertices, n_channels) @ flat
    return out.reshape(n_layers, n_vertices, *features.shape[1:])


def fused_projection(
    projector: da.Array,
    features: da.Array,
    kernel: Callable[..., np.ndarray],
    extra_shape: tuple[int, ...] = (),
    *,
    dtype: Any,
    per_trial_chunk: bool = False,
    name: str = "fused-projection",
    **kernel_kwargs: Any,
) -> da.Array:
    """Pair every projector vertex-chunk with every sensor trial-chunk in one task.

    Parameters
    ----------
    projector : dask.array.Array, shape (n_layers, n_vertices, n_channels)
        Chunked along ``vertex`` only (layer and channel must be one chunk).
    features : dask.array.Array, shape (n_features, *feature_shape, n_trials)
        Sensor-side features, chunked along the last (trial) axis only. The
        kernel contracts the leading axis (channels, or anything derived from
        them such as channel pairs).
    kernel : callable
        ``kernel(projector_block, feature_block, **kernel_kwargs)`` with numpy
        blocks of shapes ``(L, v, n_channels)`` and ``(n_features,
        *feature_shape, k)``, returning an array of shape ``(L, v,
        *extra_shape, k)`` (or ``(L, v, *extra_shape, 1)`` with
        ``per_trial_chunk``). Must be a picklable module-level function so that
        the graph runs on ``dask.distributed``. It runs with one BLAS thread
        (:mod:`laminarray._blas`): the dask threads are the parallelism.
    extra_shape : tuple of int
        Sizes of the output axes between ``vertex`` and ``trial``.
    dtype : numpy dtype
        Output dtype.
    per_trial_chunk : bool
        The kernel reduces over its trials and returns one partial result per
        trial chunk (e.g. a sum for a trial average); the output's last axis
        then has one entry per trial chunk, to be summed by the caller.
    name : str
        Prefix of the graph layer's name (shows in progress bars).
    **kernel_kwargs
        Static arguments passed to every kernel call (e.g. window sizes).

    Returns
    -------
    dask.array.Array, shape (n_layers, n_vertices, *extra_shape, n_trials or n_trial_chunks)
        Chunks: projector's vertex chunks x the features' trial chunks.
    """
    if projector.numblocks[0] != 1 or projector.numblocks[2] != 1:
        raise SchemaError(
            "fused_projection needs the projector's layer and channel axes in one chunk; "
            f"got chunks {projector.chunks}"
        )
    if any(n != 1 for n in features.numblocks[:-1]):
        raise SchemaError(
            "fused_projection needs every sensor feature axis but the last (trial) in one "
            f"chunk; got chunks {features.chunks}"
        )
    letters = iter(string.ascii_lowercase[4:])
    feature_ind = "".join(next(letters) for _ in range(features.ndim - 2))
    extra_ind = "".join(next(letters) for _ in extra_shape)
    with warnings.catch_warnings():
        # every (vertex chunk, trial chunk) pair is one task by design
        warnings.simplefilter("ignore", da.PerformanceWarning)
        out = da.blockwise(
            blas_task(kernel),
            "lv" + extra_ind + "k",
            projector,
            "lvc",
            features,
            "d" + feature_ind + "k",
            new_axes=dict(zip(extra_ind, extra_shape, strict=True)),
            adjust_chunks={"k": 1} if per_trial_chunk else None,
            dtype=dtype,
            concatenate=True,
            name=f"{name}-{da.core.tokenize(projector, features, kernel, extra_shape, kernel_kwargs)}",
            meta=np.empty((0,) * (3 + len(extra_shape)), dtype=dtype),
            **kernel_kwargs,
        )
    return out


def align_channels(sensor: xr.DataArray, projector: xr.DataArray) -> xr.DataArray:
    """Select and order the sensor channels as the projector's ``channel`` coordinate.

    Parameters
    ----------
    sensor : xarray.DataArray, dims (channel, time, trial)
    projector : xarray.DataArray, dims (layer, vertex, channel)

    Returns
    -------
    xarray.DataArray
        ``sensor`` restricted to the projector's channels, in its order.

    Raises
    ------
    SchemaError
        If the projector uses channels the sensor data do not have.
    """
    wanted = as_str(projector["channel"].values)
    have = as_str(sensor["channel"].values)
    missing = np.setdiff1d(wanted, have)
    if missing.size:
        raise SchemaError(
            f"the projector uses {missing.size} channels the sensor data lack, e.g. "
            f"{missing[:5].tolist()}; was the inverse computed for other sensor data?"
        )
    if np.array_equal(wanted, have):
        return sensor
    return sensor.sel(channel=wanted)


def auto_chunk(total: int, bytes_per_item: float, budget: float = TASK_BYTES) -> int:
    """Largest chunk length along an axis of ``total`` items that keeps a block within budget.

    Parameters
    ----------
    total : int
        Length of the axis.
    bytes_per_item : float
        Bytes one index along the axis costs in the task's largest temporary.
    budget : float
        Bytes allowed (default :data:`TASK_BYTES`).

    Returns
    -------
    int
        Between 1 and ``total``, balanced so that chunks have nearly equal size.
    """
    size = max(1, min(total, int(budget // max(bytes_per_item, 1.0))))
    n_chunks = math.ceil(total / size)
    return math.ceil(total / n_chunks)
