"""The synthetic folded cortex: geometry, topology, layers, determinism."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from laminarray import LaminarrayError, schema
from laminarray.datasets import synthetic_cortex


@pytest.fixture(scope="module")
def mesh():
    return synthetic_cortex(n_vertices=3000, n_layers=11, seed=0)


def _area(pos, faces):
    a, b, c = (pos[faces[:, i]] for i in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()


def test_sizes_coords_and_schema(mesh):
    assert mesh.sizes["layer"] == 11
    assert mesh.sizes["vertex"] == 3000
    assert mesh["layer"].values.tolist() == schema.default_layer_names(11)
    np.testing.assert_allclose(mesh["depth"].values, schema.layer_depths(11))
    assert (mesh["hemi"].values == "lh").sum() == 1500
    assert mesh["vertices"].attrs["units"] == "mm"
    schema.validate_mesh(mesh)
    small = synthetic_cortex(n_vertices=301, n_layers=2)
    assert small.sizes["vertex"] == 301
    assert (small["hemi"].values == "lh").sum() == 151


def test_deterministic_and_seeded():
    a = synthetic_cortex(n_vertices=500, seed=3)
    b = synthetic_cortex(n_vertices=500, seed=3)
    c = synthetic_cortex(n_vertices=500, seed=4)
    np.testing.assert_array_equal(a["vertices"].values, b["vertices"].values)
    assert np.abs(a["vertices"].values - c["vertices"].values).max() > 1.0


def test_thickness_realistic_and_layers_on_columns(mesh):
    thickness = mesh["thickness"].values
    assert thickness.min() >= 1.5 - 1e-9
    assert thickness.max() <= 4.5 + 1e-9
    assert thickness.std() > 0.4  # thick gyral crowns, thin sulcal fundi
    pos = mesh["vertices"].values
    pial, white = pos[0], pos[-1]
    np.testing.assert_allclose(np.linalg.norm(white - pial, axis=1), thickness)
    for layer, depth in enumerate(mesh["depth"].values):
        np.testing.assert_allclose(pos[layer], pial + depth * (white - pial), atol=1e-9)


def test_orientation_is_unit_link_pial_to_white(mesh):
    pos = mesh["vertices"].values
    link = pos[-1] - pos[0]
    expected = link / np.linalg.norm(link, axis=1, keepdims=True)
    ori = mesh["orientation"].values
    np.testing.assert_allclose(ori, np.broadcast_to(expected, ori.shape), atol=1e-12)


def test_closed_outward_hemispheres(mesh):
    faces = mesh["faces"].values
    n = mesh.sizes["vertex"]
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)  # closed 2-manifold
    assert n - counts.size + faces.shape[0] == 4  # Euler characteristic 2 per hemisphere
    hemi = mesh["hemi"].values
    white = mesh["vertices"].values[-1]
    assert white[hemi == "lh", 0].max() < 0 < white[hemi == "rh", 0].min()
    # outward orientation: positive signed volume of each closed white surface
    a, b, c = (white[faces[:, i]] for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6
    for name in ("lh", "rh"):
        inside = hemi[faces[:, 0]] == name
        assert volume[inside].sum() > 1e4  # mm^3


def test_folded_gyrification(mesh):
    """Sulci and gyri: the pial surface has more area than its convex hull."""
    faces, hemi = mesh["faces"].values, mesh["hemi"].values
    pial = mesh["vertices"].values[0]
    lh_faces = faces[hemi[faces[:, 0]] == "lh"]
    lh = pial[hemi == "lh"]
    gyrification = _area(pial, lh_faces) / ConvexHull(lh).area
    assert gyrification > 1.03
    # the white surface folds both inward and outward of a smooth ellipsoid
    hull = ConvexHull(lh)
    on_hull = np.zeros(len(lh), bool)
    on_hull[hull.vertices] = True
    assert 0.1 < on_hull.mean() < 0.9


def test_scalp_encloses_cortex(mesh):
    from laminarray.datasets import synthetic_head
    from laminarray.forward import fit_sphere
    from laminarray.forward.head import points_inside

    head = synthetic_head()
    scalp = mesh["scalp_vertices"].values
    centre = fit_sphere(scalp)[0]
    radius = np.linalg.norm(scalp - centre, axis=1)
    np.testing.assert_allclose(radius, 92.0)
    np.testing.assert_allclose(head["scalp_vertices"].values, scalp)
    assert np.linalg.norm(mesh["vertices"].values - centre, axis=-1).max() < 92.0 - 5
    inner = (head["inner_skull_vertices"].values, head["inner_skull_faces"].values)
    assert points_inside(mesh["vertices"].values.reshape(-1, 3), *inner).all()
    assert "head_center_mm" not in mesh.attrs
    assert mesh["scalp_faces"].dims == ("scalp_face", "corner")
    assert mesh["scalp_faces"].values.max() == mesh.sizes["scalp_vertex"] - 1


def test_fast_at_tens_of_thousands():
    start = time.perf_counter()
    big = synthetic_cortex(n_vertices=30000, n_layers=11)
    assert big.sizes["vertex"] == 30000
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_vertices": 10}, "n_vertices"),
        ({"n_layers": 1}, "n_layers"),
        ({"n_vertices": 1.5}, "n_vertices"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(LaminarrayError, match=match):
        synthetic_cortex(**kwargs)
