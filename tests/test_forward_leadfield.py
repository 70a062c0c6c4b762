"""Lead-field builder (random / compute / load) and forward diagnostics."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from laminarray import LaminarrayError, forward, gain_dataarray
from laminarray.datasets import synthetic_cortex, synthetic_head
from laminarray.forward import (
    gain_norms,
    helmet_array,
    lead_field_rms_diff,
    leadfield,
    save_leadfield_npz,
)
from laminarray.io import read_calibrain_leadfield
from laminarray.testing import raise_if_dask_computes


@pytest.fixture(scope="module")
def small():
    mesh = synthetic_cortex(n_vertices=120, n_layers=3)
    return mesh, helmet_array(32, head=mesh)


def test_random_is_reproducible_and_shaped(small):
    a = leadfield("random", n_channels=8, n_layers=3, n_vertices=5, seed=1)
    b = leadfield("random", n_channels=8, n_layers=3, n_vertices=5, seed=1)
    xr.testing.assert_identical(a, b)
    assert a.shape == (8, 3, 5)
    assert not np.array_equal(
        a.values, leadfield("random", n_channels=8, n_layers=3, n_vertices=5, seed=2).values
    )
    mesh, sensors = small
    free = leadfield("random", mesh=mesh, sensors=sensors, orientation="free")
    assert free.dims == ("channel", "layer", "vertex", "xyz")
    assert free.shape == (32, 3, 120, 3)
    np.testing.assert_array_equal(free["layer"].values, mesh["layer"].values)


def test_compute_equals_sphere_gain_and_records_metadata(small):
    mesh, sensors = small
    gain = leadfield("compute", mesh=mesh, sensors=sensors)
    assert isinstance(gain.data, da.Array)
    assert gain.attrs["units"] == "fT/nAm"
    assert gain.attrs["orientation"] == "fixed"
    assert gain.attrs["sensor_kind"] == "magnetometer"
    np.testing.assert_allclose(gain.attrs["sphere_center_mm"], [0.0, 0.0, 15.0], atol=0.5)
    values = gain.values
    assert np.all(np.isfinite(values))
    assert np.abs(values).max() > 1


def test_compute_with_a_head_model_equals_forward_gain(small):
    mesh, sensors = small
    head = synthetic_head(n_vertices=300)
    gain = leadfield("compute", mesh=mesh, sensors=sensors, head=head, model="single_shell")
    assert gain.attrs["forward_model"] == "single shell (Nolte 2003)"
    expected = forward.gain(mesh, sensors, head, model="single_shell")
    np.testing.assert_allclose(gain.values, expected.values)
    with pytest.raises(LaminarrayError, match="head"):
        leadfield("compute", mesh=mesh, sensors=sensors, model="bem")


@pytest.mark.parametrize("orientation", ["fixed", "free"])
def test_npz_roundtrip(tmp_path, small, orientation):
    mesh, sensors = small
    gain = leadfield("compute", mesh=mesh, sensors=sensors, orientation=orientation).compute()
    path = save_leadfield_npz(gain, tmp_path / "lf.npz")
    back = leadfield("load", path=path)
    xr.testing.assert_allclose(back.drop_attrs(), gain.drop_attrs())
    assert back.attrs["orientation"] == orientation
    np.testing.assert_allclose(back["source_z"].values, mesh["vertices"].values[..., 2])


def test_npz_calibrain_style_flat(tmp_path):
    values = np.arange(4 * 6, dtype=float).reshape(4, 6)
    np.savez(tmp_path / "lf.npz", leadfield=values, n_layers=2)
    with pytest.raises(LaminarrayError, match="units"):
        leadfield("load", path=tmp_path / "lf.npz")
    gain = read_calibrain_leadfield(tmp_path / "lf.npz", units="fT/nAm")
    assert gain.shape == (4, 2, 3)
    np.testing.assert_array_equal(gain.values[:, 1, :], values[:, 3:])  # layer-major
    np.savez(tmp_path / "bad.npz", gain=values)
    with pytest.raises(LaminarrayError, match="leadfield"):
        leadfield("load", path=tmp_path / "bad.npz")


def test_load_spm_gain_file(tmp_path):
    io = pytest.importorskip("laminarray.io.spm_gain")
    gain = leadfield("random", n_channels=5, n_layers=2, n_vertices=4)
    path = io.write_spm_gain(gain, tmp_path / "SPMgainmatrix_x_1.mat")
    back = leadfield("load", path=path, n_layers=2)
    np.testing.assert_allclose(back.values, gain.values)


def test_load_archive(tmp_path):
    archive = pytest.importorskip("laminarray.archive")
    gain = leadfield("random", n_channels=5, n_layers=2, n_vertices=4)
    archive.save(gain.to_dataset(), tmp_path / "a.zarr", group="sub-01/forward")
    back = leadfield("load", path=tmp_path / "a.zarr")
    np.testing.assert_allclose(back.values, gain.values)


def test_mode_errors():
    with pytest.raises(LaminarrayError, match="mode"):
        leadfield("magic")
    with pytest.raises(LaminarrayError, match="mesh"):
        leadfield("compute")
    with pytest.raises(LaminarrayError, match="path"):
        leadfield("load")
    with pytest.raises(LaminarrayError, match="does not exist"):
        leadfield("load", path="/nonexistent.npz")


BACKENDS = [np.asarray, lambda a: da.from_array(np.asarray(a), chunks=2)]


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "dask"])
def test_lead_field_rms_diff_against_loop(backend):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(7, 4, 9))
    gain = gain_dataarray(backend(values), [f"c{i}" for i in range(7)])
    with raise_if_dask_computes():
        rms = lead_field_rms_diff(gain)
        every = lead_field_rms_diff(gain, all_layers=True)
    expected = [np.sqrt(np.mean((values[:, -1, v] - values[:, 0, v]) ** 2)) for v in range(9)]
    np.testing.assert_allclose(rms.values, expected)
    assert rms.dims == ("vertex",)
    assert rms.attrs["units"] == "fT/nAm"
    np.testing.assert_allclose(every.isel(layer=-1).values, expected)
    np.testing.assert_allclose(every.isel(layer=0).values, 0)
    with pytest.raises(LaminarrayError, match="two layers"):
        lead_field_rms_diff(gain.isel(layer=[0]))


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "dask"])
def test_gain_norms(backend):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(5, 2, 3, 3))
    gain = gain_dataarray(backend(values), [f"c{i}" for i in range(5)])
    with raise_if_dask_computes():
        norms = gain_norms(gain)
    assert norms.dims == ("layer", "vertex")
    np.testing.assert_allclose(norms.values, np.sqrt((values**2).sum(axis=(0, 3))))


def test_deeper_layers_have_weaker_fields_in_sphere(small):
    # physical sanity: on the synthetic cortex, white-layer gains are weaker on average
    mesh, sensors = small
    norms = gain_norms(leadfield("compute", mesh=mesh, sensors=sensors)).values
    assert norms[-1].mean() < norms[0].mean()
