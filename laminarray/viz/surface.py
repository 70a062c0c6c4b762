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
from .colors import data_to_rgb

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


def plot_surface(
    mesh: xr.Dataset,
    values: Any = None,
    layer: str = "pial",
    view: str | Sequence[str] = "lateral",
    hemi: str | None = None,
    *,
    cmap: str = "RdBu_r",
    norm: str = "TS",
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float = 0.0,
    n_bins: int = 1000,
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
    view : str or sequence of str
        One or several of ``lateral, medial, dorsal, ventral, anterior,
        posterior``; several give one panel each.
    hemi : {"lh", "rh"}, optional
        Restrict to one hemisphere (needs the mesh ``hemi`` coordinate).
    cmap, norm, vmin, vmax, vcenter, n_bins
        Colour mapping as :func:`laminarray.viz.colors.data_to_rgb` (laMEG's
        two-slope ``"TS"``, linear ``"N"`` or ``"LOG"``). Limits default to
        ``±max|values|`` (two-slope) or the data range.
    markers : array of int, optional
        Vertex indices to mark with dots.
    colorbar : bool
    curvature : bool
        Shade gyri light and sulci dark where no value is drawn.
    save_to : path, optional

    Returns
    -------
    matplotlib.figure.Figure
        One 3-D axes per view; each holds one ``Poly3DCollection`` with one
        polygon per drawn face.
    """
    mesh = validate_mesh(mesh)
    views = [view] if isinstance(view, str) else list(view)
    for name in views:
        check_option("view", name, VIEWS)
    layers = [str(v) for v in mesh["layer"].values]
    if layer not in layers:
        raise LaminarrayError(f"`layer` must be one of {layers}; got {layer!r}")
    points = np.asarray(mesh["vertices"].sel(layer=layer).values)
    faces = np.asarray(mesh["faces"].values)
    data = _vertex_values(values, mesh, layer)
    if hemi is not None:
        check_option("hemi", hemi, ("lh", "rh"))
        if "hemi" not in mesh.coords:
            raise LaminarrayError("`hemi` was given but the mesh has no `hemi` coordinate")
        keep = np.asarray(mesh["hemi"].values) == hemi
        faces = faces[keep[faces].all(axis=1)]
    anatomy = np.full(points.shape[0], _GYRAL_GREY)
    if curvature:
        anatomy = np.where(sulcal_depth_sign(points, faces) >= 0, _GYRAL_GREY, _SULCAL_GREY)
    face_rgb = np.repeat(anatomy[faces].mean(axis=1)[:, None], 3, axis=1)
    mappable = None
    if data is not None:
        finite = data[np.isfinite(data)]
        peak = float(np.max(np.abs(finite))) if finite.size else 1.0
        lo = vmin if vmin is not None else (-peak if norm == "TS" else float(finite.min()))
        hi = vmax if vmax is not None else (peak if norm == "TS" else float(finite.max()))
        rgba, mappable = data_to_rgb(data, n_bins, cmap, lo, hi, vcenter, norm, ret_map=True)
        face_value = data[faces].mean(axis=1)
        coloured = np.isfinite(face_value)
        face_rgb[coloured] = rgba[faces[coloured]].mean(axis=1)[:, :3]
    normals = _face_normals(points, faces)
    fig = plt.figure(figsize=(4.5 * len(views), 4.5))
    for i, name in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1, projection="3d")
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
        units = values.attrs.get("units", "") if isinstance(values, xr.DataArray) else ""
        fig.colorbar(mappable, ax=fig.axes, shrink=0.6, label=units)
    finish(fig, save_to)
    return fig
