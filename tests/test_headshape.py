"""Head-shape ICP coregistration on a synthetic head with a known transform."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from laminarray._validation import LaminarrayError
from laminarray.forward.headshape import HeadshapeFit, coregister_headshape
from laminarray.forward.transforms import apply_transform, invert_transform, rigid_transform

SEMI_AXES = np.array([72.0, 92.0, 85.0])  # mm: left-right, front-back, up-down
# (direction, height mm, width rad): nose, ears, brow ridge, occipital bump
FEATURES = [
    ((0.0, 1.0, -0.15), 20.0, 0.18),
    ((-1.0, 0.0, -0.25), 12.0, 0.15),
    ((1.0, 0.0, -0.25), 12.0, 0.15),
    ((0.0, 1.0, 0.25), 8.0, 0.3),
    ((0.0, -1.0, 0.1), 8.0, 0.35),
]


def head_radius(directions: np.ndarray) -> np.ndarray:
    """Radius of the synthetic head along unit directions: an ellipsoid with bumps."""
    radius = 1.0 / np.sqrt(np.sum((directions / SEMI_AXES) ** 2, axis=1))
    for centre, height, width in FEATURES:
        cosine = np.clip(directions @ (np.array(centre) / np.linalg.norm(centre)), -1, 1)
        radius += height * np.exp(-0.5 * (np.arccos(cosine) / width) ** 2)
    return radius


@pytest.fixture(scope="module")
def head():
    """A closed, outward-oriented scalp mesh (mm) of 6000 vertices, and its fiducials."""
    return make_head(6000)


def make_head(n):
    """A closed, outward-oriented scalp mesh (mm) of ``n`` vertices, and its fiducials."""
    k = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * k / n)
    azimuth = np.pi * (1 + 5**0.5) * k
    directions = np.column_stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)]
    )
    faces = ConvexHull(directions).simplices
    vertices = directions * head_radius(directions)[:, None]
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a) < 0
    faces[inward] = faces[inward][:, ::-1]
    fid_dirs = np.array([[0.0, 1.0, 0.05], [-1.0, 0.0, -0.4], [1.0, 0.0, -0.4]])
    fid_dirs /= np.linalg.norm(fid_dirs, axis=1, keepdims=True)
    fiducials = fid_dirs * head_radius(fid_dirs)[:, None]
    return vertices, faces, dict(zip(("nas", "lpa", "rpa"), fiducials, strict=True))


def sample_surface(vertices, faces, n, rng, min_z=-45.0):
    """``n`` points uniformly (by area) on the faces above ``min_z`` mm."""
    corners = vertices[faces]
    keep = corners[:, :, 2].min(axis=1) > min_z
    corners = corners[keep]
    area = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    chosen = rng.choice(len(corners), n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    tri = corners[chosen]
    return tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])


TRUE = rigid_transform(
    Rotation.from_euler("xyz", [6.0, -4.0, 9.0], degrees=True).as_matrix(), [4.0, -12.0, 35.0]
)  # head -> MRI


def digitised(head, seed=0, n_points=200, noise=0.3, n_outliers=0, fid_error=6.0):
    """Head-shape points and fiducials in head coordinates, with noise and marking errors."""
    vertices, faces, fids_mri = head
    rng = np.random.default_rng(seed)
    to_head = invert_transform(TRUE)
    on_scalp = sample_surface(vertices, faces, n_points, rng)
    points = apply_transform(to_head, on_scalp) + noise * rng.standard_normal((n_points, 3))
    if n_outliers:
        normals = on_scalp[:n_outliers] / np.linalg.norm(on_scalp[:n_outliers], axis=1)[:, None]
        lift = rng.uniform(15.0, 40.0, n_outliers)[:, None]
        points[:n_outliers] = apply_transform(to_head, on_scalp[:n_outliers] + lift * normals)
    fid_head = {
        name: apply_transform(to_head, pos) + fid_error * rng.standard_normal(3)
        for name, pos in fids_mri.items()
    }
    return points, fid_head


def transform_error(estimate, vertices):
    """Largest displacement (mm) between estimated and true transforms over the head."""
    points = apply_transform(invert_transform(TRUE), vertices)
    return float(np.max(np.linalg.norm(apply_transform(estimate, points) - vertices, axis=1)))


def test_cycling_pairings_on_a_coarse_scalp_are_detected_as_convergence():
    """On large faces the closest-point pairing can cycle through several states; the fit
    stops there (this case cycles with period > 2) instead of running out of iterations."""
    head = make_head(642)
    points, fid_head = digitised(head, seed=0, noise=0.5)
    fit = coregister_headshape(points, head[:2], fid_head, head[2], max_iterations=200)
    assert fit.converged
    assert fit.n_iterations < 20
    assert transform_error(fit.transform, head[0]) < 1.0


def test_noise_free_points_give_the_exact_transform(head):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, noise=0.0)
    fit = coregister_headshape(points, (vertices, faces), fid_head, fids_mri)
    assert transform_error(fit.initial_transform, vertices) > 3.0  # fiducials alone are off
    assert transform_error(fit.transform, vertices) < 0.02
    assert fit.converged
    assert fit.median_distance < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_icp_recovers_a_known_transform_from_200_noisy_points(head, seed):
    # 200 points with 0.3 mm noise per axis (face-scan accuracy) and 4 gross outliers
    # lifted 15-40 mm off the scalp; the fiducials are marked with 6 mm errors.
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, seed=seed, n_outliers=4)
    fit = coregister_headshape(points, (vertices, faces), fid_head, fids_mri)
    assert isinstance(fit, HeadshapeFit)
    assert transform_error(fit.initial_transform, vertices) > 3.0
    assert transform_error(fit.transform, vertices) < 0.5  # anywhere on the head
    assert fit.converged
    # |normal component| of N(0, 0.3 mm) noise has median 0.674 * 0.3 ≈ 0.2 mm
    assert 0.12 < fit.median_distance < 0.3
    assert np.median(fit.initial_distance) > 5 * fit.median_distance
    assert not fit.inliers[:4].any()  # the outliers were rejected
    assert fit.inliers[4:].mean() > 0.95
    for name, pos in fid_head.items():
        np.testing.assert_allclose(fit.fiducials_mri[name], apply_transform(fit.transform, pos))
    np.testing.assert_allclose(fit.points_mri, apply_transform(fit.transform, points))
    np.testing.assert_allclose(
        fit.initial_points_mri, apply_transform(fit.initial_transform, points)
    )
    json.dumps(fit.summary())


def test_vertex_sampling_and_point_to_point_also_converge(head):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, n_outliers=4)
    coarse = coregister_headshape(
        points, (vertices, faces), fid_head, fids_mri, sampling="vertices"
    )
    # vertex normals approximate the faceted scalp: a small bias of ~0.2 mm on top of the noise
    assert transform_error(coarse.transform, vertices) < 0.75
    kabsch = coregister_headshape(
        points, (vertices, faces), fid_head, fids_mri, method="point_to_point", max_iterations=200
    )
    # point-to-point converges slowly along the smooth scalp, but it does converge
    assert transform_error(kabsch.transform, vertices) < 0.3 * transform_error(
        kabsch.initial_transform, vertices
    )


def test_scan_mesh_in_metres_and_mesh_dataset_scalp(head):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, seed=1)
    scan = (points / 1000.0, np.zeros((0, 3), int))
    scalp = xr.Dataset(
        {
            "scalp_vertices": (("scalp_vertex", "xyz"), vertices),
            "scalp_faces": (("scalp_face", "corner"), faces),
        }
    )
    fid_m = {k: v / 1000.0 for k, v in fid_head.items()}
    fit = coregister_headshape(scan, scalp, fid_m, fids_mri, units="m")
    assert transform_error(fit.transform, vertices) < 0.5
    fid_array = np.stack(list(fids_mri.values()))
    labelled = xr.DataArray(
        fid_array, dims=("fiducial", "xyz"), coords={"fiducial": list(fids_mri)}
    )
    again = coregister_headshape(points, scalp, np.stack(list(fid_head.values())), labelled)
    np.testing.assert_allclose(again.transform, fit.transform, atol=1e-6)


def test_gifti_headshape(head, tmp_path):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, seed=2)
    path = tmp_path / "face_3d.gii"
    image = nib.gifti.GiftiImage(
        darrays=[
            nib.gifti.GiftiDataArray(points.astype(np.float32), intent="NIFTI_INTENT_POINTSET")
        ]
    )
    nib.save(image, path)
    fit = coregister_headshape(path, (vertices, faces), fid_head, fids_mri)
    assert transform_error(fit.transform, vertices) < 0.5


def test_fiducial_weight_pulls_towards_the_fiducials(head):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head, seed=3)
    free = coregister_headshape(points, (vertices, faces), fid_head, fids_mri)
    pinned = coregister_headshape(
        points, (vertices, faces), fid_head, fids_mri, fiducial_weight=1e6
    )
    np.testing.assert_allclose(pinned.transform, pinned.initial_transform, atol=1e-3)
    assert transform_error(free.transform, vertices) < transform_error(pinned.transform, vertices)


def test_bad_inputs_name_the_argument(head):
    vertices, faces, fids_mri = head
    points, fid_head = digitised(head)
    with pytest.raises(LaminarrayError, match="`units` must be one of 'mm', 'm'"):
        coregister_headshape(points, (vertices, faces), fid_head, fids_mri, units="cm")
    with pytest.raises(LaminarrayError, match="`method`"):
        coregister_headshape(points, (vertices, faces), fid_head, fids_mri, method="affine")
    with pytest.raises(LaminarrayError, match="at least 6 points"):
        coregister_headshape(points[:3], (vertices, faces), fid_head, fids_mri)
    with pytest.raises(LaminarrayError, match=r"`headshape` must be finite points \(n, 3\)"):
        coregister_headshape(points[:, :2], (vertices, faces), fid_head, fids_mri)
    with pytest.raises(LaminarrayError, match="scalp_vertices"):
        coregister_headshape(points, xr.Dataset(), fid_head, fids_mri)
    with pytest.raises(LaminarrayError, match="scalp faces must be"):
        coregister_headshape(points, (vertices, faces + len(vertices)), fid_head, fids_mri)
    with pytest.raises(LaminarrayError, match="name different points"):
        coregister_headshape(points, (vertices, faces), {"a": [0, 0, 0]}, fids_mri)
    with pytest.raises(LaminarrayError, match="file not found"):
        coregister_headshape("missing.gii", (vertices, faces), fid_head, fids_mri)
