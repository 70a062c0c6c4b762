"""The shared selection vocabulary: layers, ROIs, time windows, projectors."""

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray import schema
from laminarray._validation import LaminarrayError

CHANNELS = [f"MEG{i:03d}" for i in range(4)]


def _projector(n_layers=3, n_vertices=5):
    values = np.arange(n_layers * n_vertices * 4, dtype=float).reshape(n_layers, n_vertices, 4)
    return lam.projector_dataarray(values, CHANNELS, layers=["pial", "mid", "white"][:n_layers])


def test_select_layers_one_rule():
    proj = _projector()
    assert schema.select_layers(proj, None) is proj
    assert schema.select_layers(proj, "all") is proj
    one = schema.select_layers(proj, "white")
    assert one.dims == proj.dims
    assert one["layer"].values.tolist() == ["white"]
    np.testing.assert_array_equal(one.values[0], proj.values[2])
    assert schema.select_layers(proj, -1)["layer"].values.tolist() == ["white"]
    picked = schema.select_layers(proj, ["white", 0])
    assert picked["layer"].values.tolist() == ["white", "pial"]
    with pytest.raises(LaminarrayError, match=r"unknown layers \['nope'\], not among the layers"):
        schema.select_layers(proj, ["pial", "nope"])
    with pytest.raises(LaminarrayError, match="lacks"):
        schema.select_layers(proj.isel(layer=0), "pial")


def test_window_mask_half_open_by_default():
    times = np.array([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(schema.window_mask(times, (0.1, 0.3)), [0, 1, 1, 0])
    np.testing.assert_array_equal(
        schema.window_mask(times, (0.1, 0.3), closed="right"), [0, 0, 1, 1]
    )
    np.testing.assert_array_equal(
        schema.window_mask(times, (0.1, 0.3), closed="both"), [0, 1, 1, 1]
    )
    # consecutive windows tile the epoch without sharing a sample
    first, second = schema.window_mask(times, (0, 0.2)), schema.window_mask(times, (0.2, 0.4))
    assert not np.any(first & second)
    assert np.all(first | second)
    assert schema.window_bounds(times, (-np.inf, 0.25)) == (0, 3)
    with pytest.raises(LaminarrayError, match="start < end"):
        schema.window_mask(times, (0.3, 0.1))
    with pytest.raises(LaminarrayError, match="`closed`"):
        schema.window_mask(times, (0.1, 0.3), closed="open")


def test_resolve_roi_without_sets():
    vertices = np.array([10, 11, 12])
    mask = xr.DataArray([True, False], coords={"vertex": [12, 10]}, dims="vertex")
    np.testing.assert_array_equal(schema.resolve_roi(mask, None, vertices), [False, False, True])
    np.testing.assert_array_equal(schema.resolve_roi("all", None, vertices), [True] * 3)
    with pytest.raises(LaminarrayError, match="not in the projector"):
        schema.resolve_roi([1], None, vertices, within="projector")


def test_as_projector_refuses_gains_and_windows():
    proj = _projector()
    inverse = xr.Dataset({"projector": proj})
    xr.testing.assert_identical(schema.as_projector(inverse), proj)
    gain = lam.gain_dataarray(np.ones((4, 3, 5)), CHANNELS)
    with pytest.raises(LaminarrayError, match="fT/nAm"):
        schema.as_projector(gain)
    windowed = xr.concat([proj, proj], dim="window")
    with pytest.raises(LaminarrayError, match="isel"):
        schema.as_projector(windowed)
    assert schema.as_projector(windowed, windows=True).dims[0] == "window"
    with pytest.raises(LaminarrayError, match="projector"):
        schema.as_projector(xr.Dataset({"gain": gain}))
