"""Check a coregistration by eye: head, cortex, sensors and fiducials in three views."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .._validation import LaminarrayError
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
