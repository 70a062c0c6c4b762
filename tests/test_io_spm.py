"""SPM M/EEG datasets: reading independently built files, round trips, laziness, robustness.

The "independent" files are built here with raw h5py / scipy.io following the
layout documented in ../shared/specs/lameg.md §2.2 (not with laminarray's
writer), so reader and writer are checked against the spec, not each other.
"""

from __future__ import annotations

import tracemalloc

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
import scipy.io
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import laminarray as la
from laminarray.io import FileFormatError, MissingFileError, read_spm, write_spm
from laminarray.testing import raise_if_dask_computes, sensor_datasets

LABELS = ["MLC11", "MLC12", "MRC11", "EEG001", "REF1"]
TYPES = ["MEG", "MEG", "MEG", "EEG", "REFMAG"]
BAD = [0, 1, 0, 0, 0]


def _spm_array(n_c: int, n_t: int, n_k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_c, n_t, n_k)).astype(np.float32)


def _write_dat(path, array: np.ndarray, dtype: str = "<f4", offset: int = 0) -> None:
    """Column-major (channel fastest) as SPM's file_array writes it."""
    with open(path, "wb") as fh:
        fh.write(b"\0" * offset)
        fh.write(np.asarray(array).astype(dtype).tobytes(order="F"))


# ----------------------------------------------------------------- raw h5py v7.3 builder


def _h5_char(group, name, text):
    ds = group.create_dataset(name, data=np.array([ord(c) for c in text], np.uint16)[:, None])
    ds.attrs["MATLAB_class"] = np.bytes_("char")
    ds.attrs["MATLAB_int_decode"] = np.int32(2)
    return ds


def _h5_num(group, name, value):
    array = np.atleast_2d(np.asarray(value, dtype=np.float64))
    ds = group.create_dataset(name, data=array.T)  # h5py shows MATLAB arrays transposed
    ds.attrs["MATLAB_class"] = np.bytes_("double")
    return ds


def _h5_struct_array(f, group, name, records):
    sub = group.create_group(name)
    sub.attrs["MATLAB_class"] = np.bytes_("struct")
    refs_group = f.require_group("#refs#")
    for field in records[0]:
        refs = []
        for i, rec in enumerate(records):
            key = f"{name}_{field}_{i}"
            value = rec[field]
            if isinstance(value, str):
                _h5_char(refs_group, key, value)
            else:
                _h5_num(refs_group, key, value)
            refs.append(refs_group[key].ref)
        sub.create_dataset(field, data=np.array(refs, dtype=h5py.ref_dtype)[:, None])


def build_v73(
    path,
    data,
    *,
    labels=LABELS,
    types=TYPES,
    bad=BAD,
    units=None,
    fsample=600.0,
    onset=-0.1,
    conditions=None,
    dtype_code=16,
    be=0,
    offset=0,
    slope=None,
    fname=None,
    drop=(),
):
    """An SPM header (v7.3) built with h5py only, following the documented layout."""
    n_c, n_t, n_k = data.shape
    units = units or ["uV" if t == "EEG" else "fT" for t in types]
    conditions = conditions or ["faces"] * n_k
    with h5py.File(path, "w", userblock_size=512) as f:
        d = f.create_group("D")
        d.attrs["MATLAB_class"] = np.bytes_("struct")
        for key, value in (("Fsample", fsample), ("timeOnset", onset), ("Nsamples", n_t)):
            if key not in drop:
                _h5_num(d, key, value)
        _h5_char(d, "type", "single")
        if "channels" not in drop:
            _h5_struct_array(
                f,
                d,
                "channels",
                [
                    {"label": lab, "type": typ, "bad": b, "units": u}
                    for lab, typ, b, u in zip(labels, types, bad, units, strict=True)
                ],
            )
        _h5_struct_array(f, d, "trials", [{"label": c, "bad": 0.0} for c in conditions])
        data_group = d.create_group("data")
        data_group.attrs["MATLAB_class"] = np.bytes_("file_array")
        if "dim" not in drop:
            _h5_num(data_group, "dim", [[n_c, n_t, n_k]])
        _h5_char(data_group, "fname", fname or str(path.with_suffix(".dat")))
        _h5_num(data_group, "dtype", dtype_code)
        _h5_num(data_group, "be", be)
        _h5_num(data_group, "offset", offset)
        if slope is not None:
            _h5_num(data_group, "scl_slope", np.asarray(slope)[:, None])
    with open(path, "r+b") as fh:
        fh.write(
            b"MATLAB 7.3 MAT-file, built by h5py in the test".ljust(116) + bytes(8) + b"\0\x02IM"
        )


def build_v5(path, data, *, labels=LABELS, types=TYPES, bad=BAD, fsample=600.0, onset=-0.1):
    """An SPM header (v5) built with scipy.io.savemat structured arrays only."""
    n_c, n_t, n_k = data.shape
    channels = np.zeros(
        (1, n_c), dtype=[("label", "O"), ("type", "O"), ("bad", "O"), ("units", "O")]
    )
    for i in range(n_c):
        channels[0, i] = (labels[i], types[i], float(bad[i]), "fT")
    trials = np.zeros((1, n_k), dtype=[("label", "O"), ("bad", "O")])
    for k in range(n_k):
        trials[0, k] = ("faces" if k % 2 else "houses", float(k == 1))
    d = {
        "Fsample": fsample,
        "timeOnset": onset,
        "Nsamples": float(n_t),
        "channels": channels,
        "trials": trials,
        "data": {
            "fname": str(path.with_suffix(".dat")),
            "dim": np.array([[n_c, n_t, n_k]], float),
            "dtype": 16.0,
            "be": 0.0,
            "offset": 0.0,
        },
    }
    scipy.io.savemat(path, {"D": d}, format="5")


@pytest.fixture
def v73_file(tmp_path):
    data = _spm_array(5, 12, 4)
    path = tmp_path / "raw73.mat"
    build_v73(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    return path, data


# ----------------------------------------------------------------- reading


def test_read_independent_v73_matches_layout(v73_file):
    path, data = v73_file
    ds = read_spm(path)
    np.testing.assert_array_equal(ds["data"].values, data)
    assert list(ds["channel"].values) == LABELS
    assert list(ds["ch_type"].values) == TYPES
    np.testing.assert_array_equal(ds["bad"].values, np.array(BAD, bool))
    # time_ms = (arange(N)/Fsample + timeOnset)*1000 in laMEG -> seconds here
    np.testing.assert_allclose(ds["time"].values, -0.1 + np.arange(12) / 600.0)
    assert ds["data"].attrs["units"] == "mixed"
    assert list(ds["ch_units"].values) == ["fT", "fT", "fT", "uV", "fT"]
    assert set(ds["condition"].values) == {"faces"}


def test_read_independent_v5(tmp_path):
    data = _spm_array(5, 7, 3, seed=1)
    path = tmp_path / "raw5.mat"
    build_v5(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    ds = read_spm(path)
    np.testing.assert_array_equal(ds["data"].values, data)
    assert list(ds["condition"].values) == ["houses", "faces", "houses"]
    np.testing.assert_array_equal(ds["bad_trial"].values, [False, True, False])
    assert ds.attrs["spm_format"] == "v5"


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ("all", LABELS),
        ("MEG", ["MLC11", "MLC12", "MRC11"]),
        ("good", ["MLC11", "MRC11"]),
        ("EEG", ["EEG001"]),
        (["MRC11", "MLC11"], ["MRC11", "MLC11"]),
    ],
)
def test_channel_selection_like_lameg(v73_file, channels, expected):
    path, data = v73_file
    ds = read_spm(path, channels=channels)
    assert list(ds["channel"].values) == expected
    rows = [LABELS.index(c) for c in expected]
    np.testing.assert_array_equal(ds["data"].values, data[rows])
    if channels == "good":
        assert ds["data"].attrs["units"] == "fT"


def test_channel_selection_errors(v73_file):
    path, _ = v73_file
    with pytest.raises(la.LaminarrayError, match="NOPE"):
        read_spm(path, channels=["NOPE"])
    with pytest.raises(la.LaminarrayError, match="channels"):
        read_spm(path, channels="meg")


@pytest.mark.parametrize(
    ("dtype", "code", "be"), [("<i2", 4, 0), (">f4", 16, 1), ("<f8", 64, 0), ("<u1", 2, 0)]
)
def test_dtype_endianness_offset_and_per_channel_slope(tmp_path, dtype, code, be):
    raw = np.random.default_rng(2).integers(0, 100, (5, 6, 3)).astype(dtype)
    slope = np.array([0.5, 2.0, 1.0, 3.0, 0.25])
    path = tmp_path / "scaled.mat"
    build_v73(path, raw, dtype_code=code, be=be, offset=16, slope=slope)
    _write_dat(path.with_suffix(".dat"), raw, dtype=dtype, offset=16)
    ds = read_spm(path)
    expected = raw.astype(np.float64) * slope[:, None, None]  # value = raw * scl_slope
    np.testing.assert_allclose(ds["data"].values, expected, rtol=1e-6)


def test_tesla_converted_to_femtotesla(tmp_path):
    data = _spm_array(5, 4, 2) * np.float32(1e-13)
    path = tmp_path / "tesla.mat"
    build_v73(path, data, units=["T", "T", "T", "V", "T"])
    _write_dat(path.with_suffix(".dat"), data)
    ds = read_spm(path, channels="MEG")
    assert ds["data"].attrs["units"] == "fT"
    np.testing.assert_allclose(ds["data"].values, data[:3] * 1e15, rtol=1e-6)
    eeg = read_spm(path, channels="EEG")
    assert eeg["data"].attrs["units"] == "uV"
    np.testing.assert_allclose(eeg["data"].values, data[3:4] * 1e6, rtol=1e-6)


def test_dat_found_beside_header_when_stored_path_is_stale(tmp_path):
    data = _spm_array(5, 4, 2)
    path = tmp_path / "moved.mat"
    build_v73(path, data, fname="C:\\old\\machine\\moved.dat")
    _write_dat(path.with_suffix(".dat"), data)
    np.testing.assert_array_equal(read_spm(path)["data"].values, data)


# ----------------------------------------------------------------- laziness and memory


def test_read_is_lazy_and_chunked_over_trials(v73_file):
    path, data = v73_file
    with raise_if_dask_computes():
        ds = read_spm(path, channels="good", chunk_bytes=2 * 12 * 4 * 2)
        mean = ds["data"].mean("trial")
    assert ds["data"].data.chunks[2] == (2, 2)
    assert ds["data"].data.chunks[:2] == ((2,), (12,))
    np.testing.assert_allclose(mean.values, data[[0, 2]].mean(axis=2), rtol=1e-6)


def test_memory_bounded_reading_larger_than_limit(tmp_path):
    # 64 ch x 1000 samples x 60 trials float32 = 15.4 MB; limit chunks to 1 MB
    n_c, n_t, n_k = 64, 1000, 60
    data = np.random.default_rng(3).standard_normal((n_c, n_t, n_k)).astype(np.float32)
    path = tmp_path / "big.mat"
    build_v73(path, data, labels=[f"M{i}" for i in range(n_c)], types=["MEG"] * n_c, bad=[0] * n_c)
    _write_dat(path.with_suffix(".dat"), data)
    expected = data.astype(np.float64).sum(axis=(0, 1))
    total = data.nbytes
    del data
    limit = 2**20
    ds = read_spm(path, chunk_bytes=limit)
    assert np.prod([max(c) for c in ds["data"].data.chunks]) * 4 <= limit
    tracemalloc.start()
    with dask.config.set(scheduler="synchronous"):
        result = ds["data"].sum(("channel", "time"), dtype=np.float64).values
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(result, expected, rtol=1e-9)
    assert peak < 6 * limit < total / 2, f"peak {peak} B while the file is {total} B"


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_round_trip_spm_laminarray_spm(v73_file, tmp_path, fmt):
    path, _data = v73_file
    first = read_spm(path)
    out = write_spm(first, tmp_path / f"copy_{fmt.replace('.', '')}", fmt, chunk_bytes=300)
    again = read_spm(out)
    xr.testing.assert_identical(first.drop_attrs(deep=False), again.drop_attrs(deep=False))
    assert again.attrs["spm_format"] == fmt
    # and once more through the writer: bytes of the .dat are stable
    out2 = write_spm(again, tmp_path / "copy2.mat", fmt)
    assert out.with_suffix(".dat").read_bytes() == out2.with_suffix(".dat").read_bytes()
    assert out.with_suffix(".dat").read_bytes() == path.with_suffix(".dat").read_bytes()


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
@pytest.mark.parametrize("lazy", [False, True])
def test_round_trip_from_dask_dataset_with_geometry(tmp_path, lazy, fmt):
    rng = np.random.default_rng(4)
    values = rng.standard_normal((3, 8, 5)).astype(np.float32)
    ds = la.sensor_dataset(
        da.from_array(values, chunks=(3, 8, 2)) if lazy else values,
        ["A", "B", "C"],
        0.25 + np.arange(8) / 250.0,
        conditions=list("xyxyy"),
        bad=[0, 0, 1],
    )
    ds["fiducials"] = xr.DataArray(
        rng.standard_normal((3, 3)),
        dims=("fiducial", "xyz"),
        coords={"fiducial": ["nas", "lpa", "rpa"], "xyz": list("xyz")},
        attrs={"units": "mm"},
    )
    ds["sensor_position"] = (
        ("channel", "xyz"),
        rng.standard_normal((3, 3)) * 100,
        {"units": "mm"},
    )
    ds["sensor_orientation"] = (("channel", "xyz"), np.eye(3), {"units": "1"})
    ds["coil_position"] = (("coil", "xyz"), rng.standard_normal((6, 3)), {"units": "mm"})
    ds["coil_orientation"] = (("coil", "xyz"), np.tile(np.eye(3), (2, 1)), {"units": "1"})
    ds["coil_weight"] = (("channel", "coil"), np.kron(np.eye(3), [1.0, -1.0]), {"units": "1"})
    out = write_spm(ds, tmp_path / "geo.mat", fmt, chunk_bytes=3 * 8 * 4 * 2)
    back = read_spm(out)
    np.testing.assert_array_equal(back["data"].values, values)
    np.testing.assert_array_equal(back["condition"].values, list("xyxyy"))
    np.testing.assert_allclose(back["time"].values, ds["time"].values, rtol=0, atol=1e-12)
    for name in (
        "fiducials",
        "sensor_position",
        "sensor_orientation",
        "coil_position",
        "coil_orientation",
        "coil_weight",
    ):
        np.testing.assert_allclose(back[name].values, ds[name].values, err_msg=name)
    assert list(back["fiducial"].values) == ["nas", "lpa", "rpa"]


def test_write_rejects_irregular_time(tmp_path):
    ds = la.sensor_dataset(np.zeros((1, 3, 1)), ["A"], [0.0, 0.1, 0.3])
    with pytest.raises(la.LaminarrayError, match="uniformly sampled"):
        write_spm(ds, tmp_path / "x.mat")


def test_write_streams_bounded_blocks(tmp_path):
    """Each block handed to the file is at most chunk_bytes (whole trials)."""
    values = np.ones((4, 10, 9), np.float32)
    seen = []

    def spy(block):
        if block.size:  # skip dask's meta probe
            seen.append(block.shape)
        return block

    lazy = da.from_array(values, chunks=(4, 10, 1)).map_blocks(spy, dtype=np.float32)
    ds = la.sensor_dataset(lazy, list("ABCD"), np.arange(10) / 10.0)
    write_spm(ds, tmp_path / "s.mat", chunk_bytes=4 * 10 * 4 * 2)
    assert max(s[2] for s in seen) == 1
    assert len(seen) == 9
    np.testing.assert_array_equal(read_spm(tmp_path / "s.mat")["data"].values, values)


# ----------------------------------------------------------------- robustness


def test_missing_dat_names_paths(v73_file):
    path, _ = v73_file
    path.with_suffix(".dat").unlink()
    with pytest.raises(MissingFileError, match="not found"):
        read_spm(path)


def test_truncated_dat_states_sizes(v73_file):
    path, data = v73_file
    dat = path.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-10])
    with pytest.raises(
        FileFormatError, match=f"need {data.nbytes} bytes, the file has {data.nbytes - 10}"
    ):
        read_spm(path)


def test_not_hdf5_v73_and_not_spm(tmp_path):
    fake = tmp_path / "fake.mat"
    fake.write_bytes(b"MATLAB 7.3 MAT-file".ljust(128) + b"garbage")
    with pytest.raises(FileFormatError, match="not valid HDF5"):
        read_spm(fake)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"x": np.arange(3)})
    with pytest.raises(FileFormatError, match="no variable `D`"):
        read_spm(other)
    text = tmp_path / "text.mat"
    text.write_text("hello")
    with pytest.raises(FileFormatError, match="not a MATLAB"):
        read_spm(text)


@pytest.mark.parametrize("field", ["Fsample", "Nsamples", "timeOnset", "channels", "dim"])
def test_missing_field_is_named(tmp_path, field):
    data = _spm_array(5, 4, 2)
    path = tmp_path / "drop.mat"
    build_v73(path, data, drop=(field,))
    _write_dat(path.with_suffix(".dat"), data)
    with pytest.raises(FileFormatError, match=field):
        read_spm(path)


def test_unsupported_dtype(tmp_path):
    data = _spm_array(5, 4, 2)
    path = tmp_path / "dtype.mat"
    build_v73(path, data, dtype_code=32)  # complex: not used by SPM M/EEG
    _write_dat(path.with_suffix(".dat"), data)
    with pytest.raises(FileFormatError, match="unsupported SPM data type code 32"):
        read_spm(path)


# ----------------------------------------------------------------- fuzz


def _mutations():
    """(name, mutate(header_kwargs, data) -> (kwargs, data written to .dat))."""
    rng = np.random.default_rng(11)
    cases = []
    for cut in (1, 4, 20, 240):
        cases.append((f"truncate{cut}", lambda kw, d, cut=cut: (kw, d.tobytes(order="F")[:-cut])))
    cases.append(("append", lambda kw, d: (kw, d.tobytes(order="F") + b"\0" * 8)))
    cases.append(
        ("flip_dims", lambda kw, d: ({**kw, "data_shape": d.shape[::-1]}, d.tobytes(order="F")))
    )
    cases.append(
        (
            "swap_ct",
            lambda kw, d: (
                {**kw, "data_shape": (d.shape[1], d.shape[0], d.shape[2])},
                d.tobytes(order="F"),
            ),
        )
    )
    for code in (2, 4, 8, 16, 64, 256, 512, 768, 1, 3, 32, 128, -16, 16.5):
        cases.append(
            (
                f"dtype{code}",
                lambda kw, d, code=code: ({**kw, "dtype_code": code}, d.tobytes(order="F")),
            )
        )
    for field in ("Fsample", "Nsamples", "timeOnset", "channels", "dim"):
        cases.append(
            (
                f"drop_{field}",
                lambda kw, d, field=field: ({**kw, "drop": (field,)}, d.tobytes(order="F")),
            )
        )
    for i in range(6):
        n = int(rng.integers(0, 5 * 6 * 3 * 4))
        cases.append((f"random_cut{i}", lambda kw, d, n=n: (kw, d.tobytes(order="F")[:n])))
    cases.append(("fsample0", lambda kw, d: ({**kw, "fsample": 0.0}, d.tobytes(order="F"))))
    cases.append(("offset", lambda kw, d: ({**kw, "offset": 8}, d.tobytes(order="F"))))
    cases.append(
        (
            "labels_short",
            lambda kw, d: (
                {**kw, "labels": LABELS[:4], "types": TYPES[:4], "bad": BAD[:4]},
                d.tobytes(order="F"),
            ),
        )
    )
    return cases


@pytest.mark.parametrize(("name", "mutate"), _mutations(), ids=[c[0] for c in _mutations()])
def test_fuzz_mutated_files_read_correctly_or_rejected(tmp_path, name, mutate):
    data = _spm_array(5, 6, 3, seed=5)
    kwargs, payload = mutate({}, data)
    shape = kwargs.pop("data_shape", data.shape)
    path = tmp_path / "fuzz.mat"
    header_data = np.zeros(shape, np.float32)
    n_c = shape[0]
    defaults = {}
    if n_c != 5 and "labels" not in kwargs:
        defaults = {
            "labels": [f"C{i}" for i in range(n_c)],
            "types": ["MEG"] * n_c,
            "bad": [0] * n_c,
        }
    try:
        build_v73(path, header_data, **{**defaults, **kwargs})
    except (ValueError, TypeError):
        pytest.skip("mutation not expressible in the header")
    path.with_suffix(".dat").write_bytes(payload)
    try:
        ds = read_spm(path)
        values = ds["data"].values
    except la.LaminarrayError:
        return  # rejected with a laminarray error: fine
    # accepted: must be exactly what the header describes
    code = kwargs.get("dtype_code", 16)
    dtype = {2: "u1", 4: "<i2", 8: "<i4", 16: "<f4", 64: "<f8", 256: "i1", 512: "<u2", 768: "<u4"}[
        code
    ]
    expected = np.frombuffer(payload, dtype=dtype, offset=kwargs.get("offset", 0))
    np.testing.assert_array_equal(values, expected.reshape(shape, order="F"))


def test_continuous_recording_chunked_along_time(tmp_path):
    data = _spm_array(5, 1000, 1, seed=8)
    path = tmp_path / "cont.mat"
    build_v73(path, data)
    with h5py.File(path, "r+") as f:  # continuous files store dim = [nchannels, nsamples]
        del f["D/data/dim"]
        _h5_num(f["D/data"], "dim", [[5, 1000]])
    _write_dat(path.with_suffix(".dat"), data)
    ds = read_spm(path, channels=["MRC11", "MLC11"], chunk_bytes=2 * 4 * 300)
    assert ds["data"].data.chunks[1] == (300, 300, 300, 100)
    np.testing.assert_array_equal(ds["data"].values, data[[2, 0]])
    np.testing.assert_array_equal(
        ds["data"].isel(time=slice(250, 650)).values, data[[2, 0], 250:650]
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ds=sensor_datasets(max_channels=4, max_times=6, max_trials=3),
    fmt=st.sampled_from(["v7.3", "v5"]),
)
def test_property_write_read_identical(tmp_path, ds, fmt):
    if ds.sizes["time"] == 1 and "sfreq" not in ds.attrs:
        with pytest.raises(la.LaminarrayError, match="sfreq"):
            write_spm(ds, tmp_path / "prop.mat", fmt)
        return
    path = write_spm(ds, tmp_path / "prop.mat", fmt)
    back = read_spm(path)
    np.testing.assert_array_equal(back["data"].values, ds["data"].values.astype(np.float32))
    np.testing.assert_array_equal(back["channel"].values, ds["channel"].values)
    np.testing.assert_array_equal(back["condition"].values, ds["condition"].values)
    np.testing.assert_allclose(back["time"].values, ds["time"].values, rtol=0, atol=1e-12)


def test_lazy_dataset_pickles_for_distributed(v73_file):
    import pickle

    path, data = v73_file
    ds = pickle.loads(pickle.dumps(read_spm(path, channels="MEG")))
    np.testing.assert_array_equal(ds["data"].values, data[:3])


def test_v5_sensors_and_fiducials_in_cm(tmp_path):
    """Geometry in a v5 header (FieldTrip-style, cm) comes back in mm, mapped by label."""
    data = _spm_array(5, 4, 2)
    path = tmp_path / "geo5.mat"
    build_v5(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    d = scipy.io.loadmat(path)["D"]
    meg = {
        "label": np.array([["MRC11"], ["MLC11"]], dtype=object),
        "chanpos": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        "chanori": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
        "coilpos": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [4.0, 5.0, 8.0]]),
        "coilori": np.eye(3),
        "tra": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]]),
        "unit": "cm",
    }
    fid = {
        "fid": {
            "pnt": np.arange(9.0).reshape(3, 3),
            "label": np.array([["nas"], ["lpa"], ["rpa"]], dtype=object),
        },
        "pnt": np.ones((4, 3)),
        "unit": "cm",
    }
    fields = {name: d[name][0, 0] for name in d.dtype.names}
    scipy.io.savemat(
        path, {"D": {**fields, "sensors": {"meg": meg}, "fiducials": fid}}, format="5"
    )
    ds = read_spm(path)
    np.testing.assert_allclose(
        ds["sensor_position"].sel(channel="MLC11").values, [40.0, 50.0, 60.0]
    )
    assert np.isnan(ds["sensor_position"].sel(channel="EEG001").values).all()
    np.testing.assert_allclose(ds["coil_weight"].sel(channel="MLC11").values, [0.0, 1.0, -1.0])
    np.testing.assert_allclose(ds["coil_position"].values[2], [40.0, 50.0, 80.0])
    np.testing.assert_allclose(ds["fiducials"].sel(fiducial="rpa").values, [60.0, 70.0, 80.0])
    assert ds.sizes["headshape_point"] == 4


@pytest.mark.parametrize(
    "mutation",
    [
        {"Nsamples": "twelve"},
        {"Fsample": np.array([[600.0, 600.0]])},
        {"timeOnset": np.zeros((0, 0))},
        {"channels": np.array([[1.0, 2.0]])},
        {"channels": "MEG"},
        {"data": {"fname": 3.0, "dim": np.array([[5.0, 7.0, 3.0]]), "dtype": "float16-le"}},
        {"data": {"dim": np.array([[5.0, 7.0, 3.0]]), "scl_slope": np.ones((1, 3))}},
        {"data": {"dim": np.array([[5.0, 7.0, 3.0]]), "offset": -4.0}},
        {"data": {"dim": np.array(["a"], dtype=object)}},
        {"trials": np.array([[1.0]])},
    ],
    ids=lambda m: "-".join(f"{k}" for k in m),
)
def test_fuzz_v5_field_types(tmp_path, mutation):
    """Fields of the wrong MATLAB type are rejected with a laminarray error, never a crash."""
    data = _spm_array(5, 7, 3)
    path = tmp_path / "mut5.mat"
    build_v5(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    d = scipy.io.loadmat(path)["D"]
    fields = {name: d[name][0, 0] for name in d.dtype.names}
    scipy.io.savemat(path, {"D": {**fields, **mutation}}, format="5")
    with pytest.raises(la.LaminarrayError):
        read_spm(path)["data"].compute()
