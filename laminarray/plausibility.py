"""Plausibility checks: inputs that are well formed but cannot be what they claim.

A schema check (:mod:`laminarray.schema`) verifies the form of an object:
dims, labels, a ``units`` attribute. These checks verify that the *values*
are consistent with what the object declares, so that a common mix-up gives
an error instead of a silently wrong answer:

- a time axis labelled seconds whose sample step is that of milliseconds
  (:func:`check_time_axis`);
- sensor data whose amplitudes are implausible in their declared units, e.g.
  tesla values labelled fT (:func:`check_amplitude`);
- a gain matrix passed where an inverse projector belongs
  (:func:`check_projector_units`);
- analysis windows reaching outside the epoch (:func:`check_window`);
- too few trials for a statistic (:func:`check_trials`);
- a patch size beyond the scale of the mesh (:func:`check_patch_size`, a
  warning);
- empty selections and unknown labels (:func:`check_selection`).

Every message names the argument, the expected and the found value. The
heuristic checks (time step, amplitudes, patch size) can be switched off for
the rare legitimate case, e.g. data sampled below 5 Hz or simulations in
arbitrary units::

    import laminarray as lam

    with lam.set_options(check_plausibility=False):
        ...  # time-step, amplitude and patch-size checks skipped here

Windows outside the data, too few trials, empty selections and gains passed
as projectors are always errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from ._validation import LaminarrayError, SchemaError
from .options import OPTIONS

__all__ = [
    "AMPLITUDE_RANGES",
    "MAX_EPOCH_SPAN",
    "MAX_TIME_STEP",
    "check_amplitude",
    "check_patch_size",
    "check_projector_units",
    "check_selection",
    "check_time_axis",
    "check_trials",
    "check_window",
]

#: Largest sample step (s) taken as seconds: 5 Hz. A step at least this large
#: is what milliseconds look like (1 ms at 1 kHz, 1.667 ms at 600 Hz).
MAX_TIME_STEP = 0.2
#: Longest epoch (s) of epoched data (more than one trial): 700 ms labelled
#: seconds spans 700 "s" whatever the sampling rate.
MAX_EPOCH_SPAN = 60.0
#: Plausible range of the RMS amplitude of sensor data in laminarray's
#: canonical units (from femtotesla noise floors to unshielded raw recordings).
AMPLITUDE_RANGES = {"fT": (1e-4, 1e9), "fT/mm": (1e-5, 1e8), "uV": (1e-4, 1e7)}
#: Samples of each trial looked at by the amplitude check.
_SAMPLE_TRIALS = 8


def enabled() -> bool:
    """Whether the heuristic checks run (the ``check_plausibility`` option)."""
    return bool(OPTIONS["check_plausibility"])


_ESCAPE = "(if this is intended, wrap the call in `with laminarray.set_options(check_plausibility=False):`)"


def check_time_axis(times: Any, what: str, n_trials: int = 1) -> None:
    """Refuse a time axis in seconds whose step or span is that of milliseconds.

    Parameters
    ----------
    times : array, shape (n_times,)
        Increasing sample times, declared in s.
    what : str
        The object, for the message (e.g. ``"sensor data"``).
    n_trials : int
        Number of trials: epoched data (more than one) must span at most
        :data:`MAX_EPOCH_SPAN`.

    Raises
    ------
    SchemaError
        When the median step is at least :data:`MAX_TIME_STEP` (below 5 Hz),
        or epochs span more than :data:`MAX_EPOCH_SPAN`.
    """
    times = np.asarray(times, dtype=np.float64)
    if not enabled() or times.size < 2:
        return
    step = float(np.median(np.diff(times)))
    span = float(times[-1] - times[0])
    if step >= MAX_TIME_STEP:
        raise SchemaError(
            f"{what} `time` must be in seconds with a sample step below {MAX_TIME_STEP} s "
            f"(sampling above {1 / MAX_TIME_STEP:g} Hz); found a step of {step:.6g} "
            f"(span {times[0]:.6g} to {times[-1]:.6g}). If the times are in milliseconds, "
            "convert them: ds.assign_coords(time=ds.time / 1000) " + _ESCAPE
        )
    if n_trials > 1 and span > MAX_EPOCH_SPAN:
        raise SchemaError(
            f"{what} `time` must be in seconds with epochs of at most {MAX_EPOCH_SPAN:g} s; "
            f"found {n_trials} trials spanning {span:.6g} (from {times[0]:.6g} to "
            f"{times[-1]:.6g}). If the times are in milliseconds, convert them: "
            "ds.assign_coords(time=ds.time / 1000) " + _ESCAPE
        )


def _rms_sample(data: Any) -> float:
    """RMS of the finite values of the first trials of ``(channel, time, trial)`` data."""
    sample = data[..., :_SAMPLE_TRIALS]
    if isinstance(sample, da.Array):
        sample = sample[..., :1].compute()
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


def check_amplitude(sensor: Any, what: str = "sensor", *, lazy_ok: bool = True) -> None:
    """Refuse sensor data whose amplitudes are implausible in their declared units.

    The RMS of the first trials, converted to laminarray's canonical units
    (fT, fT/mm, uV), must lie in :data:`AMPLITUDE_RANGES`; otherwise the
    message lists the units the values would be plausible in (e.g. tesla
    values labelled ``"fT"`` suggest ``"T"``). All-zero data are accepted.

    Parameters
    ----------
    sensor : xarray.Dataset
        A validated sensor dataset.
    what : str
        The argument name, for the message.
    lazy_ok : bool
        With dask-backed data, compute the first trial's chunk to check it
        (True) or skip the check, keeping the caller lazy (False).

    Raises
    ------
    SchemaError
    """
    from .io._units import _SENSOR_UNITS, sensor_unit_factor

    data = sensor["data"]
    if not enabled() or (isinstance(data.data, da.Array) and not lazy_ok):
        return
    units = str(data.attrs.get("units", ""))
    canonical, factor = sensor_unit_factor(units, "")
    if canonical not in AMPLITUDE_RANGES:
        return
    rms = _rms_sample(data.data)
    low, high = AMPLITUDE_RANGES[canonical]
    value = rms * factor
    if rms == 0 or low <= value <= high:
        return
    candidates = [
        name
        for name, (target, to_canonical) in _SENSOR_UNITS.items()
        if target == canonical
        and name != units
        and low <= rms * to_canonical <= high
        and name.isascii()
    ]
    hint = (
        f"; the values are plausible in {candidates} — set the units that match "
        f"(e.g. ds['data'].attrs['units'] = {candidates[0]!r}) or convert the data"
        if candidates
        else ""
    )
    raise SchemaError(
        f"`{what}` data amplitudes are implausible for units {units!r}: expected an RMS "
        f"between {low:g} and {high:g} {canonical}, found {value:.3g} {canonical}{hint} " + _ESCAPE
    )


def check_projector_units(projector: Any, what: str = "inverse") -> None:
    """Refuse a gain (sensor units per source units) passed as an inverse projector.

    Dims cannot tell them apart (a projector's dims may come in any order), so
    the units do: a projector maps sensor units to source units.

    Raises
    ------
    LaminarrayError
        When the units' numerator is a sensor unit (``"fT/nAm"`` is a gain).
    """
    from .io._units import _SENSOR_UNITS

    units = str(projector.attrs.get("units", ""))
    numerator = units.split("/")[0].strip()
    if numerator in _SENSOR_UNITS:
        raise LaminarrayError(
            f"`{what}` must be an inverse projector (layer, vertex, channel) in source units "
            f"per sensor unit, e.g. 'nAm/fT'; found a gain-like array with units {units!r} and "
            f"dims {tuple(projector.dims)}. Invert first: inv = laminarray.inverse.invert_ebb"
            "(sensor, gain, mesh), then pass `inv`"
        )


def check_window(window: Sequence[float], times: Any, name: str) -> tuple[float, float]:
    """Refuse a window ``(start, end)`` in s that reaches outside the data.

    The window must satisfy ``times[0] <= start < end <= times[-1] + step``
    (the end is exclusive, so it may be one sample past the last one), with a
    tolerance of a thousandth of a sample for float rounding. Windows are
    never clipped.

    Parameters
    ----------
    window : (float, float)
        Start and end in s.
    times : array, shape (n_times,)
        The data's sample times, s.
    name : str
        Argument name for the message.

    Returns
    -------
    (float, float)

    Raises
    ------
    LaminarrayError
        Naming the window and the data's time span, with a hint when the
        window looks like milliseconds.
    """
    try:
        start, end = (float(v) for v in window)
    except (TypeError, ValueError):
        raise LaminarrayError(
            f"`{name}` must be a pair (start, end) in s, got {window!r}"
        ) from None
    times = np.asarray(times, dtype=np.float64)
    if not start < end:
        raise LaminarrayError(f"`{name}` must have start < end (s), got {window!r}")
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    first, last = float(times[0]), float(times[-1]) + step
    tolerance = max(1e-9, 1e-3 * step)
    if start < first - tolerance or end > last + tolerance:
        span = max(abs(first), abs(last), step)
        looks_ms = max(abs(start), abs(end)) > 10 * span and max(abs(start), abs(end)) >= 1
        raise LaminarrayError(
            f"`{name}` = {tuple(window)} s reaches outside the data: expected a window within "
            f"[{first:.6g}, {last:.6g}] s (the epoch's samples {times[0]:.6g} to "
            f"{times[-1]:.6g} s, end exclusive); windows are not clipped"
            + (
                f". The window looks like milliseconds: use ({start / 1000:g}, {end / 1000:g})"
                if looks_ms
                else ""
            )
        )
    return start, end


def check_trials(n_trials: int, minimum: int, what: str, noun: str = "trials") -> None:
    """Refuse a statistic over fewer than ``minimum`` trials (or other observations).

    Parameters
    ----------
    n_trials : int
        Number of observations available.
    minimum : int
        Number needed.
    what : str
        The statistic, for the message.
    noun : str
        What is counted (default ``"trials"``).

    Raises
    ------
    LaminarrayError
    """
    if n_trials < minimum:
        raise LaminarrayError(f"{what} needs >= {minimum} {noun}; found {n_trials}")


def check_patch_size(patch_size: float, positions: Any, name: str = "patch_size") -> None:
    """Warn when a patch size is beyond the scale of the mesh.

    A patch wider than a quarter of the mesh's extent (bounding-box diagonal)
    covers most of the cortex: the smoothing operator becomes dense, slow to
    build and to use, and the priors lose their spatial meaning.

    Parameters
    ----------
    patch_size : float
        Patch FWHM, mm.
    positions : array, shape (..., n_vertices, 3)
        Vertex positions, mm.
    name : str
        Argument name for the message.

    Warns
    -----
    UserWarning
    """
    if not enabled():
        return
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    extent = float(np.linalg.norm(pos.max(axis=0) - pos.min(axis=0))) if pos.size else 0.0
    if extent > 0 and patch_size > extent / 4:
        warnings.warn(
            f"`{name}` = {patch_size:g} mm is beyond the scale of the mesh: expected at most "
            f"a quarter of its extent ({extent:.3g} mm), found {patch_size / extent:.2f} of it; "
            "every patch covers most of the cortex and building the operator is slow "
            "(laMEG uses 5-20 mm)",
            UserWarning,
            stacklevel=3,
        )


def check_selection(requested: Any, available: Any, name: str) -> list[Any]:
    """Refuse an empty selection or labels that are not there, listing those that are.

    Parameters
    ----------
    requested : label or sequence of labels
        What the caller asked for (a single label is one entry).
    available : sequence
        The labels of the object's dim.
    name : str
        The keyword, for the message (e.g. ``"layers"``).

    Returns
    -------
    list
        ``requested`` as a list.

    Raises
    ------
    LaminarrayError
    """
    single = isinstance(requested, str) or np.ndim(requested) == 0
    wanted = [requested] if single else list(np.asarray(requested).tolist())
    have = np.asarray(available).tolist()
    shown = have if len(have) <= 20 else [*have[:10], "...", *have[-3:]]
    if not wanted:
        raise LaminarrayError(
            f"`{name}` selects nothing: expected at least one of {shown}; found {requested!r}"
        )
    known = set(have)
    unknown = [label for label in wanted if label not in known]
    if unknown:
        raise LaminarrayError(
            f"`{name}` must name labels that exist: expected among {shown}; "
            f"found unknown {unknown[:10]}"
        )
    return wanted
