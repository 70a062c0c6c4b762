"""laMEG 0.2.1 source files (HDF5 schema "1.0"): lazy reading and archive conversion.

The files are written here with h5py to the layout of design note lameg §3.3 (the
layout laMEG's ``export_source_time_series_hdf5`` produces).
"""

from __future__ import annotations

import pickle

import dask.array as da
import h5py
import numpy as np
import pytest

from laminarray import archive
from laminarray.io.errors import FileFormatError, MissingFileError
from laminarray.io.lameg import (
    lameg_to_archive,
    read_lameg_dataset,
    read_lameg_sources,
)
from laminarray.surf.laminae import to_laminae
from laminarray.testing import raise_if_dask_computes

N_LAYERS, N_COLUMNS, N_TIMES, N_TRIALS = 11, 300, 40, 3


def write_lameg_file(path, *, trials=True, version="1.0", bigbrain=True, seed=0):
    """A laMEG-schema source file; returns the arrays written."""
    rng = np.random.default_rng(seed)
    shape = (N_LAYERS, N_COLUMNS, N_TIMES) + ((N_TRIALS,) if trials else ())
    source = rng.standard_normal(shape).astype(np.float32)
    time_ms = -100.0 + 5.0 * np.arange(N_TIMES)
    depth = 1.0 - np.linspace(1.0, 0.0, N_LAYERS)
    woi_ms = np.array([[-100.0, 0.0], [-50.0, 50.0], [0.0, 95.0]])
    counts = np.ones(N_TIMES, np.int32) + (time_ms >= -50) + (time_ms >= 0)
    positions = rng.uniform(-70, 70, (N_LAYERS, N_COLUMNS, 3)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "source_ts",
            data=source,
            chunks=(1, min(256, N_COLUMNS), min(256, N_TIMES)) + ((1,) if trials else ()),
            compression="lzf",
            shuffle=True,
        )
        f["time_ms"] = time_ms
        f["woi_ms"] = woi_ms
        f["window_count"] = counts
        f["layer_depth"] = depth
        f["layer_depth"].attrs["axis_order"] = "layer"
        f["layer_depth"].attrs["depth_convention"] = "0=pial,1=white"
        f["source_vertices"] = positions
        f.attrs.update(
            {
                "lameg_schema_version": version,
                "lameg_version": "0.2.1",
                "subject_id": "sub-104",
                "orientation_method": "link_vector",
                "fixed_orientation": True,
                "source_geometry": "LayerSurfaceSet",
                "axis_order": "layer,column,time" + (",trial" if trials else ""),
                "n_layers": N_LAYERS,
                "n_columns": N_COLUMNS,
                "n_windows": 3,
                "inversion_idx": 0,
                "source_order": "layer-major",
                "overlap_combination": "sample-wise mean",
                "export_strategy": "window-major",
            }
        )
        if bigbrain:
            weights = rng.uniform(0, 1, (N_COLUMNS, 6, N_LAYERS))
            weights /= weights.sum(-1, keepdims=True)
            edges = np.tile(np.array([0, 0.08, 0.14, 0.34, 0.41, 0.64, 1.0]), (N_COLUMNS, 1))
            valid = np.ones(N_COLUMNS, bool)
            valid[:5] = False
            edges[:5] = np.nan
            weights[:5] = np.nan
            group = f.create_group("bigbrain")
            group["edges"] = edges
            group["weights"] = weights
            group["labels"] = np.array([b"I", b"II", b"III", b"IV", b"V", b"VI"], dtype="S3")
            group["valid_columns"] = valid
            group.attrs["n_laminae"] = 6
    return {"source": source, "time_ms": time_ms, "positions": positions, "woi_ms": woi_ms}


@pytest.fixture
def lameg_file(tmp_path):
    path = tmp_path / "sub-104_sources.h5"
    return path, write_lameg_file(path)


def test_read_is_lazy_labelled_and_in_seconds(lameg_file):
    path, written = lameg_file
    with raise_if_dask_computes():
        source = read_lameg_sources(path)
    assert isinstance(source.data, da.Array)
    assert source.dims == ("layer", "vertex", "time", "trial")
    assert source.shape == (N_LAYERS, N_COLUMNS, N_TIMES, N_TRIALS)
    assert source.dtype == np.float32
    assert source.attrs["units"] == "nAm"
    assert source["layer"].values.tolist()[:3] == ["pial", "0.900", "0.800"]
    assert source["layer"].values[-1] == "white"
    np.testing.assert_allclose(source["depth"].values, np.linspace(0, 1, N_LAYERS))
    np.testing.assert_allclose(source["time"].values, written["time_ms"] / 1000.0)
    assert source["time"].attrs["units"] == "s"
    assert source["window_count"].values.tolist()[:12] == [1] * 10 + [2] * 2
    assert source.attrs["lameg"]["subject_id"] == "sub-104"
    assert source.attrs["lameg"]["fixed_orientation"] is True
    np.testing.assert_array_equal(source.values, written["source"])
    # the graph is picklable (runs on processes / a distributed cluster)
    restored = pickle.loads(pickle.dumps(source.data))
    np.testing.assert_array_equal(restored.compute(scheduler="sync"), written["source"])


def test_dataset_carries_positions_windows_and_bigbrain_weights(lameg_file):
    path, written = lameg_file
    ds = read_lameg_dataset(path)
    np.testing.assert_array_equal(ds["source_position"].values, written["positions"])
    assert ds["source_position"].attrs["units"] == "mm"
    np.testing.assert_allclose(ds["window_start"].values, written["woi_ms"][:, 0] / 1000)
    np.testing.assert_allclose(ds["window_end"].values, written["woi_ms"][:, 1] / 1000)
    weights = ds["laminar_weights"]
    assert weights.dims == ("vertex", "lamina", "layer")
    assert weights["lamina"].values.tolist() == ["I", "II", "III", "IV", "V", "VI"]
    assert weights["valid"].values[:6].tolist() == [False] * 5 + [True]
    np.testing.assert_allclose(weights["bottom"].values[5], [0.08, 0.14, 0.34, 0.41, 0.64, 1])
    laminar = to_laminae(ds["source"], weights)
    expected = np.einsum("vkl,lvtr->kvtr", weights.values[5:], written["source"][:, 5:])
    np.testing.assert_allclose(laminar.values[:, 5:], expected, rtol=1e-5, atol=1e-6)
    assert np.isnan(laminar.values[:, :5]).all()


def test_file_without_trials_gets_one_trial(tmp_path):
    path = tmp_path / "evoked.h5"
    written = write_lameg_file(path, trials=False, bigbrain=False)
    source = read_lameg_sources(path)
    assert source.sizes["trial"] == 1
    np.testing.assert_array_equal(source.isel(trial=0).values, written["source"])
    assert "laminar_weights" not in read_lameg_dataset(path)


def test_round_trip_to_an_archive(lameg_file, tmp_path):
    path, written = lameg_file
    store = tmp_path / "study.zarr"
    group = lameg_to_archive(path, store)  # threaded scheduler: one file handle per chunk read
    assert group == "sub-104/source/lameg"
    tree = archive.open(store)
    stored = tree["sub-104/source/lameg"].to_dataset()
    np.testing.assert_array_equal(stored["source"].values, written["source"])
    assert stored["source"].dtype == np.float32
    np.testing.assert_allclose(stored["time"].values, written["time_ms"] / 1000.0)
    assert stored["time"].attrs["units"] == "s"
    assert stored["layer"].values.tolist() == read_lameg_sources(path)["layer"].values.tolist()
    np.testing.assert_array_equal(stored["source_position"].values, written["positions"])
    assert stored.attrs["lameg"]["lameg_schema_version"] == "1.0"
    provenance = stored.attrs["provenance"]
    assert provenance["function"] == "laminarray.io.lameg_to_archive"
    assert any(key.endswith("sub-104_sources.h5") for key in provenance["inputs"])
    assert not archive.verify(store).problems
    other = lameg_to_archive(path, store, subject="sub-01", name="run1")
    assert other == "sub-01/source/run1"
    again = archive.open(store)["sub-01/source/run1"].to_dataset()
    np.testing.assert_array_equal(again["source"].values, written["source"])


def test_other_schema_versions_are_refused(tmp_path):
    path = tmp_path / "future.h5"
    write_lameg_file(path, version="2.0", bigbrain=False)
    with pytest.raises(FileFormatError, match=r"schema '2\.0' is not supported.*'1\.0'"):
        read_lameg_sources(path)
    with h5py.File(path, "a") as f:
        del f.attrs["lameg_schema_version"]
    with pytest.raises(FileFormatError, match="not a laMEG source file"):
        read_lameg_sources(path)


def test_malformed_files_name_the_dataset(tmp_path):
    path = tmp_path / "broken.h5"
    write_lameg_file(path, bigbrain=False)
    with h5py.File(path, "a") as f:
        del f["layer_depth"]
        f["layer_depth"] = np.linspace(1, 0, N_LAYERS)  # white -> pial: wrong convention
    with pytest.raises(FileFormatError, match="`/layer_depth` must rise strictly from 0"):
        read_lameg_sources(path)
    with h5py.File(path, "a") as f:
        del f["layer_depth"]
    with pytest.raises(FileFormatError, match=r"lacks the datasets \['layer_depth'\]"):
        read_lameg_sources(path)
    with pytest.raises(MissingFileError, match="not found"):
        read_lameg_sources(tmp_path / "absent.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        read_lameg_sources(tmp_path / "text.h5")
