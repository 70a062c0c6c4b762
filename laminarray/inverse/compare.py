"""Laminar model comparison: per-layer and per-window free energies (laMEG ``laminar``).

Each layer's forward model is inverted separately with ``n_spatial_modes="all"``
(so the data are the same for every model and free energies are comparable,
design note spm_inversion §10.1 item 9); the data reduction is therefore shared, and the per-layer
(per-window) fits run as parallel dask tasks on the active scheduler.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import dask
import numpy as np
import xarray as xr

from .._compute import compute
from .._validation import LaminarrayError, check_option, check_positive
from ..plausibility import check_window
from ._inputs import Problem, prepare, woi_samples
from ._run import fit_space, run
from .modes import inversion_samples, reduce_window
from .sensor_space import SensorSpace, sensor_space
from .settings import InversionSettings

#: Windows per parallel task of :func:`sliding_window`.
WINDOWS_PER_TASK = 16


def compare_layers(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None = None,
    method: str = "EBB",
    *,
    smoothing: Any = None,
    progress: bool | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Invert every layer's forward model separately and collect the free energies.

    laMEG ``model_comparison``: the model with the highest free energy
    explains the data best; ``F[pial] − F[white]`` approximates the log Bayes
    factor (positive favours pial).

    Parameters
    ----------
    sensor, gain, mesh, smoothing
        As in :func:`laminarray.inverse.invert_ebb`; ``smoothing`` may be one
        layer's (vertices x vertices) or the whole (sources x sources) operator.
    method : {"EBB", "MSP"}
    progress : bool, optional
        Show a progress bar over the per-layer inversions on stderr (default
        :func:`laminarray.options.show_progress`).
    **kwargs
        Other settings of :func:`~laminarray.inverse.invert_ebb` /
        :func:`~laminarray.inverse.invert_msp` (``patch_size``, ``n_temp_modes``,
        ``foi``, ``woi``, ``hann``, ``n_folds``, ``ideal_pc_test``, ``priors``
        as within-layer vertex positions, ``n_patches``, ``rank``).
        ``n_spatial_modes`` is always ``"all"`` (all modes of the data's signal
        subspace when the data are rank deficient).

    Returns
    -------
    xarray.Dataset
        ``free_energy (layer)`` and ``cv_error (layer)`` (NaN without
        cross-validation), settings in attrs. Computed eagerly (small result).
    """
    check_option("method", method, ("EBB", "MSP"))
    if "n_spatial_modes" in kwargs or "layer" in kwargs:
        raise LaminarrayError(
            "compare_layers always inverts each layer with n_spatial_modes='all' (so free "
            "energies are comparable); do not pass `n_spatial_modes` or `layer`"
        )
    priors = kwargs.pop("priors", None)
    settings = InversionSettings(method=method, n_spatial_modes="all", **kwargs)
    if priors is not None:
        settings = replace(settings, priors=tuple(int(p) for p in priors))
    layers = [str(x) for x in gain["layer"].values] if "layer" in gain.coords else []
    problems = _prepare_layers(sensor, gain, mesh, smoothing, settings, layers)
    shared = None
    if settings.ideal_pc_test == 0:
        first = problems[0]
        samples = woi_samples(settings.woi, first.times, first.sfreq)
        space = sensor_space(first.gain, first.modality, "all", first.rank)
        scale = space.data_scale(
            first.data, samples, first.times, foi=settings.foi, hann=settings.hann
        )
        shared = reduce_window(
            first.data,
            space.data_modes(scale),
            samples,
            first.times,
            foi=settings.foi,
            n_temp_modes=settings.n_temp_modes,
            hann=settings.hann,
        )
    tasks = [dask.delayed(_layer_scores)(p, settings, shared) for p in problems]
    scores = np.asarray(compute(*tasks, progress=progress), dtype=np.float64).reshape(-1, 2)
    coords = {"layer": layers}
    if "depth" in gain.coords:
        coords["depth"] = ("layer", np.asarray(gain["depth"].values))
    return xr.Dataset(
        {
            "free_energy": ("layer", scores[:, 0], {"units": "1", "long_name": "free energy"}),
            "cv_error": (
                "layer",
                scores[:, 1],
                {"units": problems[0].sensor_units, "long_name": "cross-validation RMS error"},
            ),
        },
        coords=coords,
        attrs=settings.to_dict(),
    )


def _prepare_layers(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None,
    smoothing: Any,
    settings: InversionSettings,
    layers: list[str],
) -> list[Problem]:
    """One problem per layer, sharing the rank analysis of the (same) sensor data."""
    problems: list[Problem] = []
    for name in layers:
        problems.append(
            prepare(
                sensor,
                gain,
                mesh,
                smoothing,
                settings.patch_size,
                name,
                rank=settings.rank,
                rank_of=problems[0] if problems else None,
            )
        )
    return problems


def _layer_scores(
    problem: Problem, settings: InversionSettings, shared: Any
) -> tuple[float, float]:
    result = run(problem, settings, reduced=shared)
    error = result.channel_error
    return float(result.fold_free_energy.mean()), float(error.mean()) if error.size else math.nan


def sliding_windows(
    times: Any, win_size: float, overlap: bool = True, n_temp_modes: int = 1
) -> np.ndarray:
    """laMEG's sliding windows (``_compute_wois``), in seconds.

    Parameters
    ----------
    times : array, shape (n_times,)
        Sample times, s.
    win_size : float
        Window length, s (laMEG's default 50 ms is 0.05).
    overlap : bool
        One window per sample, centred on it and truncated at the epoch edges
        (default); otherwise consecutive windows of ``win_size``.
    n_temp_modes : int
        The window must hold at least 2 samples per temporal mode.

    Returns
    -------
    ndarray, shape (n_windows, 2)
        Window edges (inclusive), s.
    """
    times = np.asarray(times, dtype=np.float64)
    check_positive("win_size", win_size)
    width = round(win_size / (times[1] - times[0]))
    if width < 1 or width / max(n_temp_modes, 1) < 2:
        raise LaminarrayError(
            f"`win_size` = {win_size} s spans {width} samples: need at least "
            f"{2 * max(n_temp_modes, 1)} (2 per temporal mode)"
        )
    if not overlap:
        edges = np.linspace(times[0], times[-1], int((times[-1] - times[0]) / win_size + 1))
        return np.column_stack([edges[:-1], edges[1:]])
    i = np.arange(times.size)
    lo = np.maximum(0, np.ceil(i - width / 2)).astype(int)
    hi = np.minimum(times.size - 1, np.floor(i + width / 2)).astype(int)
    return np.column_stack([times[lo], times[hi]])


def sliding_window(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None = None,
    prior: int = 0,
    win_size: float = 0.05,
    overlap: bool = True,
    *,
    windows: Any = None,
    smoothing: Any = None,
    method: str = "MSP",
    patch_size: float = 5.0,
    n_spatial_modes: str | int = "all",
    n_temp_modes: int = 1,
    foi: tuple[float, float] = (0.0, 256.0),
    hann: bool = True,
    rank: str | int = "auto",
    progress: bool | None = None,
) -> xr.Dataset:
    """Per-layer free energy in sliding time windows (laMEG ``sliding_window_model_comparison``).

    Every layer's forward model is inverted in every window with MSP and a
    single patch centred on vertex position ``prior`` (or EBB); windows are
    independent inversions with their own temporal modes, sharing the spatial
    modes of their layer (design note spm_inversion §6).

    Parameters
    ----------
    sensor, gain, mesh, smoothing, patch_size, foi
        As in :func:`laminarray.inverse.invert_msp`.
    prior : int
        Position of the patch centre along ``vertex`` (a cortical column).
    win_size : float
        Window length, s (default 0.05).
    overlap : bool
        One window per sample (default) or consecutive windows.
    windows : array, shape (n_windows, 2), optional
        Explicit window edges in s (then ``win_size``/``overlap`` are ignored).
    method : {"MSP", "EBB"}
    n_spatial_modes : "all", "auto" or int
        Spatial modes per layer (default ``"all"``, as laMEG's comparison, so
        that free energies are comparable across layers and the data reduction
        is shared).
    n_temp_modes : int
        Temporal modes per window (default 1).
    hann : bool
        Hann taper for the temporal modes (default True).
    rank : "auto", "full" or int
        Rank of the sensor data (see :class:`~laminarray.inverse.InversionSettings`).
    progress : bool, optional
        Show a progress bar over the blocks of windows on stderr (default
        :func:`laminarray.options.show_progress`).

    Returns
    -------
    xarray.Dataset
        ``free_energy (layer, window)`` with coords ``window_start``,
        ``window_end`` and ``window_centre`` (s). Computed eagerly.
    """
    check_option("method", method, ("EBB", "MSP"))
    settings = InversionSettings(
        method=method,
        patch_size=patch_size,
        n_spatial_modes=n_spatial_modes,
        n_temp_modes=n_temp_modes,
        foi=foi,
        hann=hann,
        priors=(int(prior),) if method == "MSP" else None,
        rank=rank,
    )
    layers = [str(x) for x in gain["layer"].values]
    problems = _prepare_layers(sensor, gain, mesh, smoothing, settings, layers)
    if not 0 <= int(prior) < problems[0].n_vertices:
        raise LaminarrayError(
            f"`prior` must be a vertex position 0..{problems[0].n_vertices - 1}; got {prior}"
        )
    times, sfreq = problems[0].times, problems[0].sfreq
    if windows is None:
        windows = sliding_windows(times, win_size, overlap, n_temp_modes)
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 2)
    for window in windows:
        check_window(window, times, "windows")
    samples = [inversion_samples(tuple(1000.0 * w), times, sfreq) for w in windows]
    spaces = [sensor_space(p.gain, p.modality, n_spatial_modes, p.rank) for p in problems]
    blocks = [
        dask.delayed(_window_scores)(
            problems, spaces, settings, samples[start : start + WINDOWS_PER_TASK]
        )
        for start in range(0, len(samples), WINDOWS_PER_TASK)
    ]
    free = (
        np.concatenate(compute(*blocks, progress=progress), axis=1)
        if blocks
        else np.zeros((len(layers), 0))
    )
    coords: dict[str, Any] = {
        "layer": layers,
        "window_start": ("window", windows[:, 0], {"units": "s"}),
        "window_end": ("window", windows[:, 1], {"units": "s"}),
        "window_centre": ("window", windows.mean(axis=1), {"units": "s"}),
    }
    if "depth" in gain.coords:
        coords["depth"] = ("layer", np.asarray(gain["depth"].values))
    return xr.Dataset(
        {"free_energy": (("layer", "window"), free, {"units": "1", "long_name": "free energy"})},
        coords=coords,
        attrs={**settings.to_dict(), "prior": int(prior), "win_size": float(win_size)},
    )


def _window_scores(
    problems: list[Problem],
    spaces: list[SensorSpace],
    settings: InversionSettings,
    samples: list[np.ndarray],
) -> np.ndarray:
    """Free energy of every layer in a block of windows.

    Layers whose data modes are equal (identity spatial modes) share the
    reduced data.
    """
    patches = None if settings.priors is None else np.asarray(settings.priors)
    out = np.empty((len(problems), len(samples)))
    for w, idx in enumerate(samples):
        if idx.size < 2:
            raise LaminarrayError(f"window {w} holds {idx.size} sample(s); at least 2 are needed")
        reduced, reduced_modes = None, None
        for li, (problem, space) in enumerate(zip(problems, spaces, strict=True)):
            scale = space.data_scale(
                problem.data, idx, problem.times, foi=settings.foi, hann=settings.hann
            )
            modes = space.data_modes(scale)
            if reduced is None or not np.array_equal(modes, reduced_modes):
                reduced, reduced_modes = (
                    reduce_window(
                        problem.data,
                        modes,
                        idx,
                        problem.times,
                        foi=settings.foi,
                        n_temp_modes=settings.n_temp_modes,
                        hann=settings.hann,
                    ),
                    modes,
                )
            fit = fit_space(space, scale, problem.gain, problem, reduced, settings.method, patches)
            out[li, w] = fit.free_energy
    return out
