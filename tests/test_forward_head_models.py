"""Head models and forward.gain: single shell (Nolte), local spheres, sphere, BEM."""

from __future__ import annotations

import numpy as np
import pytest

from laminarray import LaminarrayError, forward
from laminarray.datasets import synthetic_cortex, synthetic_head
from laminarray.datasets.synthetic import _sphere
from laminarray.forward.head import points_inside, vertex_normals
from laminarray.forward.nolte import solid_harmonic_gradients
from laminarray.schema import mesh_dataset


@pytest.fixture(scope="module")
def small():
    mesh = synthetic_cortex(n_vertices=120, n_layers=2)
    head = synthetic_head(n_vertices=400)
    return mesh, head, forward.helmet_array(48, head=head)


def _rel(a, b):
    return np.linalg.norm(a - b, axis=0) / np.linalg.norm(b, axis=0)


def test_solid_harmonic_gradients_are_harmonic_gradients_of_full_rank():
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.7, 0.7, (40, 3))
    grads = solid_harmonic_gradients(points, 5)
    assert grads.shape == (40, 3, 35)
    h = 1e-5
    jac = [
        (solid_harmonic_gradients(points + h * e, 5) - solid_harmonic_gradients(points - h * e, 5))
        / (2 * h)
        for e in np.eye(3)
    ]
    laplacian = sum(jac[k][:, k] for k in range(3))
    np.testing.assert_allclose(laplacian, 0, atol=1e-6)  # harmonic
    np.testing.assert_allclose(jac[0][:, 1], jac[1][:, 0], atol=1e-6)  # curl-free
    assert np.linalg.matrix_rank(grads.reshape(-1, 35)) == 35


def test_single_shell_equals_sarvas_on_a_spherical_inner_skull(small):
    mesh, small_head, sensors = small
    unit, faces = _sphere(642)
    head = forward.head_model(inner_skull=(np.array([0.0, 0.0, 15.0]) + 84.0 * unit, faces))
    sphere = forward.gain(mesh, sensors, head, model="sphere", orientation="free").values
    shell = forward.gain(mesh, sensors, head, model="single_shell", orientation="free")
    assert shell.attrs["expansion_order"] == 10
    assert np.max(_rel(shell.values.reshape(48, -1), sphere.reshape(48, -1))) < 1e-6
    grads = forward.helmet_array(48, head=small_head, kind="gradiometer", baseline=40.0)
    np.testing.assert_allclose(
        forward.gain(mesh, grads, head, model="single_shell").values,
        forward.gain(mesh, grads, head, model="sphere").values,
        rtol=1e-6,
        atol=1e-9,
    )


def test_single_shell_converges_with_order(small):
    mesh, head, sensors = small
    gains = {o: forward.gain(mesh, sensors, head, order=o).values for o in (4, 8, 12)}
    sphere = forward.gain(mesh, sensors, head, model="sphere").values
    step_low = np.median(_rel(gains[8], gains[4]))
    step_high = np.median(_rel(gains[12], gains[8]))
    assert step_high < step_low / 3
    # the ellipsoidal inner skull makes the correction matter
    assert np.median(_rel(sphere, gains[12])) > 10 * step_high


def test_models_label_the_gain_and_local_spheres_fit_per_channel(small):
    mesh, head, sensors = small
    local = forward.gain(mesh, sensors, head, model="local_spheres", chunks=50)
    assert local.chunks[2] == (50, 50, 20)
    assert local.attrs["forward_model"] == "local spheres (Huang et al. 1999)"
    assert local.attrs["n_fallback_channels"] == 0
    shell = forward.gain(mesh, sensors, head).values
    assert np.median(_rel(local.values, shell)) < 0.5
    free = forward.gain(mesh, sensors, head, orientation="free").values
    np.testing.assert_allclose(
        np.einsum("clvx,lvx->clv", free, mesh["orientation"].values), shell, atol=1e-9
    )


def test_reduce_rank_removes_the_weakest_direction(small):
    mesh, head, sensors = small
    free = forward.gain(mesh, sensors, head, orientation="free", reduce_rank=True).values
    per_source = np.moveaxis(free.reshape(48, -1, 3), 1, 0)
    singular = np.linalg.svd(per_source, compute_uv=False)
    assert np.all(singular[:, 2] < 1e-9 * singular[:, 0])
    fixed = forward.gain(mesh, sensors, head, reduce_rank=True)
    assert fixed.attrs["reduce_rank"] is True
    np.testing.assert_allclose(
        fixed.values, np.einsum("clvx,lvx->clv", free, mesh["orientation"].values), atol=1e-9
    )


def test_head_model_validation_and_transform():
    unit, faces = _sphere(200)
    head = forward.head_model(inner_skull=(80 * unit, faces), scalp=(95 * unit, faces))
    assert list(head["conductivity"].values) == [0.3, 0.3]
    moved = forward.apply_transform(forward.rigid_transform(translation=[0, 0, 10]), head)
    np.testing.assert_allclose(
        moved["scalp_vertices"].values, head["scalp_vertices"].values + np.array([0, 0, 10])
    )
    inward = forward.head_model(inner_skull=(80 * unit, faces[:, ::-1]))
    np.testing.assert_array_equal(inward["inner_skull_faces"].values, faces)
    with pytest.raises(LaminarrayError, match="inside the scalp"):
        forward.head_model(inner_skull=(95 * unit, faces), scalp=(80 * unit, faces))
    with pytest.raises(LaminarrayError, match="closed"):
        forward.head_model(inner_skull=(80 * unit, faces[1:]))
    with pytest.raises(LaminarrayError, match="at least one"):
        forward.head_model()
    with pytest.raises(LaminarrayError, match="sphere"):
        forward.head_model(sphere=([0, 0], 80))
    sphere_only = forward.head_model(sphere=([0.0, 0.0, 0.0], 80.0))
    with pytest.raises(LaminarrayError, match="inner skull"):
        forward.gain(synthetic_cortex(n_vertices=60), forward.helmet_array(8), sphere_only)


def test_points_inside_matches_a_sphere():
    unit, faces = _sphere(300)
    rng = np.random.default_rng(1)
    points = rng.uniform(-100, 100, (500, 3))
    inside = points_inside(points, 80 * unit, faces)
    radius = np.linalg.norm(points, axis=1)
    clear = np.abs(radius - 80) > 2  # the triangulation cuts chords inside the sphere
    np.testing.assert_array_equal(inside[clear], radius[clear] < 80)
    np.testing.assert_allclose(vertex_normals(80 * unit, faces), unit, atol=1e-12)


def test_sources_outside_the_inner_skull_are_refused(small):
    _, head, sensors = small
    mesh = mesh_dataset(
        np.array([[[0.0, 0.0, 15.0], [0.0, 0.0, 95.0]]]),
        np.zeros((1, 3), np.int64),
        orientation=np.array([[[1.0, 0, 0], [1.0, 0, 0]]]),
    )
    with pytest.raises(LaminarrayError, match="1 sources lie outside the inner skull"):
        forward.gain(mesh, sensors, head)


def test_readers(realdata):
    bem = realdata / "subjects" / "sample" / "bem"
    head = forward.read_head_model(bem / "sample-1280-bem.fif")
    assert head.attrs["surfaces"] == ["inner_skull"]
    assert head.sizes["inner_skull_vertex"] == 642
    surf = forward.head_model(inner_skull=bem / "inner_skull.surf")
    assert surf.sizes["inner_skull_vertex"] == 2562
    # the FIF surface (m) and the FreeSurfer one (mm) describe the same skull
    np.testing.assert_allclose(
        head["inner_skull_vertices"].values.mean(0),
        surf["inner_skull_vertices"].values.mean(0),
        atol=2.0,
    )
    scalp = forward.read_head_model(bem / "sample-head.fif")
    assert scalp.attrs["surfaces"] == ["scalp"]


@pytest.mark.slow
def test_bem_agrees_with_mne_and_single_shell_is_close(realdata):
    """Against mne.make_forward_solution on the sample subject (Neuromag, 1280-triangle BEM)."""
    import mne
    from mne_sensors import mne_forward, sample_subject

    info, trans, head, sensors, positions, _ = sample_subject(realdata, 12, channel_step=12)
    bem = realdata / "subjects" / "sample" / "bem"
    mesh = mesh_dataset(positions[None], np.zeros((1, 3), np.int64))
    reference = mne_forward(
        info, trans, mne.read_bem_solution(bem / "sample-1280-bem-sol.fif"), positions
    )
    reference = reference.reshape(len(sensors["channel"]), -1)

    def error(model):
        g = forward.gain(mesh, sensors, head, model=model, orientation="free").values
        return np.median(_rel(g.reshape(reference.shape), reference))

    assert error("bem") < 1e-5
    assert error("single_shell") < 0.1
    assert error("sphere") > 2 * error("single_shell")


def test_head_is_saved_in_the_archive_and_opened_with_the_study(tmp_path, realdata):
    import shutil

    from laminarray import archive, open_study

    head = synthetic_head(n_vertices=300)
    path = tmp_path / "study.zarr"
    archive.save(head, path, "sub-01/head")
    stored = open_study(path).subject("sub-01").head()
    np.testing.assert_array_equal(
        stored["inner_skull_vertices"].values, head["inner_skull_vertices"].values
    )
    assert stored.attrs["surfaces"] == ["inner_skull", "scalp"]
    with pytest.raises(Exception, match="head model"):
        archive.save(head.drop_vars(["inner_skull_vertices", "scalp_vertices"]), path, "s/head")
    # a raw directory: the subject's FreeSurfer/MNE bem/ folder
    bem = tmp_path / "raw" / "sub-01" / "bem"
    bem.mkdir(parents=True)
    shutil.copy(realdata / "subjects" / "sample" / "bem" / "inner_skull.surf", bem)
    raw = open_study(tmp_path / "raw").subject("sub-01").head()
    assert raw.sizes["inner_skull_vertex"] == 2562
