"""Plots render with Agg and show what they claim (image data, limits, winners, faces)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

import laminarray as lam
from laminarray import viz
from laminarray.viz.colors import data_to_rgb, make_norm


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _sheet_mesh(n: int = 12, n_layers: int = 3) -> xr.Dataset:
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    zz = np.sin(xx / 2.0)  # folds, so both gyral and sulcal shading occur
    sheet = np.column_stack([xx.ravel(), yy.ravel(), zz.ravel()])
    pos = np.stack([sheet - [0, 0, 2.5 * d] for d in lam.layer_depths(n_layers)])
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate(
        [
            np.column_stack([a.ravel(), b.ravel(), c.ravel()]),
            np.column_stack([b.ravel(), d.ravel(), c.ravel()]),
        ]
    )
    hemi = np.where(sheet[:, 0] < n / 2, "lh", "rh")
    return lam.mesh_dataset(pos, faces, hemi=hemi)


def test_data_to_rgb_bins_to_upper_edge_and_nan_transparent():
    data = np.array([0.0, 0.5, 1.0, np.nan])
    rgba, mappable = data_to_rgb(data, 2, "viridis", 0.0, 1.0, norm="N", ret_map=True)
    # Bins [0, .5) and [.5, 1]: 0 takes the colour of 0.5, 0.5 and 1 that of 1.0.
    np.testing.assert_allclose(rgba[0], mappable.to_rgba(0.5))
    np.testing.assert_allclose(rgba[1], mappable.to_rgba(1.0))
    np.testing.assert_allclose(rgba[2], mappable.to_rgba(1.0))
    np.testing.assert_array_equal(rgba[3], [0, 0, 0, 0])


def test_color_map_and_hex():
    rgb, _ = viz.color_map(np.array([-1.0, 0.0, 1.0]), "RdBu_r", -1.0, 1.0, n_bins=2)
    assert rgb.dtype.kind == "i"
    assert rgb.shape == (3, 3)
    hexes = viz.to_hex(rgb)
    assert all(h.startswith("#") and len(h) == 7 for h in hexes)
    assert hexes[0] == f"#{rgb[0, 0]:02x}{rgb[0, 1]:02x}{rgb[0, 2]:02x}"


@pytest.mark.parametrize(
    ("norm", "vmin", "vmax", "vcenter", "match"),
    [
        ("TS", -1, 1, 2, "vcenter"),
        ("LOG", 0, 1, 0, "vmin > 0"),
        ("N", 1, 0, 0, "smaller"),
        ("X", 0, 1, 0, "norm"),
    ],
)
def test_make_norm_rejects_bad_limits(norm, vmin, vmax, vcenter, match):
    with pytest.raises(lam.LaminarrayError, match=match):
        make_norm(norm, vmin, vmax, vcenter)


def _csd(n_depth=11, n_times=20):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((n_depth, n_times))
    return xr.DataArray(
        values,
        dims=("depth", "time"),
        coords={
            "depth": ("depth", np.linspace(0, 3.0, n_depth), {"units": "mm"}),
            "time": np.linspace(-0.1, 0.3, n_times),
        },
        attrs={"units": "uA/mm3"},
    )


def test_plot_csd_image_equals_input_with_symmetric_limits(tmp_path):
    csd = _csd()
    ax = viz.plot_csd(csd, layer_boundaries=[0.5, 1.2], save_to=tmp_path / "csd.png")
    assert isinstance(ax, Axes)
    image = ax.images[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), csd.values)
    norm = image.norm
    assert norm.vmin == pytest.approx(-np.percentile(np.abs(csd.values), 99))  # robust
    assert norm.vmax == pytest.approx(-norm.vmin)
    assert ax.get_ylim() == pytest.approx((3.0, 0.0))  # pial (0 mm) at the top
    assert len(ax.lines) == 2
    assert (tmp_path / "csd.png").stat().st_size > 0


def test_plot_csd_proportion_axis_and_errors():
    ax = viz.plot_csd(_csd(), depth_units="proportion", vmax=2.0, colorbar=False)
    assert ax.get_ylim() == pytest.approx((1.0, 0.0))
    assert ax.images[0].norm.vmax == 2.0
    with pytest.raises(lam.LaminarrayError, match="bracket 0"):
        viz.plot_csd(_csd(), vmin=0.5, vmax=1.0)
    with pytest.raises(lam.LaminarrayError, match="reduce or select"):
        viz.plot_csd(_csd().expand_dims(trial=3))


def test_plot_layer_comparison_marks_winner():
    energy = xr.DataArray(
        [-10.0, -4.0, -7.0], dims="layer", coords={"layer": ["pial", "0.500", "white"]}
    )
    result = xr.Dataset({"free_energy": energy, "cv_error": energy * 0 + 0.1})
    ax = viz.plot_layer_comparison(result)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([-6.0, 0.0, -3.0])
    assert "0.500" in ax.get_title()
    assert ax.patches[1].get_facecolor() != ax.patches[0].get_facecolor()
    (star,) = [line for line in ax.lines if line.get_gid() == "winner"]
    assert star.get_xdata()[0] == 1
    no_cv = result.assign(cv_error=energy * np.nan)
    assert len(viz.plot_layer_comparison(no_cv).figure.axes) == 1  # no empty twin axis


def test_plot_sliding_window_difference_line():
    energy = xr.DataArray(
        np.array([[1.0, 5.0, 2.0], [0.0, 1.0, 4.0]]),
        dims=("layer", "window"),
        coords={"layer": ["pial", "white"], "window_centre": ("window", [0.0, 0.1, 0.2])},
    )
    fig = viz.plot_sliding_window(energy)
    assert isinstance(fig, Figure)
    line = fig.axes[1].lines[0]  # axes: heat map, difference, colourbar
    np.testing.assert_allclose(line.get_ydata(), [1.0, 4.0, -2.0])
    np.testing.assert_allclose(line.get_xdata(), [0.0, 0.1, 0.2])
    with pytest.raises(lam.LaminarrayError, match="not in the result"):
        viz.plot_sliding_window(energy, deep="0.500")
    with pytest.raises(lam.LaminarrayError, match="window_centre"):
        viz.plot_sliding_window(energy.drop_vars("window_centre"))


def test_plot_surface_draws_every_face_with_values():
    mesh = _sheet_mesh()
    values = xr.DataArray(
        np.linspace(-1, 1, mesh.sizes["vertex"]), dims="vertex", attrs={"units": "t"}
    )
    fig = viz.plot_surface(mesh, values, layer="pial", view=["lateral", "dorsal"], markers=[0, 5])
    assert len(fig.axes) == 3  # two views + colourbar
    fig.canvas.draw()
    collection = next(c for c in fig.axes[0].collections if isinstance(c, Poly3DCollection))
    assert len(collection.get_paths()) == mesh.sizes["face"]


def test_plot_surface_hemisphere_subset_and_errors():
    mesh = _sheet_mesh()
    fig = viz.plot_surface(mesh, hemi="lh", curvature=False)
    fig.canvas.draw()
    collection = next(c for c in fig.axes[0].collections if isinstance(c, Poly3DCollection))
    keep = (mesh["hemi"].values == "lh")[mesh["faces"].values].all(axis=1)
    assert len(collection.get_paths()) == int(keep.sum())
    with pytest.raises(lam.LaminarrayError, match="layer"):
        viz.plot_surface(mesh, layer="nope")
    with pytest.raises(lam.LaminarrayError, match="one value per vertex"):
        viz.plot_surface(mesh, np.zeros(3))
    with pytest.raises(lam.LaminarrayError, match="view"):
        viz.plot_surface(mesh, view="sideways")


def test_plot_coregistration_three_views():
    mesh = _sheet_mesh()
    fig = viz.plot_coregistration(
        mesh,
        sensors=np.array([[0.0, 0, 20], [5, 5, 20]]),
        fiducials={"nas": [0, 10, 0], "lpa": [-8, 0, 0], "rpa": [8, 0, 0]},
    )
    assert len(fig.axes) == 3
    assert {t.get_text() for t in fig.axes[0].texts} == {"nas", "lpa", "rpa"}


def _colorbar_norm(fig):
    """The norm of the figure's colour bar (the 2-D axes holding it)."""
    bar = next(ax for ax in fig.axes if getattr(ax, "name", "") != "3d")
    return bar, bar._colorbar.norm


def test_plot_surface_robust_limits_one_outlier_cannot_set_them():
    mesh = _sheet_mesh()
    rng = np.random.default_rng(0)
    values = rng.standard_normal(mesh.sizes["vertex"])
    values[7] = 124.0  # one vertex, as in the demo's t-map
    fig = viz.plot_surface(mesh, values)
    bar, norm = _colorbar_norm(fig)
    peak = np.percentile(np.abs(values), 99)
    assert peak < 5
    assert (norm.vmin, norm.vmax) == pytest.approx((-peak, peak))
    assert isinstance(norm, matplotlib.colors.TwoSlopeNorm)
    assert bar.get_ylabel() == "value (a.u.)"


def test_plot_surface_positive_values_get_a_sequential_map_and_vmin_vmax_work():
    mesh = _sheet_mesh()
    thickness = xr.DataArray(
        np.linspace(1.5, 3.5, mesh.sizes["vertex"]),
        dims="vertex",
        name="thickness",
        attrs={"units": "mm"},
    )
    fig = viz.plot_surface(mesh, thickness)
    bar, norm = _colorbar_norm(fig)
    assert type(norm) is matplotlib.colors.Normalize
    assert (norm.vmin, norm.vmax) == pytest.approx(np.percentile(thickness, [1, 99]))
    assert bar._colorbar.cmap.name == "viridis"
    assert bar.get_ylabel() == "thickness (mm)"
    fig = viz.plot_surface(mesh, thickness, vmin=2.0, vmax=3.0)  # no norm= needed
    assert (_colorbar_norm(fig)[1].vmin, _colorbar_norm(fig)[1].vmax) == (2.0, 3.0)


def test_plot_surface_default_view_faces_the_strongest_vertex():
    mesh = lam.datasets.synthetic_cortex(n_vertices=300, n_layers=2)
    pial = mesh["vertices"].sel(layer="pial").values
    for axis, expected in ((2, "dorsal"), (1, "anterior"), (0, "medial")):
        values = np.zeros(mesh.sizes["vertex"])
        left = mesh["hemi"].values == "lh"
        target = np.flatnonzero(left)[np.argmax(pial[left, axis])]
        values[target] = 5.0
        fig = viz.plot_surface(mesh, values, hemi="lh", threshold=1.0)
        assert fig.axes[0].get_title() == f"pial — {expected} (lh)"
    fig = viz.plot_surface(mesh, values, view=[None, "medial"])  # None avoids a listed view
    titles = [ax.get_title() for ax in fig.axes[:2]]
    assert titles[1] == "pial — medial"
    assert titles[0] != titles[1]


def test_plot_surface_threshold_colours_only_faces_touching_drawn_vertices():
    mesh = _sheet_mesh(6)
    values = np.zeros(mesh.sizes["vertex"])
    values[14] = 3.0
    fig = viz.plot_surface(mesh, values, threshold=1.0, curvature=False, view="dorsal")
    colours = next(c for c in fig.axes[0].collections if isinstance(c, Poly3DCollection))
    rgb = colours.get_facecolor()[:, :3]  # (matplotlib may reorder faces by depth)
    grey = np.isclose(rgb[:, 0], rgb[:, 1]) & np.isclose(rgb[:, 1], rgb[:, 2])
    touching = (mesh["faces"].values == 14).any(axis=1)
    assert (~grey).sum() == touching.sum() == 6


def test_plot_csd_accepts_a_stored_csd_result():
    csd = _csd().to_dataset(name="csd")
    ax = csd.lam.plot_csd()
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), csd["csd"].values)
