"""Benchmark: the ROI power figure on fsaverage5, against matplotlib's own 3-D drawing floor.

Problem: both fsaverage5 hemispheres (20484 vertices, 40960 faces), a
``roi_power``-shaped result over every vertex (t-map on pial and white, an
ROI of the top quarter of the pial t-map, 40 trials), drawn with
:func:`laminarray.viz.power.plot_roi_power` in ``--views`` views and written
to a PNG with the Agg backend (the issue asks for < 5 s for a surface).

Printed:

(a) our wall time: ``plot_roi_power`` (validation, curvature shading, colour
    binning, ROI border, per-trial panel) plus ``savefig``;
(b) the floor measured in the same run: a bare matplotlib figure with one
    ``Poly3DCollection`` of the same faces (precomputed colours) per view,
    saved the same way — what any matplotlib surface render costs — and the
    ratio (a)/(b);
(c) peak RSS of the process.

Run by hand (not collected by pytest)::

    python benchmarks/viz_surface.py --views 2
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from laminarray.datasets import fsaverage5_mesh
from laminarray.viz.power import plot_roi_power

VIEWS = ("lateral", "dorsal", "medial")


def _result(mesh: xr.Dataset, n_trials: int, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    n = mesh.sizes["vertex"]
    t_map = rng.standard_normal((2, n)) * 3
    roi = t_map[0] > np.percentile(t_map[0], 75)
    coords = {
        "layer": ["pial", "white"],
        "vertex": mesh["vertex"].values,
        "trial": np.arange(n_trials),
    }
    return xr.Dataset(
        {
            "t_map": (("layer", "vertex"), t_map),
            "roi": ("vertex", roi),
            "roi_change": (
                ("layer", "trial"),
                rng.standard_normal((2, n_trials)) + np.array([[1.0], [0.5]]),
            ),
            "t": 2.5,
            "p": 0.02,
            "df": n_trials - 1,
        },
        coords=coords,
        attrs={"change": "difference", "reference": "white"},
    )


def _floor(mesh: xr.Dataset, views: list[str], path: str) -> float:
    points = mesh["vertices"].sel(layer="pial").values
    faces = mesh["faces"].values
    colours = np.full((faces.shape[0], 3), 0.6)
    start = time.perf_counter()
    fig = plt.figure(figsize=(4.5 * len(views), 4.5))
    for i in range(len(views)):
        ax = fig.add_subplot(1, len(views), i + 1, projection="3d")
        ax.add_collection3d(Poly3DCollection(points[faces], facecolors=colours, edgecolors="none"))
        lo, hi = points.min(0), points.max(0)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_axis_off()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    views = list(VIEWS[: args.views])
    mesh = fsaverage5_mesh(n_layers=2)
    result = _result(mesh, args.trials)
    out = tempfile.mkdtemp(prefix="viz-bench-")
    ours = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fig = plot_roi_power(result, mesh, view=views, save_to=os.path.join(out, "ours.png"))
        ours.append(time.perf_counter() - start)
        plt.close(fig)
    floor = min(_floor(mesh, views, os.path.join(out, "floor.png")) for _ in range(args.repeat))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"fsaverage5: {mesh.sizes['vertex']} vertices, {mesh.sizes['face']} faces, {len(views)} views"
    )
    print(f"(a) plot_roi_power + savefig: {min(ours):.2f} s (best of {args.repeat})")
    print(f"(b) bare Poly3DCollection floor: {floor:.2f} s; ratio {min(ours) / floor:.2f}")
    print(f"(c) peak RSS {peak_mb:.0f} MB; load average {os.getloadavg()[0]:.1f}")
    print(
        f"viz_surface: ours_s={min(ours):.2f} floor_s={floor:.2f} "
        f"ratio={min(ours) / floor:.2f} peak_rss_mb={peak_mb:.0f} views={len(views)}"
    )


if __name__ == "__main__":
    main()
