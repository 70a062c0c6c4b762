"""Geodesic distances, adjacency and the SPM patch operator QG (design note spm_inversion §2.1).

References: the golden fixture (SPM under Octave, design note spm_inversion §10.3) and
tvb-gdist's untiled all-pairs routine on a curved mesh.
"""

from __future__ import annotations

import gdist
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import laminarray as la
from laminarray import surf
from laminarray.surf import geodesic
from laminarray.surf._shapes import flat_sheet, sphere_mesh


def _golden_layer(golden):
    n = int(golden["n_per_layer"])
    faces = golden["faces"][: len(golden["faces"]) // 2]
    return golden["vertices_mm"][:n], faces


def test_smoothing_matrix_equals_spm_qg_layer(golden):
    verts, faces = _golden_layer(golden)
    qg = surf.smoothing_matrix(verts, faces, fwhm=5.0)
    assert sp.issparse(qg)
    assert qg.format == "csc"
    np.testing.assert_allclose(qg.toarray(), golden["QG_layer"], rtol=0, atol=1e-14)


def test_smoothing_operator_equals_spm_qg_twolayer(golden):
    n = int(golden["n_per_layer"])
    _, faces = _golden_layer(golden)
    mesh = la.mesh_dataset(golden["vertices_mm"].reshape(2, n, 3), faces, layers=["pial", "white"])
    qg = surf.smoothing_operator(mesh, 5.0)
    assert qg.shape == (2 * n, 2 * n)
    np.testing.assert_allclose(qg.toarray(), golden["QG_twolayer"], rtol=0, atol=1e-14)


def test_geodesic_distances_equal_spm(golden):
    dist = surf.geodesic_distances(
        golden["bumpy_vertices_mm"], golden["bumpy_faces"], int(golden["bumpy_source_vertex"])
    )
    assert dist.dims == ("vertex",)
    assert dist.attrs["units"] == "mm"
    np.testing.assert_allclose(dist.values, golden["bumpy_geodesic_spm"], rtol=0, atol=1e-12)


def test_geodesic_max_distance_cuts_to_inf(golden):
    args = golden["bumpy_vertices_mm"], golden["bumpy_faces"], int(golden["bumpy_source_vertex"])
    full = golden["bumpy_geodesic_spm"]
    limit = float(np.median(full))
    cut = surf.geodesic_distances(*args, max_distance=limit).values
    inside = full <= limit
    np.testing.assert_allclose(cut[inside], full[inside], atol=1e-12)
    assert np.all(np.isinf(cut[~inside]))


def test_geodesic_on_flat_sheet_is_euclidean():
    verts, faces = flat_sheet(7, 6, spacing=2.0)
    dist = surf.geodesic_distances(verts, faces, 17).values
    np.testing.assert_allclose(dist, np.linalg.norm(verts - verts[17], axis=1), atol=1e-12)


def _assert_equal_to_gdist(verts, faces, limit, min_pairs_per_vertex=5):
    ours = geodesic._local_geodesics(verts, faces, limit).tocsr()
    reference = gdist.local_gdist_matrix(verts, faces, max_distance=limit).tocsr()
    assert reference.nnz >= min_pairs_per_vertex * len(verts)
    assert ours.nnz == reference.nnz
    assert abs(ours - reference).max() < 1e-10


def test_local_geodesics_equal_gdist_on_sphere():
    verts, faces = sphere_mesh(900, radius=40.0)
    _assert_equal_to_gdist(verts, faces, 9.0)


def test_local_geodesics_equal_gdist_on_bumpy_mesh(golden):
    # open mesh with saddles: paths bend at vertices and at the boundary
    _assert_equal_to_gdist(
        golden["bumpy_vertices_mm"], golden["bumpy_faces"].astype(np.int32), 7.0
    )


def test_local_geodesics_equal_gdist_on_folded_cortex():
    pytest.importorskip("nilearn")
    from laminarray.datasets.fsaverage import fsaverage5_surfaces

    pos, faces = fsaverage5_surfaces("pial")["lh"]
    # a patch of real, irregular, folded cortex: the faces within 25 mm of a vertex
    near = np.linalg.norm(pos - pos[5000], axis=1) < 25.0
    patch = faces[near[faces].all(axis=1)]
    used, local = np.unique(patch, return_inverse=True)
    _assert_equal_to_gdist(pos[used], local.reshape(-1, 3).astype(np.int32), 5.0)


def test_local_geodesics_collinear_grid_paths():
    # paths through flat vertices on a regular grid (distances 6, 9 along rows)
    verts, faces = flat_sheet(6, 6, spacing=3.0)
    dist = geodesic._local_geodesics(verts, faces, 9.5).toarray()
    euclid = np.linalg.norm(verts[:, None] - verts[None], axis=-1)
    within = (euclid <= 9.5) & (euclid > 0)
    np.testing.assert_allclose(dist[within], euclid[within], atol=1e-12)
    assert np.all(dist[~within] == 0)


def test_smoothing_matrix_properties_on_sphere():
    radius, fwhm = 40.0, 8.0
    verts, faces = sphere_mesh(700, radius=radius)
    qg = surf.smoothing_matrix(verts, faces, fwhm)
    np.testing.assert_allclose(qg.sum(axis=0), 1.0, atol=1e-12)
    coo = qg.tocoo()
    # the cut-off: the straight-line distance bounds the geodesic from below
    chord = np.linalg.norm(verts[coo.row] - verts[coo.col], axis=1)
    assert 0.8 * fwhm < chord.max() <= fwhm
    # the Gaussian: within a column, weight ratios follow exp(-(d^2 - 0) / (2 sigma^2))
    dense = qg.toarray()
    sigma = fwhm / 2.355
    col = 123
    dist = surf.geodesic_distances(verts, faces, col, max_distance=fwhm).values
    support = np.isfinite(dist)
    np.testing.assert_array_equal(dense[:, col] > 0, support)
    np.testing.assert_allclose(
        dense[support, col] / dense[col, col], np.exp(-(dist[support] ** 2) / (2 * sigma**2))
    )
    assert not np.allclose(dense, dense.T)  # columns (patches) normalised, not symmetric


def test_adjacency_small_mesh():
    adj = surf.adjacency(np.array([[0, 1, 2], [1, 3, 2]]), 5)
    expected = np.zeros((5, 5))
    for a, b in [(0, 1), (1, 2), (0, 2), (1, 3), (2, 3)]:
        expected[a, b] = expected[b, a] = 1
    np.testing.assert_array_equal(adj.toarray(), expected)


def test_adjacency_degree_on_sphere():
    verts, faces = sphere_mesh(500)
    adj = surf.adjacency(faces, len(verts))
    # closed triangulated sphere: E = 3F/2, so the summed degree is 3F
    assert adj.sum() == 3 * len(faces)
    assert (adj != adj.T).nnz == 0


@pytest.mark.parametrize(
    ("verts", "faces", "match"),
    [
        (np.full((3, 3), np.nan), [[0, 1, 2]], "NaN"),
        (np.zeros((3, 2)), [[0, 1, 2]], r"\(n_vertices, 3\)"),
        (np.eye(3), [[0, 1, 2, 0]], "triangles"),
        (np.eye(3), [[0, 1, 2], [0, 1]], "non-triangular"),
        (np.eye(3), [[0, 1, 3]], "outside 0..2"),
    ],
)
def test_bad_mesh_arrays_raise(verts, faces, match):
    with pytest.raises(la.LaminarrayError, match=match):
        surf.smoothing_matrix(verts, faces, 1.0)


def test_fwhm_out_of_mesh_scale_raises(golden):
    verts, faces = _golden_layer(golden)
    with pytest.raises(la.LaminarrayError, match="out of range"):
        surf.smoothing_matrix(verts, faces, 5000.0)
    with pytest.raises(la.LaminarrayError, match="fwhm"):
        surf.smoothing_matrix(verts, faces, -5.0)


def test_bad_source_raises(golden):
    verts, faces = _golden_layer(golden)
    with pytest.raises(la.LaminarrayError, match="source"):
        surf.geodesic_distances(verts, faces, 100)


def test_smoothing_operator_in_worker_processes(golden):
    n = int(golden["n_per_layer"])
    _, faces = _golden_layer(golden)
    mesh = la.mesh_dataset(golden["vertices_mm"].reshape(2, n, 3), faces, layers=["pial", "white"])
    parallel = surf.smoothing_operator(mesh, 5.0, n_jobs=2)
    np.testing.assert_allclose(parallel.toarray(), golden["QG_twolayer"], rtol=0, atol=1e-14)
    with pytest.raises(la.LaminarrayError, match="n_jobs"):
        surf.smoothing_operator(mesh, 5.0, n_jobs=0)


@settings(max_examples=15, deadline=None)
@given(
    n_x=st.integers(3, 7),
    n_y=st.integers(3, 7),
    spacing=st.floats(1.0, 4.0),
    bumps=st.floats(0.0, 1.0),
    reach=st.floats(0.5, 3.0),
    seed=st.integers(0, 2**16),
)
def test_local_geodesics_equal_gdist_on_random_bumpy_sheets(n_x, n_y, spacing, bumps, reach, seed):
    rng = np.random.default_rng(seed)
    verts, faces = flat_sheet(n_x, n_y, spacing)
    verts[:, 2] = bumps * spacing * rng.standard_normal(len(verts))
    verts[:, :2] += 0.25 * spacing * rng.uniform(-1, 1, (len(verts), 2))  # irregular triangles
    flip = rng.random(len(faces) // 2) < 0.5  # swap the diagonal of random grid squares
    half = len(faces) // 2
    lower, upper = faces[:half].copy(), faces[half:].copy()
    a, b, c = lower.T.copy()  # (i, i+1, i+n+1) and (i, i+n+1, i+n)
    d = upper[:, 2]
    lower[flip] = np.c_[a, b, d][flip]
    upper[flip] = np.c_[b, c, d][flip]
    faces = np.concatenate([lower, upper]).astype(np.int32)
    _assert_equal_to_gdist(verts, faces, reach * spacing, 0)
