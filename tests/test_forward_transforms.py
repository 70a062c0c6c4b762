"""Rigid and scaled coregistration: recover known transforms (and MNE's fit), reject bad input."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from laminarray import LaminarrayError, mesh_dataset
from laminarray.forward import (
    apply_transform,
    coregister,
    invert_transform,
    rigid_transform,
    transform_scale,
)
from laminarray.testing import raise_if_dask_computes


def _random_rigid(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rot = Rotation.random(random_state=seed).as_matrix()
    return rigid_transform(rot, rng.uniform(-50, 50, 3))


FIDS = {"nas": [0.0, 95.0, 0.0], "lpa": [-78.0, 0.0, 2.0], "rpa": [78.0, 0.0, -1.0]}


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_points=st.integers(3, 12))
def test_coregister_recovers_known_transform(seed, n_points):
    true = _random_rigid(seed)
    head = np.random.default_rng(seed + 1).uniform(-100, 100, (n_points, 3))
    mri = apply_transform(true, head)
    estimate = coregister(head, mri)
    np.testing.assert_allclose(estimate, true, atol=1e-8)
    assert np.isclose(np.linalg.det(estimate[:3, :3]), 1.0)


def test_coregister_fiducial_dicts_matched_by_name():
    true = _random_rigid(3)
    mri = {k: apply_transform(true, v) for k, v in reversed(FIDS.items())}
    np.testing.assert_allclose(coregister(FIDS, mri), true, atol=1e-9)


def test_coregister_never_returns_reflection():
    # a mirrored target: the best proper rotation, not the (exact) reflection
    head = np.array(list(FIDS.values()))
    mri = head * [-1.0, 1.0, 1.0]
    estimate = coregister(head, mri)
    assert np.isclose(np.linalg.det(estimate[:3, :3]), 1.0)


def test_coregister_least_squares_with_noise_and_weights():
    rng = np.random.default_rng(0)
    true = _random_rigid(7)
    head = rng.uniform(-80, 80, (200, 3))
    mri = apply_transform(true, head) + rng.normal(0, 0.5, head.shape)
    estimate = coregister(head, mri)
    np.testing.assert_allclose(estimate[:3, :3], true[:3, :3], atol=5e-3)
    np.testing.assert_allclose(estimate[:3, 3], true[:3, 3], atol=0.3)
    # zero weight on an outlier removes its influence exactly
    mri_out = mri.copy()
    mri_out[0] += 500
    w = np.ones(200)
    w[0] = 0
    np.testing.assert_allclose(
        coregister(head, mri_out, weights=w), coregister(head[1:], mri[1:]), atol=1e-9
    )


@pytest.mark.parametrize(
    ("head", "mri", "match"),
    [
        (np.zeros((2, 3)), np.zeros((2, 3)), "at least 3"),
        (np.zeros((3, 3)), np.zeros((4, 3)), "same number"),
        ([[0, 0, 0], [1, 1, 1], [2, 2, 2]], np.zeros((3, 3)), "collinear"),
        (np.full((3, 3), np.nan), np.zeros((3, 3)), "finite"),
        ({"nas": [0, 0, 0]}, {"lpa": [0, 0, 0]}, "different points"),
    ],
)
def test_coregister_rejects_bad_input(head, mri, match):
    with pytest.raises(LaminarrayError, match=match):
        coregister(head, mri)


def test_apply_and_invert_roundtrip():
    true = _random_rigid(11)
    pts = np.random.default_rng(2).normal(size=(5, 4, 3))
    back = apply_transform(invert_transform(true), apply_transform(true, pts))
    np.testing.assert_allclose(back, pts, atol=1e-10)
    with pytest.raises(LaminarrayError, match="rigid"):
        apply_transform(np.diag([2.0, 1, 1, 1]), pts)


def _small_mesh(seed):
    """Two layers of 6 vertices with random unit orientations: (positions, orientations, mesh)."""
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(2, 6, 3)) * 10
    ori = rng.normal(size=(2, 6, 3))
    ori /= np.linalg.norm(ori, axis=-1, keepdims=True)
    mesh = mesh_dataset(pos, [[0, 1, 2], [3, 4, 5]], orientation=ori)
    return pos, ori, mesh


def test_apply_transform_to_mesh_dataset_moves_points_rotates_orientations():
    pos, ori, mesh = _small_mesh(0)
    true = _random_rigid(5)
    moved = apply_transform(true, mesh)
    np.testing.assert_allclose(moved["vertices"].values, apply_transform(true, pos))
    np.testing.assert_allclose(moved["orientation"].values, ori @ true[:3, :3].T)
    np.testing.assert_array_equal(moved["faces"].values, mesh["faces"].values)
    np.testing.assert_allclose(moved["thickness"].values, mesh["thickness"].values)
    assert moved["vertices"].attrs["units"] == "mm"


def test_apply_transform_is_lazy_on_dask():
    pts = xr.DataArray(
        da.from_array(np.ones((10, 3)), chunks=(5, 3)),
        dims=("channel", "xyz"),
        attrs={"units": "mm"},
    )
    with raise_if_dask_computes():
        moved = apply_transform(rigid_transform(translation=[1, 2, 3]), pts)
    np.testing.assert_allclose(moved.values, np.ones((10, 3)) + np.array([1, 2, 3]))


# --- uniform scale (template anatomy) -------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.7, 1.4))
def test_coregister_with_scale_recovers_known_similarity(seed, scale):
    rng = np.random.default_rng(seed)
    true = rigid_transform(
        Rotation.random(random_state=seed).as_matrix(), rng.uniform(-50, 50, 3), scale=scale
    )
    head = rng.uniform(-100, 100, (6, 3))
    mri = apply_transform(true, head)
    estimate = coregister(head, mri, scale=True)
    np.testing.assert_allclose(estimate, true, atol=1e-8)
    assert transform_scale(estimate) == pytest.approx(scale, rel=1e-12)
    np.testing.assert_allclose(invert_transform(estimate) @ true, np.eye(4), atol=1e-10)
    rigid = coregister(head, mri)
    assert transform_scale(rigid) == pytest.approx(1.0)


def test_template_fiducials_scaled_fit_matches_mne(realdata):
    """fsaverage's fiducials fitted to the `sample` subject's head: MNE's own fit as reference."""
    mne = pytest.importorskip("mne")
    from pathlib import Path

    raw = mne.io.read_raw_fif(
        realdata / "neuromag" / "sample_audvis_trunc_raw_sss.fif", verbose=False
    )
    kinds = {1: "lpa", 2: "nas", 3: "rpa"}
    head = {kinds[d["ident"]]: d["r"] * 1000 for d in raw.info["dig"][:3]}
    fids, _ = mne.io.read_fiducials(
        Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-fiducials.fif"
    )
    mri = {kinds[f["ident"]]: f["r"] * 1000 for f in fids}
    names = list(head)
    src = np.array([head[n] for n in names], dtype=float)
    dst = np.array([mri[n] for n in names], dtype=float)
    rigid = coregister(head, mri)
    scaled = coregister(head, mri, scale=True)
    reference = mne.coreg.fit_matched_points(src / 1000, dst / 1000, scale=1)
    reference[:3, 3] *= 1000  # m -> mm
    # MNE's fit is iterative (to its tolerance); ours is the closed-form optimum
    np.testing.assert_allclose(scaled[:3, :3], reference[:3, :3], atol=1e-3)
    np.testing.assert_allclose(scaled[:3, 3], reference[:3, 3], atol=0.05)
    rigid_error = np.linalg.norm(apply_transform(rigid, src) - dst, axis=1)
    scaled_error = np.linalg.norm(apply_transform(scaled, src) - dst, axis=1)
    mne_error = np.linalg.norm(src @ reference[:3, :3].T + reference[:3, 3] - dst, axis=1)
    assert np.sum(scaled_error**2) <= np.sum(mne_error**2) + 1e-9
    assert rigid_error.max() > 10  # the template is larger than this head
    assert scaled_error.max() < 0.5 * rigid_error.max()
    assert transform_scale(scaled) > 1.05


def test_similarity_moves_cortex_head_model_and_fiducials_together():
    pos, ori, mesh = _small_mesh(1)
    rng = np.random.default_rng(1)
    head_model = xr.Dataset(
        {
            "surface_vertices": (("surface", "point", "xyz"), rng.normal(size=(2, 5, 3)) * 80),
            "origin": (("xyz",), np.array([1.0, -2.0, 40.0])),
            "radius": ((), 85.0),
            "conductivity": (("surface",), [0.3, 0.006]),
        },
        coords={"xyz": list("xyz")},
    )
    for name in ("surface_vertices", "origin", "radius"):
        head_model[name].attrs["units"] = "mm"
    head_model["conductivity"].attrs["units"] = "S/m"
    fiducials = xr.DataArray(
        np.array(list(FIDS.values())), dims=("fiducial", "xyz"), attrs={"units": "mm"}
    )
    true = rigid_transform(Rotation.random(random_state=4).as_matrix(), [3, -4, 5], scale=0.9)
    linear = true[:3, :3]
    moved_mesh = apply_transform(true, mesh)
    moved_head = apply_transform(true, head_model)
    np.testing.assert_allclose(moved_mesh["vertices"].values, pos @ linear.T + true[:3, 3])
    np.testing.assert_allclose(moved_mesh["orientation"].values, ori @ (linear / 0.9).T)
    np.testing.assert_allclose(moved_mesh["thickness"].values, 0.9 * mesh["thickness"].values)
    np.testing.assert_allclose(
        moved_head["origin"].values, linear @ head_model["origin"].values + true[:3, 3]
    )
    assert float(moved_head["radius"]) == pytest.approx(0.9 * 85.0)
    np.testing.assert_array_equal(moved_head["conductivity"], head_model["conductivity"])
    np.testing.assert_allclose(
        apply_transform(true, fiducials).values, fiducials.values @ linear.T + true[:3, 3]
    )
    # distances between any two moved points scale by s: cortex stays inside the head model
    d_before = np.linalg.norm(pos[0, 0] - head_model["origin"].values)
    d_after = np.linalg.norm(moved_mesh["vertices"].values[0, 0] - moved_head["origin"].values)
    assert d_after == pytest.approx(0.9 * d_before)
    back = apply_transform(invert_transform(true), moved_head)
    np.testing.assert_allclose(back["surface_vertices"], head_model["surface_vertices"], atol=1e-9)
    with pytest.raises(LaminarrayError, match="scale"):
        rigid_transform(scale=-1.0)
