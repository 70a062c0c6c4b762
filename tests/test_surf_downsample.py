"""Downsampling with laminar correspondence and interpolation back to full resolution."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import laminarray as la
from laminarray import surf
from laminarray.surf._shapes import sphere_mesh
from laminarray.testing import raise_if_dask_computes


@pytest.fixture(scope="module")
def fine():
    rng = np.random.default_rng(1)
    pial, faces = sphere_mesh(3000, 60.0)
    white = pial * (1 - (2.0 + rng.random((len(pial), 1))) / 60.0)  # thickness 2-3 mm
    return surf.build_laminar_mesh((pial, faces), (white, faces), 5, "ds_surf_norm")


@pytest.fixture(scope="module")
def coarse(fine):
    return surf.downsample_mesh(fine, 0.1)


def test_correspondence_preserved(fine, coarse):
    kept = coarse["original_vertex"].values
    assert 250 <= kept.size <= 350
    assert np.unique(kept).size == kept.size
    # every layer takes the same original vertices: exact positions, same columns
    np.testing.assert_array_equal(coarse["vertices"].values, fine["vertices"].values[:, kept])
    np.testing.assert_array_equal(coarse["thickness"].values, fine["thickness"].values[kept])
    np.testing.assert_array_equal(
        coarse["orientation"].values, fine["orientation"].values[:, kept]
    )
    assert coarse.attrs["n_original_vertices"] == 3000
    assert coarse["layer"].values.tolist() == fine["layer"].values.tolist()
    # one triangulation, a closed 2-manifold sphere again (Euler: F = 2V - 4)
    assert coarse.sizes["face"] == 2 * kept.size - 4


def test_build_with_ds_factor_equals_downsample_then_orient(fine):
    pial, white = fine["vertices"].values[0], fine["vertices"].values[-1]
    faces = fine["faces"].values
    built = surf.build_laminar_mesh((pial, faces), (white, faces), 5, "link_vector", ds_factor=0.1)
    kept = built["original_vertex"].values
    np.testing.assert_allclose(built["vertices"].values, fine["vertices"].values[:, kept])
    link = white[kept] - pial[kept]
    link /= np.linalg.norm(link, axis=1, keepdims=True)
    np.testing.assert_allclose(built["orientation"].values[2], link)
    orig = surf.build_laminar_mesh(
        (pial, faces), (white, faces), 5, "orig_surf_norm", ds_factor=0.1
    )
    np.testing.assert_allclose(orig["orientation"].values, fine["orientation"].values[:, kept])


def test_downsample_bad_input(fine):
    with pytest.raises(la.LaminarrayError, match="ds_factor"):
        surf.downsample_mesh(fine, 1.5)
    with pytest.raises(la.LaminarrayError, match="reference"):
        surf.downsample_mesh(fine, 0.5, reference="middle")


def test_interpolate_constant_and_smooth_fields(fine, coarse):
    pos = coarse["vertices"].values[0]
    values = xr.DataArray(
        np.stack([np.full(len(pos), 3.0), pos[:, 2]]),
        dims=("kind", "vertex"),
        coords={"kind": ["constant", "height"]},
        attrs={"units": "nAm"},
    )
    out = surf.interpolate(values, coarse, fine)
    assert out.dims == ("kind", "vertex")
    assert out.sizes["vertex"] == fine.sizes["vertex"]
    assert out.attrs["units"] == "nAm"
    np.testing.assert_allclose(out.sel(kind="constant"), 3.0)
    fine_z = fine["vertices"].values[0, :, 2]
    error = np.abs(out.sel(kind="height").values - fine_z)
    assert error.mean() < 2.0  # coarse spacing ~ 12 mm, field range 120 mm
    exact = surf.interpolate(values, coarse, fine, smooth=False)
    kept = coarse["original_vertex"].values
    np.testing.assert_allclose(exact.sel(kind="height").values[kept], pos[:, 2], atol=1e-3)


def test_interpolate_is_lazy(fine, coarse):
    data = xr.DataArray(
        da.ones((4, coarse.sizes["vertex"]), chunks=(2, -1)), dims=("time", "vertex")
    )
    with raise_if_dask_computes():
        out = surf.interpolate(data, coarse, fine)
    assert isinstance(out.data, da.Array)
    np.testing.assert_allclose(out.values, 1.0)


def test_interpolate_rejects_wrong_vertex_count(fine, coarse):
    with pytest.raises(la.LaminarrayError, match="vertex"):
        surf.interpolate(xr.DataArray(np.ones(7), dims="vertex"), coarse, fine)
    values = xr.DataArray(np.ones(coarse.sizes["vertex"]), dims="vertex")
    with pytest.raises(la.LaminarrayError, match="layer"):
        surf.interpolate(values, coarse, fine, layer="middle")
    with pytest.raises(la.LaminarrayError, match="k_neighbors"):
        surf.interpolate(values, coarse, fine, k_neighbors=0)


def test_decimate_drops_nonmanifold_faces():
    from laminarray.surf.downsample import _drop_nonmanifold

    fan = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4], [2, 3, 4]])  # edge 0-1 shared by 3 faces
    np.testing.assert_array_equal(_drop_nonmanifold(fan), [[2, 3, 4]])


def test_archive_round_trip(tmp_path, coarse):
    archive = pytest.importorskip("laminarray.archive")
    archive.save(coarse, tmp_path / "study.zarr", "/sub-01/mesh")
    back = archive.open(tmp_path / "study.zarr")["sub-01/mesh"].to_dataset().compute()
    xr.testing.assert_allclose(back[list(coarse.data_vars)], coarse)
    for key, value in coarse.attrs.items():
        assert back.attrs[key] == value
    np.testing.assert_array_equal(back["original_vertex"], coarse["original_vertex"])
