"""fsaverage5 anatomy from nilearn's packaged files, and sphere-based fsaverage mapping."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import laminarray as la
from laminarray import surf
from laminarray.datasets import fsaverage as fsaverage_module

pytest.importorskip("nilearn")


@pytest.fixture(scope="module")
def mesh():
    return la.datasets.fsaverage5_mesh(n_layers=3)


def test_fsaverage5_sizes_and_labels(mesh):
    assert mesh.sizes["vertex"] == 20484
    assert (mesh["hemi"].values == "lh").sum() == 10242
    assert (mesh["hemi"].values[10242:] == "rh").all()
    assert mesh.sizes["face"] == 2 * 20480
    assert mesh["layer"].values.tolist() == ["pial", "0.500", "white"]
    assert mesh.attrs["subject"] == "fsaverage5"


def test_fsaverage5_geometry_is_plausible(mesh):
    thick = mesh["thickness"].values
    assert np.median(thick) > 1.5  # human cortex, mm
    assert np.median(thick) < 3.5
    # link vectors point inward: against the outward pial normals on most columns
    normals = surf.vertex_normals(mesh["vertices"].values[0], mesh["faces"].values)
    inward = np.einsum("vx,vx->v", normals, mesh["orientation"].values[0]) < 0
    assert inward.mean() > 0.9
    lh_x = mesh["vertices"].values[0, mesh["hemi"].values == "lh", 0]
    assert np.median(lh_x) < 0  # left hemisphere on the left (RAS)


def test_fsaverage5_matches_nilearn_loader():
    from nilearn import datasets

    reference = datasets.load_fsaverage("fsaverage5")["pial"].parts["left"]
    pos, faces = fsaverage_module.fsaverage5_surfaces("pial")["lh"]
    np.testing.assert_allclose(pos, reference.coordinates)
    np.testing.assert_array_equal(faces, reference.faces)


def test_missing_nilearn_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nilearn" else real(name, *a)
    )
    with pytest.raises(la.MissingDependencyError, match=r"laminarray\[sample\]"):
        la.datasets.fsaverage5_mesh()


def test_sphere_mapping_identity_and_rotation(mesh):
    spheres = {h: p for h, (p, _) in fsaverage_module.fsaverage5_surfaces("sphere").items()}
    index = surf.native_to_fsaverage(mesh, spheres, "fsaverage5")
    assert index.dims == ("vertex",)
    expected = np.r_[np.arange(10242), np.arange(10242)]
    np.testing.assert_array_equal(index.values, expected)
    # a "subject" whose sphere is scaled (radius 1) still maps one to one
    scaled = {h: p / 100.0 for h, p in spheres.items()}
    np.testing.assert_array_equal(surf.native_to_fsaverage(mesh, scaled, spheres), expected)
    back = surf.fsaverage_to_native(mesh, scaled, "fsaverage5")
    assert back.dims == ("hemi", "fsaverage_vertex")
    np.testing.assert_array_equal(back.sel(hemi="rh"), np.arange(10242) + 10242)


def test_sample_fsaverage_values(mesh):
    spheres = {h: p for h, (p, _) in fsaverage_module.fsaverage5_surfaces("sphere").items()}
    coarse = surf.downsample_mesh(mesh, 0.05)
    index = surf.native_to_fsaverage(coarse, spheres, "fsaverage5", method="sphere")
    original = coarse["original_vertex"].values
    np.testing.assert_array_equal(index.values, original % 10242)
    boundaries = {
        h: np.arange(10242) * 10 + (h == "rh") + np.arange(2)[:, None] for h in ("lh", "rh")
    }
    values = surf.sample_fsaverage(boundaries, index)
    assert values.dims == ("dim_0", "vertex")
    hemi_rh = coarse["hemi"].values == "rh"
    np.testing.assert_array_equal(values.values[0], (original % 10242) * 10 + hemi_rh)
    np.testing.assert_array_equal(values.values[1], values.values[0] + 1)


def _lameg_steps_brute_force(columns, spheres, pial, fsavg, picks):
    """laMEG 0.2.1's convert_*_fsaverage* as its spec states them, by exhaustive search.

    fsaverage -> native only for the fsaverage vertices ``picks`` (test time).
    """

    def nearest(points, targets):
        index, dist = [], []
        for chunk in np.array_split(points, max(1, len(points) // 256)):
            d2 = (chunk**2).sum(1)[:, None] - 2 * chunk @ targets.T + (targets**2).sum(1)
            index.append(d2.argmin(1))
            dist.append(np.sqrt(np.maximum(d2.min(1), 0)))
        return np.concatenate(index), np.concatenate(dist)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    # native -> fsaverage: nearest lh and rh full-res vertex, closer hemisphere (ties: rh)
    (i_lh, d_lh), (i_rh, d_rh) = nearest(columns, pial["lh"]), nearest(columns, pial["rh"])
    left = d_lh < d_rh
    to_fs = np.where(
        left,
        nearest(unit(spheres["lh"][i_lh]), unit(fsavg["lh"]))[0],
        nearest(unit(spheres["rh"][i_rh]), unit(fsavg["rh"]))[0],
    )
    # fsaverage -> native: nearest subject sphere vertex, its pial position, nearest column
    to_native = np.stack(
        [
            nearest(pial[h][nearest(unit(fsavg[h][picks]), unit(spheres[h]))[0]], columns)[0]
            for h in ("lh", "rh")
        ]
    )
    return np.where(left, "lh", "rh"), to_fs, to_native


def test_lameg_mapping_on_a_downsampled_mesh(mesh):
    """method='lameg' follows laMEG's steps; 'sphere' is the topological alternative."""
    surfaces = fsaverage_module.fsaverage5_surfaces
    fsavg = {h: p for h, (p, _) in surfaces("sphere").items()}
    rotation = Rotation.from_euler("xyz", [4.0, -3.0, 6.0], degrees=True).as_matrix()
    spheres = {h: 100.0 * p @ rotation.T for h, p in fsavg.items()}  # a "subject" sphere.reg
    pial = {h: p for h, (p, _) in surfaces("pial").items()}
    coarse = surf.downsample_mesh(mesh, 0.02)
    columns = coarse["vertices"].sel(layer="pial").values
    picks = np.arange(0, 10242, 7)
    hemis, to_fs, to_native = _lameg_steps_brute_force(columns, spheres, pial, fsavg, picks)

    index = surf.native_to_fsaverage(coarse, spheres, fsavg, native_surface=pial)
    np.testing.assert_array_equal(index.values, to_fs)
    np.testing.assert_array_equal(index["hemi"].values, hemis)
    back = surf.fsaverage_to_native(coarse, spheres, "fsaverage5", native_surface=pial)
    assert back.dims == ("hemi", "fsaverage_vertex")
    assert back.shape == (2, 10242)
    np.testing.assert_array_equal(back.values[:, picks], coarse["vertex"].values[to_native])
    np.testing.assert_array_equal(back["column"].values[:, picks], to_native)
    assert back.attrs["method"] == "lameg"

    sphere = surf.fsaverage_to_native(coarse, spheres, "fsaverage5", method="sphere")
    agree = float((sphere.values == back.values).mean())
    assert 0.3 < agree < 1.0  # the two definitions differ on a downsampled mesh
    # the sphere method stays in the hemisphere; laMEG's 3-D nearest column may not
    assert (coarse["hemi"].values[sphere.sel(hemi="lh").values] == "lh").all()
    with pytest.raises(la.LaminarrayError, match="native_surface"):
        surf.fsaverage_to_native(coarse, spheres, "fsaverage5")


def test_sphere_nearest_simple():
    target = np.eye(3) * 100
    np.testing.assert_array_equal(surf.sphere_nearest([[0, 0.1, 2], [5, 0, 0]], target), [2, 0])
    with pytest.raises(la.LaminarrayError, match="origin"):
        surf.sphere_nearest([[0, 0, 0]], target)


def test_fsaverage_mapping_errors(mesh):
    with pytest.raises(la.LaminarrayError, match="native_sphere"):
        surf.native_to_fsaverage(mesh, "lh.sphere.reg", "fsaverage5")
    spheres = {h: p for h, (p, _) in fsaverage_module.fsaverage5_surfaces("sphere").items()}
    with pytest.raises(la.LaminarrayError, match="lacks hemisphere"):
        surf.native_to_fsaverage(mesh, {"lh": spheres["lh"]}, "fsaverage5")
