"""Depth x time image of a current source density."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colors as mcolors
from matplotlib.axes import Axes

from .._validation import LaminarrayError, check_option
from ._common import finish, get_axes
from .colors import robust_limits

DEPTH_DIMS = ("depth", "layer")


def _depth_axis(csd: xr.DataArray, units: str) -> tuple[str, np.ndarray, str]:
    """Name of the depth dim, row positions and the axis label."""
    dim = next((d for d in DEPTH_DIMS if d in csd.dims), None)
    if dim is None:
        raise LaminarrayError(
            f"`csd` must have a depth dim ({' or '.join(DEPTH_DIMS)}) and `time`; found {csd.dims}"
        )
    coord = csd.coords.get("depth")
    if coord is not None and coord.dims == (dim,):
        positions = np.asarray(coord.values, dtype=np.float64)
        coord_units = coord.attrs.get("units", "mm" if dim == "depth" else "1")
    else:
        positions = np.linspace(0.0, 1.0, csd.sizes[dim])
        coord_units = "1"
    if units == "proportion" or coord_units != "mm":
        span = positions[-1] - positions[0]
        positions = (positions - positions[0]) / (span if span else 1.0)
        return dim, positions, "depth (proportion of thickness, 0 = pial)"
    return dim, positions, "depth (mm from pial)"


def plot_csd(
    csd: xr.DataArray,
    ax: Axes | None = None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    depth_units: str = "mm",
    layer_boundaries: Any = None,
    colorbar: bool = True,
    save_to: str | Path | None = None,
) -> Axes:
    """Plot a CSD as a depth x time image: sources red, sinks blue.

    Parameters
    ----------
    csd : xarray.DataArray, dims (depth or layer, time), or xarray.Dataset
        A CSD profile of one column (e.g. from :func:`laminarray.csd.compute_csd`,
        averaged over trials/vertices first), or a Dataset holding it as
        ``csd`` (a stored result, ``sub.results("csd")``). ``time`` in s; a ``depth``
        coordinate in mm (or relative) places the rows.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    vmin, vmax : float, optional
        Colour limits (a two-slope scale centred on 0). Default ``±`` the 99th
        percentile of ``|csd|`` (:func:`~laminarray.viz.colors.robust_limits`);
        one given alone sets the other symmetrically.
    cmap : str
        Diverging colour map (positive = source = red with ``RdBu_r``).
    depth_units : {"mm", "proportion"}
        Depth axis in mm from pial (when the coordinate is in mm) or as a
        proportion of thickness.
    layer_boundaries : array, optional
        Depths (same units as the axis) drawn as dashed lines, e.g. laminar
        boundaries.
    colorbar : bool
        Add a colourbar labelled with the CSD units.
    save_to : str or path-like, optional
        Also write the figure to this file.

    Returns
    -------
    matplotlib.axes.Axes
        The image is ``ax.images[0]``; pial is at the top.
    """
    check_option("depth_units", depth_units, ("mm", "proportion"))
    if isinstance(csd, xr.Dataset) and "csd" in csd.data_vars:
        csd = csd["csd"]
    if not isinstance(csd, xr.DataArray) or "time" not in csd.dims:
        raise LaminarrayError(
            f"`csd` must be a DataArray with a `time` dim, got {type(csd).__name__}"
        )
    dim, depth, label = _depth_axis(csd, depth_units)
    extra = [d for d in csd.dims if d not in (dim, "time") and csd.sizes[d] > 1]
    if extra:
        raise LaminarrayError(
            f"`csd` must be 2-D (depth, time); reduce or select the dims {extra} first "
            f"(e.g. .mean('trial') or .sel(vertex=...))"
        )
    image = np.asarray(csd.squeeze(drop=True).transpose(dim, "time").values, dtype=np.float64)
    times = np.asarray(csd["time"].values, dtype=np.float64)
    lo, hi = robust_limits(image, signed=True)
    if vmin is not None or vmax is not None:
        lo = -abs(float(vmax)) if vmin is None else float(vmin)
        hi = abs(float(vmin)) if vmax is None else float(vmax)
    if not lo < 0 < hi:
        raise LaminarrayError(
            f"`vmin`, `vmax` must bracket 0 (sources > 0 > sinks), got ({lo}, {hi})"
        )
    fig, ax = get_axes(ax, figsize=(6, 4))
    im = ax.imshow(
        image,
        aspect="auto",
        origin="upper",
        interpolation="none",
        cmap=cmap,
        norm=mcolors.TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi),
        extent=(times[0], times[-1], depth[-1], depth[0]),
    )
    for boundary in np.atleast_1d(layer_boundaries) if layer_boundaries is not None else ():
        ax.axhline(float(boundary), color="k", linestyle="--", linewidth=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(label)
    if colorbar:
        units = csd.attrs.get("units", "a.u.")
        fig.colorbar(im, ax=ax, label=f"CSD ({units})")
    finish(fig, save_to)
    return ax
