"""Sensor arrays: helmet, OPM, user-given, fiducials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from laminarray import LaminarrayError
from laminarray.forward import (
    head_fiducials,
    helmet_array,
    make_fiducials,
    make_sensors,
    opm_array,
    scalp_surface,
)


def _sphere_scalp(radius=90.0, center=(0.0, 0.0, 40.0), n=2000):
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    rho = np.sqrt(1 - z**2)
    phi = k * np.pi * (3 - np.sqrt(5))
    pts = np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])
    return np.asarray(center) + radius * pts, ConvexHull(pts).simplices


def test_make_sensors_magnetometer_and_gradiometer_coils():
    pos = np.array([[0, 0, 100.0], [50, 0, 90]])
    ori = np.array([[0, 0, 2.0], [1, 0, 1]])
    mag = make_sensors(pos, ori)
    assert mag["coil_position"].shape == (2, 3)
    np.testing.assert_array_equal(mag["coil_weight"].values, np.eye(2))
    np.testing.assert_allclose(np.linalg.norm(mag["orientation"], axis=1), 1)
    assert list(mag["channel"].values) == ["MEG001", "MEG002"]
    assert set(mag["ch_type"].values) == {"MEG"}
    grad = make_sensors(pos, ori, ["a", "b"], kind="gradiometer", baseline=40, coil_size=8)
    assert grad["coil_position"].shape == (16, 3)
    np.testing.assert_allclose(grad["coil_weight"].sum("coil"), 0)
    assert np.count_nonzero(grad["coil_weight"].values) == 16  # 8 points per channel
    unit = grad["orientation"].values
    points = grad["coil_position"].values.reshape(2, 8, 3)
    # far coils lie 40 mm further along the orientation, in the coil plane +-2 mm
    far = points[:, 4:].mean(axis=1)
    np.testing.assert_allclose(far - pos, 40 * unit, atol=1e-12)
    offsets = points[:, :4] - pos[:, None]
    np.testing.assert_allclose(np.einsum("ckx,cx->ck", offsets, unit), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=-1), 2 * np.sqrt(2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": ["a", "a"]}, "unique"),
        ({"kind": "squid"}, "kind"),
        ({"orientations": np.zeros((2, 3))}, "non-zero"),
    ],
)
def test_make_sensors_errors(kwargs, match):
    args = {"positions": np.ones((2, 3)), "orientations": np.ones((2, 3))} | kwargs
    with pytest.raises(LaminarrayError, match=match):
        make_sensors(**args)


def test_helmet_radial_even_cap():
    helmet = helmet_array(274, center=[0, 0, 40], radius=120)
    rel = helmet["position"].values - [0, 0, 40]
    np.testing.assert_allclose(np.linalg.norm(rel, axis=1), 120)
    np.testing.assert_allclose(helmet["orientation"].values, rel / 120, atol=1e-12)
    polar = np.degrees(np.arccos(rel[:, 2] / 120))
    assert polar.max() <= 115
    nearest = np.sort(np.linalg.norm(rel[:, None] - rel[None], axis=-1), axis=1)[:, 1]
    assert nearest.max() / nearest.min() < 2.0  # even coverage


def test_helmet_around_head_carries_fiducials():
    verts, faces = _sphere_scalp()
    helmet = helmet_array(64, head=(verts, faces), gap=20)
    rel = helmet["position"].values - [0, 0, 40]
    np.testing.assert_allclose(np.linalg.norm(rel, axis=1), 110, rtol=1e-3)
    fids = helmet["fiducials"]
    assert list(fids["fiducial"].values) == ["nas", "lpa", "rpa"]
    assert fids.sel(fiducial="nas")[1] > 85
    assert fids.sel(fiducial="lpa")[0] < -85
    assert fids.sel(fiducial="rpa")[0] > 85


@pytest.mark.parametrize("axes", [1, 2, 3])
def test_opm_array_spacing_offset_axes(axes):
    verts, faces = _sphere_scalp()
    opm = opm_array((verts, faces), spacing=35.0, offset=6.5, axes=axes)
    pos = opm["position"].values.reshape(-1, axes, 3)[:, 0]
    dist = np.linalg.norm(pos - [0, 0, 40], axis=1)
    np.testing.assert_allclose(dist, 96.5, rtol=2e-3)  # 6.5 mm outside the scalp sphere
    pair = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(pair, np.inf)
    assert pair.min() >= 35.0
    assert pair.min(axis=1).max() < 2 * 35.0  # no holes
    assert opm.sizes["channel"] == pos.shape[0] * axes
    ori = opm["orientation"].values.reshape(-1, axes, 3)
    radial = (pos - [0, 0, 40]) / dist[:, None]
    np.testing.assert_allclose(np.einsum("sx,sx->s", ori[:, 0], radial), 1, atol=2e-3)
    gram = np.einsum("sax,sbx->sab", ori, ori)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(axes), gram.shape), atol=1e-12)
    assert opm["channel"].values[0] == "OPM001Z"


def test_opm_upper_half_and_mesh_input():
    verts, faces = _sphere_scalp()
    whole = opm_array((verts, faces))
    upper = opm_array((verts, faces), wholehead=False)
    assert upper.sizes["channel"] < 0.7 * whole.sizes["channel"]
    assert upper["position"].values[:, 2].min() >= 40
    with pytest.raises(LaminarrayError, match="scalp"):
        opm_array(upper)  # a Dataset without scalp variables


def test_fiducials_helpers():
    fid = make_fiducials([0, 90, 0], [-80, 0, 0], [80, 0, 0])
    assert fid.dims == ("fiducial", "xyz")
    assert fid.attrs["units"] == "mm"
    verts, faces = _sphere_scalp(center=(0, 0, 0))
    est = head_fiducials((verts, faces))
    np.testing.assert_allclose(est.sel(fiducial="nas").values, [0, 90, 0], atol=8)
    with pytest.raises(LaminarrayError, match="scalp"):
        scalp_surface(np.ones(3))
