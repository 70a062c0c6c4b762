"""plot_roi_power draws what a real roi_power result holds: faces, ROI, per-trial changes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Path3DCollection, Poly3DCollection

import laminarray as lam
from laminarray.datasets import sample
from laminarray.power import roi_power
from laminarray.viz.power import plot_roi_power, roi_boundary_edges

WOI, BASELINE = (0.0, 0.5), (-0.2, 0.0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def subject():
    """Sample subject and a minimum-norm-like projector (the gain transposed): fast and real."""
    tree = sample(n_vertices=300, n_layers=3, n_channels=32, n_trials=8)
    gain = tree["forward"]["gain"]
    projector = lam.projector_dataarray(
        gain.transpose("layer", "vertex", "channel").values, gain["channel"].values
    )
    return tree["sensor"].to_dataset(), projector, tree["mesh"].to_dataset()


@pytest.fixture(scope="module")
def result(subject):
    sensor, projector, _ = subject
    return roi_power(sensor, projector, WOI, BASELINE)


def _trial_lines(ax):
    return [line for line in ax.lines if line.get_gid() == "trial"]


def test_roi_boundary_edges_of_a_square():
    # Two triangles sharing the diagonal (0, 2): the border is the square's four sides.
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    edges = roi_boundary_edges(faces, np.ones(4, bool))
    np.testing.assert_array_equal(edges, [[0, 1], [0, 3], [1, 2], [2, 3]])
    # Only the first triangle fully inside: its three edges.
    inside = np.array([True, True, True, False])
    np.testing.assert_array_equal(roi_boundary_edges(faces, inside), [[0, 1], [0, 2], [1, 2]])
    assert roi_boundary_edges(faces, np.zeros(4, bool)).shape == (0, 2)


def test_surface_faces_roi_and_trials(subject, result, tmp_path):
    _, _, mesh = subject
    fig = plot_roi_power(
        result, mesh, view=["lateral", "dorsal"], roi_style="both", save_to=tmp_path / "roi.png"
    )
    assert isinstance(fig, Figure)
    assert (tmp_path / "roi.png").stat().st_size > 0
    fig.canvas.draw()
    surfaces = [ax for ax in fig.axes if ax.name == "3d"]
    assert len(surfaces) == 2
    n_roi = int(result["roi"].sum())
    assert 0 < n_roi < mesh.sizes["vertex"]
    faces = mesh["faces"].values
    inside = result["roi"].values  # same vertex order as the mesh
    expected_edges = roi_boundary_edges(faces, inside)
    pial = mesh["vertices"].sel(layer="pial").values
    for ax in surfaces:
        polys = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
        assert len(polys) == 1
        assert len(polys[0].get_paths()) == mesh.sizes["face"]
        markers = [c for c in ax.collections if isinstance(c, Path3DCollection)]
        assert len(markers) == 1
        xs, ys, zs = markers[0]._offsets3d
        np.testing.assert_allclose(np.column_stack([xs, ys, zs]), pial[inside])
        (outline,) = [c for c in ax.collections if c.get_gid() == "roi_outline"]
        assert isinstance(outline, Line3DCollection)
        assert len(outline.get_segments()) == len(expected_edges) > 0
        assert ax.get_title().startswith("t-map, pial")
    panel = fig.axes[-1]
    lines = _trial_lines(panel)
    change = result["roi_change"].transpose("layer", "trial").values
    assert len(lines) == result.sizes["trial"]
    for k, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), change[:, k])
    (mean,) = [line for line in panel.lines if line.get_gid() == "mean"]
    np.testing.assert_allclose(mean.get_ydata(), change.mean(axis=1))
    assert [t.get_text() for t in panel.get_xticklabels()] == ["pial", "white"]
    assert f"t({int(result['df'])}) = {float(result['t']):.2f}" in panel.get_title()


def test_t_map_colours_follow_the_values(subject, result):
    _, _, mesh = subject
    fig = plot_roi_power(result, mesh, layer="white", roi_style="none", vmin=-5.0, vmax=5.0)
    fig.canvas.draw()
    (ax,) = [ax for ax in fig.axes if ax.name == "3d"]
    assert not [c for c in ax.collections if isinstance(c, Path3DCollection | Line3DCollection)]
    colourbar = fig.axes[1]
    assert colourbar.get_ylim() == pytest.approx((-5.0, 5.0))
    assert "white" in ax.get_title()


def test_without_mesh_and_depth_profile(subject):
    sensor, projector, _ = subject
    profile = roi_power(sensor, projector, WOI, BASELINE, layers="all", compute=False)
    fig = plot_roi_power(profile)
    ax, twin = fig.axes
    computed = profile.compute()
    change = computed["roi_change"].transpose("layer", "trial").values
    for k, line in enumerate(_trial_lines(ax)):
        np.testing.assert_allclose(line.get_ydata(), change[:, k])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pial", "0.500", "white"]
    (laminar,) = [line for line in twin.lines if line.get_gid() == "laminar_t"]
    np.testing.assert_allclose(laminar.get_ydata(), computed["t"].values)  # NaN at white
    assert "white" in ax.get_title()


def test_hemisphere_restricts_faces_and_roi(subject, result):
    _, _, mesh = subject
    fig = plot_roi_power(result, mesh, hemi="lh", roi_style="markers")
    fig.canvas.draw()
    ax = fig.axes[0]
    lh = mesh["hemi"].values == "lh"
    faces = mesh["faces"].values
    (poly,) = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
    assert len(poly.get_paths()) == int(lh[faces].all(axis=1).sum())
    (markers,) = [c for c in ax.collections if isinstance(c, Path3DCollection)]
    assert len(markers._offsets3d[0]) == int((result["roi"].values & lh).sum())


def test_bad_input(subject, result):
    _, _, mesh = subject
    with pytest.raises(lam.LaminarrayError, match="roi_change"):
        plot_roi_power(result.drop_vars("roi_change"))
    with pytest.raises(lam.LaminarrayError, match="roi_power"):
        plot_roi_power(result["t_map"])
    with pytest.raises(lam.LaminarrayError, match="layer"):
        plot_roi_power(result, mesh, layer="0.500")
    with pytest.raises(lam.LaminarrayError, match="roi_style"):
        plot_roi_power(result, mesh, roi_style="halo")
    shifted = result.assign_coords(vertex=result["vertex"].values + 10_000)
    with pytest.raises(lam.LaminarrayError, match="not in `mesh`"):
        plot_roi_power(shifted, mesh)


def test_accepts_an_archive_round_trip(subject, result, tmp_path):
    _, _, mesh = subject
    lam.archive.save(result, tmp_path / "a.zarr", "sub-01/results/roi_power")
    stored = lam.archive.open(tmp_path / "a.zarr")["sub-01/results/roi_power"].to_dataset()
    fig = plot_roi_power(stored, mesh)
    lines = _trial_lines(fig.axes[-1])
    np.testing.assert_allclose(
        np.array([line.get_ydata() for line in lines]).T,
        result["roi_change"].transpose("layer", "trial").values,
    )
    assert isinstance(stored, xr.Dataset)
