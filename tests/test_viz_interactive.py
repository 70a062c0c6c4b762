"""The interactive surface view: a self-contained page whose data are the mesh and the colours."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray import viz
from laminarray.viz.surface import value_colours

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@pytest.fixture(scope="module")
def mesh():
    return lam.datasets.synthetic_cortex(n_vertices=300, n_layers=3)


def _t_map(mesh):
    pial = mesh["vertices"].sel(layer="pial").values

    def bump(vertex):
        return np.exp(-np.sum((pial - pial[vertex]) ** 2, axis=1) / 100.0)

    values = 8.0 * bump(120) - 6.0 * bump(30) - 0.5 + np.linspace(0, 1, pial.shape[0])
    return xr.DataArray(values, dims="vertex", name="t", attrs={"units": "1"})


def _scene(page: str) -> dict:
    match = re.search(r"const scene = (\{.*?\});\n", page, re.S)
    assert match, "the page embeds its scene"
    return json.loads(match.group(1))


def _array(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def test_page_holds_the_mesh_and_the_colours_of_plot_surface(mesh, tmp_path):
    values = _t_map(mesh)
    view = viz.show_surface(mesh, values, threshold=1.0, save_to=tmp_path / "t.html")
    assert (tmp_path / "t.html").read_text() == view.html
    scene = _scene(view.html)
    pial = mesh["vertices"].sel(layer="pial").values
    positions = _array(scene["positions"], np.float32).reshape(-1, 3)
    centre = (pial.min(0) + pial.max(0)) / 2
    np.testing.assert_allclose(positions, pial - centre, atol=1e-4)
    faces = _array(scene["indices"], np.uint32).reshape(-1, 3)
    np.testing.assert_array_equal(faces, mesh["faces"].values)
    normals = _array(scene["normals"], np.float32).reshape(-1, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    colours = _array(scene["colours"], np.uint8).reshape(-1, 3)
    drawn, rgba, _ = value_colours(values.values, None, None, None, None, 0.0, 1000, 1.0)
    shown = np.isfinite(drawn)
    assert 0 < shown.sum() < shown.size
    np.testing.assert_array_equal(colours[shown], np.round(rgba[shown, :3] * 255))
    grey = colours[~shown]
    assert np.all(grey[:, 0] == grey[:, 1]) and np.all(grey[:, 1] == grey[:, 2])  # noqa: PT018
    peak = np.percentile(np.abs(drawn[shown]), 99)  # robust limits of what is drawn
    assert scene["bar"]["vmin"] == pytest.approx(-peak)
    assert scene["bar"]["vmax"] == pytest.approx(peak)
    assert scene["bar"]["label"] == "t (unitless)"
    assert [t["value"] for t in scene["bar"]["ticks"]] == [f"{-peak:.3g}", "0", f"{peak:.3g}"]
    assert scene["initial"] == viz.surface.best_view(pial, pial[np.argmax(np.abs(values.values))])
    # self-contained: no external script, stylesheet or URL
    assert not re.search(r"(src|href)=|https?://|@import", view.html)


def test_notebook_display_accessor_and_anatomy_only(mesh):
    view = mesh.lam.show_surface(layer="white", hemi="lh", view="lateral")
    assert isinstance(view, viz.SurfaceView)
    scene = _scene(view.html)
    assert scene["bar"] is None
    assert scene["initial"] == "lateral"
    left = (mesh["hemi"].values == "lh")[mesh["faces"].values].all(axis=1)
    assert scene["n_faces"] == int(left.sum())
    frame = view._repr_html_()
    assert frame.startswith("<iframe srcdoc=")
    assert "<script>" not in frame  # escaped inside srcdoc
    assert "&lt;script&gt;" in frame
    with pytest.raises(lam.LaminarrayError, match="layer"):
        viz.show_surface(mesh, layer="middle")


@pytest.mark.slow
def test_renders_in_headless_chromium(mesh, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no Chromium/Chrome binary (apt-get install chromium)")
    page = viz.show_surface(mesh, _t_map(mesh), threshold=1.0).save(tmp_path / "view.html")
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--window-size=800,600",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    root = re.search(r'<div id="v\w+" class="laminarray-surface"([^>]*)>', run.stdout)
    assert root, run.stderr[-2000:]
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', root.group(1)))
    assert attrs["status"] == "rendered", attrs
    assert int(attrs["drawn-pixels"]) > 20_000  # the cortex fills part of the canvas
    assert int(attrs["coloured-pixels"]) > 100  # and the thresholded map shows on it
    assert attrs["view"] == _scene(page.read_text())["initial"]
