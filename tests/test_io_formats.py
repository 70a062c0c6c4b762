"""GIFTI, fiducial tables and MNE-Python conversions."""

from __future__ import annotations

import sys

import nibabel as nib
import numpy as np
import pytest
import xarray as xr

import laminarray as la
from laminarray.io import (
    FileFormatError,
    read_fiducials,
    read_gifti_mesh,
    write_gifti_mesh,
    write_gifti_values,
)
from laminarray.testing import raise_if_dask_computes


def _mesh(n_layers=3):
    rng = np.random.default_rng(0)
    sheet = rng.standard_normal((6, 3)) * 10
    pos = np.stack([sheet - [0, 0, 1.5 * d] for d in range(n_layers)])
    faces = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    ori = np.zeros_like(pos)
    ori[..., 2] = -1.0
    return la.mesh_dataset(pos, faces, orientation=ori)


# ----------------------------------------------------------------- GIFTI


def test_gifti_mesh_round_trip_multilayer(tmp_path):
    mesh = _mesh()
    path = write_gifti_mesh(mesh, tmp_path / "multilayer.surf.gii")
    image = nib.load(path)  # independent reader: laMEG's multilayer layout
    pos, tri = image.agg_data(("pointset", "triangle"))
    np.testing.assert_allclose(pos, mesh["vertices"].values.reshape(-1, 3), rtol=1e-6)
    np.testing.assert_array_equal(tri[4:8], mesh["faces"].values + 6)  # layer 1 offset by V
    back = read_gifti_mesh(path)
    xr.testing.assert_allclose(back["vertices"], mesh["vertices"], rtol=1e-6)
    np.testing.assert_array_equal(back["faces"].values, mesh["faces"].values)
    np.testing.assert_allclose(back["orientation"].values, mesh["orientation"].values)


def test_gifti_single_layer_and_errors(tmp_path):
    mesh = _mesh()
    path = write_gifti_mesh(mesh, tmp_path / "white.surf.gii", layer="white")
    back = read_gifti_mesh(path)
    np.testing.assert_allclose(
        back["vertices"].values[0], mesh["vertices"].sel(layer="white"), rtol=1e-6
    )
    with pytest.raises(la.LaminarrayError, match="layer"):
        write_gifti_mesh(mesh, tmp_path / "x.surf.gii", layer="nope")
    bad = tmp_path / "bad.surf.gii"
    bad.write_text("<not gifti>")
    with pytest.raises(FileFormatError, match="GIFTI"):
        read_gifti_mesh(bad)
    with pytest.raises(FileFormatError, match="split into 4 layers"):
        read_gifti_mesh(tmp_path / "white.surf.gii", n_layers=4)


@pytest.mark.parametrize(("suffix", "intent"), [(".func.gii", 0), (".shape.gii", 2005)])
def test_gifti_values_all_layers_or_one(tmp_path, suffix, intent):
    values = la.source_dataarray(np.arange(3 * 6 * 1.0).reshape(3, 6, 1), [0.0]).isel(
        time=0, trial=0
    )
    path = write_gifti_values(values, tmp_path / f"all{suffix}")
    image = nib.load(path)
    assert len(image.darrays) == 3
    assert [d.intent for d in image.darrays] == [intent] * 3
    assert [d.meta["Name"] for d in image.darrays] == ["pial", "0.500", "white"]
    np.testing.assert_array_equal(image.darrays[1].data, values.sel(layer="0.500").values)
    one = nib.load(write_gifti_values(values, tmp_path / f"one{suffix}", layer=2))
    np.testing.assert_array_equal(one.darrays[0].data, values.isel(layer=2).values)
    with pytest.raises(la.LaminarrayError, match=r"\.func\.gii"):
        write_gifti_values(values, tmp_path / "x.gii")


def test_gifti_time_series(tmp_path):
    src = la.source_dataarray(np.ones((2, 4, 5, 1)), np.arange(5) / 100.0)
    image = nib.load(write_gifti_values(src.isel(trial=0), tmp_path / "ts.func.gii", layer="pial"))
    assert len(image.darrays) == 5
    assert image.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_TIME_SERIES"]


# ----------------------------------------------------------------- fiducials


def test_fiducials_table(tmp_path):
    table = tmp_path / "fid.tsv"
    table.write_text(
        "subj_id\tnas\tlpa\trpa\n"
        "sub-104\t-2.448,117.891,8.210\t-75.1,10.2,-40.0\t78.3,12.9,-38.5\n"
        "sub-105\t1,2,3\t4,5,6\t7,8,9\n"
    )
    fid = read_fiducials(table, "sub-104")
    np.testing.assert_allclose(fid.sel(fiducial="nas").values, [-2.448, 117.891, 8.210])
    assert fid.attrs["units"] == "mm"
    assert list(fid["fiducial"].values) == ["nas", "lpa", "rpa"]
    csv = tmp_path / "fid.csv"
    csv.write_text('id,N,L,R\nsub-1,"1;2;3","4;5;6","7;8;9"\n')
    got = read_fiducials(
        csv,
        "sub-1",
        subject_column="id",
        nas_column="N",
        lpa_column="L",
        rpa_column="R",
        val_delimiter=";",
    )
    np.testing.assert_array_equal(got.values, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


def test_fiducials_errors(tmp_path):
    table = tmp_path / "fid.tsv"
    table.write_text("subj_id\tnas\tlpa\trpa\nsub-1\t1,2\t4,5,6\t7,8,9\n")
    with pytest.raises(FileFormatError, match=r"sub-2.*not found"):
        read_fiducials(table, "sub-2")
    with pytest.raises(FileFormatError, match=r"three numbers.*'1,2'"):
        read_fiducials(table, "sub-1")
    with pytest.raises(FileFormatError, match=r"missing column\(s\) \['nasion'\]"):
        read_fiducials(table, "sub-1", nas_column="nasion")
    with pytest.raises(FileNotFoundError):
        read_fiducials(tmp_path / "none.tsv", "sub-1")


# ----------------------------------------------------------------- MNE


def _epochs(mne):
    rng = np.random.default_rng(5)
    names = ["MAG1", "MAG2", "GRAD1", "EEG1"]
    info = mne.create_info(names, 250.0, ["mag", "mag", "grad", "eeg"])
    info["bads"] = ["MAG2"]
    data = rng.standard_normal((4, 4, 30)) * np.array([1e-13, 1e-13, 1e-11, 1e-5])[None, :, None]
    events = np.column_stack([np.arange(4) * 40, np.zeros(4, int), [1, 2, 1, 1]])
    return mne.EpochsArray(
        data, info, events=events, tmin=-0.04, event_id={"a": 1, "b": 2}, verbose="error"
    )


def test_mne_epochs_round_trip():
    mne = pytest.importorskip("mne")
    epochs = _epochs(mne)
    ds = la.io.from_mne(epochs)
    assert list(ds["ch_type"].values) == ["MEGMAG", "MEGMAG", "MEGPLANAR", "EEG"]
    assert list(ds["ch_units"].values) == ["fT", "fT", "fT/mm", "uV"]
    assert list(ds["condition"].values) == ["a", "b", "a", "a"]
    np.testing.assert_array_equal(ds["bad"].values, [False, True, False, False])
    np.testing.assert_allclose(ds["data"].values[0], epochs.get_data()[:, 0].T * 1e15)
    np.testing.assert_allclose(ds["time"].values, epochs.times)
    back = la.io.to_mne_epochs(ds)
    np.testing.assert_allclose(back.get_data(), epochs.get_data(), rtol=1e-12)
    assert back.ch_names == epochs.ch_names
    assert back.info["bads"] == ["MAG2"]
    assert back.get_channel_types() == epochs.get_channel_types()
    np.testing.assert_array_equal(back.events[:, 2], epochs.events[:, 2])
    np.testing.assert_allclose(back.times, epochs.times)


def test_mne_evoked_round_trip_and_errors():
    mne = pytest.importorskip("mne")
    evoked = _epochs(mne).average(picks="all")
    ds = la.io.from_mne(evoked)
    assert ds.sizes["trial"] == 1
    back = la.io.to_mne_evoked(ds)
    np.testing.assert_allclose(back.data, evoked.data, rtol=1e-12)
    with pytest.raises(la.LaminarrayError, match="one average"):
        la.io.to_mne_evoked(la.io.from_mne(_epochs(mne)))
    with pytest.raises(la.LaminarrayError, match=r"mne\.Epochs"):
        la.io.from_mne(np.zeros(3))


def test_mne_source_estimate_layer():
    mne = pytest.importorskip("mne")
    values = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    import dask.array as da

    src = la.source_dataarray(
        da.from_array(values, chunks=(1, 4, 3)), [0.0, 0.004, 0.008], hemi=["rh", "lh", "lh", "rh"]
    )
    src = src.assign_coords(mne_vertno=("vertex", [7, 30, 10, 2]))
    with raise_if_dask_computes(max_computes=1):
        stc = la.io.source_to_stc(src, "white")
    assert isinstance(stc, mne.SourceEstimate)
    np.testing.assert_array_equal(stc.vertices[0], [10, 30])
    np.testing.assert_array_equal(stc.vertices[1], [2, 7])
    np.testing.assert_allclose(stc.data, values[1][[2, 1, 3, 0]] * 1e-9)  # nAm -> Am
    assert stc.tstep == pytest.approx(0.004)
    multi = la.source_dataarray(np.ones((1, 2, 3, 2)), [0.0, 0.1, 0.2])
    with pytest.raises(la.LaminarrayError, match="trial"):
        la.io.source_to_stc(multi, 0)
    assert la.io.source_to_stc(multi, 0, trial=1).data.shape == (2, 3)


def test_mne_forward_to_gain():
    mne = pytest.importorskip("mne")
    rng = np.random.default_rng(6)
    n = 12
    directions = rng.standard_normal((n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    info = mne.create_info([f"M{i}" for i in range(n)], 600.0, "mag")
    for ch, d in zip(info["chs"], directions, strict=True):
        ex = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
        ex /= np.linalg.norm(ex)
        ch["loc"][:12] = np.concatenate([0.11 * d, ex, np.cross(d, ex), d])
        ch["coil_type"] = mne.io.constants.FIFF.FIFFV_COIL_POINT_MAGNETOMETER
    info["dev_head_t"] = mne.transforms.Transform("meg", "head")  # identity
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.0), head_radius=None, verbose="error")
    src = mne.setup_volume_source_space(sphere=(0, 0, 0, 0.06), pos=25.0, verbose="error")
    trans = mne.transforms.Transform("head", "mri")  # identity
    fwd = mne.make_forward_solution(info, trans, src, sphere, meg=True, eeg=False, verbose="error")
    gain = la.io.forward_to_gain(fwd)
    assert gain.dims == ("channel", "layer", "vertex", "xyz")
    assert gain.attrs["units"] == "fT/nAm"
    # T/(A·m) -> fT/nAm is a factor 1e15 * 1e-9
    np.testing.assert_allclose(gain.values.reshape(n, -1), fwd["sol"]["data"] * 1e6, rtol=1e-12)


def test_missing_mne_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mne", None)  # makes `import mne` fail
    with pytest.raises(la.MissingDependencyError, match=r"laminarray\[mne\]"):
        la.io.to_mne_epochs(la.sensor_dataset(np.zeros((1, 2, 1)), ["A"], [0.0, 0.1]))


def test_opm_positions_table(tmp_path, realdata):
    opm = realdata / "opm"
    sensors = la.io.read_opm_positions(opm / "fil_positions.tsv")
    assert sensors.sizes["channel"] == 68
    assert sensors.attrs["coord_frame"] == "device"
    np.testing.assert_allclose(
        sensors["position"].sel(channel="G2-DU-Y").values, [50.8764915, -42.8435040, 43.4505558]
    )
    np.testing.assert_allclose(np.linalg.norm(sensors["coil_orientation"].values, axis=1), 1)
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tPx\tPy\n")
    with pytest.raises(FileFormatError, match=r"missing column\(s\) \['Pz'"):
        la.io.read_opm_positions(bad)
    with pytest.raises(FileFormatError, match="good_only"):
        la.io.read_opm_positions(opm / "fil_positions.tsv", good_only=True)
