"""Simulated MEG sensor data from known sources (SPM/laMEG's ``spm_eeg_simulate``).

Two simulators share one assembly step:

- :func:`current_density`: sources on the multilayer mesh, each a geodesic
  Gaussian patch (:mod:`~laminarray.simulate.patches`) scaled to its dipole
  moment, projected through a gain matrix (fixed orientations);
- :func:`dipoles`: point dipoles at arbitrary positions with explicit
  orientations, projected through the spherical-head forward model.

Each source ``j`` has a sensor pattern ``p_j`` (fT per nAm of its time
course) and a time course ``s_j(t)`` in nAm (profile x moment, zero outside
the signal window ``woi0 < t <= woi1``: closed on the right, as laMEG's
simulations place the signal after its onset, the one named exception to the
library's half-open rule of :func:`laminarray.schema.window_mask`); the noiseless data are
``y(t) = sum_j p_j s_j(t)`` per trial, then Gaussian noise at ``snr_db``
(SPM's definition, :mod:`~laminarray.simulate.noise`) is added to every
channel, sample and trial. The data are a dask graph over trials: each trial
draws its noise from its own generator seeded by ``(seed, trial)``, so the
result does not depend on the chunking and recomputing gives the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.delayed import Delayed

from .._validation import LaminarrayError, check_option, describe, validate_type
from ..options import task_budget
from ..schema import (
    XYZ,
    as_str,
    check_consistent,
    mesh_dataset,
    sensor_dataset,
    validate_gain,
    validate_mesh,
    window_mask,
)
from ..schema._vocabulary import split_units
from ..schema.validators import select_mesh_layers
from .noise import noise_level, pink_noise, signal_std
from .patches import patch_weights

__all__ = ["current_density", "dipoles"]

NOISE_COLORS = ("white", "pink")


def current_density(
    gain: xr.DataArray,
    mesh: xr.Dataset,
    vertices: int | Sequence[int],
    layers: str | int | Sequence[str | int],
    signals: Any,
    moments: float | Sequence[float],
    patch_size: float | Sequence[float],
    snr_db: float | None,
    times: Any,
    n_trials: int = 1,
    seed: int | None = None,
    *,
    woi: tuple[float, float] | None = None,
    noise_color: str = "white",
    average: bool = False,
    signal_trials: Sequence[int] | None = None,
    patch_cutoff: bool = True,
    trial_chunks: int | None = None,
    dtype: Any = np.float32,
) -> xr.Dataset:
    """Simulate sensor data from current-density patches on the multilayer mesh.

    laMEG's ``run_current_density_simulation``: each source is a Gaussian
    patch of FWHM ``patch_size`` mm (exact geodesic distances on its layer,
    support ``d <= FWHM`` as SPM, weights summing to the dipole moment)
    centred on ``vertices[j]`` of layer ``layers[j]``, with time course
    ``signals[j]``; projected through ``gain``, plus Gaussian noise at
    ``snr_db`` dB.

    Parameters
    ----------
    gain : xarray.DataArray
        Fixed-orientation gain ``(channel, layer, vertex)`` in fT/nAm for ``mesh``.
    mesh : xarray.Dataset
        The multilayer mesh of the gain (its layers and vertices).
    vertices : int or sequence of int
        Patch centres, as ``vertex`` labels (one per source).
    layers : str, int or sequence
        Layer of each source: a layer name (``"pial"``, ``"white"``, ...) or
        a positional index; one value is used for every source.
    signals : array, shape (n_sources, n_active[, n_trials]) or (n_active,)
        Unitless time courses over the ``n_active`` samples of the window
        (``woi0 < t <= woi1``); a third axis gives trial-unique courses.
    moments : float or sequence of float
        Dipole moment of each source in nAm (the patch sums to it).
    patch_size : float or sequence of float
        Patch FWHM in mm per source (0 = a single vertex).
    snr_db : float or None
        Sensor-level SNR in dB (SPM's definition); ``None`` adds no noise.
    times : array, shape (n_times,)
        Sample times in seconds.
    n_trials : int
        Number of trials (ignored when ``signals`` has a trial axis).
    seed : int, optional
        Seed of the noise; default a fresh one (recorded in attrs ``seed``).
    woi : (float, float), optional
        Signal window in seconds, ``woi0 < t <= woi1`` (``closed="right"``
        of :func:`laminarray.schema.window_mask`; default the epoch).
    noise_color : {"white", "pink"}
        Noise spectrum (pink = 1/f power, rescaled to the same RMS).
    average : bool
        Return the average over trials (one trial), as laMEG's ``average_trials``.
    signal_trials : sequence of int, optional
        Positions of the trials that carry the signal (SPM's ``trialind``);
        the others get noise only. Default every trial.
    patch_cutoff : bool
        Zero patch weights beyond one FWHM (SPM, default) or keep the whole
        Gaussian (``False``).
    trial_chunks : int, optional
        Trials per dask chunk (default ~64 MB chunks).
    dtype : numpy dtype
        Output dtype (default float32); the noiseless signal is computed in
        float64, white noise is drawn in the output dtype.

    Returns
    -------
    xarray.Dataset
        A sensor dataset ``data (channel, time, trial)`` in fT (dask-backed,
        lazy over trials) plus the ground truth: ``source_signal (source,
        time[, trial])`` nAm, coords ``source_vertex``, ``source_layer``,
        ``source_moment`` (nAm), ``source_patch_size`` (mm), ``source_position
        (source, xyz)`` (mm), variables ``signal_std`` and ``noise_std`` (fT),
        attrs ``simulation``, ``snr_db``, ``seed``, ``woi``, ``noise_color``.

    Examples
    --------
    >>> sim = current_density(gain, mesh, vertices=120, layers="white",
    ...                       signals=np.sin(2 * np.pi * 20 * t), moments=10.0,
    ...                       patch_size=5.0, snr_db=-10.0, times=t, n_trials=20, seed=0)
    """
    validate_type(gain, xr.DataArray, "gain")
    gain = validate_gain(gain)
    mesh = select_mesh_layers(validate_mesh(mesh), gain, "gain")
    if "xyz" in gain.dims:
        raise LaminarrayError(
            "current_density needs a fixed-orientation gain (channel, layer, vertex); got a "
            "free-orientation gain with `xyz`: use simulate.dipoles for explicit orientations"
        )
    check_consistent(gain=gain, mesh=mesh)
    vertex_idx = _vertex_positions(mesh, vertices)
    n_src = vertex_idx.size
    layer_idx = _layer_positions(mesh, layers, n_src)
    moment = _per_source(moments, n_src, "moments")
    fwhm = _per_source(patch_size, n_src, "patch_size", allow_zero=True)
    columns = []
    for j in range(n_src):
        index, weights = patch_weights(
            mesh, int(layer_idx[j]), int(vertex_idx[j]), fwhm[j], cutoff=patch_cutoff
        )
        lead = gain.isel(layer=int(layer_idx[j]), vertex=index).data
        columns.append(lead @ weights)
    patterns = (
        da.stack(columns, axis=1) if isinstance(gain.data, da.Array) else np.stack(columns, 1)
    )
    positions = mesh["vertices"].values[layer_idx, vertex_idx]
    truth = {
        "source_vertex": ("source", mesh["vertex"].values[vertex_idx]),
        "source_layer": ("source", as_str(mesh["layer"].values[layer_idx])),
        "source_patch_size": ("source", fwhm, {"units": "mm", "long_name": "patch FWHM"}),
    }
    return _simulate(
        patterns,
        gain,
        positions,
        truth,
        signals=signals,
        moment=moment,
        snr_db=snr_db,
        times=times,
        n_trials=n_trials,
        seed=seed,
        woi=woi,
        noise_color=noise_color,
        average=average,
        signal_trials=signal_trials,
        trial_chunks=trial_chunks,
        dtype=dtype,
        attrs={"simulation": "current_density", "patch_cutoff": bool(patch_cutoff)},
    )


def dipoles(
    sensors: xr.Dataset,
    positions: Any,
    orientations: Any,
    signals: Any,
    moments: float | Sequence[float],
    snr_db: float | None,
    times: Any,
    n_trials: int = 1,
    seed: int | None = None,
    *,
    head: xr.Dataset | None = None,
    model: str | None = None,
    center: Any = None,
    radius: float | None = None,
    woi: tuple[float, float] | None = None,
    noise_color: str = "white",
    average: bool = False,
    signal_trials: Sequence[int] | None = None,
    trial_chunks: int | None = None,
    dtype: Any = np.float32,
) -> xr.Dataset:
    """Simulate sensor data from point dipoles with explicit orientations.

    laMEG's ``run_dipole_simulation``: ``y(t) = sum_j (g(r_j) . o_j) m_j
    s_j(t)`` with ``g`` the lead field at ``r_j`` in the head model (or in a
    sphere).

    Parameters
    ----------
    sensors : xarray.Dataset
        Sensor array (:mod:`laminarray.forward.sensors`).
    positions : array, shape (n_sources, 3)
        Dipole positions in mm, in the sensors' frame.
    orientations : array, shape (n_sources, 3)
        Dipole orientations (normalised here).
    signals, moments, snr_db, times, n_trials, seed, woi, noise_color, average, signal_trials, trial_chunks, dtype
        As in :func:`current_density`.
    head : xarray.Dataset, optional
        Head model (:func:`laminarray.forward.head_model`, e.g.
        :func:`laminarray.datasets.synthetic_head`).
    model : {"single_shell", "local_spheres", "sphere", "bem"}, optional
        Forward model in ``head`` (:func:`laminarray.forward.gain`); default
        single shell when the head has an inner skull, else the sphere.
    center, radius
        The sphere (mm), instead of ``head``; see
        :func:`laminarray.forward.sphere_gain`.

    Returns
    -------
    xarray.Dataset
        As :func:`current_density` (ground truth without patch coords, with
        ``source_orientation (source, xyz)``).
    """
    from ..forward.gain import gain as forward_gain
    from ..forward.sphere import sphere_gain

    pos = _xyz(positions, "positions")
    ori = _xyz(orientations, "orientations")
    if ori.shape != pos.shape or np.any(np.linalg.norm(ori, axis=1) == 0):
        raise LaminarrayError(
            f"`orientations` must be one non-zero vector per position {pos.shape}; "
            f"got {describe(orientations)}"
        )
    ori = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    points = mesh_dataset(pos, np.zeros((1, 3), np.int64), orientation=ori[None])
    if head is not None:
        if model is None:
            model = "single_shell" if "inner_skull_vertices" in head else "sphere"
        gain = forward_gain(points, sensors, head, model=model)
    else:
        gain = sphere_gain(points, sensors, center, radius)
    truth = {"source_orientation": (("source", "xyz"), ori, {"units": "1"})}
    return _simulate(
        gain.data[:, 0, :].compute(),
        gain,
        pos,
        truth,
        signals=signals,
        moment=_per_source(moments, pos.shape[0], "moments"),
        snr_db=snr_db,
        times=times,
        n_trials=n_trials,
        seed=seed,
        woi=woi,
        noise_color=noise_color,
        average=average,
        signal_trials=signal_trials,
        trial_chunks=trial_chunks,
        dtype=dtype,
        attrs={
            "simulation": "dipoles",
            "forward_model": gain.attrs["forward_model"],
        },
    )


# --------------------------------------------------------------------------- assembly


def _simulate(
    patterns: Any,
    gain: xr.DataArray,
    positions: np.ndarray,
    truth: dict[str, Any],
    *,
    signals: Any,
    moment: np.ndarray,
    snr_db: float | None,
    times: Any,
    n_trials: int,
    seed: int | None,
    woi: tuple[float, float] | None,
    noise_color: str,
    average: bool,
    signal_trials: Sequence[int] | None,
    trial_chunks: int | None,
    dtype: Any,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """Project source time courses through ``patterns`` (n_ch, n_src) and add noise.

    The channels, their types and units are the gain's (``fT/mm/nAm`` gives fT/mm data).
    """
    channels = gain["channel"].values
    units, _ = split_units(gain.attrs["units"])
    check_option("noise_color", noise_color, NOISE_COLORS)
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise LaminarrayError(
            f"`times` must be a 1-D array of >= 2 samples (s); got {describe(times)}"
        )
    active, window = _window(times, woi)
    courses = _courses(signals, patterns.shape[1], int(active.sum()), moment)
    n_trials = courses.shape[2] if courses.shape[2] > 1 else _count(n_trials)
    full = np.zeros((courses.shape[0], times.size, courses.shape[2]))
    full[:, active] = courses
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    std = dask.delayed(signal_std, pure=True)(patterns, full)
    noise = 0.0 if snr_db is None else dask.delayed(noise_level, pure=True)(std, float(snr_db))
    carrying = _carrying(signal_trials, n_trials)
    if trial_chunks is None:
        trial_chunks = max(1, task_budget() // (8 * len(channels) * times.size))
    index = da.arange(n_trials, chunks=int(trial_chunks))
    data = da.map_blocks(
        _trial_block,
        index,
        patterns=patterns,
        courses=full,
        carrying=carrying,
        noise_rms=noise,
        seed=seed,
        noise_color=noise_color,
        out_dtype=np.dtype(dtype),
        new_axis=[0, 1],
        chunks=((len(channels),), (times.size,), index.chunks[0]),
        dtype=np.dtype(dtype),
        meta=np.empty((0, 0, 0), np.dtype(dtype)),
    )
    truth_signal = full if full.shape[2] > 1 else full[:, :, 0]
    if average:
        data = data.mean(axis=2, keepdims=True, dtype=np.float64).astype(np.dtype(dtype))
        truth_signal = full.mean(axis=2)
    ds = sensor_dataset(
        data,
        channels,
        times,
        ch_types=as_str(gain["ch_type"].values) if "ch_type" in gain.coords else "MEG",
        units=units,
        attrs={
            **attrs,
            "snr_db": None if snr_db is None else float(snr_db),
            "seed": int(seed),
            "woi": [float(w) for w in window],
            "noise_color": noise_color,
            "n_trials_simulated": int(n_trials),
            "averaged": bool(average),
            "signal_trials": np.flatnonzero(carrying).tolist(),
        },
    )
    signal_dims = ("source", "time", "trial") if truth_signal.ndim == 3 else ("source", "time")
    ds = ds.assign(
        source_signal=(
            signal_dims,
            truth_signal,
            {"units": "nAm", "long_name": "simulated source time course"},
        ),
        signal_std=((), _as_lazy_scalar(std), {"units": units, "long_name": "signal size (SPM)"}),
        noise_std=(
            (),
            _as_lazy_scalar(noise),
            {"units": units, "long_name": "noise standard deviation"},
        ),
    )
    if "ch_units" in gain.coords:
        ds = ds.assign_coords(ch_units=("channel", as_str(gain["ch_units"].values)))
    return ds.assign_coords(
        {
            **truth,
            "source_moment": ("source", moment, {"units": "nAm", "long_name": "dipole moment"}),
            "source_position": (("source", "xyz"), positions, {"units": "mm"}),
            "xyz": list(XYZ),
        }
    )


def _trial_block(
    trials: np.ndarray,
    *,
    patterns: np.ndarray,
    courses: np.ndarray,
    carrying: np.ndarray,
    noise_rms: float,
    seed: int,
    noise_color: str,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Dask block: trials -> (channel, time, trial) data, noise seeded per trial.

    Each trial is written contiguously (white noise drawn in the output
    dtype, straight into the buffer) and the block is returned as a view.
    """
    shared = courses.shape[2] == 1
    buf = np.empty((trials.size, patterns.shape[0], courses.shape[1]), out_dtype)
    clean = patterns @ courses[:, :, 0] if shared else None
    for i, trial in enumerate(trials):
        if not carrying[trial]:
            signal = 0.0
        else:
            signal = clean if shared else patterns @ courses[:, :, trial]
        if not noise_rms:
            buf[i] = signal
            continue
        rng = np.random.default_rng([seed, int(trial)])
        if noise_color == "white":
            rng.standard_normal(out=buf[i], dtype=out_dtype)
            buf[i] *= out_dtype.type(noise_rms)
            buf[i] += signal
        else:
            buf[i] = signal + pink_noise(rng, buf[i].shape, noise_rms)
    return np.moveaxis(buf, 0, -1)


def _as_lazy_scalar(value: Any) -> Any:
    if isinstance(value, Delayed):
        as_array = dask.delayed(np.asarray, pure=True)(value, dtype=np.float64)
        return da.from_delayed(as_array, shape=(), dtype=np.float64)
    return np.float64(value)


# --------------------------------------------------------------------------- inputs


def _window(times: np.ndarray, woi: Any) -> tuple[np.ndarray, tuple[float, float]]:
    if woi is None:
        return np.ones(times.size, bool), (float(times[0]) - 1.0 / _rate(times), float(times[-1]))
    # exact edges: a signal built as ``times > woi0`` has one value per active sample
    active = window_mask(times, woi, closed="right", tolerance=0.0, name="woi")
    window = np.clip(np.asarray(woi, np.float64), times[0] - 1.0 / _rate(times), times[-1])
    return active, (float(window[0]), float(window[1]))  # finite, for attrs


def _rate(times: np.ndarray) -> float:
    return float(1.0 / np.median(np.diff(times)))


def _courses(signals: Any, n_src: int, n_active: int, moment: np.ndarray) -> np.ndarray:
    """(n_src, n_active, n_trials or 1) time courses in nAm."""
    values = np.asarray(signals, dtype=np.float64)
    if values.ndim == 1 and n_src == 1:
        values = values[None]
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[:2] != (n_src, n_active):
        raise LaminarrayError(
            f"`signals` must have shape ({n_src}, {n_active}[, n_trials]): one row per source "
            f"and one column per sample of the signal window; got {describe(signals)}"
        )
    if not np.all(np.isfinite(values)):
        raise LaminarrayError("`signals` contains NaN/inf")
    return values * moment[:, None, None]


def _per_source(value: Any, n_src: int, name: str, *, allow_zero: bool = False) -> np.ndarray:
    values = (
        np.broadcast_to(np.asarray(value, dtype=np.float64), (n_src,))
        if np.ndim(value) == 0
        else np.asarray(value, dtype=np.float64)
    )
    bad = (values < 0) if allow_zero else (values <= 0)
    if values.shape != (n_src,) or np.any(bad) or not np.all(np.isfinite(values)):
        bound = ">= 0" if allow_zero else "> 0"
        raise LaminarrayError(
            f"`{name}` must be one finite number {bound} or one per source ({n_src}); "
            f"got {describe(value)}"
        )
    return np.array(values)


def _carrying(signal_trials: Any, n_trials: int) -> np.ndarray:
    """(n_trials,) bool: which trials carry the signal."""
    mask = np.ones(n_trials, bool)
    if signal_trials is None:
        return mask
    index = np.atleast_1d(np.asarray(signal_trials))
    if (
        index.ndim != 1
        or not np.issubdtype(index.dtype, np.integer)
        or (index.size and (index.min() < 0 or index.max() >= n_trials))
    ):
        raise LaminarrayError(
            f"`signal_trials` must be trial positions in 0..{n_trials - 1}; got {signal_trials!r}"
        )
    mask[:] = False
    mask[index] = True
    return mask


def _count(n_trials: Any) -> int:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise LaminarrayError(f"`n_trials` must be a positive integer, got {n_trials!r}")
    return int(n_trials)


def _vertex_positions(mesh: xr.Dataset, vertices: Any) -> np.ndarray:
    labels = np.atleast_1d(np.asarray(vertices))
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise LaminarrayError(f"`vertices` must be vertex labels (int); got {vertices!r}")
    index = mesh.get_index("vertex").get_indexer(labels)
    if np.any(index < 0):
        raise LaminarrayError(
            f"`vertices` {labels[index < 0][:5].tolist()} are not vertices of the mesh "
            f"({mesh.sizes['vertex']} vertices)"
        )
    return index


def _layer_positions(mesh: xr.Dataset, layers: Any, n_src: int) -> np.ndarray:
    names = list(as_str(mesh["layer"].values))
    items = [layers] if isinstance(layers, str | int | np.integer) else list(layers)
    if len(items) == 1:
        items = items * n_src
    if len(items) != n_src:
        raise LaminarrayError(
            f"`layers` must be one layer or one per source ({n_src}); got {layers!r}"
        )
    index = []
    for item in items:
        if isinstance(item, str) and item in names:
            index.append(names.index(item))
        elif isinstance(item, int | np.integer) and -len(names) <= item < len(names):
            index.append(int(item) % len(names))
        else:
            raise LaminarrayError(f"`layers`: {item!r} is not one of the mesh layers {names}")
    return np.asarray(index)


def _xyz(value: Any, name: str) -> np.ndarray:
    array = np.atleast_2d(np.asarray(value, dtype=np.float64))
    if array.ndim != 2 or array.shape[1] != 3 or not np.all(np.isfinite(array)):
        raise LaminarrayError(
            f"`{name}` must be finite (n_sources, 3) vectors; got {describe(value)}"
        )
    return array
