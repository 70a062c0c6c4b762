"""open_study over a raw directory of SPM/FreeSurfer inputs: same answers as an archive, lazily."""

from __future__ import annotations

import shutil

import nibabel.freesurfer as fs
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import laminarray as lam
from laminarray import archive, io
from laminarray.datasets import sample
from laminarray.study import open_study
from laminarray.testing import raise_if_dask_computes

N_LAYERS, N_VERTICES, N_TRIALS = 3, 120, 4
MESH_FILE = f"multilayer.{N_LAYERS}.ds.link_vector.fixed.gii"


def _subject(seed: int) -> tuple[xr.Dataset, xr.DataArray, xr.Dataset, xr.Dataset]:
    """Sensor data (with conditions), gain, mesh and an inverse of one sample subject."""
    tree = sample(
        n_vertices=N_VERTICES,
        n_layers=N_LAYERS,
        n_channels=16,
        n_trials=N_TRIALS,
        tmin=-0.05,
        tmax=0.1,
        seed=seed,
        dtype=np.float32,
    )
    sensor = tree["sensor"].to_dataset()[["data"]]
    sensor = sensor.assign_coords(condition=("trial", ["a", "b"] * (N_TRIALS // 2)))
    channels = sensor["channel"].values
    projector = lam.projector_dataarray(
        np.random.default_rng(seed).standard_normal((N_LAYERS, N_VERTICES, channels.size)),
        channels,
    )
    inverse = xr.Dataset(
        {"projector": projector, "free_energy": xr.DataArray(-100.0 - seed)},
        attrs={"method": "EBB"},
    )
    mesh = tree["mesh"].to_dataset()[["vertices", "faces", "orientation"]]
    return sensor, tree["forward"]["gain"], mesh, inverse


def _write_raw(folder, stem, sensor, gain, inverse=None):
    """One SPM dataset with its gain file beside it, as laMEG/SPM leave them."""
    folder.mkdir(parents=True, exist_ok=True)
    header = io.write_spm(sensor, folder / f"{stem}.mat", inverse=inverse)
    io.write_spm_gain(gain, io.spm_gain_path(header))


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The same two subjects as a raw directory and as an archive built independently.

    sub-01: one dataset (one session) with ``D.other.inv{1}``; sub-02: two
    sessions (``ses-01`` with an inversion, ``ses-02`` without), a gain file each.
    """
    base = tmp_path_factory.mktemp("raw_study")
    raw, path = base / "raw", base / "study.zarr"
    sensor1, gain1, mesh1, inverse1 = _subject(0)
    _write_raw(raw / "sub-01" / "meg", "sub-01_task-x_meg", sensor1, gain1, inverse1)
    laminar = raw / "sub-01" / "anat" / "surf" / "laminar"
    laminar.mkdir(parents=True)
    io.write_gifti_mesh(mesh1, laminar / MESH_FILE)
    for name, obj in (
        ("mesh", mesh1),
        ("sensor", sensor1),
        ("forward", gain1),
        ("inverse/inv1", inverse1),
    ):
        archive.save(obj, path, f"sub-01/{name}")
    sensor2, gain2, mesh2, inverse2 = _subject(1)
    later = sensor2.isel(trial=slice(0, 2))  # SPM numbers trials 0.. in each file
    for session, data, inv in (("ses-01", sensor2, inverse2), ("ses-02", later, None)):
        _write_raw(raw / "sub-02" / session / "meg", f"sub-02_{session}_meg", data, gain2, inv)
        archive.save(data, path, f"sub-02/sensor/{session}")
        archive.save(gain2, path, f"sub-02/forward/{session}")
    io.write_gifti_mesh(mesh2, raw / "sub-02" / MESH_FILE)
    archive.save(mesh2, path, "sub-02/mesh")
    archive.save(inverse2, path, "sub-02/inverse/ses-01_inv1")
    return raw, path


def _assert_same_sensor(a: xr.Dataset, b: xr.Dataset) -> None:
    np.testing.assert_array_equal(a["data"].values, b["data"].values)
    assert a["channel"].values.tolist() == b["channel"].values.tolist()
    np.testing.assert_allclose(a["time"].values, b["time"].values, atol=1e-12)
    assert a["trial"].values.tolist() == b["trial"].values.tolist()
    assert a["condition"].values.tolist() == b["condition"].values.tolist()


def test_raw_and_archive_give_the_same_study(studies):
    raw_path, archive_path = studies
    raw, stored = open_study(raw_path), open_study(archive_path)
    assert raw.subjects == stored.subjects == ["sub-01", "sub-02"]
    pd.testing.assert_frame_equal(raw.metadata, stored.metadata, check_dtype=False)
    assert raw.metadata["session"].tolist() == [None] * 4 + ["ses-01"] * 4 + ["ses-02"] * 2
    for name in raw.subjects:
        a, b = raw.subject(name), stored.subject(name)
        assert a.sessions == b.sessions
        assert a.inverses == b.inverses
        for session in a.sessions:
            _assert_same_sensor(a.sensor(session=session), b.sensor(session=session))
            gain_a, gain_b = a.gain(session=session), b.gain(session=session)
            np.testing.assert_array_equal(gain_a.values, gain_b.values)
            for dim in ("channel", "layer", "vertex"):
                assert gain_a[dim].values.tolist() == gain_b[dim].values.tolist()
        mesh_a, mesh_b = a.mesh(), b.mesh()
        np.testing.assert_allclose(mesh_a["vertices"], mesh_b["vertices"], atol=1e-4)
        np.testing.assert_array_equal(mesh_a["faces"], mesh_b["faces"])
        np.testing.assert_allclose(mesh_a["orientation"], mesh_b["orientation"], atol=1e-6)
        assert mesh_a["layer"].values.tolist() == mesh_b["layer"].values.tolist()
        assert mesh_a.attrs["orientation_method"] == "link_vector"


def test_sources_from_the_stored_spm_inversion(studies):
    raw_path, archive_path = studies
    keywords = dict(layers="pial", vertices=[3, 40, 77], trials=[0, 2], time=(0.001, 0.049))
    raw = open_study(raw_path).subject("sub-01")
    stored = open_study(archive_path).subject("sub-01")
    np.testing.assert_allclose(raw.sources(**keywords), stored.sources(**keywords), rtol=1e-6)
    # sub-02's inversion lives in ses-01's dataset: its sensor data are used by default
    raw2 = open_study(raw_path).subject("sub-02").sources("ses-01_inv1", **keywords)
    stored2 = open_study(archive_path).subject("sub-02")
    expected = stored2.sources("ses-01_inv1", session="ses-01", **keywords)
    np.testing.assert_allclose(raw2, expected, rtol=1e-6)
    assert float(stored2.inverse()["free_energy"]) == -101.0
    assert raw2.dims == ("layer", "vertex", "time", "trial")
    # independent reference: projector @ data on the selected block
    projector = stored2.inverse()["projector"].sel(layer=["pial"], vertex=[3, 40, 77]).values
    data = stored2.sensor(session="ses-01", trials=[0, 2], time=(0.001, 0.049))["data"].values
    expected = np.einsum("lvc,ctk->lvtk", projector, data)  # float32 data: compare to the scale
    np.testing.assert_allclose(raw2, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_opening_and_accessors_are_lazy(studies):
    raw_path, _ = studies
    with raise_if_dask_computes():
        study = open_study(raw_path)
        sub = study.subject(1)
        sensor = sub.sensor(session="ses-02", conditions="a")
        sources = sub.sources(layers=["pial", "white"], trials=[1], time=(0.001, 0.049))
        table = study.metadata
        sub.gain(layers="pial", session="ses-02"), sub.mesh(), sub.inverse()
    assert sensor["data"].chunks is not None
    assert sources.chunks is not None
    assert len(table) == 10
    chosen = ["MEG003", "MEG001"]
    picked = open_study(raw_path, channels=chosen).subject(0).sensor()
    assert picked["channel"].values.tolist() == chosen
    expected = open_study(raw_path).subject(0).sensor()["data"].sel(channel=chosen)
    np.testing.assert_array_equal(picked["data"], expected)
    assert "(raw directory)" in repr(study)


def test_open_reads_no_file(tmp_path):
    """Opening lists files only: broken files fail at the accessor that reads them."""
    meg = tmp_path / "sub-01" / "meg"
    meg.mkdir(parents=True)
    for name in ("run.mat", "run.dat", "SPMgainmatrix_run_1.mat"):
        (meg / name).write_bytes(b"not a MATLAB file")
    (meg / MESH_FILE).write_bytes(b"not GIFTI")
    study = open_study(tmp_path)
    sub = study.subject("sub-01")
    assert sub.sessions == [None]
    with pytest.raises(io.FileFormatError):
        sub.sensor()
    with pytest.raises(io.FileFormatError, match="GIFTI"):
        sub.mesh()


def test_convert_to_archive_once(studies, tmp_path):
    raw_path, _ = studies
    raw = open_study(raw_path)
    written = raw.to_archive(tmp_path / "converted.zarr")
    converted = open_study(written)
    tree = archive.open(written)
    assert sorted(tree["sub-02/forward"].children) == ["ses-01", "ses-02"]
    assert sorted(tree["sub-02/sensor"].children) == ["ses-01", "ses-02"]
    provenance = tree["sub-01/sensor"].attrs["provenance"]
    assert provenance["parameters"]["source"].endswith("sub-01_task-x_meg.mat")
    pd.testing.assert_frame_equal(converted.metadata, raw.metadata, check_dtype=False)
    a, b = raw.subject("sub-02"), converted.subject("sub-02")
    _assert_same_sensor(a.sensor(session="ses-02"), b.sensor(session="ses-02"))
    np.testing.assert_array_equal(a.gain(session="ses-01"), b.gain(session="ses-01"))
    np.testing.assert_array_equal(a.mesh()["vertices"], b.mesh()["vertices"])
    xr.testing.assert_allclose(a.inverse()["projector"], b.inverse()["projector"])
    with pytest.raises(lam.ArchiveError, match="exists"):
        raw.to_archive(written, subjects=["sub-01"])
    # an archive-backed study copies its groups the same way
    copy = archive.open(converted.to_archive(tmp_path / "copy.zarr", subjects=["sub-02"]))
    assert list(copy.children) == ["sub-02"]
    assert sorted(copy["sub-02"].children) == sorted(tree["sub-02"].children)
    xr.testing.assert_identical(
        copy["sub-02/sensor/ses-01"].to_dataset().drop_attrs(),
        tree["sub-02/sensor/ses-01"].to_dataset().drop_attrs(),
    )


def test_freesurfer_subject_dir_and_subjects_dir(studies, tmp_path):
    """FreeSurfer surfaces in a SUBJECTS_DIR give the mesh, and aparc gives the ROIs."""
    raw_path, _ = studies
    cortex = lam.datasets.synthetic_cortex(n_vertices=80, n_layers=2)
    surf = tmp_path / "fs" / "sub-01" / "surf"
    label = surf.parent / "label"
    surf.mkdir(parents=True)
    label.mkdir()
    hemi = cortex["hemi"].values
    ctab = np.array([[25, 5, 25, 0, 0], [20, 30, 140, 0, 0]], dtype=np.int32)
    ctab[:, 4] = ctab[:, 0] + ctab[:, 1] * 2**8 + ctab[:, 2] * 2**16
    faces = cortex["faces"].values
    for h in ("lh", "rh"):
        keep = np.nonzero(hemi == h)[0]
        local = faces[np.all(np.isin(faces, keep), axis=1)] - keep[0]
        for layer in ("pial", "white"):
            positions = cortex["vertices"].sel(layer=layer).values[keep]
            fs.write_geometry(surf / f"{h}.{layer}", positions, local)
        codes = (np.arange(keep.size) % 2).astype(np.int32)
        fs.write_annot(
            label / f"{h}.aparc.annot", codes, ctab, [b"unknown", b"precentral"], fill_ctab=False
        )
    root = tmp_path / "raw"
    shutil.copytree(raw_path / "sub-01" / "meg", root / "sub-01" / "meg")
    sub = open_study(root, subjects_dir=tmp_path / "fs").subject("sub-01")
    mesh = sub.mesh()
    expected = lam.surf.load_surfaces(
        {h: surf / f"{h}.pial" for h in ("lh", "rh")},
        {h: surf / f"{h}.white" for h in ("lh", "rh")},
    )
    np.testing.assert_allclose(mesh["vertices"], expected["vertices"])
    np.testing.assert_allclose(
        mesh["vertices"].sel(layer="pial"), cortex["vertices"].sel(layer="pial")
    )
    assert mesh["hemi"].values.tolist() == hemi.tolist()
    region = np.concatenate([np.arange((hemi == h).sum()) % 2 for h in ("lh", "rh")]) == 1
    np.testing.assert_array_equal(sub.roi("precentral").values, region)
    with pytest.raises(lam.LaminarrayError, match="gain was computed on another mesh"):
        sub.gain()
    # without the gain, the subject converts; the archive keeps the aparc ROIs
    gain_file = next((root / "sub-01" / "meg").glob("SPMgainmatrix_*"))
    gain_file.rename(tmp_path / gain_file.name)
    study = open_study(root, subjects_dir=tmp_path / "fs")
    converted = open_study(study.to_archive(tmp_path / "fs.zarr")).subject(0)
    assert sorted(converted.node.children) == ["inverse", "mesh", "rois", "sensor"]
    np.testing.assert_array_equal(converted.roi("precentral").values, region)
    (tmp_path / gain_file.name).rename(gain_file)
    # laMEG multilayer GIFTIs win over FreeSurfer surfaces; several need `mesh=`
    sample_mesh = open_study(raw_path).subject("sub-01").mesh()
    for n_layers, obj in ((2, mesh), (N_LAYERS, sample_mesh)):
        io.write_gifti_mesh(obj, root / "sub-01" / f"multilayer.{n_layers}.ds.cps.fixed.gii")
    with pytest.raises(lam.LaminarrayError, match=r"several multilayer meshes.*mesh="):
        open_study(root, subjects_dir=tmp_path / "fs").subject(0).mesh()
    chosen = open_study(root, mesh=f"multilayer.{N_LAYERS}.*").subject(0)
    assert chosen.mesh().attrs["orientation_method"] == "cps"
    assert chosen.gain().sizes["layer"] == N_LAYERS  # split by the chosen mesh's layers


def test_errors_say_what_was_looked_for(studies, tmp_path):
    raw_path, _ = studies
    with pytest.raises(lam.LaminarrayError, match=r"neither a laminarray archive.*sub-\*"):
        open_study(tmp_path)
    (tmp_path / "sub-01").mkdir()
    (tmp_path / "sub-01" / "notes.txt").write_text("nothing here")
    with pytest.raises(lam.LaminarrayError, match=r"no recognised input.*SPMgainmatrix_"):
        open_study(tmp_path)
    study = open_study(raw_path)
    with pytest.raises(lam.LaminarrayError, match=r"available: \['sub-01', 'sub-02'\]"):
        study.subject("sub-03")
    sub2 = study.subject("sub-02")
    with pytest.raises(lam.LaminarrayError, match=r"sessions \['ses-01', 'ses-02'\]"):
        sub2.sensor()
    with pytest.raises(lam.LaminarrayError, match=r"available: \['ses-01_inv1'\]"):
        sub2.inverse("inv2")
    solo = tmp_path / "solo" / "sub-01"
    solo.mkdir(parents=True)
    sensor = lam.sensor_dataset(np.zeros((2, 5, 1), np.float32), ["a", "b"], np.arange(5) / 100)
    io.write_spm(sensor, solo / "only.mat")
    sub = open_study(tmp_path / "solo").subject(0)
    assert "1 SPM dataset(s), 0 gain file(s)" in repr(sub)
    with pytest.raises(lam.LaminarrayError, match=r"has no inverse; .* 1 SPM dataset"):
        sub.inverse()
    with pytest.raises(lam.LaminarrayError, match=r"no SPM gain file \(SPMgainmatrix_"):
        sub.gain()
    with pytest.raises(lam.LaminarrayError, match=r"no mesh: .*multilayer.*subjects_dir="):
        sub.mesh()
    for option in ({"mesh": "x.gii"}, {"channels": "good"}):
        with pytest.raises(lam.LaminarrayError, match="apply to raw directories only"):
            open_study(studies[1], **option)
