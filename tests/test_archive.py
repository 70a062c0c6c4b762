"""Study archives: round trips, chunking, codecs, provenance, append, versions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings

import laminarray as lam
from laminarray import ArchiveError, SchemaError, archive
from laminarray.datasets import synthetic_cortex
from laminarray.testing import raise_if_dask_computes, sensor_datasets

RNG = np.random.default_rng(0)
CHANNELS = [f"MEG{i:03d}" for i in range(6)]
TIMES = np.arange(25) / 250.0


def _sensor(n_trials=7, trials=None, condition="a", dtype=np.float32):
    data = RNG.standard_normal((6, 25, n_trials)).astype(dtype)
    return lam.sensor_dataset(data, CHANNELS, TIMES, trials=trials, conditions=condition)


def _without_provenance(attrs):
    return {k: v for k, v in attrs.items() if k != "provenance"}


def _assert_same(stored: xr.Dataset, original: xr.Dataset) -> None:
    loaded = stored.compute()
    loaded.attrs = _without_provenance(loaded.attrs)
    xr.testing.assert_identical(loaded, original)
    for name, var in original.variables.items():
        assert stored[name].dtype.kind == var.dtype.kind or var.dtype.kind == "U", name
        if var.dtype.kind in "fiub":
            assert stored[name].dtype == var.dtype, name


# --------------------------------------------------------------------------- round trips


def test_roundtrip_sensor_mesh_gain_source(tmp_path):
    path = tmp_path / "study.zarr"
    sensor = _sensor()
    mesh = synthetic_cortex(n_vertices=200, n_layers=3)
    gain = lam.gain_dataarray(RNG.standard_normal((6, 3, 200)), CHANNELS)
    source = lam.source_dataarray(RNG.standard_normal((3, 200, 25, 2)).astype("f4"), TIMES)
    archive.save(sensor, path, "sub-01/sensor")
    archive.save(mesh, path, "sub-01/mesh")
    archive.save(gain, path, "sub-01/forward")
    archive.save(source, path, "sub-01/source/mne")
    tree = archive.open(path)
    _assert_same(tree["sub-01/sensor"].to_dataset(), sensor)
    _assert_same(tree["sub-01/mesh"].to_dataset(), mesh)
    _assert_same(tree["sub-01/forward"].to_dataset(), gain.to_dataset())
    _assert_same(tree["sub-01/source/mne"].to_dataset(), source.to_dataset())
    assert isinstance(tree["sub-01/sensor"]["data"].data, da.Array)
    assert tree["sub-01/sensor"]["data"].attrs == {"units": "fT", "long_name": "sensor signal"}
    assert archive.verify(path).ok


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sensor_datasets(max_channels=5, max_times=6, max_trials=5))
def test_roundtrip_property(tmp_path, ds):
    path = tmp_path / f"{abs(hash(ds['data'].values.tobytes()))}.zarr"
    archive.save(ds, path, "s/sensor", chunks={"trial": 2})
    back = archive.open(path)["s/sensor"].to_dataset()
    _assert_same(back, ds)
    assert back["data"].chunks[-1][0] == min(2, ds.sizes["trial"])


def test_datatree_roundtrip_at_root_and_group(tmp_path):
    tree = xr.DataTree.from_dict(
        {
            "/": xr.Dataset(attrs={"study": "x"}),
            "/a/sensor": _sensor(),
            "/a/results/r": xr.Dataset({"p": ("k", [0.1, 0.2])}),
        }
    )
    archive.save(tree, tmp_path / "root.zarr")
    back = archive.open(tmp_path / "root.zarr")
    assert back.attrs["study"] == "x"
    assert back.attrs["schema_version"] == lam.SCHEMA_VERSION
    _assert_same(back["a/sensor"].to_dataset(), tree["a/sensor"].to_dataset())
    archive.save(tree["a"], tmp_path / "root.zarr", "b")
    np.testing.assert_array_equal(back["a/results/r"]["p"].values, [0.1, 0.2])
    again = archive.open(tmp_path / "root.zarr")
    _assert_same(again["b/sensor"].to_dataset(), tree["a/sensor"].to_dataset())


def test_dataset_replaces_variables_keeps_subgroups(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(), path, "sub-01/sensor")
    archive.save(xr.Dataset({"age": ((), 31.0)}), path, "sub-01")
    archive.save(xr.Dataset({"age": ((), 32.0)}), path, "sub-01")
    tree = archive.open(path)
    assert float(tree["sub-01"]["age"]) == 32.0
    assert "data" in tree["sub-01/sensor"].data_vars
    with pytest.raises(ArchiveError, match="mode='w-'"):
        archive.save(_sensor(), path, "sub-01/sensor", mode="w-")
    created = tree.attrs["created"]
    archive.save(xr.Dataset(attrs={"study": "demo"}), path)  # the root's own variables and attrs
    tree = archive.open(path)
    assert tree.attrs["study"] == "demo"
    assert tree.attrs["created"] == created
    assert float(tree["sub-01"]["age"]) == 32.0
    assert archive.verify(path).ok


def test_plain_xarray_opens_with_units(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(synthetic_cortex(n_vertices=100, n_layers=2), path, "sub-01/mesh")
    tree = xr.open_datatree(path, engine="zarr")
    assert tree["sub-01/mesh"]["vertices"].attrs["units"] == "mm"
    assert tree["sub-01/mesh"]["vertices"].dims == ("layer", "vertex", "xyz")
    assert list(tree["sub-01/mesh"]["layer"].values) == ["pial", "white"]


def test_dask_input_is_rechunked_and_open_is_lazy(tmp_path):
    data = da.from_array(RNG.standard_normal((6, 25, 9)).astype("f4"), chunks=(6, 25, 4))
    ds = lam.sensor_dataset(data, CHANNELS, TIMES)
    archive.save(ds, tmp_path / "a.zarr", "s/sensor", chunks={"trial": 3})
    with raise_if_dask_computes():
        tree = archive.open(tmp_path / "a.zarr")
        lazy = tree["s/sensor"]["data"] * 2
        lam.validate_sensor(tree["s/sensor"].to_dataset())  # labels are in memory, as str
    assert tree["s/sensor"]["ch_type"].dtype.kind == "U"
    assert tree["s/sensor"]["channel"].values.tolist() == CHANNELS
    assert lazy.chunks == ((6,), (25,), (3, 3, 3))
    np.testing.assert_array_equal(lazy.values, 2 * data.compute())


# --------------------------------------------------------------------------- chunks and codecs


def test_chunk_rule():
    chunks = archive.storage_chunks(("channel", "time", "trial"), (274, 600, 500), 4)
    assert chunks == (274, 600, 102)
    shape = (11, 20000, 600, 200)
    chunks = archive.storage_chunks(("layer", "vertex", "time", "trial"), shape, 4)
    assert (chunks[0], chunks[2], chunks[3]) == (11, 600, 1)
    nbytes = 4 * np.prod(chunks)
    assert archive.TARGET_CHUNK_BYTES / 2 < nbytes <= archive.TARGET_CHUNK_BYTES
    small = archive.storage_chunks(("layer", "vertex", "time", "trial"), (11, 500, 600, 200), 4)
    assert small[:3] == (11, 500, 600)
    assert small[3] > 1
    assert small[3] < 200
    assert archive.storage_chunks(("channel", "layer", "vertex"), (300, 11, 200000), 4)[:2] == (
        300,
        11,
    )
    assert archive.storage_chunks(("vertex", "trial"), (100, 50), 8, {"trial": 7}) == (100, 7)
    assert archive.storage_chunks(("vertex",), (0,), 8) == (1,)


@pytest.mark.parametrize(
    ("compressor", "codec"),
    [("lz4", "blosc"), ("zstd", "zstd"), (None, None), ("none", None), ("default", None)],
)
def test_every_array_has_a_checksum(tmp_path, compressor, codec):
    path = tmp_path / "a.zarr"
    kwargs = {} if compressor == "default" else {"compressor": compressor}
    archive.save(_sensor(), path, "s/sensor", **kwargs)
    metas = [json.loads(p.read_text()) for p in (path / "s" / "sensor").glob("*/zarr.json")]
    assert len(metas) == 7
    for meta in metas:
        names = [c["name"] for c in meta["codecs"]]
        assert names[-1] == "crc32c"
        assert (codec in names) if codec else len(names) == 2
    with pytest.raises(lam.LaminarrayError, match="compressor"):
        archive.save(_sensor(), path, "s/sensor", compressor="gzip9")


def test_consolidated_metadata_lists_every_node(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(), path, "sub-01/sensor")
    meta = json.loads((path / "zarr.json").read_text())
    keys = set(meta["consolidated_metadata"]["metadata"])
    assert {"sub-01", "sub-01/sensor", "sub-01/sensor/data", "sub-01/sensor/channel"} <= keys


# --------------------------------------------------------------------------- provenance and versions


def test_provenance_and_root_attrs(tmp_path):
    raw = tmp_path / "raw.dat"
    raw.write_bytes(b"0123456789" * 100)
    path = tmp_path / "a.zarr"
    archive.save(
        _sensor(),
        path,
        "sub-01/sensor",
        provenance={"function": "laminarray.io.spm.read", "parameters": {"n": 1}, "inputs": [raw]},
    )
    tree = archive.open(path)
    record = tree["sub-01/sensor"].attrs["provenance"]
    assert record["function"] == "laminarray.io.spm.read"
    assert record["parameters"] == {"n": 1}
    assert record["inputs"] == {str(raw): hashlib.sha256(raw.read_bytes()).hexdigest()}
    assert record["versions"]["laminarray"] == lam.__version__
    assert {"numpy", "xarray", "dask", "zarr"} <= set(record["versions"])
    root = tree.attrs
    assert root["laminarray_version"] == lam.__version__
    assert root["schema_version"] == lam.SCHEMA_VERSION
    assert root["created"].endswith("+00:00")
    with pytest.raises(ArchiveError, match="provenance"):
        archive.save(_sensor(), path, "x/sensor", provenance={"funtion": "typo"})


def _bump_schema(path: Path) -> None:
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = lam.SCHEMA_VERSION + 1
    (path / "zarr.json").write_text(json.dumps(meta))


def test_newer_schema_version_is_a_clear_error(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(), path, "s/sensor")
    _bump_schema(path)
    message = f"schema version {lam.SCHEMA_VERSION + 1}.*upgrade laminarray"
    with pytest.raises(ArchiveError, match=message):
        archive.open(path)
    with pytest.raises(ArchiveError, match=message):
        archive.save(_sensor(), path, "s/sensor")
    with pytest.raises(ArchiveError, match=message):
        archive.append(_sensor(trials=np.arange(7, 14)), path, "s/sensor")
    report = archive.verify(path)
    assert not report.ok
    assert "upgrade laminarray" in str(report)


def test_refuses_non_archive_directories_and_bad_arguments(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ArchiveError, match="not an archive"):
        archive.save(_sensor(), tmp_path, "s/sensor")
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    with pytest.raises(ArchiveError, match=r"no zarr\.json"):
        archive.open(tmp_path)
    with pytest.raises(ArchiveError, match="local directory"):
        archive.save(_sensor(), {}, "s/sensor")
    with pytest.raises(ArchiveError, match="invalid component"):
        archive.save(_sensor(), tmp_path / "b.zarr", "s/.hidden")
    with pytest.raises(lam.LaminarrayError, match="mode"):
        archive.save(_sensor(), tmp_path / "b.zarr", "s/sensor", mode="a")


def test_known_group_kinds_are_validated_on_save(tmp_path):
    bad = _sensor()
    bad["data"].attrs.pop("units")
    with pytest.raises(SchemaError, match=r"/sub-01/sensor.*units"):
        archive.save(bad, tmp_path / "a.zarr", "sub-01/sensor")
    archive.save(bad, tmp_path / "a.zarr", "sub-01/results/raw")  # free-form group


# --------------------------------------------------------------------------- append


def _chunk_inode(path: Path, key: str) -> int:
    return os.stat(path / "s" / "sensor" / "data" / key).st_ino


def test_append_trials_without_rewriting(tmp_path):
    path = tmp_path / "a.zarr"
    first = _sensor(n_trials=7, condition="a")
    archive.save(first, path, "s/sensor", chunks={"trial": 3})
    full_chunk = _chunk_inode(path, "c/0/0/0")
    second = _sensor(n_trials=5, trials=np.arange(7, 12), condition="b")
    archive.append(second, path, "s/sensor")
    assert _chunk_inode(path, "c/0/0/0") == full_chunk  # hard-linked, not rewritten
    back = archive.open(path)["s/sensor"].to_dataset()
    expected = xr.concat([first, second], dim="trial")
    np.testing.assert_array_equal(back["data"].values, expected["data"].values)
    assert back["condition"].values.tolist() == ["a"] * 7 + ["b"] * 5
    assert back["trial"].values.tolist() == list(range(12))
    assert back["data"].chunks[-1] == (3, 3, 3, 3)
    assert back.attrs["sfreq"] == first.attrs["sfreq"]
    assert back.attrs["provenance"]["appended"][0]["parameters"] == {"dim": "trial", "count": 5}
    assert archive.verify(path).ok


def test_append_dask_and_transposed(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(n_trials=4), path, "s/sensor", chunks={"trial": 3})
    new = _sensor(n_trials=5, trials=np.arange(4, 9)).chunk({"trial": 2})
    archive.append(new.transpose("trial", "time", "channel"), path, "s/sensor")
    back = archive.open(path)["s/sensor"]["data"]
    np.testing.assert_array_equal(back.values[..., 4:], new["data"].values)
    assert archive.verify(path).ok


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda ds: ds.assign_coords(trial=np.arange(5)), "already stored"),
        (lambda ds: ds.assign_coords(channel=[f"X{i}" for i in range(6)]), "'channel' differs"),
        (lambda ds: ds.isel(time=slice(0, 20)), "'time' has size 20"),
        (lambda ds: ds.assign(extra=("trial", np.ones(5))), "only in `obj` \\['extra'\\]"),
        (lambda ds: ds.drop_dims("trial"), "along 'trial'"),
    ],
)
def test_append_rejects_incompatible(tmp_path, change, match):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(n_trials=5), path, "s/results/x")
    with pytest.raises(ArchiveError, match=match):
        archive.append(change(_sensor(n_trials=5, trials=np.arange(5, 10))), path, "s/results/x")
    with pytest.raises(ArchiveError, match="no group /s/other"):
        archive.append(_sensor(n_trials=5), path, "s/other")
    assert archive.verify(path).ok


def test_append_rejects_other_units(tmp_path):
    path = tmp_path / "a.zarr"
    archive.save(_sensor(n_trials=5), path, "s/results/x")
    new = _sensor(n_trials=5, trials=np.arange(5, 10))
    new["data"].attrs["units"] = "T"
    with pytest.raises(ArchiveError, match="'T' but the archive holds 'fT'"):
        archive.append(new, path, "s/results/x")


def test_append_to_a_source_group_and_accessor(tmp_path):
    path = tmp_path / "a.zarr"
    src = lam.source_dataarray(RNG.standard_normal((2, 30, 25, 3)).astype("f4"), TIMES)
    src.lam.save(path, "sub-01/source/ebb")
    more = lam.source_dataarray(
        RNG.standard_normal((2, 30, 25, 2)).astype("f4"), TIMES, trials=[3, 4]
    )
    more.lam.append(path, "sub-01/source/ebb")
    back = archive.open(path)["sub-01/source/ebb"]["source"]
    np.testing.assert_array_equal(back.values, xr.concat([src, more], "trial").values)
    assert back.dims == ("layer", "vertex", "time", "trial")
