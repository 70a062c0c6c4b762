"""CaliBrain lead-field files: read CaliBrain 1.0.3's layout, write what CaliBrain reads.

The files are written here with numpy exactly as CaliBrain's ``extract_leadfield``
writes them from an MNE forward solution (keys, FIFF codes, SI lead field per
A·m, ``info`` and a fixed ``Q_basis`` of ``None`` pickled as objects).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from laminarray import LaminarrayError, gain_dataarray
from laminarray.io import (
    calibrain_leadfield_path,
    read_calibrain_leadfield,
    write_calibrain_leadfield,
)

# FIFF codes (mne.io.constants.FIFF)
MEG_CH, EEG_CH = 1, 2
UNIT_T, UNIT_T_M, UNIT_V = 112, 201, 107
UNITM_NONE, UNITM_MU, UNITM_F = 0, -6, -15
FIXED_ORI, FREE_ORI = 1, 2


def _extract_leadfield_npz(path, leadfield, src_coords, *, free, eeg=False, q_basis=None):
    """np.savez with extract_leadfield's keys and values (MNE SI units, unit_mul 0)."""
    np.savez(
        path,
        subject="CC120166",
        leadfield=leadfield,
        source_ori=FREE_ORI if free else FIXED_ORI,
        src_coords=src_coords,
        info={"chs": "an mne.Info in CaliBrain's files"},  # pickled object
        orientation_type="free" if free else "fixed",
        coil_type=1 if eeg else 3022,
        sensor_kind=EEG_CH if eeg else MEG_CH,
        sensor_units=UNIT_V if eeg else UNIT_T,
        sensor_unitmult=UNITM_NONE,
        Q_basis=q_basis,  # None (pickled) for fixed
    )


def _calibrain_reduce(l_xyz):
    """CaliBrain's free-MEG reduction: per-source SVD, top 2 right vectors, sign-fixed."""
    n_ch, n_src, _ = l_xyz.shape
    basis = np.zeros((n_src, 3, 2))
    reduced = np.zeros((n_ch, n_src, 2))
    for s in range(n_src):
        _, _, vt = np.linalg.svd(l_xyz[:, s, :], full_matrices=False)
        q = vt[:2].T.copy()
        for j in range(2):
            if q[np.argmax(np.abs(q[:, j])), j] < 0:
                q[:, j] *= -1
        basis[s], reduced[:, s] = q, l_xyz[:, s] @ q
    return reduced, basis


def _calibrain_load(path):
    """What CaliBrain's LeadfieldBuilder.get_leadfield(retrieve_mode='load') does."""
    with np.load(path) as data:  # allow_pickle=False (numpy's default)
        leadfield = data["leadfield"]
        meta = {k: int(data[k]) for k in ("sensor_kind", "sensor_units", "sensor_unitmult")}
        meta["coil_type"] = int(data["coil_type"])
    target = UNITM_F if meta["sensor_units"] in (UNIT_T, UNIT_T_M) else UNITM_MU
    if meta["sensor_unitmult"] != target:  # SI -> fT/nAm (x 1e6) or uV/nAm (x 1e-3)
        leadfield = leadfield * (1e6 if target == UNITM_F else 1e-3)
    return leadfield, meta


@pytest.fixture
def rng():
    return np.random.default_rng(18)


def test_read_extract_leadfield_fixed(tmp_path, rng):
    values = rng.standard_normal((5, 8)) * 1e-8  # T/(A·m), MNE's units
    coords = rng.standard_normal((8, 3)) * 0.05  # m
    path = calibrain_leadfield_path(tmp_path, "CC120166", "fixed")
    assert path.name == "CC120166_fixed_leadfield.npz"
    _extract_leadfield_npz(path, values, coords, free=False)
    with pytest.warns(UserWarning, match=r"\['info', 'Q_basis'\]"):
        gain = read_calibrain_leadfield(path, n_layers=2)
    assert gain.dims == ("channel", "layer", "vertex")
    assert gain.attrs["units"] == "fT/nAm"
    np.testing.assert_allclose(gain.values[:, 1, :], values[:, 4:] * 1e6)  # layer-major
    np.testing.assert_allclose(gain["source_x"].values[1], coords[4:, 0] * 1e3)
    assert gain["source_x"].attrs["units"] == "mm"
    assert gain.attrs["subject"] == "CC120166"
    assert gain.attrs["coil_type"] == 3022
    assert gain.attrs["sensor_kind"] == "MEG"
    assert gain["channel"].values[0] == "MEG001"


def test_read_extract_leadfield_free_meg(tmp_path, rng):
    # rank-2 orientation blocks, as for a spherical head (no field from radial dipoles)
    radial = rng.standard_normal((6, 3))
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    l_xyz = rng.standard_normal((7, 6, 3)) * 1e-8
    l_xyz -= np.einsum("csx,sx,sy->csy", l_xyz, radial, radial)
    reduced, basis = _calibrain_reduce(l_xyz)
    path = tmp_path / "CC120166_free_leadfield.npz"
    _extract_leadfield_npz(path, reduced, np.zeros((6, 3)), free=True, q_basis=basis)
    with pytest.warns(UserWarning, match=r"\['info'\]"):
        gain = read_calibrain_leadfield(path)
    assert gain.dims == ("channel", "layer", "vertex", "xyz")
    assert gain.attrs["orientation"] == "free"
    np.testing.assert_allclose(gain.values[:, 0], l_xyz * 1e6, atol=1e-12)


def test_read_extract_leadfield_free_eeg(tmp_path, rng):
    l_xyz = rng.standard_normal((4, 3, 3)) * 1e-3  # V/(A·m)
    path = tmp_path / "fsaverage_free_leadfield.npz"
    eye = np.repeat(np.eye(3)[None], 3, axis=0)
    _extract_leadfield_npz(path, l_xyz, np.zeros((3, 3)), free=True, eeg=True, q_basis=eye)
    with pytest.warns(UserWarning, match="info"):
        gain = read_calibrain_leadfield(path)
    assert gain.attrs["units"] == "uV/nAm"
    np.testing.assert_allclose(gain.values[:, 0], l_xyz * 1e-3)
    assert gain["channel"].values[0] == "EEG001"


def _gain(rng, units, free=False):
    shape = (6, 2, 4, 3) if free else (6, 2, 4)
    gain = gain_dataarray(rng.standard_normal(shape), [f"C{i}" for i in range(6)], units=units)
    pos = rng.standard_normal((2, 4, 3)) * 50
    return gain.assign_coords(
        {f"source_{a}": (("layer", "vertex"), pos[..., i]) for i, a in enumerate("xyz")}
    )


@pytest.mark.parametrize(("units", "stored"), [("fT/nAm", 1.0), ("fT/mm/nAm", 1e3)])
def test_calibrain_reads_what_laminarray_writes(tmp_path, rng, units, stored):
    gain = _gain(rng, units)
    path = write_calibrain_leadfield(gain, tmp_path / "sub_fixed_leadfield.npz")
    values, meta = _calibrain_load(path)  # no pickle, int() of every code works
    np.testing.assert_allclose(values, gain.values.reshape(6, 8) * stored)  # fT(/m)/nAm
    assert meta["sensor_unitmult"] == UNITM_F
    with np.load(path) as data:
        assert data["src_coords"].shape == (8, 3)
        np.testing.assert_allclose(data["src_coords"][5, 0], gain["source_x"].values[1, 1] / 1e3)
        assert data["Q_basis"].shape == (8, 3, 0)
        assert str(data["orientation_type"]) == "fixed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing pickled: no skipped keys
        back = read_calibrain_leadfield(path)
    np.testing.assert_allclose(back.values, gain.values)
    assert back.attrs["units"] == units
    assert back["layer"].values.tolist() == gain["layer"].values.tolist()


def test_free_meg_written_as_calibrain_reduces_it(tmp_path, rng):
    gain = _gain(rng, "fT/nAm", free=True)
    path = write_calibrain_leadfield(gain, tmp_path / "sub_free_leadfield.npz")
    values, _ = _calibrain_load(path)
    expected, basis = _calibrain_reduce(gain.values.reshape(6, 8, 3))
    np.testing.assert_allclose(values, expected, atol=1e-12)
    with np.load(path) as data:
        np.testing.assert_allclose(data["Q_basis"], basis, atol=1e-12)
        assert int(data["source_ori"]) == FREE_ORI
    back = read_calibrain_leadfield(path)
    # the weakest orientation is dropped: back = projection onto each source's top-2 plane
    projected = np.einsum("csx,sxk,syk->csy", gain.values.reshape(6, 8, 3), basis, basis)
    np.testing.assert_allclose(back.values.reshape(6, 8, 3), projected, atol=1e-12)


def test_bad_files(tmp_path, rng):
    path = tmp_path / "x_fixed_leadfield.npz"
    np.savez(path, leadfield=np.ones((2, 3)), sensor_units=UNIT_T, sensor_unitmult=-3)
    with pytest.raises(LaminarrayError, match="sensor_unitmult"):
        read_calibrain_leadfield(path)
    np.savez(path, leadfield=np.ones((2, 3, 2)), sensor_units=UNIT_T, orientation_type="free")
    with pytest.raises(LaminarrayError, match="Q_basis"):
        read_calibrain_leadfield(path)
    with pytest.raises(LaminarrayError, match="units must be one of"):
        write_calibrain_leadfield(_gain(rng, "nT/nAm"), path)
