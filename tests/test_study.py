"""Study/Subject handles: lazy labelled subsets, ROI queries, memory budget, data roots, export."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import nibabel.freesurfer as fs
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import laminarray as lam
from laminarray import archive
from laminarray.config import get_data_path, get_max_memory, parse_bytes
from laminarray.export import to_dataframe, to_gifti
from laminarray.rois import parcellation, parcellation_from_annot, resolve_roi, roi_mask
from laminarray.study import MemoryBudgetError, open_study, select
from laminarray.testing import raise_if_dask_computes

N_LAYERS, N_VERTICES, N_CHANNELS, N_TIMES, N_TRIALS = 3, 12, 5, 40, 6
LABELS = ["lh.precentral", "lh.postcentral", "rh.precentral"]


def _mesh():
    xx = np.arange(N_VERTICES, dtype=float)
    sheet = np.column_stack([xx, np.zeros_like(xx), np.sin(xx)])
    pos = np.stack([sheet - [0, 0, 2.0 * d] for d in lam.layer_depths(N_LAYERS)])
    faces = np.array([[i, i + 1, (i + 2) % N_VERTICES] for i in range(N_VERTICES - 2)])
    hemi = np.where(xx < N_VERTICES / 2, "lh", "rh")
    return lam.mesh_dataset(pos, faces, hemi=hemi)


def _subject_tree(seed: int) -> dict[str, xr.Dataset]:
    rng = np.random.default_rng(seed)
    channels = [f"MEG{i:02d}" for i in range(N_CHANNELS)]
    times = np.linspace(-0.1, 0.3, N_TIMES)
    sensor = lam.sensor_dataset(
        rng.standard_normal((N_CHANNELS, N_TIMES, N_TRIALS)).astype(np.float32),
        channels,
        times,
        conditions=["a", "b"] * (N_TRIALS // 2),
    )
    projector = lam.projector_dataarray(
        rng.standard_normal((N_LAYERS, N_VERTICES, N_CHANNELS)), channels
    )
    index = np.repeat([0, 1, -1, 2], N_VERTICES // 4)
    return {
        "mesh": _mesh(),
        "sensor": sensor,
        "inverse/ebb": xr.Dataset({"projector": projector}, attrs={"method": "EBB"}),
        "rois/aparc": parcellation(
            index,
            LABELS,
            np.arange(N_VERTICES),
            categories={"motor": ["lh.precentral", "rh.precentral"]},
        ),
        "rois/found": roi_mask(np.arange(N_VERTICES) < 2, np.arange(N_VERTICES)),
    }


@pytest.fixture(scope="module")
def study_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "study.zarr"
    for i, subject in enumerate(["sub-01", "sub-02"]):
        for group, obj in _subject_tree(i).items():
            archive.save(obj, path, group=f"{subject}/{group}")
    return path


def test_open_study_lists_subjects_and_is_lazy(study_path):
    with raise_if_dask_computes():
        study = open_study(study_path)
        assert study.subjects == ["sub-01", "sub-02"]
        assert study.subject(1).name == "sub-02"
        sensor = study.subject("sub-01").sensor(trials=[1, 2], time=(0.0, 0.1))
    assert sensor.sizes["trial"] == 2
    assert float(sensor["time"].min()) >= 0.0
    assert float(sensor["time"].max()) <= 0.1
    with pytest.raises(lam.LaminarrayError, match=r"available: \['sub-01', 'sub-02'\]"):
        study.subject("sub-03")


def test_metadata_one_row_per_trial(study_path):
    table = open_study(study_path).metadata
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 2 * N_TRIALS
    assert list(table["subject"].unique()) == ["sub-01", "sub-02"]
    assert (table["condition"] == ["a", "b"] * N_TRIALS).all()


def test_sources_restricted_before_compute_equal_projection(study_path):
    sub = open_study(study_path).subject("sub-01")
    with raise_if_dask_computes():
        lazy = sub.sources(layers="pial", trials=[0, 3], time=(0.0, 0.2))
    assert lazy.chunks is not None
    # Resolving an ROI name reads the small stored label arrays (one compute each), no more.
    with raise_if_dask_computes(max_computes=len(sub.rois)):
        src = sub.sources(roi="precentral", layers="pial", trials=[0, 3], time=(0.0, 0.2))
    assert src.chunks is not None
    vertices = src["vertex"].values
    expected_vertices = np.nonzero(np.isin(np.repeat([0, 1, -1, 2], 3), [0, 2]))[0]
    np.testing.assert_array_equal(vertices, expected_vertices)
    assert src.dims == ("layer", "vertex", "time", "trial")
    assert src["layer"].values.tolist() == ["pial"]
    projector = sub.inverse("ebb")["projector"].sel(layer=["pial"], vertex=vertices).values
    data = sub.sensor(trials=[0, 3], time=(0.0, 0.2))["data"].values
    np.testing.assert_allclose(src.values, np.einsum("lvc,ctk->lvtk", projector, data), rtol=1e-5)


def test_sources_with_the_temporal_projector_use_the_whole_inversion_window(
    study_path, monkeypatch
):
    sub = open_study(study_path).subject("sub-01")
    times = sub.sensor()["time"].values
    modes = np.linalg.qr(np.random.default_rng(0).standard_normal((times.size, 3)))[0]
    inverse = sub.inverse("ebb").assign(
        temporal_projector=xr.DataArray(
            modes, dims=("time", "temporal_mode"), coords={"time": times}
        )
    )
    monkeypatch.setattr(type(sub), "inverse", lambda self, name=None: inverse)
    src = sub.sources(
        layers="pial", vertices=[1, 2], trials=[0, 3], time=(0.0, 0.2), temporal=True
    )
    data = sub.sensor(trials=[0, 3])["data"].values.astype(np.float64)
    full = np.einsum(
        "vc,ctk->vtk",
        inverse["projector"].sel(layer="pial", vertex=[1, 2]).values,
        np.einsum("ctk,ts->csk", data, modes @ modes.T),
    )
    window = (times >= 0.0) & (times <= 0.2)
    np.testing.assert_allclose(src.values[0], full[:, window], rtol=1e-5, atol=1e-6)


def test_roi_queries(study_path):
    sub = open_study(study_path).subject(0)
    region = np.repeat([0, 1, -1, 2], 3)
    np.testing.assert_array_equal(sub.roi("lh.precentral").values, region == 0)
    np.testing.assert_array_equal(sub.roi("precentral").values, np.isin(region, [0, 2]))
    np.testing.assert_array_equal(sub.roi("motor").values, np.isin(region, [0, 2]))
    np.testing.assert_array_equal(
        sub.roi(["postcentral", "found"]).values, (region == 1) | (np.arange(12) < 2)
    )
    np.testing.assert_array_equal(sub.roi("aparc:rh.precentral").values, region == 2)
    assert sub.roi("all").values.all()
    with pytest.raises(lam.LaminarrayError, match=r"available: .*precentral"):
        sub.roi("insula")


def test_resolve_roi_masks_and_vertex_labels():
    vertices = np.array([10, 11, 12])
    np.testing.assert_array_equal(resolve_roi([11, 12], {}, vertices), [False, True, True])
    np.testing.assert_array_equal(
        resolve_roi(np.array([True, False, True]), {}, vertices), [True, False, True]
    )
    with pytest.raises(lam.LaminarrayError, match="one entry per vertex"):
        resolve_roi(np.array([True]), {}, vertices)
    with pytest.raises(lam.LaminarrayError, match="not in the mesh"):
        resolve_roi([99], {}, vertices)


def test_parcellation_from_freesurfer_annotation(tmp_path):
    mesh = _mesh().assign_coords(original_vertex=("vertex", np.arange(N_VERTICES) * 2))
    half = N_VERTICES  # full-resolution vertices per hemisphere
    ctab = np.array([[25, 5, 25, 0, 0], [20, 30, 140, 0, 0], [220, 20, 10, 0, 0]], dtype=np.int32)
    ctab[:, 4] = ctab[:, 0] + ctab[:, 1] * 2**8 + ctab[:, 2] * 2**16
    names = [b"unknown", b"precentral", b"insula"]
    labels = {"lh": np.arange(half) % 3, "rh": np.full(half, 2)}
    paths = {}
    for hemi, codes in labels.items():
        paths[hemi] = tmp_path / f"{hemi}.aparc.annot"
        fs.write_annot(paths[hemi], codes, ctab, names, fill_ctab=False)
    rois = parcellation_from_annot(mesh, paths)
    full = np.concatenate([np.where(labels["lh"] == 0, -1, labels["lh"] - 1), np.full(half, 3)])
    np.testing.assert_array_equal(rois["label_index"].values, full[np.arange(N_VERTICES) * 2])
    assert rois["label"].values.tolist() == [
        "lh.precentral",
        "lh.insula",
        "rh.precentral",
        "rh.insula",
    ]
    with pytest.raises(lam.LaminarrayError, match="not found"):
        parcellation_from_annot(mesh, {"lh": tmp_path / "missing.annot"})


def test_parcellation_hemispheres_from_finer_subdivision(tmp_path):
    """An fsaverage5-like mesh (hemi, no original_vertex) labelled from finer annotations:
    each hemisphere's columns take their own hemisphere's labels (issue: rh got lh.*)."""
    mesh = _mesh()
    n_hemi = N_VERTICES // 2
    ctab = np.array([[25, 5, 25, 0, 0], [20, 30, 140, 0, 0], [220, 20, 10, 0, 0]], dtype=np.int32)
    ctab[:, 4] = ctab[:, 0] + ctab[:, 1] * 2**8 + ctab[:, 2] * 2**16
    names = [b"unknown", b"precentral", b"insula"]
    finer = 4 * n_hemi  # the annotations cover a finer surface whose first vertices are the mesh's
    codes = {"lh": np.arange(finer) % 2 + 1, "rh": np.full(finer, 2)}
    paths = {}
    for hemi, values in codes.items():
        paths[hemi] = tmp_path / f"{hemi}.aparc.annot"
        fs.write_annot(paths[hemi], values, ctab, names, fill_ctab=False)
    rois = parcellation_from_annot(mesh, paths)
    labels = rois["label"].values[rois["label_index"].values]
    hemi = mesh["hemi"].values
    assert all(str(lab).startswith("rh.") for lab in labels[hemi == "rh"])
    assert labels[hemi == "rh"].tolist() == ["rh.insula"] * n_hemi
    expected_lh = ["lh.precentral", "lh.insula"] * (n_hemi // 2) + ["lh.precentral"] * (n_hemi % 2)
    assert labels[hemi == "lh"].tolist() == expected_lh
    small = {h: tmp_path / f"small_{h}.annot" for h in codes}
    for hemi, path in small.items():
        fs.write_annot(path, codes[hemi][: n_hemi - 1], ctab, names, fill_ctab=False)
    with pytest.raises(lam.LaminarrayError, match="finer icosahedral"):
        parcellation_from_annot(mesh, small)


def test_memory_budget_enforced(study_path):
    sub = open_study(study_path, max_memory=1000).subject(0)
    with pytest.raises(MemoryBudgetError, match="roi=, layers="):
        sub.sources(compute=True)
    small = sub.sources(roi="found", layers="pial", trials=[0], time=(0.0, 0.05), compute=True)
    assert not hasattr(small.data, "dask")


@pytest.mark.slow
def test_streamed_reduction_stays_under_budget(tmp_path):
    """A trial-mean over sources far larger than the budget runs with bounded RSS."""
    script = textwrap.dedent(
        """
        import resource, numpy as np, dask.array as da, laminarray as lam
        from laminarray.inverse import apply_inverse
        n_ch, n_t, n_tr = 64, 300, 200
        sensor = lam.sensor_dataset(da.random.default_rng(0).standard_normal((n_ch, n_t, n_tr),
                                    chunks=(n_ch, n_t, 20)).astype(np.float32),
                                    [f"c{i}" for i in range(n_ch)], np.arange(n_t) / 1000)
        proj = lam.projector_dataarray(np.random.default_rng(1).standard_normal((2, 4000, n_ch))
                                       .astype(np.float32), [f"c{i}" for i in range(n_ch)])
        src = apply_inverse(proj, sensor)  # 2 x 4000 x 300 x 200 x 4 B = 1.9 GB
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        (src ** 2).mean("trial").compute(scheduler="threads", num_workers=2)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(src.nbytes / 2**20, before, after)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    total_mb, before_mb, peak_mb = map(float, out.stdout.split())
    assert total_mb > 1800
    # what the reduction adds to the imports' footprint: a few 64 MB blocks per thread (about
    # 460 MB measured, more when the scheduler runs ahead on a loaded machine), never the estimate
    grown = peak_mb - before_mb
    assert grown < 600, f"RSS grew {grown:.0f} MB for a {total_mb:.0f} MB source estimate"


def test_select_keywords_errors():
    ds = xr.Dataset({"x": ("vertex", np.arange(3))}, coords={"vertex": [0, 1, 2]})
    assert select(ds, vertices=1)["x"].values.tolist() == [1]
    with pytest.raises(lam.LaminarrayError, match="`trials=` selects along `trial`"):
        select(ds, trials=[0])
    with pytest.raises(
        lam.LaminarrayError, match=r"expected among \[0, 1, 2\]; found unknown \[7\]"
    ):
        select(ds, vertices=[7])


def test_data_path_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("LAMINARRAY_DATA", raising=False)
    monkeypatch.delenv("LAMINARRAY_MAX_MEMORY", raising=False)
    assert get_data_path().name == "laminarray_data"
    (tmp_path / "cfg" / "laminarray").mkdir(parents=True)
    (tmp_path / "cfg" / "laminarray" / "config.toml").write_text(
        'data_path = "/from/config"\nmax_memory = "2 GB"\n'
    )
    assert str(get_data_path()) == "/from/config"
    assert get_max_memory() == 2 * 10**9
    monkeypatch.setenv("LAMINARRAY_DATA", "/from/env")
    assert str(get_data_path()) == "/from/env"
    assert str(get_data_path("/explicit")) == "/explicit"
    assert parse_bytes("512 MiB") == 512 * 2**20
    with pytest.raises(lam.LaminarrayError, match="byte count"):
        parse_bytes("lots")


def test_export_dataframe_and_gifti(study_path, tmp_path):
    sub = open_study(study_path).subject(0)
    tmap = xr.DataArray(
        np.arange(N_LAYERS * N_VERTICES, dtype=float).reshape(N_LAYERS, N_VERTICES),
        dims=("layer", "vertex"),
        coords=sub.mesh()[["layer", "vertex"]].coords,
        name="t",
    ).assign_coords(hemi=("vertex", sub.mesh()["hemi"].values))
    frame = to_dataframe(tmap, rois=sub.rois, roi_set="aparc")
    assert list(frame.columns) == ["layer", "vertex", "hemi", "depth", "t", "roi"]
    assert len(frame) == N_LAYERS * N_VERTICES
    row = frame[(frame["layer"] == "pial") & (frame["vertex"] == 3)].iloc[0]
    assert row["roi"] == "lh.postcentral"
    assert row["t"] == 3.0
    path = to_gifti(tmap, tmp_path / "t.func.gii", layer="pial")
    import nibabel as nib

    np.testing.assert_allclose(nib.load(path).darrays[0].data, tmap.sel(layer="pial").values)
