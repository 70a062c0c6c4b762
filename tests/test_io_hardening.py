"""Readers that never lie: SPM's .dat lookup, size caps, UTF-16 text and fuzzed headers."""

from __future__ import annotations

import shutil
import tracemalloc

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import laminarray as lam
from laminarray import LaminarrayError, archive
from laminarray.io import FileFormatError, MissingFileError, read_spm, write_spm
from laminarray.io._matfile import MatFile
from laminarray.io._matwrite import write_mat

CHANNELS = ["MLC11", "MLC12", "MRC11"]
TIMES = np.arange(8) / 100.0


def _dataset(value=0.0):
    data = np.full((3, 8, 2), value, "f4") + np.arange(8, dtype="f4")[None, :, None]
    return lam.sensor_dataset(data, CHANNELS, TIMES, units="fT")


@pytest.fixture
def spm_pair(tmp_path):
    """An SPM dataset written by laminarray (``D.data.fname`` absolute, as SPM writes it)."""
    (tmp_path / "orig").mkdir()
    return write_spm(_dataset(), tmp_path / "orig" / "spmeeg_a.mat")


def test_a_copied_dataset_reads_its_own_binary(spm_pair, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(spm_pair, copy / spm_pair.name)
    (tmp_path / "other").mkdir()
    write_spm(_dataset(100.0), tmp_path / "other" / "x.mat")
    shutil.copy(tmp_path / "other" / "x.dat", copy / spm_pair.with_suffix(".dat").name)
    copied = read_spm(copy / spm_pair.name)
    np.testing.assert_array_equal(copied["data"].values, _dataset(100.0)["data"].values)
    original = read_spm(spm_pair)
    np.testing.assert_array_equal(original["data"].values, _dataset()["data"].values)


def test_a_path_outside_the_header_directory_needs_an_explicit_opt_in(spm_pair, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(spm_pair, alone / "renamed.mat")  # no .dat beside it
    with pytest.raises(MissingFileError, match="external_dat=True"):
        read_spm(alone / "renamed.mat")
    ds = read_spm(alone / "renamed.mat", external_dat=True)
    np.testing.assert_array_equal(ds["data"].values, _dataset()["data"].values)


def _matlab_dataset(h5, name, shape, cls="double", dtype="f8"):
    dset = h5.create_dataset(name, shape=shape, dtype=dtype, chunks=(1, 1))  # nothing stored
    dset.attrs["MATLAB_class"] = np.bytes_(cls)
    return dset


@pytest.mark.parametrize(
    ("shape", "cls", "dtype"),
    [((200_000, 200_000), "double", "f8"), ((1, 2**33), "char", "u2")],
)
def test_declared_sizes_beyond_the_file_are_refused_before_allocating(tmp_path, shape, cls, dtype):
    path = tmp_path / "crafted.mat"
    with h5py.File(path, "w") as h5:
        _matlab_dataset(h5, "x", shape, cls, dtype)
    assert path.stat().st_size < 20_000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"`/x` declares \d+ bytes"):
            MatFile(path).get("x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_utf16_text_round_trips_with_surrogate_pairs(tmp_path):
    path = tmp_path / "t.mat"
    text = "µV 𝛼-band ✓"  # 𝛼 (U+1D6FC) is a surrogate pair in UTF-16
    write_mat(path, {"D": {"label": text, "rows": [text, "plain"]}})
    back = MatFile(path).get("D")
    assert back["label"] == text
    assert back["rows"] == [text, "plain"]
    with h5py.File(path, "r+") as h5:  # a lone high surrogate
        del h5["D"]["label"]
        dset = h5["D"].create_dataset("label", data=np.array([[0x41, 0xD835, 0x42]], "u2").T)
        dset.attrs["MATLAB_class"] = np.bytes_("char")
    label = MatFile(path).get("D", "label")
    assert label == "A\ufffdB"
    ds = lam.sensor_dataset(np.zeros((1, 2, 1), "f4"), [label], np.arange(2) / 10.0)
    archive.save(ds, tmp_path / "a.zarr", "s/sensor")  # saves: no lone surrogate left
    assert archive.open(tmp_path / "a.zarr")["s/sensor"]["channel"].values.tolist() == [label]


_SEED_HEADER: dict[str, bytes] = {}


def _seed(tmp_path_factory) -> tuple[bytes, bytes]:
    if not _SEED_HEADER:
        path = write_spm(_dataset(), tmp_path_factory.mktemp("seed") / "s.mat")
        _SEED_HEADER["mat"] = path.read_bytes()
        _SEED_HEADER["dat"] = path.with_suffix(".dat").read_bytes()
    return _SEED_HEADER["mat"], _SEED_HEADER["dat"]


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flips=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 2**31)),
)
def test_fuzzed_headers_fail_cleanly_within_bounded_memory(tmp_path_factory, flips, cut):
    mat, dat = _seed(tmp_path_factory)
    raw = bytearray(mat)
    for position, value in flips:
        raw[512 + position % (len(raw) - 512)] = value  # past MATLAB's user block
    if cut is not None:
        raw = raw[: cut % len(raw)]
    where = tmp_path_factory.mktemp("fuzz")
    (where / "f.mat").write_bytes(bytes(raw))
    (where / "f.dat").write_bytes(dat)
    tracemalloc.start()
    try:
        ds = read_spm(where / "f.mat")
        ds["data"].values  # noqa: B018
    except LaminarrayError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 2**20
