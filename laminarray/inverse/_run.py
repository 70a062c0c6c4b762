"""Run an inversion over the cross-validation folds and label the result.

Trusting drivers between the validation boundary (:mod:`._inputs`) and the
numpy kernels (:mod:`._kernels`); the public functions live in
:mod:`.ebb`, :mod:`.msp` and :mod:`.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import xarray as xr

from .._progress import Progress
from .._validation import LaminarrayError
from ._inputs import Problem, woi_samples
from ._kernels import Fit, Stopwatch, fit_ebb, fit_msp
from .modes import Reduced, hanning, project, reduce_window
from .priors import evenly_spaced_patches
from .sensor_space import SensorSpace, sensor_space
from .settings import InversionSettings

COMPONENTS = {"EBB": ["noise", "prior"], "MSP": ["noise", "greedy_search", "ard"]}


@dataclass(frozen=True)
class RunResult:
    """Outcome of an inversion over all folds.

    Attributes
    ----------
    fit : Fit
        The inversion of the last fold (as SPM reports), projector and
        variances in source units.
    modes : ndarray, shape (n_modes, n_train)
        Spatial projector of the last fold.
    space : SensorSpace
        Sensor space of the last fold.
    data_scale : ndarray, shape (n_modalities,)
        Each modality's data scale in the last fold (ones for one modality).
    train : ndarray of int
        Training-channel positions of the last fold.
    fold_free_energy : ndarray, shape (n_folds,)
    channel_error : ndarray, shape (n_folds, n_test)
        Cross-validation RMS error per held-out channel (sensor units).
    timings : dict of str to float
        Wall time per stage summed over folds (``modes``, then the fit's), s.
    """

    fit: Fit
    modes: np.ndarray
    space: SensorSpace
    data_scale: np.ndarray
    train: np.ndarray
    fold_free_energy: np.ndarray
    channel_error: np.ndarray
    timings: dict[str, float]


def cv_splits(
    n_channels: int, n_folds: int, pc_test: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training/test channel positions per fold (design note spm_inversion §1.2 step 1, §5).

    ``round(n_folds·pc_test) == 100`` gives k-fold blocks of one permutation;
    otherwise each fold draws its own random test set. No test channels
    gives a single fold on every channel.
    """
    rng = np.random.default_rng(seed)
    kfold = _round(n_folds * pc_test) == 100
    if kfold:
        pc_test = np.floor(n_channels / n_folds) / n_channels * 100
    n_test = _round(pc_test * n_channels / 100)
    everything = np.arange(n_channels)
    if n_test == 0:
        return [(everything, np.zeros(0, dtype=np.int64))]
    if n_test > n_channels - 2:
        raise LaminarrayError(
            f"`ideal_pc_test` = {pc_test:g}% of {n_channels} channels leaves too few for training"
        )
    first = rng.permutation(n_channels)
    splits = []
    for fold in range(n_folds):
        if kfold:
            chosen = first[fold * n_test : (fold + 1) * n_test]
        else:
            chosen = (first if fold == 0 else rng.permutation(n_channels))[:n_test]
        test = np.sort(chosen)
        splits.append((np.setdiff1d(everything, test), test))
    return splits


def _round(value: float) -> int:
    """MATLAB's round (half away from zero) for non-negative values."""
    return int(np.floor(value + 0.5))


def run(
    problem: Problem,
    settings: InversionSettings,
    *,
    reduced: Reduced | None = None,
    progress: bool | None = False,
    label: str = "inversion",
) -> RunResult:
    """Invert ``problem`` with ``settings`` over every cross-validation fold.

    Parameters
    ----------
    reduced : Reduced, optional
        Data already reduced with this problem's data modes (shared between
        forward models when ``n_spatial_modes="all"``, where the modes and
        scales of the data depend on the data only); used when there is no
        cross-validation.
    progress : bool, optional
        Report folds and stages on stderr (None: the ``progress`` option);
        False by default, for the inversions run inside a comparison.
    label : str
        Name shown on the progress line.
    """
    samples = woi_samples(settings.woi, problem.times, problem.sfreq)
    patches = _patches(problem, settings)
    splits = cv_splits(
        problem.gain.shape[0], settings.n_folds, settings.ideal_pc_test, settings.seed
    )
    free, errors = [], []
    timings: dict[str, float] = {}
    with Progress(label, len(splits), "folds", progress=progress) as bar:
        for train, test in splits:
            watch = Stopwatch()
            gain = problem.gain[train] if test.size else problem.gain
            data = problem.data if test.size == 0 else problem.data[train]
            space = sensor_space(
                gain,
                problem.modality[train],
                settings.n_spatial_modes,
                problem.rank,
                train if test.size else None,
            )
            scale = space.data_scale(
                data, samples, problem.times, foi=settings.foi, hann=settings.hann
            )
            if reduced is None or test.size:
                bar.set_stage("reducing the data")
                reduced = reduce_window(
                    data,
                    space.data_modes(scale),
                    samples,
                    problem.times,
                    foi=settings.foi,
                    n_temp_modes=settings.n_temp_modes,
                    hann=settings.hann,
                )
            watch.lap("modes")
            bar.set_stage(f"fitting {settings.method}")
            fit = fit_space(space, scale, gain, problem, reduced, settings.method, patches)
            for stage, seconds in {**watch.times, **fit.timings}.items():
                timings[stage] = timings.get(stage, 0.0) + seconds
            free.append(fit.free_energy)
            if test.size:
                factor = space.channel_factor(scale, problem.modality)
                errors.append(_channel_error(problem, fit, train, test, settings.hann, factor))
            bar.advance()
    return RunResult(
        fit=fit,
        modes=space.modes,
        space=space,
        data_scale=scale,
        train=train,
        fold_free_energy=np.asarray(free),
        channel_error=np.asarray(errors, dtype=np.float64).reshape(len(errors), -1)
        if errors
        else np.zeros((0, 0)),
        timings=timings,
    )


def fit_space(
    space: SensorSpace,
    scale: np.ndarray,
    gain: np.ndarray,
    problem: Problem,
    reduced: Reduced,
    method: str,
    patches: np.ndarray | None,
) -> Fit:
    """Fit one window in ``space`` and express the projector in source units.

    Parameters
    ----------
    scale : ndarray, shape (n_modalities,)
        The window's data scale per modality (:meth:`SensorSpace.data_scale`).
    gain : ndarray, shape (n_channels, n_sources)
        The gain rows of the space's channels.
    """
    lead = lead_field(space.lead_modes(), gain)
    fit = fit_window(
        lead, problem, space.data_modes(scale), reduced, method, patches, noise=space.noise
    )
    factor = space.source_scale(scale)
    if factor == 1.0:
        return fit
    return replace(
        fit,
        projector=fit.projector * factor,
        variance=fit.variance * factor**2,
        prior_variance=fit.prior_variance * factor**2,
    )


def lead_field(modes: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``A·L`` in Fortran order (fast sparse products), no product when ``A = I``."""
    if modes.shape[0] == modes.shape[1] and np.array_equal(modes, np.eye(modes.shape[0])):
        return np.asfortranarray(gain)
    return (gain.T @ modes.T).T


def fit_window(
    lead: np.ndarray,
    problem: Problem,
    modes: np.ndarray,
    reduced: Reduced,
    method: str,
    patches: np.ndarray | None,
    *,
    noise: list[np.ndarray] | None = None,
) -> Fit:
    """Dispatch one window's fit to the EBB or MSP kernel."""
    if method == "EBB":
        return fit_ebb(lead, problem.smoothing, modes, reduced, noise)
    return fit_msp(lead, problem.smoothing, modes, reduced, patches, noise)


def _patches(problem: Problem, settings: InversionSettings) -> np.ndarray | None:
    if settings.method != "MSP":
        return None
    if settings.priors is not None:
        return np.asarray(settings.priors, dtype=np.int64)
    return evenly_spaced_patches(problem.gain.shape[1], settings.n_patches or 512)


def _channel_error(
    problem: Problem,
    fit: Fit,
    train: np.ndarray,
    test: np.ndarray,
    hann: bool,
    factor: np.ndarray,
) -> np.ndarray:
    """Per held-out channel RMS prediction error in temporal-mode space (design note spm_inversion §5.4).

    ``factor`` (per channel) converts the gain's prediction to the data's
    scale (ones for one modality).
    """
    samples, temporal = fit.reduced.samples, fit.reduced.temporal
    taper = hanning(samples.size) if hann else np.ones(samples.size)
    window = problem.data[:, samples[0] : samples[-1] + 1, :]
    coeffs = project(window, None, taper[:, None] * temporal)
    predicted = np.einsum(
        "tc,crk->trk",
        (factor[test, None] * problem.gain[test]) @ fit.projector,
        coeffs[train],
        optimize=True,
    )
    rms = np.sqrt(np.mean((predicted - coeffs[test]) ** 2, axis=1))
    return rms.mean(axis=1)


def to_dataset(problem: Problem, settings: InversionSettings, result: RunResult) -> xr.Dataset:
    """Label a :class:`RunResult` as an inverse dataset (the shared format)."""
    fit = result.fit
    n_channels = problem.channels.size
    template = problem.gain_template
    shape = (problem.n_layers, problem.n_vertices)
    projector, spatial = fit.projector, result.modes
    if result.train.size < n_channels:
        projector = np.zeros((fit.projector.shape[0], n_channels))
        projector[:, result.train] = fit.projector
        spatial = np.zeros((result.modes.shape[0], n_channels))
        spatial[:, result.train] = result.modes
    source_coords = {
        name: coord.variable
        for name, coord in template.coords.items()
        if set(coord.dims) <= {"layer", "vertex"}
    }
    sensor_units, source_units = problem.sensor_units, problem.source_units
    cv_error = float(result.channel_error.mean()) if result.channel_error.size else np.nan
    times = problem.times[fit.reduced.samples]
    data_vars: dict[str, Any] = {
        "projector": (
            ("layer", "vertex", "channel"),
            projector.reshape(*shape, n_channels),
            {"units": f"{source_units}/{sensor_units}", "long_name": "inverse projector"},
        ),
        "free_energy": ((), fit.free_energy, {"units": "1", "long_name": "free energy"}),
        "accuracy": (
            (),
            fit.reml.accuracy,
            {"units": "1", "long_name": "accuracy (log-likelihood)"},
        ),
        "complexity": ((), fit.reml.complexity, {"units": "1", "long_name": "complexity"}),
        "cv_error": (
            (),
            cv_error,
            {"units": sensor_units, "long_name": "cross-validation RMS error"},
        ),
        "spatial_modes": (
            ("mode", "channel"),
            spatial,
            {"units": "1", "long_name": "spatial modes"},
        ),
        "temporal_projector": (
            ("time", "temporal_mode"),
            fit.reduced.temporal,
            {"units": "1", "long_name": "temporal projector"},
        ),
        "hyperparameters": (
            ("component",),
            fit.reml.hyper,
            {"units": "1", "long_name": "ReML hyperparameters"},
        ),
        "prior_variance": (
            ("layer", "vertex"),
            fit.prior_variance.reshape(shape),
            {"units": f"{source_units}2", "long_name": "prior source variance"},
        ),
        "posterior_variance": (
            ("layer", "vertex"),
            fit.variance.reshape(shape),
            {"units": f"{source_units}2", "long_name": "posterior source variance"},
        ),
    }
    if result.fold_free_energy.size > 1:
        data_vars["fold_free_energy"] = (
            ("fold",),
            result.fold_free_energy,
            {"units": "1", "long_name": "free energy per cross-validation fold"},
        )
        data_vars["free_energy"] = (
            (),
            float(result.fold_free_energy.mean()),
            {"units": "1", "long_name": "free energy"},
        )
    coords = {
        **source_coords,
        "channel": problem.channels,
        "time": ("time", times, {"units": "s", "long_name": "time"}),
        "component": _components(settings.method, result.space),
    }
    attrs = {
        **settings.to_dict(),
        "temporal_variance_explained": fit.reduced.explained,
        "n_trials": int(fit.reduced.y.shape[2]),
        **space_attrs(problem, result.space, result.data_scale),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _components(method: str, space: SensorSpace) -> list[str]:
    """Names of the ReML components (one noise component per fused modality)."""
    names = COMPONENTS[method]
    if not space.mixed:
        return names
    return [f"noise_{m}" for m in space.modalities] + names[1:]


def space_attrs(problem: Problem, space: SensorSpace, data_scale: np.ndarray) -> dict[str, Any]:
    """What the inversion's attrs record about the data rank and the fused modalities."""
    out: dict[str, Any] = {"modalities": list(space.modalities)}
    if problem.rank is not None:
        out["data_rank"] = int(problem.rank.rank)
        out["data_rank_source"] = problem.rank.source
    if space.mixed:
        out["modality_data_scale"] = [float(x) for x in data_scale]
        out["modality_gain_scale"] = [float(x) for x in space.gain_scale]
        out["source_scale"] = space.source_scale(data_scale)
    return out


def invert(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None,
    smoothing: Any,
    settings: InversionSettings,
    priors: Any = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Validate, invert and label: the body of the public inversion functions."""
    from ._inputs import flat_priors, prepare

    problem = prepare(
        sensor, gain, mesh, smoothing, settings.patch_size, settings.layer, rank=settings.rank
    )
    if priors is not None:
        settings = replace(settings, priors=tuple(flat_priors(priors, problem.gain_template)))
    label = f"invert_{settings.method.lower()}"
    return to_dataset(problem, settings, run(problem, settings, progress=progress, label=label))
