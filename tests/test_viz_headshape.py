"""plot_headshape_fit draws what a real head-shape fit holds: residual colours, views, titles."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from test_headshape import digitised, head  # noqa: F401  (the synthetic head fixture)

from laminarray import viz
from laminarray._validation import LaminarrayError
from laminarray.forward import apply_transform, coregister_headshape
from laminarray.viz.coregistration import plot_headshape_fit

N_OUTLIERS = 4


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def case(head):  # noqa: F811
    """A misaligned synthetic head: the fiducial fit is off by mm, ICP fixes it."""
    vertices, faces, fid_mri = head
    points, fid_head = digitised(head, seed=0, n_outliers=N_OUTLIERS)
    fit = coregister_headshape(points, (vertices, faces), fid_head, fid_mri)
    return fit, (vertices, faces), fid_head, fid_mri


def _collections(fig: Figure, gid: str) -> list:
    return [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]


def _centre(scalp) -> np.ndarray:
    """Centre of the scalp's bounding box: which side of it a point lies on picks its views."""
    return (scalp[0].max(axis=0) + scalp[0].min(axis=0)) / 2


def _title_numbers(ax) -> tuple[float, float]:
    found = re.search(r"median ([\d.]+) mm, 95th percentile ([\d.]+) mm", ax.get_title())
    median, p95 = found.groups()
    return float(median), float(p95)


def test_figure_is_produced_headless_and_saved(case, tmp_path):
    fit, scalp, _, fid_mri = case
    assert matplotlib.get_backend().lower() == "agg"
    fig = plot_headshape_fit(fit, scalp, fid_mri=fid_mri, save_to=tmp_path / "icp.png")
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6  # left, front, right x (before, after)
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
    assert all(
        sum(isinstance(c, PolyCollection) and c.get_gid() == "scalp" for c in ax.collections) == 1
        for ax in panels
    )
    assert (tmp_path / "icp.png").stat().st_size > 1000
    # the two panels of a view share their limits, so before and after compare directly
    for before, after in zip(panels[::2], panels[1::2], strict=True):
        assert before.get_xlim() == after.get_xlim()
        assert before.get_ylim() == after.get_ylim()


@pytest.mark.parametrize("views", [("left", "right"), ("front", "back"), ("top", "bottom")])
def test_colours_are_the_fits_residuals_at_the_points_positions(case, views):
    # Two opposite views show every point once: on the camera's side of the head centre.
    fit, scalp, _, _ = case
    fig = plot_headshape_fit(fit, scalp, view=views)
    for stage, points, distance in (
        ("before", fit.initial_points_mri, fit.initial_distance),
        ("after", fit.points_mri, fit.distance),
    ):
        drawn = _collections(fig, stage)
        assert len(drawn) == 2
        colours = np.concatenate([np.asarray(c.get_array()) for c in drawn])
        np.testing.assert_array_equal(np.sort(colours), np.sort(distance))
        if views == ("top", "bottom"):  # picture axes: x (R) and y (A), in mm
            top = drawn[0]
            offsets = np.asarray(top.get_offsets())
            index = [np.flatnonzero((points[:, :2] == xy).all(axis=1))[0] for xy in offsets]
            np.testing.assert_array_equal(np.asarray(top.get_array()), distance[index])
            assert (points[index, 2] >= _centre(scalp)[2]).all()  # the upper half only


def test_common_colour_scale_and_colorbar(case):
    fit, scalp, _, _ = case
    fig = plot_headshape_fit(fit, scalp, view="left")
    norms = {
        (c.norm.vmin, c.norm.vmax)
        for c in _collections(fig, "before") + _collections(fig, "after")
    }
    expected = max(np.percentile(fit.initial_distance, 95), np.percentile(fit.distance, 95))
    assert len(norms) == 1
    ((vmin, vmax),) = norms
    assert vmin == 0.0
    assert vmax == pytest.approx(expected)
    colorbar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert "distance to scalp (mm)" in colorbar.get_ylabel()
    fixed = plot_headshape_fit(fit, scalp, view="left", vmax=2.0, colorbar=False)
    assert {c.norm.vmax for c in _collections(fixed, "after")} == {2.0}
    assert not any(ax.get_label() == "<colorbar>" for ax in fixed.axes)


def test_before_is_worse_than_after_and_titles_give_the_residuals(case):
    fit, scalp, _, _ = case
    fig = plot_headshape_fit(fit, scalp, view=["left", "right"])
    medians = {
        stage: np.median(
            np.concatenate([np.asarray(c.get_array()) for c in _collections(fig, stage)])
        )
        for stage in ("before", "after")
    }
    assert medians["before"] > 5 * medians["after"]  # fiducials alone are mm off
    top_before, top_after = fig.axes[0], fig.axes[1]
    for ax, distance in ((top_before, fit.initial_distance), (top_after, fit.distance)):
        median, p95 = _title_numbers(ax)
        assert median == pytest.approx(np.median(distance), abs=0.005)
        assert p95 == pytest.approx(np.percentile(distance, 95), abs=0.005)
    assert "before ICP" in top_before.get_title()
    assert f"after ICP ({fit.n_iterations} iterations)" in top_after.get_title()
    assert f"{N_OUTLIERS} outliers ringed" in top_after.get_title()


def test_outliers_and_fiducials_are_marked(case):
    fit, scalp, fid_head, fid_mri = case
    fig = plot_headshape_fit(fit, scalp, view=["left", "right"], fid_mri=fid_mri)
    rings = np.concatenate([c.get_offsets() for c in _collections(fig, "outliers")])
    assert len(rings) == (~fit.inliers).sum() == N_OUTLIERS
    # the left view from -x shows (-y, z): the rejected points are the lifted ones (the first 4)
    left_rings = np.asarray(_collections(fig, "outliers")[0].get_offsets())
    lifted = fit.points_mri[:N_OUTLIERS]
    shown = lifted[lifted[:, 0] <= _centre(scalp)[0]]
    assert sorted(map(tuple, left_rings)) == sorted((-y, z) for _, y, z in shown)
    labels = {t.get_text() for ax in fig.axes for t in ax.texts if t.get_text() in fid_mri}
    assert labels == {"nas", "lpa", "rpa"}
    # the left "before" panel: the lpa star at the fiducial-fit position, the MRI lpa circled
    stars, circles = _collections(fig, "fiducials")[:2]
    before_lpa = apply_transform(fit.initial_transform, fid_head["lpa"][None])[0]
    np.testing.assert_allclose(stars.get_offsets(), [[-before_lpa[1], before_lpa[2]]])
    np.testing.assert_allclose(circles.get_offsets(), [[-fid_mri["lpa"][1], fid_mri["lpa"][2]]])


def test_draws_into_given_axes(case):
    fit, scalp, _, _ = case
    fig, axes = plt.subplots(1, 2)
    magma = matplotlib.colormaps["magma"]
    drawn = plot_headshape_fit(fit, scalp, view="front", axes=axes, colorbar=False, cmap=magma)
    assert drawn is fig
    assert axes[0].collections[1].get_cmap() is magma
    assert [c.get_gid() for c in axes[1].collections][:2] == ["scalp", "after"]


def test_scalp_as_mesh_dataset_and_lazy_viz_name(case):
    fit, (vertices, faces), _, _ = case
    scalp = xr.Dataset(
        {
            "scalp_vertices": (("scalp_vertex", "xyz"), vertices),
            "scalp_faces": (("scalp_face", "corner"), faces),
        }
    )
    fig = plot_headshape_fit(fit, scalp, view="top")
    np.testing.assert_array_equal(
        np.sort(_collections(fig, "after")[0].get_array()),
        np.sort(
            fit.distance[fit.points_mri[:, 2] >= (vertices[:, 2].max() + vertices[:, 2].min()) / 2]
        ),
    )
    if "plot_headshape_fit" in viz.__all__:
        assert viz.plot_headshape_fit is plot_headshape_fit


def test_bad_arguments_name_the_argument(case):
    fit, scalp, _, _ = case
    with pytest.raises(LaminarrayError, match="`fit` must be HeadshapeFit, got dict"):
        plot_headshape_fit(fit.summary(), scalp)
    with pytest.raises(LaminarrayError, match="`view` must be one of 'left', 'right'"):
        plot_headshape_fit(fit, scalp, view="lateral")
    with pytest.raises(LaminarrayError, match="`view` must name at least one view"):
        plot_headshape_fit(fit, scalp, view=[])
    with pytest.raises(LaminarrayError, match="`vmax` must be a finite number > 0"):
        plot_headshape_fit(fit, scalp, vmax=-1.0)
    with pytest.raises(LaminarrayError, match="`point_size` must be a finite number > 0"):
        plot_headshape_fit(fit, scalp, point_size=0)
    with pytest.raises(LaminarrayError, match="`cmap` must name a matplotlib colour map"):
        plot_headshape_fit(fit, scalp, cmap="not-a-map")
    with pytest.raises(LaminarrayError, match="`scalp` must be a mesh Dataset"):
        plot_headshape_fit(fit, scalp[0])
    with pytest.raises(LaminarrayError, match="the mesh has no scalp"):
        plot_headshape_fit(fit, xr.Dataset())
    _, axes = plt.subplots(1, 3)
    with pytest.raises(LaminarrayError, match="`axes` must hold 2 2-D matplotlib Axes"):
        plot_headshape_fit(fit, scalp, view="left", axes=axes)
