"""Grid search of stimulus-transform expression over (layer, vertex) and latency.

For every source and every requested latency, :func:`gridsearch` asks how
strongly the source's activity follows a stimulus transform (a loudness or
pitch time series, ...) delayed by that latency, and returns log10 p-values
as an expression set (see :mod:`laminarray.expression.expression_set`).

The computation is fused with the inverse projection: sensor data are
low-pass filtered, decimated to the transform's rate and cut into segments
once, in sensor space (the projection is linear, so this is exact and far
cheaper than doing it per source); each task then projects one block of
vertices, takes the FFT of its segments, cross-correlates them with the
transform and reduces the correlations to p-values, one batch of sources at
a time. Source time series never exist beyond one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import scipy.fft
import xarray as xr

from .. import schema
from .._compute import compute
from .._projection import align_channels, auto_chunk, fused_projection
from .._validation import LaminarrayError, check_positive, describe, validate_type
from ..options import task_budget
from ..plausibility import check_amplitude
from . import _kernels
from .expression_set import LATENCY_ATTRS, LOG_P_ATTRS

__all__ = ["gridsearch"]

#: Projector per task when the projector is numpy-backed, as a multiple of the
#: ``task_bytes`` option (16 MiB at the default).
_PROJECTOR_SCALE = 0.25
#: Samples filtered at a time when the sensor data are numpy-backed.
_TIME_BLOCK = 2**16


def gridsearch(
    sensor: xr.Dataset,
    inverse: xr.Dataset | xr.DataArray | None,
    transform: xr.DataArray | xr.Dataset | Sequence[xr.DataArray],
    latencies: Any,
    *,
    seconds_per_split: float = 1.0,
    n_splits: int = 400,
    n_derangements: int = 1,
    layers: str | Sequence[str] | None = None,
    roi: Any = None,
    stimulus_shift_correction: float = 0.0,
    stimulus_delivery_latency: float = 0.0,
    seed: int = 0,
    chunks: int | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Map where and when sources express a stimulus transform (kymata's grid search).

    The transform's time course is cut into ``n_splits`` consecutive splits
    of ``seconds_per_split``. For split ``i`` and latency ``lat``, each
    source's activity in the window starting ``lat`` after the split's onset
    is correlated (Pearson) with the split. The true pairings (split ``i``
    with its own window) are compared with a null of deranged pairings
    (split ``i`` with the window of another split) by Welch's t-test on
    Fisher-z correlations, per source and latency: the null of a source is
    pooled over derangements, splits and latencies (as in kymata; a deranged
    pairing has no relation to the transform at any latency, so pooling
    gives a stable null estimate). p-values are two-sided (a source's sign
    is arbitrary).

    Parameters
    ----------
    sensor : xarray.Dataset
        Sensor data ``data (channel, time, trial)`` (fT), sampled uniformly
        at a rate at least the transform's. Several trials are averaged
        (repetitions of the same stimulus). With ``inverse=None``, channels
        flagged ``bad`` are left out.
    inverse : xarray.Dataset or xarray.DataArray or None
        An inverse dataset holding ``projector (layer, vertex, channel)``
        (nAm/fT), or the projector itself; its channels must all be in
        ``sensor``. ``None`` runs the search on the sensor channels.
    transform : xarray.DataArray or xarray.Dataset or sequence of DataArray
        Transform time series with a ``time`` coordinate (s) at their own
        uniform sample rate; a DataArray's ``name`` is the transform's name,
        a Dataset's variables are several transforms on one time axis. Time
        0 of the transform is time 0 of the recording (e.g. stimulus onset).
        Transforms are loaded into memory (they are small).
    latencies : array_like, shape (n_latencies,)
        Latencies (s) to test, multiples of the transform's sample period
        (may be negative).
    seconds_per_split : float
        Split length (s); rounded to whole transform samples.
    n_splits : int
        Number of splits (>= 2); the transform must be at least
        ``n_splits * seconds_per_split`` long.
    n_derangements : int
        Number of deranged pairings forming the null (>= 1).
    layers : str or sequence of str, optional
        Layers to search (default all).
    roi : array_like, optional
        Vertices to search: vertex labels, or a boolean mask over ``vertex``
        (numpy array or DataArray).
    stimulus_shift_correction : float
        Clock drift of the stimulus relative to the recording (s per s): the
        transform's time ``tau`` happens at recording time
        ``tau * (1 + stimulus_shift_correction) + stimulus_delivery_latency``.
    stimulus_delivery_latency : float
        Constant delay (s) between the transform's clock and the recording.
    seed : int
        Seed of the derangements.
    chunks : int, optional
        Vertices (or channels in sensor space) per task. Default: the
        projector's vertex chunks if it is dask-backed, else blocks of about
        16 MB of projector.
    progress : bool, optional
        Show a progress bar while computing numpy-backed inputs, on stderr
        (default :func:`laminarray.options.show_progress`).

    Returns
    -------
    xarray.Dataset
        An expression set: ``log_p (transform, layer, vertex, latency)``
        (``(transform, channel, latency)`` in sensor space), float64, log10
        of the p-value, with the projector's ``layer``/``depth``/``vertex``/
        ``hemi`` coords, ``latency`` in s and the settings in attrs. Lazy if
        the sensor data or the projector are dask-backed, else computed.
        Peak memory is the sensor segments (channels x splits x segment
        samples, float32) plus, per thread, one projector chunk and one batch
        of source segments (about 64 MB), whatever the number of sources.

    Raises
    ------
    LaminarrayError
        Naming the argument and the expected and actual values (too short a
        recording or transform, off-grid latencies, unknown layers, ...).
    """
    sensor = schema.validate_sensor(sensor)
    check_amplitude(sensor, lazy_ok=False)
    names, values, t_start, sfreq = _transforms(transform)
    lags = _lags(latencies, sfreq)
    n_splits = _count(n_splits, "n_splits", 2)
    n_derangements = _count(n_derangements, "n_derangements", 1)
    length = round(check_positive("seconds_per_split", seconds_per_split) * sfreq)
    if length < 3:
        raise LaminarrayError(
            f"`seconds_per_split` must span at least 3 transform samples at {sfreq:g} Hz; "
            f"got {seconds_per_split} s ({length} samples)"
        )
    if n_splits * length > values.shape[1]:
        raise LaminarrayError(
            f"the transform is too short for {n_splits} splits of {length / sfreq:g} s: it has "
            f"{values.shape[1]} samples ({values.shape[1] / sfreq:g} s), needs "
            f"{n_splits * length}; use n_splits <= {values.shape[1] // length}"
        )
    projector = None if inverse is None else _select(schema.as_projector(inverse), layers, roi)
    if inverse is None and (layers is not None or roi is not None):
        raise LaminarrayError("`layers` and `roi` select sources; they need an `inverse`")
    data = _sensor_data(sensor, projector)
    n_samples = length + int(lags.max() - lags.min())
    drift = 1.0 + float(stimulus_shift_correction)
    split_onsets = (t_start + np.arange(n_splits) * length / sfreq) * drift
    starts = split_onsets + float(stimulus_delivery_latency) + lags.min() / sfreq
    segments = _segments(data, starts, n_samples, sfreq)
    n_fft = scipy.fft.next_fast_len(n_samples, real=True)
    splits = values[:, : n_splits * length].reshape(len(names), n_splits, length)
    spectra = _kernels.transform_spectra(splits, n_fft).astype(np.complex64)
    # derangement d pairs transform split i with segment d[i]: segment j meets split argsort(d)[j]
    nulls = np.argsort(_kernels.derangements(n_splits, n_derangements, seed), axis=1)
    partners = np.vstack([np.arange(n_splits), nulls])
    kwargs = {"partners": partners, "lags": lags - lags.min(), "length": length}
    if projector is None:
        log_p, coords = _sensor_space(segments, spectra, data, chunks, kwargs)
    else:
        log_p, coords = _source_space(segments, spectra, projector, chunks, kwargs)
    coords["transform"] = ("transform", np.asarray(names, dtype=str))
    coords["latency"] = ("latency", lags / sfreq, dict(LATENCY_ATTRS))
    dims = ("transform", *[d for d in ("layer", "vertex", "channel") if d in coords], "latency")
    attrs = {
        "space": "sensor" if projector is None else "source",
        "sfreq": sfreq,
        "seconds_per_split": length / sfreq,
        "n_splits": n_splits,
        "n_derangements": n_derangements,
        "seed": int(seed),
        "stimulus_shift_correction": float(stimulus_shift_correction),
        "stimulus_delivery_latency": float(stimulus_delivery_latency),
        "statistic": "Welch t-test of Fisher-z correlations, true vs deranged pairings "
        "(null pooled over splits, derangements and latencies), two-sided",
    }
    result = xr.Dataset({"log_p": (dims, log_p, dict(LOG_P_ATTRS))}, coords=coords, attrs=attrs)
    lazy = isinstance(data.data, da.Array) or (
        projector is not None and isinstance(projector.data, da.Array)
    )
    return result if lazy else compute(result, progress=progress)[0]


# --------------------------------------------------------------------------- inputs


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise LaminarrayError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _sample_rate(times: np.ndarray, what: str) -> float:
    steps = np.diff(times)
    if steps.size == 0:
        raise LaminarrayError(f"{what} must have at least 2 time samples, got {times.size}")
    period = float(np.median(steps))
    if np.max(np.abs(steps - period)) > 0.01 * period:
        raise LaminarrayError(
            f"{what} must be uniformly sampled; time steps range from {steps.min():.6g} s "
            f"to {steps.max():.6g} s"
        )
    # nine significant digits drop the float noise of a time axis: 100.0, not 100.0000000002
    return float(f"{1.0 / period:.9g}")


def _transforms(transform: Any) -> tuple[list[str], np.ndarray, float, float]:
    """Names, values (n_transforms, n_times) float64, start time and rate of the transform(s)."""
    if isinstance(transform, xr.Dataset):
        arrays = [transform[name] for name in transform.data_vars]
    elif isinstance(transform, xr.DataArray):
        arrays = [transform]
    else:
        validate_type(transform, (list, tuple), "transform")
        arrays = [validate_type(a, xr.DataArray, "transform") for a in transform]
    if not arrays:
        raise LaminarrayError("`transform` must hold at least one transform, got none")
    times = None
    names, rows = [], []
    for array in arrays:
        if array.dims != ("time",) or "time" not in array.coords:
            raise LaminarrayError(
                f"`transform` must be 1-D over a `time` coordinate (s); got {describe(array)}"
            )
        if array.name is None:
            raise LaminarrayError("`transform` needs a name: use transform.rename('loudness')")
        t = np.asarray(array["time"].values, dtype=np.float64)
        if times is not None and not np.array_equal(t, times):
            raise LaminarrayError("transforms computed together must share one `time` axis")
        times = t
        names.append(str(array.name))
        rows.append(np.asarray(array.values, dtype=np.float64))
    if len(set(names)) != len(names):
        raise LaminarrayError(f"transform names must be unique, got {names}")
    values = np.stack(rows)
    if not np.all(np.isfinite(values)):
        raise LaminarrayError("`transform` contains NaN/inf values")
    assert times is not None
    return names, values, float(times[0]), _sample_rate(times, "`transform`")


def _lags(latencies: Any, sfreq: float) -> np.ndarray:
    values = np.atleast_1d(np.asarray(latencies, dtype=np.float64))
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise LaminarrayError(
            f"`latencies` must be a non-empty 1-D array of finite seconds, got {describe(values)}"
        )
    samples = values * sfreq
    lags = np.rint(samples).astype(np.int64)
    off = np.abs(samples - lags) > 0.01
    if np.any(off):
        raise LaminarrayError(
            f"`latencies` must be multiples of the transform's sample period "
            f"{1000 / sfreq:g} ms; {values[off][:5].tolist()} s are not"
        )
    if np.unique(lags).size != lags.size:
        raise LaminarrayError(f"`latencies` must be unique; got {values.tolist()[:10]}...")
    return lags


def _select(projector: xr.DataArray, layers: Any, roi: Any) -> xr.DataArray:
    projector = schema.select_layers(projector, layers)
    if roi is not None:
        vertices = np.asarray(projector["vertex"].values)
        projector = projector.isel(
            vertex=np.flatnonzero(schema.resolve_roi(roi, None, vertices, within="projector"))
        )
        if projector.sizes["vertex"] == 0:
            raise LaminarrayError("`roi` selects no vertex")
    return projector


def _sensor_data(sensor: xr.Dataset, projector: xr.DataArray | None) -> xr.DataArray:
    """Trial-averaged ``(channel, time)`` data in the projector's channel order."""
    data = sensor["data"]
    if projector is None:
        if "bad" in data.coords:
            data = data.isel(channel=~data["bad"].values.astype(bool))
    else:
        data = align_channels(data, projector)
    if data.sizes["channel"] == 0:
        raise LaminarrayError("no sensor channel to search (all are flagged bad)")
    return data.mean("trial") if data.sizes["trial"] > 1 else data.isel(trial=0)


def _segments(data: xr.DataArray, starts: np.ndarray, n_samples: int, sfreq: float) -> Any:
    """Sensor segments ``(channel, split, sample)`` at ``sfreq``, float32, mean-removed."""
    times = np.asarray(data["time"].values, dtype=np.float64)
    sfreq_in = _sample_rate(times, "sensor data")
    if sfreq_in < sfreq * (1 - 1e-6):
        raise LaminarrayError(
            f"sensor data ({sfreq_in:g} Hz) must be sampled at least at the transform's rate "
            f"({sfreq:g} Hz)"
        )
    index = _kernels.segment_indices(starts, n_samples, sfreq_in, sfreq, times[0])
    if index.min() < 0 or index.max() >= times.size:
        first, last = starts.min(), starts.max() + (n_samples - 1) / sfreq
        raise LaminarrayError(
            f"the recording ({times[0]:g} s to {times[-1]:g} s) must cover every split's window "
            f"at every latency, {first:g} s to {last:g} s; reduce n_splits or the latency range"
        )
    taps = (
        _kernels.lowpass_taps(sfreq_in, 0.45 * sfreq).astype(np.float32)
        if sfreq_in > sfreq * (1 + 1e-6)
        else np.ones(1, np.float32)
    )
    # segments overlap: filter each needed sample once, in time order, then spread the samples
    # over the segments within one chunk
    needed, where = np.unique(index, return_inverse=True)
    picked = _filtered_samples(data.data, needed, taps)
    where = where.reshape(index.shape)
    if not isinstance(picked, da.Array):
        return _kernels.cut_segments(picked, where)
    return picked.map_blocks(
        _kernels.cut_segments, where, chunks=(picked.shape[0], *index.shape), new_axis=2,
        dtype=np.float32,
    )  # fmt: skip


def _filtered_samples(array: Any, needed: np.ndarray, taps: np.ndarray) -> Any:
    """Low-pass filtered ``array (channel, time)`` at the sorted samples ``needed``.

    One task per time chunk (dask) or block of :data:`_TIME_BLOCK` samples
    (numpy) holding needed samples: it filters that stretch plus half the
    filter length on each side and keeps only the needed samples, so memory
    stays about one chunk per thread.
    """
    lazy = isinstance(array, da.Array)
    edges = np.cumsum((0, *array.chunks[1])) if lazy else np.arange(0, array.shape[1], _TIME_BLOCK)
    owner = np.searchsorted(edges, needed, side="right") - 1
    half = taps.size // 2
    pieces = []
    for block in np.unique(owner):
        positions = needed[owner == block]
        start = max(0, int(positions[0]) - half)
        stop = min(array.shape[1], int(positions[-1]) + half + 1)
        window = array[:, start:stop]
        if not lazy:
            pieces.append(_kernels.filter_at(window, positions - start, taps))
            continue
        pieces.append(
            window.rechunk(-1).map_blocks(
                _kernels.filter_at,
                positions=positions - start,
                taps=taps,
                chunks=(array.shape[0], positions.size),
                dtype=array.dtype,
            )
        )
    return da.concatenate(pieces, axis=1).rechunk(-1) if lazy else np.concatenate(pieces, axis=1)


# --------------------------------------------------------------------------- graphs


def _source_space(
    segments: Any, spectra: np.ndarray, projector: xr.DataArray, chunks: int | None, kwargs: dict
) -> tuple[da.Array, dict[str, Any]]:
    n_layers, n_vertices, n_channels = projector.shape
    proj = projector.data
    if chunks is None:
        per_vertex = n_layers * n_channels * proj.dtype.itemsize
        chunks = (
            proj.chunks[1]
            if isinstance(proj, da.Array)
            else auto_chunk(n_vertices, per_vertex, task_budget(_PROJECTOR_SCALE))
        )
    else:
        chunks = _count(chunks, "chunks", 1)
    n_transforms, n_lags = spectra.shape[0], kwargs["lags"].size
    fused = fused_projection(
        da.asarray(proj).rechunk({0: -1, 1: chunks, 2: -1}),
        da.asarray(segments)[..., None].rechunk(-1),  # a single "trial": the averaged recording
        _kernels.fused_source_block,
        (n_transforms, n_lags),
        dtype=np.float64,
        name="expression-gridsearch",
        spectra=spectra,
        **kwargs,
    )
    coords = {
        name: coord.variable
        for name, coord in projector.coords.items()
        if set(coord.dims) <= {"layer", "vertex"}
    }
    return fused[..., 0].transpose(2, 0, 1, 3), coords


def _sensor_space(
    segments: Any, spectra: np.ndarray, data: xr.DataArray, chunks: int | None, kwargs: dict
) -> tuple[da.Array, dict[str, Any]]:
    per_task = -1 if chunks is None else _count(chunks, "chunks", 1)
    log_p = da.blockwise(
        _kernels.sensor_block, "tck",
        da.asarray(segments).rechunk({0: per_task, 1: -1, 2: -1}), "cin",
        da.from_array(spectra, chunks=-1), "tif",
        new_axes={"k": kwargs["lags"].size},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
        **kwargs,
    )  # fmt: skip
    coords = {
        name: coord.variable for name, coord in data.coords.items() if coord.dims == ("channel",)
    }
    return log_p, coords
