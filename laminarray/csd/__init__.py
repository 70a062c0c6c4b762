"""Current source density along cortical depth: laMEG's standard CSD and 1-D kernel CSD.

:func:`compute_csd` works over the ``layer`` dim of any labelled array (one
column ``(layer, time)``, an ROI, or every vertex ``(layer, vertex, time)``
lazily with dask), with laMEG's conventions (spec lameg.md §1.4): layer 0
(pial) at depth 0, layers equidistant down to ``thickness`` mm.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr
from scipy.interpolate import interp1d

from .._validation import LaminarrayError, check_option, check_positive, describe
from ._kcsd import KCSDSettings, elephant_grid_size, kcsd_column
from ._standard import standard_csd

__all__ = ["INTERPOLATION_POINTS", "KCSDSettings", "compute_csd", "elephant_grid_size"]

METHODS = ("KCSD1D", "StandardCSD")
SMOOTHING_KINDS = ("linear", "nearest", "nearest-up", "zero", "slinear", "quadratic", "cubic")
#: Number of depth points of the optional interpolation (laMEG).
INTERPOLATION_POINTS = 500
#: laMEG passes source signals to kCSD as µV (x 1e6), which the kCSD reads as mV.
_KCSD_INPUT_SCALE = 1e3


def _kcsd_block(
    signal: np.ndarray, thickness: np.ndarray, settings: KCSDSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kCSD, chosen λ and R of every column of a block (..., N, S), thickness (...)."""
    columns = signal.shape[:-2]
    thickness = np.broadcast_to(thickness, columns)
    out = np.empty((*columns, settings.n_estimates, signal.shape[-1]))
    lam, r = np.empty(columns), np.empty(columns)
    for index in np.ndindex(columns):
        potentials = _KCSD_INPUT_SCALE * np.asarray(signal[index], dtype=np.float64)
        out[index], lam[index], r[index] = kcsd_column(
            potentials, float(thickness[index]), settings
        )
    return out, lam, r


def _interpolate(profile: np.ndarray, kind: str) -> np.ndarray:
    """Resample a depth profile (..., n, S) onto 500 equidistant depths (laMEG's smoothing)."""
    rows = np.linspace(0.0, 1.0, profile.shape[-2])
    return interp1d(rows, profile, kind=kind, axis=-2)(np.linspace(0.0, 1.0, INTERPOLATION_POINTS))


def _smooth(profile: np.ndarray, smoothing: str | None) -> np.ndarray:
    return profile if smoothing is None else _interpolate(profile, smoothing)


def _standard_kernel(
    signal: np.ndarray, thickness: np.ndarray, smoothing: str | None
) -> np.ndarray:
    return _smooth(standard_csd(signal, thickness), smoothing)


def _kcsd_kernel(
    signal: np.ndarray, thickness: np.ndarray, smoothing: str | None, settings: KCSDSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    profile, lam, r = _kcsd_block(signal, thickness, settings)
    return _smooth(profile, smoothing), lam, r


def _kcsd_settings(kwargs: dict[str, Any]) -> KCSDSettings:
    allowed = set(KCSDSettings.__dataclass_fields__) | {"Rs"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise LaminarrayError(
            f"unknown KCSD1D options {unknown}; allowed: {sorted(allowed)} "
            "(laMEG accepts only `lambdas` and `Rs`)"
        )
    options = dict(kwargs)
    if "Rs" in options:
        options["rs"] = options.pop("Rs")
    for name in ("lambdas", "rs"):
        if options.get(name) is not None:
            values = tuple(float(v) for v in np.atleast_1d(options[name]))
            if not values or any(not np.isfinite(v) or v < 0 for v in values):
                raise LaminarrayError(f"`{name}` must be non-negative numbers, got {values}")
            if name == "rs" and min(values) <= 0:
                raise LaminarrayError(f"`Rs` must be positive widths in mm, got {values}")
            options[name] = values
        else:
            options.pop(name, None)
    n_estimates = options.get("n_estimates")
    if n_estimates is not None and (int(n_estimates) != n_estimates or n_estimates < 2):
        raise LaminarrayError(f"`n_estimates` must be an integer >= 2, got {n_estimates!r}")
    return KCSDSettings(**options)


def compute_csd(
    signal: xr.DataArray,
    thickness: float | xr.DataArray,
    sfreq: float,
    method: str = "KCSD1D",
    smoothing: str | None = None,
    *,
    sample_dim: str = "time",
    **kwargs: Any,
) -> xr.DataArray:
    """Current source density along the ``layer`` dim, laMEG-compatible.

    Layers are taken as equidistant electrodes from depth 0 (the first layer,
    pial) to ``thickness`` mm (the last, white).

    ``"StandardCSD"``: the second spatial difference with Vaknin end
    extension, ``-0.3 · Δ²V / h`` (h in metres, divided once), smoothed along
    depth with a 3-tap Gaussian, the two outermost rows at each end set to 0
    (spec lameg.md §1.4; parity with laMEG to 1e-8).

    ``"KCSD1D"``: kernel CSD (Potworowski et al. 2012) with Gaussian basis
    sources, regularisation and basis width chosen per column by
    leave-one-out cross-validation over ``lambdas`` x ``Rs`` (pooled over
    ``sample_dim``), computed as elephant 1.2.1's ``KCSD1D`` that laMEG
    calls (agreement to 1e-11 relative; see :mod:`laminarray.csd._kcsd`):
    Gaussian basis sources of standard deviation ``R/3``, 1000 of them,
    kernels divided by their number, elephant's estimation grid
    (:func:`elephant_grid_size`: 99 or 100 points from 0 to ``thickness``
    for a scalar thickness; 100 for per-column thickness, which needs one
    grid for all columns), the first minimum of the cross-validation error
    over ``Rs`` (outer) x ``lambdas`` (inner). The signal is scaled by 1e3
    first, as laMEG's µV labelling makes elephant do; the result is in
    µA/mm³ for such input. The chosen ``λ`` and ``R`` of every column are
    returned as the coordinates ``kcsd_lambda`` and ``kcsd_R``.

    Parameters
    ----------
    signal : xarray.DataArray
        Laminar signal with dims ``layer`` and ``sample_dim`` plus any others
        (``vertex``, ``trial``...), numpy- or dask-backed. Usually a
        trial-averaged source time series (nAm).
    thickness : float or xarray.DataArray
        Column thickness in mm (laMEG's tutorials pass the summed interlayer
        distance); a DataArray (e.g. over ``vertex``) gives one per column.
    sfreq : float
        Sampling frequency in Hz (recorded in attrs only, as laMEG).
    method : {"KCSD1D", "StandardCSD"}
    smoothing : str, optional
        A ``scipy.interpolate.interp1d`` kind (``"linear"``, ``"cubic"``, ...):
        return the profile interpolated onto 500 equidistant depths instead of
        the raw rows. (laMEG applies it to StandardCSD only; here it works
        for both.)
    sample_dim : str
        The dim of samples (default ``"time"``), kept in the output; kCSD's
        cross-validation pools over it.
    **kwargs
        KCSD1D options: ``lambdas``, ``Rs`` (as laMEG), and ``sigma``, ``h``,
        ``n_sources``, ``ext_x``, ``n_estimates`` (see :class:`KCSDSettings`).

    Returns
    -------
    xarray.DataArray
        ``layer`` replaced by ``depth`` (last but one dim, before
        ``sample_dim``). For a scalar ``thickness`` the ``depth`` coordinate
        is in mm from pial; for per-column thickness it is the relative depth
        (0 = pial, 1 = white) and ``depth_mm`` gives mm per column. A
        ``relative_depth (depth)`` coordinate is always present. KCSD1D adds
        the coordinates ``kcsd_lambda`` and ``kcsd_R`` (mm) over the other
        dims (one per column). Lazy if the input is dask-backed.

    Examples
    --------
    >>> column = source.sel(vertex=v).mean("trial")          # (layer, time)
    >>> csd = compute_csd(column, thickness=2.6, sfreq=600.0, method="StandardCSD")
    """
    if not isinstance(signal, xr.DataArray):
        raise LaminarrayError(f"`signal` must be an xarray.DataArray, got {describe(signal)}")
    check_option("method", method, METHODS)
    if smoothing is not None:
        check_option("smoothing", smoothing, SMOOTHING_KINDS)
    check_positive("sfreq", sfreq)
    for dim in ("layer", sample_dim):
        if dim not in signal.dims:
            raise LaminarrayError(f"`signal` must have a `{dim}` dim; found dims {signal.dims}")
    n_layers = signal.sizes["layer"]
    if n_layers < 3:
        raise LaminarrayError(f"`signal` needs at least 3 layers for a CSD, got {n_layers}")
    if method == "StandardCSD" and kwargs:
        raise LaminarrayError(f"StandardCSD takes no options, got {sorted(kwargs)}")
    settings = _kcsd_settings(kwargs) if method == "KCSD1D" else KCSDSettings()
    if isinstance(thickness, xr.DataArray):
        if isinstance(thickness.data, np.ndarray) and np.any(thickness.values <= 0):
            raise LaminarrayError("`thickness` must be positive (mm) in every column")
        thick: Any = thickness
    else:
        thick = check_positive("thickness", thickness)
    common: dict[str, Any] = {
        "input_core_dims": [["layer", sample_dim], []],
        "dask": "parallelized",
        "dask_gufunc_kwargs": {"allow_rechunk": True},
    }
    if method == "KCSD1D":
        if settings.n_estimates is None:
            n_est = 100 if isinstance(thick, xr.DataArray) else elephant_grid_size(thick)
            settings = replace(settings, n_estimates=n_est)
        n_out = INTERPOLATION_POINTS if smoothing is not None else settings.n_estimates
        common["dask_gufunc_kwargs"]["output_sizes"] = {"depth": n_out}
        csd, lam, r = xr.apply_ufunc(
            _kcsd_kernel,
            signal,
            thick,
            kwargs={"smoothing": smoothing, "settings": settings},
            output_core_dims=[["depth", sample_dim], [], []],
            output_dtypes=[np.float64] * 3,
            **common,
        )
        csd = csd.assign_coords(
            kcsd_lambda=lam.assign_attrs(long_name="cross-validated kCSD regularisation λ"),
            kcsd_R=r.assign_attrs(
                units="mm", long_name="cross-validated kCSD basis width R (3 std)"
            ),
        )
    else:
        n_out = INTERPOLATION_POINTS if smoothing is not None else n_layers
        common["dask_gufunc_kwargs"]["output_sizes"] = {"depth": n_out}
        csd = xr.apply_ufunc(
            _standard_kernel,
            signal,
            thick,
            kwargs={"smoothing": smoothing},
            output_core_dims=[["depth", sample_dim]],
            output_dtypes=[np.float64],
            **common,
        )
    relative = np.linspace(0.0, 1.0, n_out)
    if isinstance(thick, xr.DataArray):
        depth_mm = (thick * xr.DataArray(relative, dims="depth")).assign_attrs(units="mm")
        csd = csd.assign_coords(
            depth=("depth", relative, {"units": "1", "long_name": "relative depth (0 = pial)"}),
            depth_mm=depth_mm.assign_attrs(long_name="depth from pial"),
        )
    else:
        csd = csd.assign_coords(
            depth=("depth", relative * thick, {"units": "mm", "long_name": "depth from pial"})
        )
    csd = csd.assign_coords(relative_depth=("depth", relative, {"units": "1"}))
    units = "uA/mm3" if method == "KCSD1D" else "a.u."
    return csd.rename("csd").assign_attrs(
        units=units,
        long_name=f"current source density ({method})",
        method=method,
        sfreq=float(sfreq),
        smoothing=smoothing or "none",
        **(
            {"lambdas": list(settings.lambdas), "Rs": list(settings.rs)}
            if method == "KCSD1D"
            else {"conductivity": 0.3}
        ),
    )
