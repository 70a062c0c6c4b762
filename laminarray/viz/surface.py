"""Shaded 3-D renders of one cortical layer with per-vertex values (matplotlib only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from .._validation import LaminarrayError, check_option
from ..schema import validate_mesh
from ._common import finish
from .colors import DIVERGING, SEQUENTIAL, data_to_rgb, is_signed, robust_limits

VIEWS = ("lateral", "medial", "dorsal", "ventral", "anterior", "posterior")
_GYRAL_GREY, _SULCAL_GREY = 0.72, 0.45


def _camera(view: str, hemi: str | None) -> tuple[float, float]:
    """(elevation, azimuth) in degrees for a named view (RAS coordinates)."""
    left = hemi != "rh"
    return {
        "lateral": (0.0, 180.0 if left else 0.0),
        "medial": (0.0, 0.0 if left else 180.0),
        "dorsal": (90.0, -90.0),
        "ventral": (-90.0, -90.0),
        "anterior": (0.0, 90.0),
        "posterior": (0.0, -90.0),
    }[view]


def best_view(
    points: np.ndarray, target: Any, hemi: str | None = None, *, ranked: bool = False
) -> Any:
    """The named view that looks most directly at ``target`` from outside the brain.

    Parameters
    ----------
    points : ndarray, shape (n, 3)
        Drawn vertex positions (mm).
    target : array, shape (3,) or (k, 3)
        Position(s) to show (mm); several are averaged.
    hemi : {"lh", "rh"}, optional
        As in :func:`plot_surface` (names lateral/medial for that hemisphere).
    ranked : bool
        Return every view, best first, instead of the best one.

    Returns
    -------
    str or list of str
        One of (or all of) :data:`VIEWS`.
    """
    centre = (points.min(0) + points.max(0)) / 2
    towards = np.atleast_2d(np.asarray(target, dtype=np.float64)).mean(0) - centre
    scores = [float(_view_direction(*_camera(name, hemi)) @ towards) for name in VIEWS]
    order = [VIEWS[i] for i in np.argsort(scores)[::-1]]
    return order if ranked else order[0]


def _view_direction(elev: float, azim: float) -> np.ndarray:
    """Unit vector from the scene towards the camera."""
    e, a = np.deg2rad(elev), np.deg2rad(azim)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def _face_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    normals = np.cross(
        points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]
    )
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def sulcal_depth_sign(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Convexity of each vertex: > 0 on gyral crowns, < 0 in sulcal fundi.

    The displacement of each vertex from the mean of its mesh neighbours,
    projected on the outward vertex normal (a discrete mean-curvature sign).

    Parameters
    ----------
    points : ndarray, shape (n_vertices, 3), mm
    faces : ndarray of int, shape (n_faces, 3)

    Returns
    -------
    ndarray, shape (n_vertices,)
    """
    from ..surf import adjacency

    adj = adjacency(faces, points.shape[0])
    degree = np.maximum(np.asarray(adj.sum(axis=1)).ravel(), 1)
    displacement = points - (adj @ points) / degree[:, None]
    normals = np.zeros_like(points)
    face_n = _face_normals(points, faces)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_n)
    # Outward: away from the surface centroid on average.
    outward = np.sign(np.sum((points - points.mean(0)) * normals)) or 1.0
    return np.einsum("ij,ij->i", displacement, normals) * outward


def _vertex_values(values: Any, mesh: xr.Dataset, layer: str) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, xr.DataArray):
        if "layer" in values.dims:
            values = values.sel(layer=layer)
        if values.dims != ("vertex",):
            raise LaminarrayError(
                f"`values` must have dims (vertex,) or (layer, vertex); found {values.dims}"
            )
        values = values.reindex(vertex=mesh["vertex"].values)
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (mesh.sizes["vertex"],):
        raise LaminarrayError(
            f"`values` must have one value per vertex: expected ({mesh.sizes['vertex']},), got {array.shape}"
        )
    return array


def surface_geometry(
    mesh: xr.Dataset, values: Any, layer: str, hemi: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated ``(points (vertex, xyz) mm, faces (face, corner), values (vertex,) or None)``.

    ``faces`` keeps the triangles of ``hemi`` only when given.
    """
    mesh = validate_mesh(mesh)
    layers = [str(v) for v in mesh["layer"].values]
    if layer not in layers:
        raise LaminarrayError(f"`layer` must be one of {layers}; got {layer!r}")
    points = np.asarray(mesh["vertices"].sel(layer=layer).values, dtype=np.float64)
    faces = np.asarray(mesh["faces"].values)
    data = _vertex_values(values, mesh, layer)
    if hemi is not None:
        check_option("hemi", hemi, ("lh", "rh"))
        if "hemi" not in mesh.coords:
            raise LaminarrayError("`hemi` was given but the mesh has no `hemi` coordinate")
        keep = np.asarray(mesh["hemi"].values) == hemi
        faces = faces[keep[faces].all(axis=1)]
    return points, faces, data


def anatomy_grey(points: np.ndarray, faces: np.ndarray, curvature: bool) -> np.ndarray:
    """Grey level per vertex: gyri light, sulci dark (``curvature``), else uniform."""
    if not curvature:
        return np.full(points.shape[0], _GYRAL_GREY)
    return np.where(sulcal_depth_sign(points, faces) >= 0, _GYRAL_GREY, _SULCAL_GREY)


def value_colours(
    data: np.ndarray,
    cmap: str | None,
    norm: str | None,
    vmin: float | None,
    vmax: float | None,
    vcenter: float,
    n_bins: int,
    threshold: float | None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """The colour mapping of :func:`plot_surface` (see its parameters).

    Returns
    -------
    data : ndarray, shape (vertex,)
        The values drawn (NaN below ``threshold``).
    rgba : ndarray, shape (vertex, 4)
    mappable : matplotlib.cm.ScalarMappable
        Its norm holds the limits, its cmap the colour map.
    """
    if threshold is not None:
        data = np.where(np.abs(data) >= threshold, data, np.nan)
    signed = norm == "TS" if norm is not None else is_signed(data)
    robust = robust_limits(data, signed=signed)
    lo = robust[0] if vmin is None else float(vmin)
    hi = robust[1] if vmax is None else float(vmax)
    if norm is None:
        norm = "TS" if signed and lo < vcenter < hi else "N"
    cmap = cmap or (DIVERGING if norm == "TS" else SEQUENTIAL)
    rgba, mappable = data_to_rgb(data, n_bins, cmap, lo, hi, vcenter, norm, ret_map=True)
    return data, rgba, mappable


def plot_surface(
    mesh: xr.Dataset,
    values: Any = None,
    layer: str = "pial",
    view: str | Sequence[str] | None = None,
    hemi: str | None = None,
    *,
    cmap: str | None = None,
    norm: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float = 0.0,
    n_bins: int = 1000,
    threshold: float | None = None,
    focus: Any = None,
    markers: Any = None,
    marker_color: str = "gold",
    colorbar: bool = True,
    curvature: bool = True,
    save_to: str | Path | None = None,
) -> Figure:
    """Render one layer of a laminar mesh, shaded, with optional per-vertex values.

    Parameters
    ----------
    mesh : xarray.Dataset
        A laminar mesh (``vertices (layer, vertex, xyz)`` mm, ``faces``).
    values : array or DataArray, shape (vertex,) or (layer, vertex), optional
        Per-vertex values; NaN vertices show the anatomy only.
    layer : str
        Layer to draw (e.g. ``"pial"``, ``"white"``, ``"0.500"``).
    view : str or sequence of str, optional
        One or several of ``lateral, medial, dorsal, ventral, anterior,
        posterior``; several give one panel each; ``None`` (in a list too)
        is the view that faces ``focus`` (:func:`best_view`).
    hemi : {"lh", "rh"}, optional
        Restrict to one hemisphere (needs the mesh ``hemi`` coordinate).
    cmap, norm : str, optional
        Colour map and normalisation (laMEG's two-slope ``"TS"`` around
        ``vcenter``, linear ``"N"`` or ``"LOG"``). Default: for values of both
        signs (t, change) the diverging ``RdBu_r``, two-slope around 0; for
        one-signed values (thickness, power) the sequential ``viridis``,
        linear.
    vmin, vmax : float, optional
        Colour limits. Default: robust limits (:func:`~laminarray.viz.colors.robust_limits`),
        ``±`` the 99th percentile of ``|values|`` for signed values, else
        the 1st and 99th percentiles, so that one extreme vertex cannot
        wash the map out; values beyond are drawn in the end colours.
    vcenter, n_bins
        As :func:`laminarray.viz.colors.data_to_rgb`.
    threshold : float, optional
        Draw only values with ``|value| >= threshold`` (the others show the
        anatomy), e.g. a critical t; default limits then come from the values
        drawn. A face with a drawn corner takes the mean colour of its drawn
        corners, so a single drawn vertex shows.
    focus : array of int, optional
        Vertex positions the default view must show (default: the vertex of
        largest ``|values|``; without values, the lateral view).
    markers : array of int, optional
        Vertex indices to mark with dots.
    colorbar : bool
        A colour bar labelled with the values' name and units (``attrs["units"]``
        of a DataArray; ``"a.u."`` when unknown).
    curvature : bool
        Shade gyri light and sulci dark where no value is drawn.
    save_to : path, optional

    Returns
    -------
    matplotlib.figure.Figure
        One 3-D axes per view; each holds one ``Poly3DCollection`` with one
        polygon per drawn face.
    """
    points, faces, data = surface_geometry(mesh, values, layer, hemi)
    anatomy = anatomy_grey(points, faces, curvature)
    face_rgb = np.repeat(anatomy[faces].mean(axis=1)[:, None], 3, axis=1)
    views = _views(view, points, faces, data, focus, hemi)
    mappable = None
    if data is not None:
        data, rgba, mappable = value_colours(
            data, cmap, norm, vmin, vmax, vcenter, n_bins, threshold
        )
        drawn = np.isfinite(data)[faces]  # (face, corner)
        coloured = drawn.any(axis=1)
        colour = (rgba[faces][..., :3] * drawn[..., None]).sum(axis=1)
        colour /= np.maximum(drawn.sum(axis=1, keepdims=True), 1)
        face_rgb[coloured] = colour[coloured]
    normals = _face_normals(points, faces)
    fig = plt.figure(figsize=(4.5 * len(views), 4.5))
    for i, name in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1, projection="3d")
        ax.computed_zorder = False  # outlines and markers added later stay on top
        elev, azim = _camera(name, hemi)
        light = np.abs(normals @ _view_direction(elev, azim))
        shaded = face_rgb * (0.35 + 0.65 * light)[:, None]
        ax.add_collection3d(
            Poly3DCollection(points[faces], facecolors=shaded, edgecolors="none", linewidths=0)
        )
        if markers is not None:
            marked = points[np.atleast_1d(np.asarray(markers, dtype=int))]
            ax.scatter(*marked.T, color=marker_color, s=30, depthshade=False, edgecolors="k")
        used = points[np.unique(faces)] if faces.size else points
        lo_xyz, hi_xyz = used.min(0), used.max(0)
        centre, half = (lo_xyz + hi_xyz) / 2, (hi_xyz - lo_xyz).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - half, c + half)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=elev, azim=azim)
        ax.set_axis_off()
        ax.set_title(f"{layer} — {name}" + (f" ({hemi})" if hemi else ""))
    if mappable is not None and colorbar:
        fig.colorbar(mappable, ax=fig.axes, shrink=0.6, label=colour_label(values))
    finish(fig, save_to)
    return fig


def _views(
    view: Any,
    points: np.ndarray,
    faces: np.ndarray,
    data: np.ndarray | None,
    focus: Any,
    hemi: str | None,
) -> list[str]:
    """The named views to draw, ``None`` replaced by the view facing ``focus``."""
    views = [view] if view is None or isinstance(view, str) else list(view)
    if any(name is None for name in views):
        if focus is None and data is not None and np.isfinite(data).any():
            focus = int(np.nanargmax(np.abs(data)))
        drawn = points[np.unique(faces)] if faces.size else points
        ranked = (
            ["lateral"]
            if focus is None
            else best_view(drawn, points[np.atleast_1d(focus)], hemi, ranked=True)
        )
        free = [name for name in ranked if name not in views] or ranked
        views = [free[0] if name is None else name for name in views]
    for name in views:
        check_option("view", name, VIEWS)
    return views


def colour_label(values: Any) -> str:
    """Colour bar label: the values' name and units."""
    if not isinstance(values, xr.DataArray):
        return "value (a.u.)"
    units = str(values.attrs.get("units", "a.u."))
    units = "unitless" if units == "1" else units
    name = str(values.attrs.get("long_name", values.name or "value"))
    return f"{name} ({units})"
