"""Laminar model comparison: free energy across layers, and over time in sliding windows."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._validation import LaminarrayError
from ._common import finish, get_axes

SIGNIFICANT_DF = 3.0
"""Free-energy difference above which one model is conventionally called better (~20:1 odds)."""


def _free_energy(result: xr.Dataset | xr.DataArray, dims: tuple[str, ...]) -> xr.DataArray:
    energy = result["free_energy"] if isinstance(result, xr.Dataset) else result
    missing = [d for d in dims if d not in energy.dims]
    if missing:
        raise LaminarrayError(
            f"`result` free_energy must have dims {dims}; found {energy.dims} (missing {missing})"
        )
    return energy


def plot_layer_comparison(
    result: xr.Dataset | xr.DataArray,
    ax: Axes | None = None,
    *,
    save_to: str | Path | None = None,
) -> Axes:
    """Free energy of each layer's model relative to the best, winner marked.

    Parameters
    ----------
    result : xarray.Dataset or DataArray
        ``free_energy (layer)`` (and optionally ``cv_error (layer)``), e.g. from
        :func:`laminarray.inverse.compare_layers`.
    ax : Axes, optional
    save_to : path, optional

    Returns
    -------
    matplotlib.axes.Axes
        Bars of ``F - max(F)`` per layer (0 for the winner, drawn in red and
        labelled); the cv error, when present, on a twin axis.
    """
    energy = _free_energy(result, ("layer",))
    values = np.asarray(energy.values, dtype=np.float64)
    relative = values - np.nanmax(values)
    best = int(np.nanargmax(values))
    layers = [str(v) for v in energy["layer"].values]
    fig, ax = get_axes(ax, figsize=(6, 3.5))
    colours = ["tab:red" if i == best else "tab:gray" for i in range(values.size)]
    ax.bar(np.arange(values.size), relative, color=colours)
    ax.plot(best, 0.0, marker="*", markersize=14, color="tab:red", linestyle="none", gid="winner")
    span = float(np.nanmax(-relative)) or 1.0
    ax.set_ylim(top=0.08 * span)  # room for the winner's marker above 0
    ax.axhline(-SIGNIFICANT_DF, color="k", linestyle=":", linewidth=0.8)
    ax.set_xticks(np.arange(values.size), layers, rotation=45)
    ax.set_xlabel("layer (superficial → deep)")
    ax.set_ylabel("free energy relative to best")
    ax.set_title(f"winning layer: {layers[best]}")
    if (
        isinstance(result, xr.Dataset)
        and "cv_error" in result
        and np.isfinite(result["cv_error"]).any()
    ):
        twin = ax.twinx()
        twin.plot(np.arange(values.size), result["cv_error"].values, "o-", color="tab:blue")
        twin.set_ylabel("cross-validation error", color="tab:blue")
    finish(fig, save_to)
    return ax


def plot_sliding_window(
    result: xr.Dataset | xr.DataArray,
    *,
    superficial: str = "pial",
    deep: str = "white",
    threshold: float = SIGNIFICANT_DF,
    save_to: str | Path | None = None,
) -> Figure:
    """Free energy over time from a sliding-window laminar comparison.

    Parameters
    ----------
    result : xarray.Dataset or DataArray
        ``free_energy (layer, window)``, with a window-centre coordinate on
        ``window`` in seconds (``window_centre``, as
        :func:`laminarray.inverse.sliding_window` returns, or ``time``).
    superficial, deep : str
        The two layers whose difference is plotted (default pial - white).
    threshold : float
        Significance threshold on the absolute difference, drawn as dashed lines (default 3).
    save_to : path, optional

    Returns
    -------
    matplotlib.figure.Figure
        Top: F (layer x window) relative to the per-window best; bottom:
        F(superficial) - F(deep) over time with the ±threshold band.
    """
    energy = _free_energy(result, ("layer", "window")).transpose("layer", "window")
    centre = next(
        (energy.coords[c] for c in ("window_centre", "time") if c in energy.coords), None
    )
    if centre is None:
        raise LaminarrayError(
            "`result` needs a `window_centre (window)` coordinate in seconds, as "
            "laminarray.inverse.sliding_window returns"
        )
    times = np.asarray(centre.values, dtype=np.float64)
    values = np.asarray(energy.values, dtype=np.float64)
    layers = [str(v) for v in energy["layer"].values]
    for name in (superficial, deep):
        if name not in layers:
            raise LaminarrayError(f"layer {name!r} is not in the result; layers are {layers}")
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    relative = values - np.nanmax(values, axis=0, keepdims=True)
    step = np.median(np.diff(times)) if times.size > 1 else 1.0
    mesh = top.pcolormesh(
        np.append(times - step / 2, times[-1] + step / 2),
        np.arange(len(layers) + 1) - 0.5,
        relative,
        cmap="viridis",
        shading="flat",
    )
    top.set_yticks(np.arange(len(layers)), layers)
    top.invert_yaxis()
    top.set_ylabel("layer")
    fig.colorbar(mesh, ax=top, label="F relative to best")
    difference = values[layers.index(superficial)] - values[layers.index(deep)]
    bottom.plot(times, difference, "k-o", markersize=3)
    for level in (threshold, -threshold):
        bottom.axhline(level, color="tab:red", linestyle="--", linewidth=0.8)
    bottom.axhline(0, color="gray", linewidth=0.5)
    bottom.set_ylabel(f"F({superficial}) − F({deep})")
    bottom.set_xlabel("window centre (s)")
    finish(fig, save_to)
    return fig
