"""Window power of every source and trial, fused with the projection (lazy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .. import schema
from .._projection import align_channels, as_dask, auto_chunk, fused_projection
from .._validation import LaminarrayError, SchemaError, check_option
from ..options import task_budget
from ..plausibility import check_amplitude, check_window
from . import _features

__all__ = ["covered_samples", "window_power"]

MEASURES = ("variance", "envelope")
ALGORITHMS = ("auto", "modes", "covariance", "projection")
UNCOVERED = ("drop", "zero")
#: Working arrays of one fused task (projected window samples and their reduction), as
#: a multiple of the ``task_bytes`` option (192 MiB at the default).
BLOCK_SCALE = 3.0


def covered_samples(
    data: xr.DataArray, temporal: xr.DataArray | None, *, uncovered: str = "drop"
) -> tuple[xr.DataArray, np.ndarray | None]:
    """Align sensor data with the samples an inversion's temporal projector covers.

    SPM maps the inversion window to whole milliseconds (design note
    docs/design/spm_inversion.md §1.3), so an inversion of a whole epoch may
    cover fewer samples than the data (at 600 Hz, the last one). Sources ``x = W·Y·S·Sᵀ`` exist only on the
    covered samples; ``uncovered`` says what happens to the others.

    Parameters
    ----------
    data : xarray.DataArray
        Sensor data with a ``time`` dim (s).
    temporal : xarray.DataArray or None
        ``temporal_projector (time, temporal_mode)`` of an inverse dataset.
    uncovered : {"drop", "zero"}
        ``"drop"`` (default): keep only the covered samples, so a Hilbert
        transform later runs over them alone. ``"zero"``: keep every sample
        of the data and give the modes zero rows at the uncovered ones, so
        that sources are 0 there and a Hilbert transform runs over the whole
        epoch — what laMEG 0.2.1 does (``load_source_time_series`` pads the
        reconstructed series with a zero back to the epoch's length before
        ``roi_power_comparison`` takes the Hilbert transform).

    Returns
    -------
    data : xarray.DataArray
        ``data`` at the projector's samples (``"drop"``), or unchanged
        (``"zero"``, or without a projector).
    modes : ndarray, shape (n_times of the returned data, n_modes), or None
        The temporal modes ``S`` on the returned data's samples.
    """
    check_option("uncovered", uncovered, UNCOVERED)
    if temporal is None:
        return data, None
    (mode_dim,) = (d for d in temporal.dims if d != "time")
    modes = np.asarray(temporal.transpose("time", mode_dim).values, dtype=np.float64)
    if "time" not in temporal.coords:
        if temporal.sizes["time"] != data.sizes["time"]:
            raise SchemaError(
                f"the inverse's temporal_projector covers {temporal.sizes['time']} samples but "
                f"the sensor data have {data.sizes['time']} and it has no `time` coordinate to "
                "align them; use the sensor data the inverse was computed from"
            )
        return data, modes
    times = np.asarray(data["time"].values, dtype=np.float64)
    wanted = np.asarray(temporal["time"].values, dtype=np.float64)
    positions = np.clip(np.searchsorted(times, wanted), 0, times.size - 1)
    closer = np.abs(times[np.maximum(positions - 1, 0)] - wanted) < np.abs(
        times[positions] - wanted
    )
    positions = np.where(closer, positions - 1, positions)
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    if not np.allclose(times[positions], wanted, rtol=0, atol=1e-3 * step):
        raise SchemaError(
            f"the inverse's temporal_projector covers {wanted.size} samples from {wanted[0]:.4g} "
            f"to {wanted[-1]:.4g} s that are not samples of the sensor data ({times.size} samples "
            f"from {times[0]:.4g} to {times[-1]:.4g} s); use the sensor data the inverse was "
            "computed from"
        )
    if uncovered == "zero":
        padded = np.zeros((times.size, modes.shape[1]))
        padded[positions] = modes
        return data, padded
    return data.isel(time=positions), modes


def window_power(
    sensor: xr.Dataset,
    inverse: xr.Dataset | xr.DataArray,
    woi: Sequence[float],
    baseline: Sequence[float],
    *,
    measure: str = "envelope",
    layers: Any = ("pial", "white"),
    vertices: Any = None,
    algorithm: str = "auto",
    uncovered: str = "drop",
    vertex_chunk: int | None = None,
    trial_chunk: int | None = None,
) -> xr.DataArray:
    """Source power in a window of interest and a baseline, per (layer, vertex, trial), lazily.

    The source time series ``x = W·Y`` (times ``S Sᵀ`` when the inverse has a
    ``temporal_projector``, as laMEG reconstructs sources) is never
    materialised: each (vertex-chunk, trial-chunk) block is projected and
    reduced to window powers in the same dask task (see
    :mod:`laminarray.power._features` for the exact algebra). With a
    temporal projector the projection runs in its temporal-mode space
    (``algorithm="modes"``): ``W·(Y·S)`` costs ``r`` (a few) columns per
    trial instead of every window sample.

    Parameters
    ----------
    sensor : xarray.Dataset
        Sensor data ``data (channel, time, trial)`` (fT), numpy- or dask-backed.
        Channels are matched to the projector's by label.
    inverse : xarray.Dataset or xarray.DataArray
        An inverse dataset (``projector (layer, vertex, channel)``, nAm/fT,
        optional ``temporal_projector (time, temporal_mode)``) or a projector.
    woi, baseline : (float, float)
        Window of interest and baseline in s, half-open ``[t0, t1)``.
    measure : {"envelope", "variance"}
        ``"envelope"``: mean Hilbert amplitude over the window, the Hilbert
        transform taken over the whole epoch (laMEG 0.2.1). ``"variance"``:
        population variance (ddof 0) over the window samples (laMEG <= 0.1.x
        and its documentation).
    layers : "all", str or sequence of str
        Layers to compute (default laMEG's ``("pial", "white")``).
    vertices : array, optional
        Vertex labels to compute (default all).
    algorithm : {"auto", "modes", "covariance", "projection"}
        ``"modes"``: project the data's temporal-mode coefficients ``Y·S``
        and expand them to the window samples per source (needs a temporal
        projector; both measures). ``"covariance"`` (variance only):
        quadratic form with the window sensor covariances. ``"projection"``:
        project the (filtered) window samples. ``"auto"``: ``"modes"`` with
        a temporal projector, otherwise the fewer flops of the other two
        (covariance when the two windows hold more than C + 1 samples). All
        are exact.
    uncovered : {"drop", "zero"}
        Samples of the epoch the temporal projector does not cover (SPM's
        inversion window may drop the last one): ``"drop"`` them (default;
        the Hilbert transform runs over the covered samples), or reconstruct
        sources as ``0`` there with the Hilbert transform over the whole
        epoch, as laMEG 0.2.1 does. See :func:`covered_samples`.
    vertex_chunk, trial_chunk : int, optional
        Block sizes; by default a trial chunk's sensor features stay near
        the ``task_bytes`` option (64 MiB by default) and one task's working
        arrays near 3 x ``task_bytes`` (``modes``: near ``task_bytes``) so that the matrix products stay efficient
        and the task count low.

    Returns
    -------
    xarray.DataArray
        dims ``(layer, vertex, window, trial)``, ``window`` = ``["woi",
        "baseline"]``, units ``nAm`` (envelope) or ``nAm2`` (variance);
        dask-backed (lazy) whatever the input.
    """
    check_option("measure", measure, MEASURES)
    check_option("algorithm", algorithm, ALGORITHMS)
    sensor = schema.validate_sensor(sensor)
    check_amplitude(sensor, lazy_ok=False)
    # layers and vertices are selected before any projector block is read or converted
    projector = schema.as_projector(inverse, layers=layers, vertices=vertices)
    temporal = inverse.get("temporal_projector") if isinstance(inverse, xr.Dataset) else None
    epoch = sensor["time"].values
    data, temporal_matrix = covered_samples(
        align_channels(sensor["data"], projector), temporal, uncovered=uncovered
    )
    times = data["time"].values
    # each window must lie in the epoch (never clipped); an inversion may cover one
    # sample fewer than its data
    windows = tuple(
        schema.window_bounds(times, check_window(window, epoch, name), name=name)
        for name, window in (("woi", woi), ("baseline", baseline))
    )
    sizes = tuple(stop - start for start, stop in windows)
    dtype = np.result_type(projector.dtype, data.dtype, np.float32)
    itemsize = np.dtype(dtype).itemsize
    n_layers, n_vertices, n_channels = projector.shape
    n_times, n_trials = data.sizes["time"], data.sizes["trial"]
    if algorithm == "auto":
        if temporal_matrix is not None:
            algorithm = "modes"
        elif measure == "variance" and sum(sizes) > n_channels + 1:
            algorithm = "covariance"
        else:
            algorithm = "projection"
    if algorithm == "modes" and temporal_matrix is None:
        raise LaminarrayError(
            "algorithm='modes' needs an inverse with a `temporal_projector`; "
            "use 'projection' or 'covariance' (or 'auto')"
        )
    if algorithm == "covariance" and measure == "envelope":
        algorithm = "projection"

    kwargs: dict[str, Any]
    if algorithm == "modes":
        n_modes = temporal_matrix.shape[1]
        budget = task_budget()
        per_trial = n_channels * n_times * 8
        feature_fn, kernel = _features.mode_features, _features.mode_kernel
        feature_shape: tuple[int, ...] = (n_channels, n_modes)
        bases, reduction = _features.mode_basis(temporal_matrix, windows, measure, dtype)
        kwargs = {"bases": bases, "reduction": reduction, "measure": measure}
        feature_kwargs: dict[str, Any] = {"temporal": temporal_matrix}
        trial_chunk = trial_chunk or auto_chunk(n_trials, per_trial, budget)
        per_vertex = n_layers * (n_channels + 3 * n_modes * trial_chunk) * itemsize
        vertex_chunk = vertex_chunk or auto_chunk(n_vertices, per_vertex, budget)
    else:
        feature_kwargs = {"windows": windows, "temporal": temporal_matrix}
        if algorithm == "covariance":
            n_pairs = _features.n_channel_pairs(n_channels)
            per_trial = max(
                n_pairs * len(sizes) * itemsize, n_channels * (n_times + n_channels) * 8
            )
            per_vertex = n_layers * n_pairs * itemsize
            feature_fn, kernel = _features.covariance_features, _features.covariance_kernel
            kwargs = {}
            feature_shape = (n_pairs, len(sizes))
        else:
            width = sum(sizes) * (2 if measure == "envelope" else 1)
            per_trial = max(n_channels * width * itemsize, n_channels * n_times * 16)
            feature_fn = (
                _features.analytic_window_features
                if measure == "envelope"
                else _features.centred_window_features
            )
            kernel, kwargs = _features.window_kernel, {"sizes": sizes, "measure": measure}
            shape = (2, sum(sizes)) if measure == "envelope" else (sum(sizes),)
            feature_shape = (n_channels, *shape)
        trial_chunk = trial_chunk or auto_chunk(n_trials, per_trial)
        if algorithm == "projection":
            per_vertex = 3 * n_layers * width * trial_chunk * itemsize
        vertex_chunk = vertex_chunk or auto_chunk(n_vertices, per_vertex, task_budget(BLOCK_SCALE))

    sensor_blocks = as_dask(data.data, (-1, -1, trial_chunk)).rechunk((-1, -1, trial_chunk))
    features = sensor_blocks.map_blocks(
        feature_fn,
        **feature_kwargs,
        out_dtype=dtype,
        dtype=dtype,
        chunks=(*((n,) for n in feature_shape), sensor_blocks.chunks[2]),
        meta=np.empty((0,) * (len(feature_shape) + 1), dtype=dtype),
        token=f"sensor-{algorithm}-{measure}-features",
    )
    proj_blocks = (
        as_dask(projector.data, (-1, vertex_chunk, -1))
        .astype(dtype)
        .rechunk((-1, vertex_chunk, -1))
    )
    power = fused_projection(
        proj_blocks,
        features,
        kernel,
        (len(sizes),),
        dtype=dtype,
        name=f"{measure}-power",
        **kwargs,
    )
    units = "nAm" if measure == "envelope" else "nAm2"
    return xr.DataArray(
        power,
        dims=("layer", "vertex", "window", "trial"),
        coords={
            **{n: c for n, c in projector.coords.items() if "channel" not in c.dims},
            "window": ["woi", "baseline"],
            "window_start": ("window", [float(times[a]) for a, _ in windows], {"units": "s"}),
            "window_end": ("window", [float(times[b - 1]) for _, b in windows], {"units": "s"}),
            **{name: coord for name, coord in data.coords.items() if "trial" in coord.dims},
        },
        name="power",
        attrs={
            "units": units,
            "long_name": "mean Hilbert envelope" if measure == "envelope" else "window variance",
            "measure": measure,
            "woi": [float(v) for v in woi],
            "baseline": [float(v) for v in baseline],
            "uncovered": uncovered,
        },
    )
