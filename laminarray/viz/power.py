"""ROI power comparison: t-maps on the cortex, the ROI, and per-trial laminar power changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from .._validation import LaminarrayError, check_option, describe
from ..schema import validate_mesh
from ._common import finish
from .surface import plot_surface

ROI_STYLES = ("outline", "markers", "both", "none")
#: ROI outline colour: bright green, distinct from the anatomy greys and the t-map's red/blue.
ROI_COLOR = "#00e000"
REQUIRED = ("t_map", "roi", "roi_change")
_TRIAL_PANEL_INCHES = 4.5


def _check_result(result: Any) -> xr.Dataset:
    if not isinstance(result, xr.Dataset):
        raise LaminarrayError(
            f"`result` must be the Dataset returned by laminarray.power.roi_power, "
            f"got {describe(result)}"
        )
    missing = [name for name in REQUIRED if name not in result.data_vars]
    if missing:
        raise LaminarrayError(
            f"`result` must hold {list(REQUIRED)} (from laminarray.power.roi_power); "
            f"missing {missing}, found {list(result.data_vars)}"
        )
    return result.compute()


def roi_boundary_edges(faces: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Mesh edges on the border of an ROI.

    The ROI's faces are those whose three corners are inside; its border is
    every edge that belongs to exactly one ROI face.

    Parameters
    ----------
    faces : ndarray of int, shape (n_faces, 3)
        Triangles as vertex positions.
    inside : ndarray of bool, shape (n_vertices,)
        ROI membership per vertex position.

    Returns
    -------
    ndarray of int, shape (n_edges, 2)
        Vertex positions of each border edge (smaller first), sorted.
    """
    roi_faces = faces[inside[faces].all(axis=1)]
    edges = np.sort(roi_faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return unique[counts == 1].reshape(-1, 2)


def _plot_trials(ax: Axes, result: xr.Dataset) -> None:
    """Per-trial ROI change across the compared layers, mean ± s.e.m., laminar test in the title."""
    change = result["roi_change"].transpose("layer", "trial")
    values = np.asarray(change.values, dtype=np.float64)
    layers = [str(v) for v in change["layer"].values]
    x = np.arange(len(layers))
    for trial in values.T:
        ax.plot(x, trial, "o-", color="0.65", linewidth=0.8, markersize=3, alpha=0.8, gid="trial")
    mean = values.mean(axis=1)
    sem = values.std(axis=1, ddof=1) / np.sqrt(values.shape[1]) if values.shape[1] > 1 else 0.0
    bars = ax.errorbar(x, mean, yerr=sem, color="k", linewidth=2, capsize=4, label="mean ± s.e.m.")
    bars.lines[0].set_gid("mean")
    ax.axhline(0.0, color="gray", linewidth=0.5)
    ax.set_xticks(x, layers, rotation=45 if len(layers) > 2 else 0)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_xlabel("layer (superficial → deep)")
    units = change.attrs.get("units", "")
    kind = result.attrs.get("change", "")
    ax.set_ylabel(f"ROI power change, {kind}" + (f" ({units})" if units else ""))
    ax.legend(loc="best", fontsize="small")
    if "t" in result and result["t"].ndim == 0:
        reference = result.attrs.get("reference", layers[-1])
        ax.set_title(
            f"|{layers[0]}| − |{reference}|: t({int(result['df'])}) = "
            f"{float(result['t']):.2f}, p = {float(result['p']):.2g}"
        )
    elif "t" in result:
        reference = result.attrs.get("reference", layers[-1])
        twin = ax.twinx()
        t_values = result["t"].reindex(layer=change["layer"].values).values
        twin.plot(x, t_values, "s--", color="tab:red", markersize=4, gid="laminar_t")
        twin.set_ylabel(f"laminar t against {reference}", color="tab:red")
        ax.set_title(f"laminar test: |layer change| − |{reference} change|")


def _add_roi(fig: Figure, points: np.ndarray, faces: np.ndarray, inside: np.ndarray) -> None:
    """Draw the ROI border on every 3-D axes of ``fig``."""
    edges = roi_boundary_edges(faces, inside)
    for ax in fig.axes:
        if getattr(ax, "name", "") == "3d":
            ax.add_collection3d(
                Line3DCollection(
                    points[edges], colors=ROI_COLOR, linewidths=2.5, gid="roi_outline"
                )
            )


def _append_panel(fig: Figure) -> Axes:
    """Widen ``fig`` by one panel on the right and return a new 2-D axes there."""
    width, height = fig.get_size_inches()
    total = width + _TRIAL_PANEL_INCHES
    for ax in fig.axes:
        box = ax.get_position()
        ax.set_position([box.x0 * width / total, box.y0, box.width * width / total, box.height])
    fig.set_size_inches(total, height)
    left = (width + 0.9) / total
    return fig.add_axes((left, 0.2, (_TRIAL_PANEL_INCHES - 1.2) / total, 0.62))


def plot_roi_power(
    result: xr.Dataset,
    mesh: xr.Dataset | None = None,
    *,
    layer: str | None = None,
    view: str | Sequence[str | None] | None = None,
    hemi: str | None = None,
    roi_style: str = "outline",
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    save_to: str | Path | None = None,
) -> Figure:
    """Show an ROI power comparison: t-map and ROI on the cortex, per-trial laminar changes.

    Parameters
    ----------
    result : xarray.Dataset
        The result of :func:`laminarray.power.roi_power`: ``t_map (layer,
        vertex)``, ``roi (vertex)`` bool, ``roi_change (layer, trial)`` and the
        laminar test ``t``, ``p``, ``df`` (scalars, or over ``layer`` for a
        depth profile). Lazy results are computed (they are small).
    mesh : xarray.Dataset, optional
        The laminar mesh the inversion used. Without it only the per-trial
        panel is drawn.
    layer : str, optional
        Layer whose t-map is drawn on that layer's surface (default the first
        compared layer, e.g. ``"pial"``).
    view : str or sequence of str, optional
        Views of the surface, as :func:`~laminarray.viz.plot_surface`;
        ``None`` is the view that faces the ROI.
    hemi : {"lh", "rh"}, optional
        Draw one hemisphere only.
    roi_style : {"outline", "markers", "both", "none"}
        Mark the ROI by its border on the surface (mesh edges of exactly one
        face with all corners in the ROI; bright green, drawn over the
        surface), by dots on its vertices, or both.
    cmap : str, optional
        Colour map of the t-map, two-slope around 0 (default the diverging
        ``RdBu_r``: t is signed).
    vmin, vmax : float, optional
        Colour limits of the t-map (default ``±`` the 99th percentile of
        ``|t|``, as :func:`~laminarray.viz.plot_surface`).
    threshold : float, optional
        Draw only ``|t| >= threshold`` (e.g. a critical t), the anatomy elsewhere.
    save_to : str or path-like, optional
        Also write the figure to this file.

    Returns
    -------
    matplotlib.figure.Figure
        With a mesh: the 3-D axes of :func:`~laminarray.viz.plot_surface`
        (one per view; t-map values on the candidate vertices, anatomy
        elsewhere), its colourbar, then the per-trial axes (and, for a depth
        profile, its twin axes). The
        per-trial axes hold one line per trial (``gid="trial"``) through the
        ROI change of every compared layer, and the mean ± s.e.m.
        (``gid="mean"``); the title gives the laminar test (for a depth
        profile, its t of every layer is a red line on a twin axis,
        ``gid="laminar_t"``).

    Examples
    --------
    >>> res = roi_power(sensor, inverse, woi=(0.0, 0.5), baseline=(-0.2, 0.0))  # doctest: +SKIP
    >>> plot_roi_power(res, mesh, view=["lateral", "dorsal"])  # doctest: +SKIP
    """
    result = _check_result(result)
    check_option("roi_style", roi_style, ROI_STYLES)
    compared = [str(v) for v in result["t_map"]["layer"].values]
    layer = compared[0] if layer is None else layer
    check_option("layer", layer, compared)
    if mesh is None:
        fig, ax = plt.subplots(figsize=(_TRIAL_PANEL_INCHES, 4.0))
        _plot_trials(ax, result)
        finish(fig, save_to)
        return fig
    mesh = validate_mesh(mesh)
    labels = np.asarray(mesh["vertex"].values)
    roi_labels = np.asarray(result["vertex"].values)[np.asarray(result["roi"].values, bool)]
    unknown = np.setdiff1d(result["vertex"].values, labels)
    if unknown.size:
        raise LaminarrayError(
            f"`result` has vertices not in `mesh` (e.g. {unknown[:5].tolist()}): pass the mesh "
            "the inverse was computed on"
        )
    inside = np.isin(labels, roi_labels)
    if hemi is not None and "hemi" in mesh.coords:
        inside &= np.asarray(mesh["hemi"].values) == hemi
    t_map = result["t_map"].sel(layer=layer)
    fig = plot_surface(
        mesh,
        t_map.assign_attrs(long_name="t", units="1"),
        layer=layer,
        view=view,
        hemi=hemi,
        cmap=cmap,
        norm="TS",
        vmin=vmin,
        vmax=vmax,
        threshold=threshold,
        focus=np.flatnonzero(inside) if inside.any() else None,
        markers=np.flatnonzero(inside) if roi_style in ("markers", "both") else None,
    )
    for ax in fig.axes:
        if getattr(ax, "name", "") == "3d":
            ax.set_title(f"t-map, {ax.get_title()}")
    if roi_style in ("outline", "both"):
        points = np.asarray(mesh["vertices"].sel(layer=layer).values)
        _add_roi(fig, points, np.asarray(mesh["faces"].values), inside)
    _plot_trials(_append_panel(fig), result)
    finish(fig, save_to)
    return fig
