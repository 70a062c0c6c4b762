"""Check a coregistration by eye.

- :func:`plot_coregistration`: head, cortex, sensors and fiducials in three views.
- :func:`plot_headshape_fit`: digitised head-shape points on the scalp before
  and after the ICP refinement of :func:`laminarray.forward.coregister_headshape`,
  coloured by their distance to the scalp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from .._validation import LaminarrayError, check_option, check_positive, describe, validate_type
from ..forward.headshape import HeadshapeFit
from ..forward.sensors import scalp_surface
from ..forward.transforms import apply_transform, invert_transform
from ..schema import validate_mesh
from ._common import finish

# (title, horizontal axis, vertical axis) in RAS coordinates.
_PLANES = (
    ("sagittal (from left)", 1, 2),
    ("coronal (from front)", 0, 2),
    ("axial (from above)", 0, 1),
)
_AXIS_NAMES = "xyz"


def _points(obj: Any, name: str) -> np.ndarray:
    array = np.asarray(obj.values if isinstance(obj, xr.DataArray) else obj, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise LaminarrayError(
            f"`{name}` positions must have shape (n, 3) in mm, got {array.shape}"
        )
    return array


def _fiducial_points(fiducials: Any) -> dict[str, np.ndarray]:
    if fiducials is None:
        return {}
    if isinstance(fiducials, Mapping):
        return {str(k): np.asarray(v, dtype=float).reshape(3) for k, v in fiducials.items()}
    if isinstance(fiducials, xr.DataArray):
        dim = next(d for d in fiducials.dims if d != "xyz")
        return {
            str(k): fiducials.sel({dim: k}).values.astype(float) for k in fiducials[dim].values
        }
    array = _points(fiducials, "fiducials")
    return {name: row for name, row in zip(("nas", "lpa", "rpa"), array, strict=False)}


def plot_coregistration(
    mesh: xr.Dataset,
    sensors: xr.Dataset | Any = None,
    fiducials: Any = None,
    *,
    layer: str = "pial",
    save_to: str | Path | None = None,
) -> Figure:
    """Head, cortex, sensors and fiducials from three orthogonal views.

    Parameters
    ----------
    mesh : xarray.Dataset
        A laminar mesh; its ``scalp_vertices`` are drawn as the head when present.
    sensors : xarray.Dataset or array, shape (n_channels, 3), optional
        A sensor array (``position (channel, xyz)`` mm) or positions.
    fiducials : mapping name -> (3,), DataArray (fiducial, xyz) or array (3, 3), optional
        Nasion, left and right pre-auricular points in mm (same coordinates).
    layer : str
        Cortical layer to draw.
    save_to : path, optional

    Returns
    -------
    matplotlib.figure.Figure
        Three axes (sagittal, coronal, axial), equal aspect, in mm.
    """
    mesh = validate_mesh(mesh)
    cortex = np.asarray(mesh["vertices"].sel(layer=layer).values)
    head = np.asarray(mesh["scalp_vertices"].values) if "scalp_vertices" in mesh else None
    sensor_xyz = None
    if sensors is not None:
        sensor_xyz = _points(
            sensors["position"] if isinstance(sensors, xr.Dataset) else sensors, "sensors"
        )
    fids = _fiducial_points(fiducials)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    for ax, (title, h, v) in zip(axes, _PLANES, strict=True):
        if head is not None:
            ax.scatter(head[:, h], head[:, v], s=1, color="0.8", label="scalp")
        ax.scatter(cortex[:, h], cortex[:, v], s=1, color="tab:pink", label=f"cortex ({layer})")
        if sensor_xyz is not None:
            ax.scatter(
                sensor_xyz[:, h],
                sensor_xyz[:, v],
                s=12,
                color="tab:blue",
                marker="s",
                label="sensors",
            )
        for name, point in fids.items():
            ax.scatter(point[h], point[v], s=60, color="tab:red", marker="*", zorder=3)
            ax.annotate(name, (point[h], point[v]), textcoords="offset points", xytext=(4, 4))
        ax.set_aspect("equal")
        ax.set_title(title)
        ax.set_xlabel(f"{_AXIS_NAMES[h]} (mm)")
        ax.set_ylabel(f"{_AXIS_NAMES[v]} (mm)")
    axes[0].legend(loc="lower left", fontsize="small", markerscale=3)
    finish(fig, save_to)
    return fig


# Head views: (towards the camera, up in the picture) in RAS; the picture's right
# is (camera -> scene) x up, so each view is what an observer there would see.
HEAD_VIEWS = {
    "left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "front": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "back": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "bottom": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
}
_STAGES = ("before", "after")


def _view_frame(view: str) -> np.ndarray:
    """Rows: the picture's right, its up, and the direction towards the camera (3, 3)."""
    toward, up = (np.array(v) for v in HEAD_VIEWS[view])
    return np.stack([np.cross(-toward, up), up, toward])


def _draw_scalp(ax: Axes, vertices: np.ndarray, faces: np.ndarray, frame: np.ndarray) -> None:
    """The near half of the scalp, projected, far faces first, lit from the camera."""
    centre = (vertices.max(axis=0) + vertices.min(axis=0)) / 2
    projected = vertices @ frame.T  # (n, 3): picture x, picture y, depth (mm)
    corners = projected[faces]
    depth = corners[:, :, 2].mean(axis=1) - centre @ frame[2]
    near = np.flatnonzero(depth > 0)
    near = near[np.argsort(depth[near])]
    edges = np.cross(corners[near, 1] - corners[near, 0], corners[near, 2] - corners[near, 0])
    light = np.abs(edges[:, 2]) / np.maximum(np.linalg.norm(edges, axis=1), 1e-12)
    grey = 0.55 + 0.4 * light
    ax.add_collection(
        PolyCollection(
            corners[near, :, :2],
            facecolors=np.column_stack([grey, grey, grey]),
            edgecolors="none",
            zorder=1,
            gid="scalp",
        )
    )


def _visible(points: np.ndarray, centre: np.ndarray, frame: np.ndarray) -> tuple[Any, Any]:
    """Indices of the points on the camera's side of the head centre, far first, and their
    picture positions (mm along the view's right and up axes)."""
    projected = points @ frame.T
    depth = projected[:, 2] - centre @ frame[2]
    shown = np.flatnonzero(depth >= 0)
    shown = shown[np.argsort(depth[shown], kind="stable")]
    return shown, projected[shown, :2]


def _share_limits(row: np.ndarray) -> None:
    """The same data limits (everything drawn in either panel, 5 % margin) on a row's axes."""
    box = Bbox.union([ax.dataLim for ax in row])
    margin = 0.05 * max(box.width, box.height)
    for ax in row:
        ax.set_xlim(box.x0 - margin, box.x1 + margin)
        ax.set_ylim(box.y0 - margin, box.y1 + margin)


def _stage_title(stage: str, distance: np.ndarray, fit: HeadshapeFit) -> str:
    median, p95 = np.median(distance), np.percentile(distance, 95)
    heading = (
        "before ICP (fiducial fit)"
        if stage == "before"
        else f"after ICP ({fit.n_iterations} iterations)"
    )
    n_out = int((~fit.inliers).sum())
    rejected = f", {n_out} outliers ringed" if stage == "after" and n_out else ""
    return f"{heading}\nmedian {median:.2f} mm, 95th percentile {p95:.2f} mm{rejected}"


def _headshape_axes(axes: Any, n_views: int) -> tuple[Figure, np.ndarray]:
    """The (n_views, 2) grid of axes to draw in: the given ones, or a new figure's."""
    if axes is None:
        fig, grid = plt.subplots(
            n_views, 2, figsize=(9.0, 4.2 * n_views), squeeze=False, layout="constrained"
        )
        return fig, grid
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(flat) != 2 * n_views or not all(
        isinstance(ax, Axes) and getattr(ax, "name", "") == "rectilinear" for ax in flat
    ):
        raise LaminarrayError(
            f"`axes` must hold {2 * n_views} 2-D matplotlib Axes (one before/after pair per "
            f"view); got {describe(axes)}"
        )
    return flat[0].get_figure(), np.asarray(flat, dtype=object).reshape(n_views, 2)


def plot_headshape_fit(
    fit: HeadshapeFit,
    scalp: Any,
    *,
    view: str | Sequence[str] = ("left", "front", "right"),
    fid_mri: Any = None,
    cmap: str | Colormap = "viridis",
    vmax: float | None = None,
    point_size: float = 14.0,
    axes: Any = None,
    colorbar: bool = True,
    save_to: str | Path | None = None,
) -> Figure:
    """Head-shape points on the scalp before and after ICP, coloured by their residual.

    Left column: the points (and fiducials) moved by the fiducial-only fit
    ``fit.initial_transform``; right column: moved by the ICP result
    ``fit.transform``. Each point's colour is its distance to the scalp as
    :func:`~laminarray.forward.coregister_headshape` measured it
    (``fit.initial_distance`` before, ``fit.distance`` after), on one colour
    scale shared by both columns. Each row is one view of the head
    (orthographic); a view shows the scalp's near half and the points on that
    side of the head centre, nearest on top.

    Parameters
    ----------
    fit : laminarray.forward.HeadshapeFit
        The result of :func:`laminarray.forward.coregister_headshape`.
    scalp : Dataset or (vertices (n, 3), faces (m, 3)) tuple
        The MRI scalp the fit used (mm): a mesh Dataset carrying
        ``scalp_vertices``/``scalp_faces``, or the arrays.
    view : str or sequence of str
        One or several of ``left, right, front, back, top, bottom``; one row
        of panels each.
    fid_mri : mapping name -> (3,), DataArray (fiducial, xyz) or array (3, 3), optional
        The fiducials marked on the MRI (mm), drawn as open circles; the
        digitised fiducials moved by each transform are drawn as stars.
    cmap : str or matplotlib Colormap
        Colour map of the distances.
    vmax : float, optional
        Top of the colour scale, mm (bottom 0). Default: the larger 95th
        percentile of the distances before and after; larger distances take
        the top colour.
    point_size : float
        Marker area of the head-shape points, points².
    axes : array of matplotlib Axes, shape (n_views, 2) or (2 * n_views,), optional
        2-D axes to draw in, a (before, after) pair per view; default a new figure.
    colorbar : bool
        Add a colour bar of the distance (mm).
    save_to : path, optional
        Also write the figure to this file.

    Returns
    -------
    matplotlib.figure.Figure
        Axes in row-major (view, stage) order. Each holds the scalp as a
        ``PolyCollection`` (``gid="scalp"``), the points as a ``PathCollection``
        with ``gid="before"`` or ``"after"`` whose ``get_array()`` is the
        distances of the points shown (mm), ringed outliers (``gid="outliers"``,
        after ICP) and the fiducials. The top titles give the median and 95th
        percentile distance of all points before and after.

    Raises
    ------
    LaminarrayError
        ``fit`` not a :class:`~laminarray.forward.HeadshapeFit`; a bad scalp,
        view, colour map, ``vmax`` or ``axes``.

    Examples
    --------
    >>> fit = forward.coregister_headshape(points, mesh, fid_head, fid_mri)
    >>> fig = plot_headshape_fit(fit, mesh, fid_mri=fid_mri, view=["left", "front"])
    """
    validate_type(fit, HeadshapeFit, "fit")
    vertices, faces = scalp_surface(scalp)
    views = [view] if isinstance(view, str) else list(view)
    if not views:
        raise LaminarrayError("`view` must name at least one view; got an empty sequence")
    for name in views:
        check_option("view", name, HEAD_VIEWS)
    if isinstance(cmap, str) and cmap not in plt.colormaps():
        raise LaminarrayError(f"`cmap` must name a matplotlib colour map; got {cmap!r}")
    point_size = check_positive("point_size", point_size)
    distances = {"before": fit.initial_distance, "after": fit.distance}
    points = {"before": fit.initial_points_mri, "after": fit.points_mri}
    to_initial = fit.initial_transform @ invert_transform(fit.transform)
    after_fids = dict(fit.fiducials_mri)
    fids = {
        "before": {k: apply_transform(to_initial, v[None])[0] for k, v in after_fids.items()},
        "after": after_fids,
    }
    marked = _fiducial_points(fid_mri)
    if vmax is None:
        vmax = max(float(np.percentile(d, 95)) for d in distances.values()) or 1.0
    norm = Normalize(0.0, check_positive("vmax", vmax))
    fig, grid = _headshape_axes(axes, len(views))
    centre = (vertices.max(axis=0) + vertices.min(axis=0)) / 2
    for row, name in zip(grid, views, strict=True):
        frame = _view_frame(name)
        for ax, stage in zip(row, _STAGES, strict=True):
            _draw_scalp(ax, vertices, faces, frame)
            mappable = _draw_points(
                ax,
                points[stage],
                distances[stage],
                ~fit.inliers if stage == "after" else None,
                (centre, frame),
                gid=stage,
                cmap=cmap,
                norm=norm,
                size=point_size,
            )
            _draw_fiducials(ax, fids[stage], marked, centre, frame)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.text(0.02, 0.02, f"from the {name}", transform=ax.transAxes, fontsize="small")
        _share_limits(row)
    handles = {h.get_label(): h for ax in grid.ravel() for h in ax.get_legend_handles_labels()[0]}
    if handles:
        grid[0, 1].legend(handles.values(), handles.keys(), loc="lower right", fontsize="x-small")
    for ax, stage in zip(grid[0], _STAGES, strict=True):
        ax.set_title(_stage_title(stage, distances[stage], fit), fontsize="medium")
    if colorbar:
        fig.colorbar(
            mappable,
            ax=list(grid.ravel()),
            shrink=0.6,
            extend="max" if max(d.max() for d in distances.values()) > norm.vmax else "neither",
            label="distance to scalp (mm)",
        )
    finish(fig, save_to)
    return fig


def _draw_points(
    ax: Axes,
    points: np.ndarray,
    distance: np.ndarray,
    outliers: np.ndarray | None,
    view: tuple[np.ndarray, np.ndarray],
    *,
    gid: str,
    cmap: str | Colormap,
    norm: Normalize,
    size: float,
) -> PathCollection:
    """The near-side points coloured by distance (mm), and red rings round the ``outliers``."""
    shown, xy = _visible(points, *view)
    drawn = ax.scatter(
        xy[:, 0],
        xy[:, 1],
        c=distance[shown],
        cmap=cmap,
        norm=norm,
        s=size,
        edgecolors="none",
        zorder=2,
        gid=gid,
    )
    if outliers is not None:
        ringed = outliers[shown]
        ax.scatter(
            xy[ringed, 0],
            xy[ringed, 1],
            s=4 * size,
            facecolors="none",
            edgecolors="tab:red",
            zorder=3,
            gid="outliers",
            label="outlier (rejected)" if ringed.any() else "_outliers",
        )
    return drawn


def _draw_fiducials(
    ax: Axes,
    moved: dict[str, np.ndarray],
    marked: dict[str, np.ndarray],
    centre: np.ndarray,
    frame: np.ndarray,
) -> None:
    """Digitised fiducials (stars, labelled) and MRI-marked ones (open circles) on the near side."""
    sets: tuple[tuple[dict[str, np.ndarray], bool, dict[str, Any]], ...] = (
        (moved, True, {"marker": "*", "s": 120, "color": "tab:red", "edgecolors": "k"}),
        (marked, False, {"marker": "o", "s": 70, "facecolors": "none", "edgecolors": "tab:red"}),
    )
    for fiducials, labelled, style in sets:
        label = "digitised fiducials" if labelled else "MRI fiducials"
        if not fiducials:
            continue
        names = list(fiducials)
        shown, xy = _visible(np.stack(list(fiducials.values())), centre, frame)
        ax.scatter(
            xy[:, 0], xy[:, 1], zorder=4, gid="fiducials", linewidths=1.2, label=label, **style
        )
        for i, (x, y) in zip(shown, xy, strict=True) if labelled else ():
            ax.annotate(names[i], (x, y), textcoords="offset points", xytext=(5, 5))
