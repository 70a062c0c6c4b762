"""Sensor arrays from real recordings' MNE info: gains against MNE's own spherical forward."""

from __future__ import annotations

import numpy as np
import pytest
from _mne_forward import mne_sphere_forward

import laminarray as lam
from laminarray import LaminarrayError, forward

mne = pytest.importorskip("mne")
mne.set_log_level("ERROR")

R0_MM = np.array([0.0, 0.0, 40.0])


@pytest.fixture(scope="module")
def ctf(realdata):
    return mne.io.read_raw_ctf(realdata / "ctf" / "somMDYO-18av.ds")


@pytest.fixture(scope="module")
def neuromag(realdata):
    """The Neuromag recording with MEG SSP projectors (2 magnetometer, 2 gradiometer
    components of its own data) beside its EEG average-reference projector."""
    raw = mne.io.read_raw_fif(realdata / "neuromag" / "sample_audvis_trunc_raw_sss.fif")
    raw.load_data().add_proj(mne.compute_proj_raw(raw, n_mag=2, n_grad=2, n_eeg=0))
    return raw


def _dipoles(n=5, seed=0, r0=R0_MM):
    return r0 + np.random.default_rng(seed).normal(size=(n, 3)) * 25.0


def _mne_gain(info, dipoles, r0=R0_MM):
    return mne_sphere_forward(mne, info, dipoles, r0)


def _our_gain(sensors, dipoles, r0=R0_MM):
    mesh = lam.mesh_dataset(
        dipoles[None], [[0, 0, 0]], orientation=np.tile([0, 0, 1.0], (1, 5, 1))
    )
    return forward.sphere_gain(mesh, sensors, center=r0, orientation="free")


def _relative_error(ours, reference):
    return np.abs(ours - reference).max() / np.abs(reference).max()


def test_ctf_grade3_gain_equals_mne(ctf):
    """CTF data stored with 3rd-order compensation: the reference coils are in every
    channel's weights, and the gain is MNE's to 1e-6 (uncompensated it is ~15 % off)."""
    assert ctf.compensation_grade == 3
    sensors = forward.sensors_from_mne(ctf.info)
    assert sensors.attrs["compensation_grade"] == 3
    assert sensors.attrs["coord_frame"] == "head"
    assert set(sensors["ch_type"].values) == {"MEGGRAD"}
    assert sensors.sizes["channel"] == 151  # the reference channels are not channels
    # a compensated channel also reads the reference coils: more than its own 14 points
    assert np.count_nonzero(sensors["coil_weight"].values[0]) > 14
    dipoles = _dipoles()
    names, reference = _mne_gain(ctf.info, dipoles)
    gain = _our_gain(sensors, dipoles)
    assert gain.attrs["units"] == "fT/nAm"
    assert gain.attrs["sensor_compensation_grade"] == 3
    assert _relative_error(gain.sel(channel=names).values[:, 0], reference) < 1e-6

    raw0 = ctf.copy().apply_gradient_compensation(0)
    grade0 = _our_gain(forward.sensors_from_mne(raw0.info), dipoles)
    assert _relative_error(grade0.sel(channel=names).values[:, 0], reference) > 0.02


def test_neuromag_mags_and_planar_grads_equal_mne(neuromag):
    sensors = forward.sensors_from_mne(neuromag.info)
    types = sensors["ch_type"].values
    assert (types == "MEGMAG").sum() == 102
    assert (types == "MEGPLANAR").sum() == 204
    planar = sensors["ch_units"].values[types == "MEGPLANAR"]
    assert set(planar) == {"fT/mm"}
    fids = sensors["fiducials"]
    assert fids["fiducial"].values.tolist() == ["nas", "lpa", "rpa"]
    assert abs(fids.sel(fiducial="nas").values[0]) < 1e-3  # head frame: nasion on +y
    dipoles = _dipoles(seed=1)
    names, reference = _mne_gain(neuromag.info, dipoles)
    gain = _our_gain(sensors, dipoles)
    assert gain.attrs["units"] == "mixed/nAm"
    assert _relative_error(gain.sel(channel=names).values[:, 0], reference) < 1e-6
    for kind in ("mag", "grad"):
        picked = forward.sensors_from_mne(neuromag.info, picks=kind)
        one = _our_gain(picked, dipoles)
        assert one.attrs["units"] == {"mag": "fT/nAm", "grad": "fT/mm/nAm"}[kind]
        rows = [names.index(c) for c in picked["channel"].values]
        assert _relative_error(one.values[:, 0], reference[rows]) < 1e-6


def test_ssp_projectors_project_gain_as_mne(neuromag):
    sensors = forward.sensors_from_mne(neuromag.info, picks="mag")
    assert sensors.sizes["ssp"] == len(neuromag.info["projs"]) == 5
    gain = _our_gain(sensors, _dipoles(seed=2)).compute()
    projected = forward.apply_ssp(gain, sensors)
    names = list(sensors["channel"].values)
    proj, n_proj, _ = mne._fiff.proj.make_projector(neuromag.info["projs"], names)
    assert n_proj == forward.ssp_operator(sensors).attrs["ssp_rank"] == 2
    np.testing.assert_allclose(
        projected.values, np.einsum("cd,d...->c...", proj, gain.values), atol=1e-12
    )
    assert projected.attrs["ssp_applied"]
    # a projected gain is orthogonal to the projection vectors
    vectors = sensors["ssp_vector"].values
    assert np.abs(vectors @ projected.values[:, 0, 0]).max() < 1e-9 * np.abs(gain.values).max()


def test_opm_array_equals_mne(realdata):
    """The FIL OPM array (io.read_opm_positions: positions and axes from its tsv tables)
    as QuSpin magnetometers: MNE's coil definition, the same gain as MNE's forward."""
    opm = realdata / "opm"
    table = lam.io.read_opm_positions(opm / "fil_positions.tsv", opm / "fil_channels.tsv")
    assert table.sizes["channel"] == 68
    assert set(table["ch_type"].values) == {"MEGMAG"}
    names = [str(n) for n in table["channel"].values]
    pos = table["position"].values / 1000
    ez = table["orientation"].values
    frames = forward.sensors._tangent_frames(ez)
    info = mne.create_info(names, 1000.0, "mag")
    with info._unlock():
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    for ch, p, frame in zip(info["chs"], pos, frames, strict=True):
        ch["coil_type"] = mne.io.constants.FIFF.FIFFV_COIL_QUSPIN_ZFOPM_MAG2
        ch["loc"][:3] = p
        ch["loc"][3:12] = frame.ravel()
    sensors = forward.sensors_from_mne(info)
    assert set(sensors["ch_type"].values) == {"MEGMAG"}
    np.testing.assert_allclose(sensors["position"].values, pos * 1000, atol=1e-9)
    r0, _ = forward.fit_sphere(pos * 1000)
    dipoles = _dipoles(seed=3, r0=r0)
    order, reference = _mne_gain(info, dipoles, r0)
    gain = _our_gain(sensors, dipoles, r0).sel(channel=order).values[:, 0]
    assert _relative_error(gain, reference) < 1e-6
    # the table's point magnetometers at the same places are within a few %
    point_gain = _our_gain(table, dipoles, r0).sel(channel=order).values[:, 0]
    assert 1e-4 < _relative_error(point_gain, reference) < 0.05


def test_errors(neuromag, ctf):
    without_refs = mne.pick_info(ctf.info, mne.pick_types(ctf.info, meg=True, ref_meg=False))
    with pytest.raises(LaminarrayError, match="compensation grade 3"):
        forward.sensors_from_mne(without_refs)
    with pytest.raises(LaminarrayError, match=r"mne\.Info"):
        forward.sensors_from_mne({"chs": []})
    with pytest.raises(LaminarrayError, match="picks"):
        forward.sensors_from_mne(neuromag.info, picks="eeg")


def test_from_mne_keeps_ctf_geometry_compensation_and_round_trips(ctf):
    with pytest.raises(LaminarrayError, match=r"mne\.Epochs\(raw, events"):
        lam.io.from_mne(ctf)
    starts = np.array([[150, 0, 1], [450, 0, 1]])
    ds = lam.io.from_mne(
        ctf, events=starts, event_id={"touch": 1}, tmin=-0.05, tmax=0.1, baseline=None
    )
    assert ds.sizes["trial"] == 2
    assert ds.attrs["compensation_grade"] == 3
    assert ds.attrs["coord_frame"] == "head"
    # the STIM channel has no location: only its position is NaN
    position = ds["sensor_position"]
    assert np.isnan(position.sel(channel="STIM").values).all()
    sensors = forward.sensors_from_mne(ctf.info)
    np.testing.assert_allclose(
        position.sel(channel=sensors["channel"]).values, sensors["position"].values, atol=1e-9
    )
    transform = ds["device_to_head"].values
    np.testing.assert_allclose(transform[:3, :3], ctf.info["dev_head_t"]["trans"][:3, :3])
    np.testing.assert_allclose(transform[:3, 3], ctf.info["dev_head_t"]["trans"][:3, 3] * 1000)
    assert ds["fiducials"]["fiducial"].values.tolist() == ["nas", "lpa", "rpa"]
    meg = ds.sel(channel=ds["ch_type"] == "MEGGRAD")
    assert lam.validate_sensor(meg)["data"].attrs["units"] == "fT"
    back = lam.io.to_mne_epochs(ds)
    assert back.compensation_grade == 3
    assert [ch["coil_type"] for ch in back.info["chs"]] == [
        ch["coil_type"] for ch in ctf.info["chs"]
    ]
    np.testing.assert_allclose(back.info["dev_head_t"]["trans"], ctf.info["dev_head_t"]["trans"])
    assert len(back.info["dig"]) == len(ctf.info["dig"])
    epochs = mne.Epochs(ctf, starts, {"touch": 1}, -0.05, 0.1, baseline=None, preload=True)
    np.testing.assert_allclose(back.get_data(), epochs.get_data(), rtol=1e-12, atol=0)
    # a channel subset keeps its info
    assert lam.io.to_mne_epochs(meg).info["ch_names"] == list(meg["channel"].values)


def test_from_mne_evoked_keeps_projectors_and_nave(neuromag):
    evoked = mne.EvokedArray(
        neuromag.get_data(picks="meg")[:, :50],
        mne.pick_info(neuromag.info, mne.pick_types(neuromag.info, meg=True)),
        nave=37,
    )
    ds = lam.io.from_mne(evoked)
    assert ds.attrs["nave"] == 37
    assert ds["data"].attrs["units"] == "mixed"
    assert ds.sizes["ssp"] == len(evoked.info["projs"]) == 4
    sensors = forward.sensors_from_mne(evoked.info)
    np.testing.assert_allclose(
        forward.ssp_operator(ds).values, forward.ssp_operator(sensors).values, atol=1e-12
    )
    back = lam.io.to_mne_evoked(ds)
    assert back.nave == 37
    assert len(back.info["projs"]) == 4
    np.testing.assert_allclose(back.data, evoked.data, rtol=1e-12)


@pytest.mark.parametrize("system", ["ctf", "neuromag"])
def test_spm_dataset_carries_the_sensor_definition(system, request, tmp_path):
    """MNE data -> SPM dataset with D.sensors.meg -> sensors read back without MNE: the same
    gain (CTF grade-3 compensation in tra, planar gradiometers in fT/mm)."""
    raw = request.getfixturevalue(system)
    picks = mne.pick_types(raw.info, meg=True, ref_meg=False, exclude=())
    evoked = mne.EvokedArray(raw.get_data(picks=picks)[:, :20], mne.pick_info(raw.info, picks))
    sensors = forward.sensors_from_mne(raw.info)
    path = lam.io.write_spm(lam.io.from_mne(evoked), tmp_path / "d.mat", sensors=sensors)
    back = lam.io.read_spm_sensors(path)
    assert back.attrs["compensation"] == ("G3BR" if system == "ctf" else "none")
    assert list(back["ch_units"].values) == list(sensors["ch_units"].values)
    np.testing.assert_allclose(back["fiducials"].values, sensors["fiducials"].values)
    dipoles = _dipoles(seed=4)
    ours = _our_gain(back, dipoles).values
    np.testing.assert_allclose(ours, _our_gain(sensors, dipoles).values, rtol=1e-12, atol=1e-12)
    assert lam.io.read_spm(path, channels="MEG").sizes["channel"] == sensors.sizes["channel"]
