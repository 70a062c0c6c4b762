"""Building laminar meshes and their geometry on shapes with known answers.

Concentric spheres (pial radius R_p, white radius R_w, same vertex order):
thickness = R_p - R_w, link vectors = -r/|r| (pial -> white), layer l at
radius R_p - depth_l (R_p - R_w), radial to a concentric scalp sphere, and
distance to that scalp = R_s - R (up to the scalp's vertex spacing).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import laminarray as la
from laminarray import surf
from laminarray.surf._shapes import flat_sheet, sphere_mesh

R_PIAL, R_WHITE, R_SCALP = 70.0, 67.0, 90.0


@pytest.fixture(scope="module")
def spheres():
    pial, faces = sphere_mesh(1000, R_PIAL)
    white, _ = sphere_mesh(1000, R_WHITE)
    return pial, white, faces


@pytest.fixture(scope="module")
def scalp():
    return sphere_mesh(20000, R_SCALP)


def _mesh(spheres, **kwargs):
    pial, white, faces = spheres
    return surf.build_laminar_mesh((pial, faces), (white, faces), **kwargs)


def test_layers_names_and_radii(spheres):
    mesh = _mesh(spheres)
    assert mesh["layer"].values.tolist() == la.default_layer_names(11)
    np.testing.assert_allclose(mesh["depth"], np.linspace(0, 1, 11))
    radii = np.linalg.norm(mesh["vertices"].values, axis=-1)
    expected = R_PIAL - mesh["depth"].values[:, None] * (R_PIAL - R_WHITE)
    np.testing.assert_allclose(radii, np.broadcast_to(expected, radii.shape), rtol=1e-12)
    np.testing.assert_array_equal(mesh["faces"].values, spheres[2])


def test_thickness_and_interlayer_distance(spheres):
    mesh = _mesh(spheres, n_layers=4)
    np.testing.assert_allclose(surf.thickness(mesh), R_PIAL - R_WHITE, rtol=1e-12)
    np.testing.assert_allclose(mesh["thickness"], R_PIAL - R_WHITE, rtol=1e-12)
    gaps = surf.interlayer_distance(mesh)
    assert gaps.dims == ("interval", "vertex")
    assert gaps["upper"].values.tolist() == ["pial", "0.667", "0.333"]
    np.testing.assert_allclose(gaps, (R_PIAL - R_WHITE) / 3, rtol=1e-12)
    np.testing.assert_allclose(gaps.sum("interval"), surf.thickness(mesh), rtol=1e-12)


@pytest.mark.parametrize("method", surf.ORIENTATION_METHODS)
def test_orientations_point_pial_to_white(spheres, method):
    mesh = _mesh(spheres, orientation=method)
    inward = -mesh["vertices"].values[0] / R_PIAL
    cosine = np.einsum("lvx,vx->lv", mesh["orientation"].values, inward)
    tolerance = 1e-12 if method == "link_vector" else 0.02  # normals of a polyhedron
    assert cosine.min() > 1 - tolerance
    assert mesh.attrs["orientation_method"] == method
    assert mesh.attrs["orientation_convention"] == "pial_to_white"


def test_flip_negates_and_is_recorded(spheres):
    plain = _mesh(spheres, orientation="ds_surf_norm")
    flipped = _mesh(spheres, orientation="ds_surf_norm", flip=True)
    np.testing.assert_allclose(flipped["orientation"], -plain["orientation"])
    assert flipped.attrs["orientation_convention"] == "white_to_pial"


def test_normals_follow_convention_whatever_the_winding(spheres):
    pial, white, faces = spheres
    reversed_faces = faces[:, ::-1]
    a = surf.build_laminar_mesh((pial, faces), (white, faces), orientation="ds_surf_norm")
    b = surf.build_laminar_mesh(
        (pial, reversed_faces), (white, reversed_faces), orientation="ds_surf_norm"
    )
    np.testing.assert_allclose(a["orientation"], b["orientation"], atol=1e-12)


def test_fixed_false_uses_each_layers_normals():
    # a pial sheet and a tilted white sheet: unfixed normals differ per layer
    pial, faces = flat_sheet(6, 6, spacing=2.0, z=0.0)
    white = pial.copy()
    white[:, 2] = -3.0 + 0.2 * pial[:, 0]
    fixed = surf.build_laminar_mesh((pial, faces), (white, faces), 3, "ds_surf_norm", True)
    free = surf.build_laminar_mesh((pial, faces), (white, faces), 3, "ds_surf_norm", False)
    ori_fixed, ori_free = fixed["orientation"].values, free["orientation"].values
    np.testing.assert_allclose(ori_fixed[-1], ori_fixed[0])
    np.testing.assert_allclose(ori_free[0], [[0, 0, -1]] * len(pial), atol=1e-12)
    tilt = np.array([0.2, 0, -1]) / np.linalg.norm([0.2, 0, -1])
    np.testing.assert_allclose(ori_free[-1], np.broadcast_to(tilt, pial.shape), atol=1e-12)


def test_flat_sheet_normals_constant():
    pial, faces = flat_sheet(8, 5, spacing=3.0, z=0.0)
    white, _ = flat_sheet(8, 5, spacing=3.0, z=-2.5)
    mesh = surf.build_laminar_mesh((pial, faces), (white, faces), 5, "ds_surf_norm")
    np.testing.assert_allclose(
        mesh["orientation"].values, np.broadcast_to([0, 0, -1.0], (5, 40, 3)), atol=1e-12
    )
    np.testing.assert_allclose(surf.vertex_normals(pial, faces), [[0, 0, 1.0]] * 40)


def test_given_depths_1d_and_per_column(spheres):
    depths = np.array([0.0, 0.1, 0.45, 1.0])
    mesh = _mesh(spheres, n_layers=4, depths=depths)
    assert mesh["layer"].values.tolist() == ["pial", "0.900", "0.550", "white"]
    radii = np.linalg.norm(mesh["vertices"].values, axis=-1)
    np.testing.assert_allclose(radii[:, 0], R_PIAL - depths * (R_PIAL - R_WHITE))
    n = len(spheres[0])
    per_column = np.linspace(0, 1, 3)[:, None] * np.linspace(0.5, 1.0, n)[None]
    per_column[-1] = 1.0
    mesh = _mesh(spheres, n_layers=3, depths=per_column)
    radii = np.linalg.norm(mesh["vertices"].values, axis=-1)
    np.testing.assert_allclose(radii, R_PIAL - per_column * (R_PIAL - R_WHITE))
    np.testing.assert_allclose(mesh["column_depth"], per_column)


@pytest.mark.parametrize(
    ("depths", "match"),
    [([0.0, 0.5], r"shape \(3,\)"), ([0.0, 0.7, 0.5], "increase"), ([0.0, 0.5, 1.5], r"\[0, 1\]")],
)
def test_bad_depths_raise(spheres, depths, match):
    with pytest.raises(la.LaminarrayError, match=match):
        _mesh(spheres, n_layers=3, depths=depths)


def test_bad_options_raise(spheres):
    with pytest.raises(la.LaminarrayError, match="orientation"):
        _mesh(spheres, orientation="normal")
    with pytest.raises(la.LaminarrayError, match="n_layers"):
        _mesh(spheres, n_layers=1)


def test_distance_and_radiality_to_scalp(spheres, scalp):
    mesh = _mesh(spheres, n_layers=3)
    dist = surf.distance_to_scalp(mesh, scalp)
    assert dist.dims == ("vertex",)
    assert dist.attrs["units"] == "mm"
    # nearest scalp vertex: R_s - R <= d <= sqrt((R_s - R)^2 + spacing^2), spacing ~ 2.3 mm
    assert dist.min() >= R_SCALP - R_PIAL - 1e-9
    assert dist.max() <= np.hypot(R_SCALP - R_PIAL, 2.5)
    every = surf.distance_to_scalp(mesh, scalp, layer=None)
    assert every.dims == ("layer", "vertex")
    np.testing.assert_allclose(every.mean("vertex"), R_SCALP - np.array([70, 68.5, 67]), atol=0.2)
    radiality = surf.radiality_to_scalp(mesh, scalp)
    assert radiality.min() > 0.999


def test_scalp_as_dataset(spheres, scalp):
    mesh = _mesh(spheres, n_layers=3)
    holder = xr.Dataset(
        {
            "scalp_vertices": (("scalp_vertex", "xyz"), scalp[0]),
            "scalp_faces": (("scalp_face", "corner"), scalp[1]),
        }
    )
    xr.testing.assert_equal(
        surf.distance_to_scalp(mesh, holder), surf.distance_to_scalp(mesh, scalp)
    )
    with pytest.raises(la.LaminarrayError, match="scalp"):
        surf.distance_to_scalp(mesh, xr.Dataset())


def test_radiality_tangential_sources(spheres, scalp):
    mesh = _mesh(spheres, n_layers=2)
    pos = mesh["vertices"].values[0]
    tangent = np.cross(pos, [0.3, 0.5, 0.8])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    mesh["orientation"] = mesh["orientation"].copy(data=np.stack([tangent, tangent]))
    assert surf.radiality_to_scalp(mesh, scalp).max() < 0.05


def test_anatomical_score_is_lameg_tutorial_formula(spheres, scalp):
    """laMEG's tutorial: zscore(thickness) + zscore(lf) + zscore(radiality) + zscore(-dist)."""
    from scipy.stats import zscore

    pial, white, faces = spheres
    rng = np.random.default_rng(0)
    white = white * (1 + 0.01 * rng.standard_normal((len(white), 1)))  # varying thickness
    mesh = surf.build_laminar_mesh((pial, faces), (white, faces), 3)
    lead_field = rng.random(len(pial))
    result = surf.anatomical_score(mesh, scalp, lead_field)
    thickness = surf.thickness(mesh).values
    radiality = surf.radiality_to_scalp(mesh, scalp).values
    distances = surf.distance_to_scalp(mesh, scalp).values
    terms = {
        "z_thickness": zscore(thickness),
        "z_lead_field_rms_diff": zscore(lead_field),
        "z_radiality": zscore(radiality),
        "z_distance_to_scalp": zscore(-distances),
    }
    expected = sum(terms.values())
    np.testing.assert_allclose(result["anatomical_score"], expected, rtol=1e-12, atol=1e-12)
    for name, term in terms.items():
        np.testing.assert_allclose(result[name], term, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result["distance_to_scalp"], distances)
    assert result["distance_to_scalp"].attrs["units"] == "mm"
    # not z(1/distance): the two differ on this geometry
    assert np.abs(zscore(1 / distances) - terms["z_distance_to_scalp"]).max() > 1e-3
    # the tutorial's prior choice within an ROI
    roi = rng.choice(len(pial), 50, replace=False)
    prior = int(result["anatomical_score"].isel(vertex=roi).idxmax("vertex"))
    assert prior == int(mesh["vertex"].values[roi[np.argmax(expected[roi])]])
    with pytest.raises(la.LaminarrayError, match="lead_field_rms_diff"):
        surf.anatomical_score(mesh, scalp, lead_field[:-1])


def test_radiality_needs_orientation(spheres, scalp):
    mesh = _mesh(spheres, n_layers=2).drop_vars("orientation")
    with pytest.raises(la.LaminarrayError, match="orientation"):
        surf.radiality_to_scalp(mesh, scalp)


def test_dipole_orientations_function_matches_build(spheres):
    mesh = _mesh(spheres, n_layers=3, orientation="ds_surf_norm")
    ori = surf.dipole_orientations(mesh, "ds_surf_norm")
    assert ori.dims == ("layer", "vertex", "xyz")
    np.testing.assert_allclose(ori, mesh["orientation"])
