"""Spherical-conductor gain (Sarvas) against independent references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _mne_forward import mne_sphere_forward
from scipy.integrate import quad
from scipy.spatial.transform import Rotation

from laminarray import LaminarrayError, mesh_dataset
from laminarray.forward import (
    apply_transform,
    fit_sphere,
    helmet_array,
    make_sensors,
    rigid_transform,
    sensors_from_coils,
    sphere_gain,
)
from laminarray.forward.sensors import _tangent_frames
from laminarray.forward.sphere import FIELD_SCALE, sarvas_gain
from laminarray.testing import raise_if_dask_computes


def _random_dipoles(n, seed, r_min=5.0, r_max=75.0):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3))
    pos *= rng.uniform(r_min, r_max, (n, 1)) / np.linalg.norm(pos, axis=1, keepdims=True)
    ori = rng.normal(size=(n, 3))
    return pos, ori / np.linalg.norm(ori, axis=1, keepdims=True)


def _mesh(pos, ori, n_layers=1):
    pos = pos.reshape(n_layers, -1, 3)
    return mesh_dataset(pos, [[0, 0, 0]], orientation=ori.reshape(pos.shape))


def _primary_radial(r, r0, q):
    """Biot–Savart field of the primary current, radial component (fT/nAm, mm)."""
    d = r - r0
    return FIELD_SCALE * np.dot(np.cross(q, d), r / np.linalg.norm(r)) / np.linalg.norm(d) ** 3


def _field_from_primary_potential(r, r0, q, h=1e-2):
    """B = -mu0 grad U with U(r) = (1/mu0) int_0^inf B_r^primary(r + t r_hat) dt.

    Outside a spherically symmetric conductor the volume currents add nothing
    to the radial field, so the radial primary (Biot–Savart) field alone fixes
    the magnetic scalar potential; its numerical gradient is the total field.
    """

    def potential(point):
        unit = point / np.linalg.norm(point)
        value, _ = quad(
            lambda t: _primary_radial(point + t * unit, r0, q), 0, np.inf, epsabs=0, epsrel=1e-12
        )
        return value

    grad = [(potential(r + h * e) - potential(r - h * e)) / (2 * h) for e in np.eye(3)]
    return -np.asarray(grad)


def test_matches_field_from_biot_savart_radial_primary_field():
    dipoles, moments = _random_dipoles(3, seed=1)
    sensors = helmet_array(3, radius=105)
    points, normals = sensors["position"].values, sensors["orientation"].values
    ours = sarvas_gain(dipoles, points, normals, moments)
    for p in range(points.shape[0]):
        for d in range(dipoles.shape[0]):
            field = _field_from_primary_potential(points[p], dipoles[d], moments[d])
            np.testing.assert_allclose(ours[p, d], field @ normals[p], rtol=2e-6, atol=1e-9)


def test_radial_field_component_is_the_primary_field():
    dipoles, moments = _random_dipoles(20, seed=2)
    sensors = helmet_array(30, radius=110)
    points = sensors["position"].values
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    ours = sarvas_gain(dipoles, points, radial, moments)
    expected = [
        [_primary_radial(r, r0, q) for r0, q in zip(dipoles, moments, strict=True)] for r in points
    ]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_radial_dipole_produces_no_field_outside():
    dipoles, _ = _random_dipoles(30, seed=3)
    radial = dipoles / np.linalg.norm(dipoles, axis=1, keepdims=True)
    sensors = helmet_array(50, radius=100, max_polar_angle=180)
    points, normals = sensors["position"].values, sensors["orientation"].values
    tangent = np.cross(radial, [0.3, -0.5, 0.8])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    assert np.abs(sarvas_gain(dipoles, points, normals, tangent)).max() > 1.0
    assert np.abs(sarvas_gain(dipoles, points, normals, radial)).max() < 1e-12
    # also through every sensed direction (tangential ones too)
    tangential = _tangent_frames(normals)[:, 0]
    assert np.abs(sarvas_gain(dipoles, points, tangential, radial)).max() < 1e-12


def test_superposition_fixed_is_free_dotted_with_orientation():
    pos, ori = _random_dipoles(24, seed=4)
    mesh = _mesh(pos, ori, n_layers=2)
    sensors = helmet_array(40)
    fixed = sphere_gain(mesh, sensors, center=[0, 0, 0]).values
    free = sphere_gain(mesh, sensors, center=[0, 0, 0], orientation="free").values
    np.testing.assert_allclose(fixed, np.einsum("clvx,lvx->clv", free, ori.reshape(2, 12, 3)))
    # linearity in the moment: two dipoles at one place sum their fields
    pts, nrm = sensors["position"].values, sensors["orientation"].values
    other = np.roll(ori, 1, axis=0)
    np.testing.assert_allclose(
        sarvas_gain(pos, pts, nrm, 2 * ori - 3 * other),
        2 * sarvas_gain(pos, pts, nrm, ori) - 3 * sarvas_gain(pos, pts, nrm, other),
        rtol=1e-10,
        atol=1e-12,
    )


def test_rotation_and_translation_invariance():
    pos, ori = _random_dipoles(30, seed=5)
    sensors = helmet_array(25, kind="gradiometer", coil_size=8)
    center = np.array([3.0, -7.0, 40.0])
    mesh = _mesh(pos + center, ori)
    base = sphere_gain(mesh, sensors, center=center).values
    move = rigid_transform(Rotation.random(random_state=1).as_matrix(), [10, 20, -5])
    moved = sphere_gain(
        apply_transform(move, mesh),
        apply_transform(move, sensors),
        center=apply_transform(move, center),
    ).values
    np.testing.assert_allclose(moved, base, rtol=1e-9, atol=1e-12)


def test_gradiometer_is_difference_of_magnetometers():
    pos, ori = _random_dipoles(10, seed=6)
    mesh = _mesh(pos, ori)
    near = helmet_array(12, radius=100)
    far = helmet_array(12, radius=130)
    grad = helmet_array(12, radius=100, kind="gradiometer", baseline=30)
    diff = (
        sphere_gain(mesh, near, center=[0, 0, 0]).values
        - sphere_gain(mesh, far, center=[0, 0, 0]).values
    )
    np.testing.assert_allclose(sphere_gain(mesh, grad, center=[0, 0, 0]).values, diff, rtol=1e-10)


def test_units_magnitude_against_point_dipole_estimate():
    # a tangential 1 nAm dipole 10 mm deep under a sensor 30 mm away: mu0/4pi q/d^2
    # order of magnitude (~ 1e5/40^2 = 62 fT) and the right sign convention
    sensors = make_sensors([[0, 0, 100.0]], [[0, 1.0, 0]])
    g = sarvas_gain(np.array([[0, 0, 70.0]]), sensors["position"].values, [[0, 1.0, 0]])
    assert 30 < np.abs(g).max() < 300


def test_lazy_and_chunked():
    pos, ori = _random_dipoles(60, seed=7)
    mesh = _mesh(pos, ori, n_layers=3)
    sensors = helmet_array(20)
    with raise_if_dask_computes():
        gain = sphere_gain(mesh, sensors, center=[0, 0, 0], chunks=7)
    assert gain.chunks[2] == (7, 7, 6)
    assert gain.dims == ("channel", "layer", "vertex")
    assert gain.attrs["units"] == "fT/nAm"
    full = sphere_gain(mesh, sensors, center=[0, 0, 0]).values
    np.testing.assert_allclose(gain.values, full, rtol=1e-13)
    np.testing.assert_allclose(gain["source_x"].values, pos.reshape(3, 20, 3)[..., 0])


def test_sphere_fitted_to_scalp():
    rng = np.random.default_rng(0)
    center, radius = np.array([1.0, -4.0, 30.0]), 90.0
    sphere_pts = rng.normal(size=(400, 3))
    sphere_pts = center + radius * sphere_pts / np.linalg.norm(sphere_pts, axis=1, keepdims=True)
    fit_c, fit_r = fit_sphere(sphere_pts)
    np.testing.assert_allclose(fit_c, center, atol=1e-9)
    assert np.isclose(fit_r, radius)
    pos, ori = _random_dipoles(10, seed=8)
    mesh = _mesh(pos + center, ori).assign(
        scalp_vertices=(("scalp_vertex", "xyz"), sphere_pts),
        scalp_faces=(("scalp_face", "corner"), np.array([[0, 1, 2]])),
    )
    sensors = helmet_array(10, head=mesh)
    gain = sphere_gain(mesh, sensors)
    np.testing.assert_allclose(gain.attrs["sphere_center_mm"], center, atol=1e-9)
    np.testing.assert_allclose(gain.values, sphere_gain(mesh, sensors, center=center).values)


def test_clear_errors():
    sensors = helmet_array(10, radius=100)
    ori = np.array([[0, 0, 1.0], [0, 1.0, 0]])
    with pytest.raises(LaminarrayError, match="outside the sphere"):
        sphere_gain(_mesh(np.array([[0, 0, 10.0], [0, 0, 95.0]]), ori), sensors, [0, 0, 0], 90)
    with pytest.raises(LaminarrayError, match="centre"):
        sphere_gain(_mesh(np.array([[0, 0, 0.0], [0, 0, 50.0]]), ori), sensors, [0, 0, 0])
    with pytest.raises(LaminarrayError, match="inside the sphere"):
        sphere_gain(_mesh(np.array([[0, 0, 10.0], [0, 0, 50.0]]), ori), sensors, [0, 0, 0], 105)
    with pytest.raises(LaminarrayError, match="no sphere"):
        sphere_gain(_mesh(np.array([[0, 0, 10.0], [0, 0, 50.0]]), ori), sensors)
    with pytest.raises(LaminarrayError, match="sensor array"):
        sphere_gain(_mesh(np.array([[0, 0, 10.0], [0, 0, 50.0]]), ori), "sensors", [0, 0, 0])


def _mne_sphere_forward(mne, sensors, frames, coil_type, dipoles):
    """MNE's spherical forward (centre 0) for channels of ``coil_type`` at the sensors'
    positions in ``frames``: free orientation, (channel, dipole, xyz), fT/nA·m."""
    from mne.io.constants import FIFF

    pos = sensors["position"].values
    info = mne.create_info(list(sensors["channel"].values), 1000.0, "mag")
    with info._unlock():
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    for ch, p, frame in zip(info["chs"], pos, frames, strict=True):
        ch["coil_type"] = coil_type
        ch["unit"] = FIFF.FIFF_UNIT_T
        ch["loc"][:3] = p / 1000
        ch["loc"][3:12] = frame.ravel()
    return mne_sphere_forward(mne, info, dipoles)[1]


def test_agrees_with_mne_spherical_forward():
    mne = pytest.importorskip("mne")
    from mne.io.constants import FIFF

    mne.set_log_level("ERROR")
    sensors = helmet_array(20, radius=110)
    pos, ori = sensors["position"].values, sensors["orientation"].values
    dipoles, _ = _random_dipoles(10, seed=9)
    reference = _mne_sphere_forward(
        mne, sensors, _tangent_frames(ori), FIFF.FIFFV_COIL_POINT_MAGNETOMETER, dipoles
    )
    np.testing.assert_allclose(sarvas_gain(dipoles, pos, ori), reference, rtol=1e-9, atol=1e-9)


def _mne_coil_definition(mne, coil_type, accuracy):
    """Weights, points (mm) and directions of an MNE coil definition, in the coil's frame."""
    lines = (Path(mne.__file__).parent / "data" / "coil_def.dat").read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split()
        if fields and fields[0].isdigit() and fields[1:3] == [str(int(coil_type)), str(accuracy)]:
            rows = np.array([lines[i + 1 + k].split() for k in range(int(fields[3]))], float)
            return rows[:, 0], rows[:, 1:4] * 1000.0, rows[:, 4:7]
    raise LookupError(coil_type)


def _in_frames(local, pos, frames):
    """Coil-frame vectors (k, 3) placed at every channel: (channel, k, 3)."""
    return pos[:, None, :] + np.einsum("ka,cax->ckx", local, frames)


def test_axial_gradiometers_agree_with_mne():
    """Our 50 mm axial gradiometers with 18 mm coils are MNE's Magnes WH3600 gradiometer
    (coil 4002): the same integration points as its "normal" definition, and with its
    "accurate" points (what MNE's forward uses) the same gain as MNE's spherical forward."""
    mne = pytest.importorskip("mne")
    from mne.io.constants import FIFF

    mne.set_log_level("ERROR")
    helmet = helmet_array(16, radius=110)
    pos, ori = helmet["position"].values, helmet["orientation"].values
    frames = _tangent_frames(ori)
    sensors = make_sensors(pos, ori, kind="gradiometer", baseline=50.0, coil_size=18.0)
    weights, points, _ = _mne_coil_definition(mne, FIFF.FIFFV_COIL_MAGNES_GRAD, 1)
    first = sensors["coil_weight"].values[0] != 0
    ours = sorted(
        zip(
            sensors["coil_weight"].values[0, first],
            sensors["coil_position"].values[first].tolist(),
            strict=True,
        )
    )
    theirs = sorted(zip(weights, _in_frames(points, pos, frames)[0].tolist(), strict=True))
    np.testing.assert_allclose([w for w, _ in ours], [w for w, _ in theirs])
    np.testing.assert_allclose([p for _, p in ours], [p for _, p in theirs], atol=1e-9)

    weights, points, normals = _mne_coil_definition(mne, FIFF.FIFFV_COIL_MAGNES_GRAD, 2)
    accurate = sensors_from_coils(
        _in_frames(points, pos, frames).reshape(-1, 3),
        np.einsum("ka,cax->ckx", normals, frames).reshape(-1, 3),
        np.kron(np.eye(len(pos)), weights),
        labels=sensors["channel"].values,
        positions=pos,
        orientations=ori,
    )
    dipoles, dip_ori = _random_dipoles(12, seed=4)
    free = _mne_sphere_forward(mne, sensors, frames, FIFF.FIFFV_COIL_MAGNES_GRAD, dipoles)
    reference = np.einsum("cvx,vx->cv", free, dip_ori)  # along each dipole's orientation
    gain = sphere_gain(_mesh(dipoles, dip_ori), accurate, center=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(gain.values[:, 0], reference, rtol=1e-9, atol=1e-9)
    # and the 8-point coils of make_sensors are within 0.1 % of the 14-point ones
    coarse = sphere_gain(_mesh(dipoles, dip_ori), sensors, center=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(coarse.values[:, 0], reference, rtol=1e-3, atol=1e-3)
