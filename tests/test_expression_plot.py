"""expression_plot: paired hemisphere axes, threshold, colours, legend grouping, depth panel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray
from matplotlib.collections import LineCollection, PathCollection, QuadMesh
from matplotlib.colors import to_rgba

from laminarray import LaminarrayError
from laminarray.expression import expression_set
from laminarray.viz import expression_plot
from laminarray.viz.expression import P_5_SIGMA, significance_threshold

LATENCIES = np.array([0.0, 0.05, 0.1, 0.15, 0.2])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _set():
    """Sources: lh vertex 0 expresses pitch strongly, rh vertex 2 loudness, vertex 1 weakly."""
    log_p = np.zeros((2, 3, 4, LATENCIES.size))
    log_p[0, 1, 0, 2] = -20.0  # pitch, layer "0.500", lh vertex 0, 100 ms
    log_p[1, 2, 2, 4] = -15.0  # loudness, white, rh vertex 2, 200 ms
    log_p[0, 0, 1, 1] = -1.0  # pitch, pial, lh vertex 1, 50 ms: not significant
    return expression_set(
        log_p, ["pitch", "loudness"], LATENCIES, layers=["pial", "0.500", "white"],
        hemi=["lh", "lh", "rh", "rh"],
    )  # fmt: skip


def _points(ax):
    """(x, y, rgba) of every scatter point on an axis."""
    rows = []
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            colors = collection.get_facecolors()
            for (x, y), c in zip(collection.get_offsets(), colors, strict=False):
                rows.append((float(x), float(y), tuple(np.round(c, 3))))
    return sorted(rows)


def test_paired_axes_show_each_hemisphere_with_threshold_and_colours():
    es = _set()
    fig = expression_plot(es, color={"pitch": "red", "loudness": "blue"})
    top, bottom = fig.axes[0], fig.axes[1]
    red, blue, grey = (tuple(np.round(to_rgba(c), 3)) for c in ("red", "blue", "0.6"))
    assert _points(top) == [(50.0, -1.0, grey), (100.0, -20.0, red)]
    assert _points(bottom) == [(200.0, -15.0, blue)]
    threshold = np.log10(P_5_SIGMA / es["log_p"].size)
    assert significance_threshold(es) == pytest.approx(threshold)
    for ax in (top, bottom):
        horizontal = [line.get_ydata()[0] for line in ax.get_lines()]
        assert threshold in horizontal
        assert any(isinstance(c, LineCollection) for c in ax.collections)  # stems
    assert bottom.yaxis_inverted()
    assert not top.yaxis_inverted()
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["pitch", "loudness"]


def test_depth_panel_shows_best_log_p_per_layer_and_latency():
    es = _set()
    fig = expression_plot(es)
    panels = [ax for ax in fig.axes if ax.get_title() in ("pitch", "loudness")]
    assert len(panels) == 2
    for ax, name in zip(panels, ["pitch", "loudness"], strict=True):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        expected = es["log_p"].sel(transform=name).min("vertex").transpose("layer", "latency")
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(3, 5), expected)
        assert [t.get_text() for t in ax.get_yticklabels()] == ["pial", "0.500", "white"]
        assert ax.yaxis_inverted()  # pial at the top


def test_show_only_layers_and_grouped_legend(tmp_path):
    es = _set()
    target = tmp_path / "expression.png"
    fig = expression_plot(
        es,
        show_only=["loudness"],
        layers=["white"],
        legend_display={"loudness": "acoustic"},
        alpha=0.01,
        save_to=target,
    )
    assert target.stat().st_size > 0
    top, bottom = fig.axes[0], fig.axes[1]
    assert _points(top) == []  # pitch is hidden; loudness has no lh source
    assert [(x, y) for x, y, _ in _points(bottom)] == [(200.0, -15.0)]
    threshold = np.log10(0.01 / (1 * 1 * 4 * LATENCIES.size))
    assert threshold in [line.get_ydata()[0] for line in top.get_lines()]
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["acoustic"]
    grouped = expression_plot(es, legend_display={"pitch": "acoustic", "loudness": "acoustic"})
    assert [t.get_text() for t in grouped.axes[0].get_legend().get_texts()] == ["acoustic"]


def test_sensor_set_has_one_axis_and_no_depth_panel():
    log_p = np.zeros((1, 3, 2))
    log_p[0, 1, 1] = -12.0
    es = expression_set(log_p, ["f"], [0.0, 0.1], channels=["a", "b", "c"])
    fig = expression_plot(es)
    assert len(fig.axes) == 1
    assert _points(fig.axes[0])[0][:2] == (100.0, -12.0)


def test_bad_options_are_named():
    with pytest.raises(LaminarrayError, match="unknown transforms"):
        expression_plot(_set(), show_only="nope")
    with pytest.raises(LaminarrayError, match="one colour per shown transform"):
        expression_plot(_set(), color=["red"])
    with pytest.raises(LaminarrayError, match="alpha"):
        expression_plot(_set(), alpha=2.0)


@pytest.mark.parametrize(
    ("alpha", "n_tests", "sidak", "bonferroni"),
    [
        # kymata 1.0.6's sidak_correct / bonferroni_correct (kymata.math.probability)
        (0.05, 1000, 5.1291978909017831717e-05, 5e-05),
        (P_5_SIGMA, 1200, 2.3887634416092790035e-10, 2.3887630989932773e-10),
    ],
)
def test_sidak_and_bonferroni_thresholds_match_kymata(alpha, n_tests, sidak, bonferroni):
    es = xarray.Dataset({"log_p": ("test", np.zeros(n_tests))})
    # kymata computes 1 - (1 - alpha)^(1/n) directly and loses ~1e-10 to cancellation
    sidak_p = 10 ** significance_threshold(es, alpha, correction="sidak")
    assert sidak_p == pytest.approx(sidak, rel=1e-9)
    assert sidak_p > 10 ** significance_threshold(es, alpha)  # Sidak is the less strict
    assert significance_threshold(es, alpha) == pytest.approx(np.log10(bonferroni), rel=1e-12)
    with pytest.raises(LaminarrayError, match="correction"):
        significance_threshold(es, alpha, correction="holm")
