"""The demo's figures show the result: colour limits from the data's percentiles, the source in view."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

import laminarray as lam
from laminarray.demo import report_figures


@pytest.fixture(scope="module")
def figures(demo_out):
    sub = lam.open_study(demo_out / "demo.zarr").subject("sub-01")
    data = {
        "mesh": sub.mesh(),
        "roi_power": sub.results("roi_power").compute(),
        "csd": sub.results("csd").compute(),
        "layer_comparison": sub.results("layer_comparison"),
    }
    yield data, report_figures(data)
    plt.close("all")


def _norm(fig):
    return next(ax for ax in fig.axes if hasattr(ax, "_colorbar"))._colorbar.norm


def test_t_maps_are_limited_by_percentiles_of_what_is_drawn(figures):
    data, figs = figures
    power = data["roi_power"]
    t = power["t_map"].sel(layer="pial").values
    critical = stats.t.isf(0.0005, int(power["df"]))
    drawn = np.abs(t[np.abs(t) >= critical])
    assert drawn.size >= 1  # the simulated source survives p < 0.001
    peak = np.percentile(drawn, 99)
    for name in ("t_map", "roi_power"):
        norm = _norm(figs[name])
        assert (norm.vmin, norm.vmax) == pytest.approx((-peak, peak)), name
    # the default limits of all vertices would not be max|t| either
    assert np.percentile(np.abs(t), 99) < np.abs(t).max()


def test_csd_is_limited_by_the_99th_percentile(figures):
    data, figs = figures
    peak = np.percentile(np.abs(data["csd"]["csd"].values), 99)
    norm = figs["csd"].axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == pytest.approx((-peak, peak))


def test_the_first_view_faces_the_strongest_vertex(figures):
    data, figs = figures
    mesh = data["mesh"]
    t = data["roi_power"]["t_map"].sel(layer="pial").values
    pial = mesh["vertices"].sel(layer="pial").values
    title = figs["t_map"].axes[0].get_title()
    view = title.split("— ")[1]
    assert view == lam.viz.surface.best_view(pial, pial[np.argmax(np.abs(t))])
    colour_bars = [ax.get_ylabel() for fig in figs.values() for ax in fig.axes]
    assert "t, pial (unitless)" in colour_bars
    assert "CSD (uA/mm3)" in colour_bars
