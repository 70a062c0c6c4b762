"""SPM inversions (D.other.inv) and gain files, against files built with raw h5py.

Layouts from ../shared/specs/spm_inversion.md §8 and lameg.md §3.1: dense
arrays transposed in HDF5, sparse matrices as data/ir/jc groups with the row
count in ``MATLAB_sparse``, cells as reference arrays, empty arrays as their
dims with ``MATLAB_empty``.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse
import xarray as xr
from test_io_spm import LABELS, _spm_array, _write_dat, build_v73

import laminarray as la
from laminarray.io import (
    InversionNotFoundError,
    check_inversion_exists,
    n_inversions,
    read_spm,
    read_spm_gain,
    read_spm_inversion,
    read_spm_inversion_mesh,
    spm_gain_path,
    write_spm,
    write_spm_gain,
)
from laminarray.io.errors import FileFormatError
from laminarray.testing import raise_if_dask_computes

N_LAYERS, N_VERT, N_MODES, N_T = 2, 5, 2, 12
GOOD = [0, 2]  # good MEG channels of LABELS (MLC12 is bad)


def _cls(obj, name):
    obj.attrs["MATLAB_class"] = np.bytes_(name)


def _dense(group, name, matrix):
    ds = group.create_dataset(name, data=np.asarray(matrix, float).T)
    _cls(ds, "double")
    return ds


def _char(group, name, text):
    ds = group.create_dataset(name, data=np.array([ord(c) for c in text], np.uint16)[:, None])
    _cls(ds, "char")


def _cell(f, group, name, items):
    refs = f.require_group("#refs#")
    out = []
    for i, item in enumerate(items):
        key = f"{group.name.replace('/', '_')}_{name}_{i}"
        if isinstance(item, str):
            _char(refs, key, item)
        else:
            _dense(refs, key, item)
        out.append(refs[key].ref)
    ds = group.create_dataset(name, data=np.array(out, dtype=h5py.ref_dtype)[:, None])
    _cls(ds, "cell")


def _sparse(group, name, matrix):
    csc = scipy.sparse.csc_array(matrix)
    g = group.create_group(name)
    _cls(g, "double")
    g.attrs["MATLAB_sparse"] = np.uint64(csc.shape[0])
    g.create_dataset("data", data=csc.data)
    g.create_dataset("ir", data=csc.indices.astype(np.uint64))
    g.create_dataset("jc", data=csc.indptr.astype(np.uint64))


def _empty(group, name):
    ds = group.create_dataset(name, data=np.array([1, 0], np.uint64))
    _cls(ds, "double")
    ds.attrs["MATLAB_empty"] = np.uint8(1)


def _inversion_arrays(seed=0):
    rng = np.random.default_rng(seed)
    modes = np.linalg.qr(rng.standard_normal((len(GOOD), N_MODES)))[0].T  # (N_m, C)
    m = rng.standard_normal((N_LAYERS * N_VERT, N_MODES))
    m[-2:] = 0.0  # trailing empty rows: the row count must come from MATLAB_sparse
    basis = np.linalg.qr(rng.standard_normal((N_T, 3)))[0]  # (T_w, N_r)
    return modes, m, basis


def _mode_sources(m, seed=3):
    """SPM's J per condition: M times a (random) reduced data sum, (N_s, N_r) each."""
    rng = np.random.default_rng(seed)
    return [m @ rng.standard_normal((N_MODES, 3)) for _ in range(2)]


def _add_inversions(path, invs):
    """Append D/other/inv as an (n, 1) reference array of inversion structs."""
    with h5py.File(path, "r+") as f:
        other = f["D"].create_group("other")
        _cls(other, "struct")
        refs = f.require_group("#refs#")
        out = []
        for i, fill in enumerate(invs):
            g = refs.create_group(f"inv{i}")
            _cls(g, "struct")
            inverse = g.create_group("inverse")
            _cls(inverse, "struct")
            fill(f, inverse, g)
            out.append(g.ref)
        ds = other.create_dataset("inv", data=np.array(out, dtype=h5py.ref_dtype)[:, None])
        _cls(ds, "cell")


def _classic(modes, m, basis, windows=None):
    def fill(f, inverse, g):
        _char(inverse, "type", "EBB")
        _cell(f, inverse, "U", [modes])
        _sparse(inverse, "M", m)
        _dense(inverse, "T", basis)
        if windows is None:
            _cell(f, inverse, "J", _mode_sources(m))
            _cell(f, inverse, "trials", ["faces", "scrambled"])
        _dense(inverse, "It", np.arange(1, N_T + 1)[None])
        _cell(f, inverse, "Ic", [np.array(GOOD)[None] + 1])
        _dense(inverse, "crossF", [[-123.5]])
        _empty(inverse, "crosserr")
        _dense(inverse, "woi", [[-100.0, -81.667]])
        _dense(inverse, "smooth", [[-5.0]])
        _dense(inverse, "Han", [[1.0]])
        _dense(inverse, "lpf", [[0.0]])
        _dense(inverse, "hpf", [[256.0]])
        _dense(inverse, "nlayers", [[N_LAYERS]])
        mesh = g.create_group("mesh")
        tess = mesh.create_group("tess_mni")
        vert = np.arange(N_LAYERS * N_VERT * 3, dtype=float).reshape(-1, 3)
        face = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]])
        _dense(tess, "vert", vert)
        _dense(tess, "face", np.vstack([face, face + N_VERT]))

    return fill


@pytest.fixture
def spm_with_inversion(tmp_path):
    data = _spm_array(5, N_T, 3)
    path = tmp_path / "inv.mat"
    build_v73(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    modes, m, basis = _inversion_arrays()
    _add_inversions(path, [_classic(modes, m, basis)])
    return path, (modes, m, basis, data)


def test_read_independent_inversion(spm_with_inversion):
    path, (modes, m, basis, _) = spm_with_inversion
    assert check_inversion_exists(path) is True
    assert n_inversions(path) == 1
    inv = read_spm_inversion(path)
    proj = inv["projector"]
    assert proj.dims == ("layer", "vertex", "channel")
    assert list(proj["channel"].values) == [LABELS[i] for i in GOOD]
    # M·U in layer-major order, trailing zero rows kept
    np.testing.assert_allclose(proj.values.reshape(-1, len(GOOD)), m @ modes, rtol=1e-12)
    assert proj.sizes == {"layer": N_LAYERS, "vertex": N_VERT, "channel": len(GOOD)}
    assert float(inv["free_energy"]) == -123.5
    assert np.isnan(float(inv["cv_error"]))  # SPM's empty crosserr ([1, 0] in laMEG)
    np.testing.assert_allclose(inv["temporal_projector"].values, basis)
    np.testing.assert_allclose(
        inv["temporal_projector"]["time"].values, -0.1 + np.arange(N_T) / 600
    )
    assert inv.attrs["method"] == "EBB"
    assert inv.attrs["patch_size"] == 5.0
    assert inv.attrs["hann"] is True
    assert inv.attrs["foi"] == [0.0, 256.0]
    np.testing.assert_allclose(inv.attrs["woi"], [-0.1, -0.081667])
    assert inv.attrs["n_spatial_modes"] == N_MODES
    assert inv.attrs["n_temp_modes"] == 3
    # SPM's J, per inverted condition, in the projector's (layer, vertex) order
    sources = inv["mode_sources"]
    assert sources.dims == ("condition", "layer", "vertex", "temporal_mode")
    assert sources["condition"].values.tolist() == ["faces", "scrambled"]
    for j, block in enumerate(_mode_sources(m)):
        np.testing.assert_allclose(sources.values[j].reshape(-1, 3), block)
    np.testing.assert_array_equal(sources["layer"].values, proj["layer"].values)
    assert sources.attrs["units"] == "nAm"


def test_mode_sources_condition_names_and_shape_errors(spm_with_inversion):
    path, (_modes, m, _basis, _) = spm_with_inversion
    with h5py.File(path, "r+") as f:
        inverse = f[f["D/other/inv"][0, 0]]["inverse"]
        del inverse["trials"]  # without them: numbered (this file has no D.condlist)
    names = read_spm_inversion(path)["mode_sources"]["condition"].values.tolist()
    assert names == ["condition 1", "condition 2"]
    with h5py.File(path, "r+") as f:
        inverse = f[f["D/other/inv"][0, 0]]["inverse"]
        del inverse["J"]
        for key in [k for k in f["#refs#"] if "_J_" in k]:
            del f["#refs#"][key]
        _cell(f, inverse, "J", [m @ np.ones((N_MODES, 3)), m])
    with pytest.raises(FileFormatError, match=r"J\{2\} has shape \(10, 2\); expected \(10, 3\)"):
        read_spm_inversion(path)
    with h5py.File(path, "r+") as f:
        inverse = f[f["D/other/inv"][0, 0]]["inverse"]
        del inverse["J"]
        for key in [k for k in f["#refs#"] if "_J_" in k]:
            del f["#refs#"][key]
        _cell(f, inverse, "J", [m, m])
    with pytest.raises(FileFormatError, match="2 temporal modes but `T` has 3"):
        read_spm_inversion(path)


def test_inversion_mesh_and_layer_inference(spm_with_inversion):
    path, _ = spm_with_inversion
    mesh = read_spm_inversion_mesh(path)
    assert mesh.sizes["layer"] == N_LAYERS
    assert mesh.sizes["vertex"] == N_VERT
    np.testing.assert_array_equal(mesh["faces"].values, [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    # without `nlayers`, the layer count comes from the repeated, offset faces
    with h5py.File(path, "r+") as f:
        inverse = f[f["D/other/inv"][0, 0]]["inverse"]
        del inverse["nlayers"]
    assert read_spm_inversion(path).sizes["layer"] == N_LAYERS


def test_missing_inversion_is_a_clear_keyerror(tmp_path, spm_with_inversion):
    path, _ = spm_with_inversion
    with pytest.raises(InversionNotFoundError, match="holds 1 inversion") as info:
        read_spm_inversion(path, index=1)
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, la.LaminarrayError)
    bare = tmp_path / "bare.mat"
    data = _spm_array(5, 4, 1)
    build_v73(bare, data)
    _write_dat(bare.with_suffix(".dat"), data)
    with pytest.raises(InversionNotFoundError, match="run an inversion first"):
        check_inversion_exists(bare)


@pytest.mark.parametrize("storage", ["external", "embedded"])
def test_sliding_window_inversion_one_projector_per_window(tmp_path, storage):
    data = _spm_array(5, N_T, 2)
    path = tmp_path / "slide.mat"
    build_v73(path, data)
    _write_dat(path.with_suffix(".dat"), data)
    modes, m, basis = _inversion_arrays()
    mats = [m * (w + 1) for w in range(3)]
    woi = np.array([[-100.0, -95.0], [-96.0, -90.0], [-91.0, -85.0]])
    classic = _classic(modes, m, basis)

    def fill(f, inverse, g):
        classic(f, inverse, g)
        del inverse["woi"], inverse["crossF"]
        _dense(inverse, "woi", woi)
        _dense(inverse, "crossF", [[-3.0, -2.0, -1.0]])
        if storage == "embedded":
            _cell(f, inverse, "M_win", mats)
            return
        folder = tmp_path / "slide_inv1_Mwin"
        folder.mkdir()
        names = []
        for w, mat in enumerate(mats):
            name = f"slide_inv1_Mwin/M_win_{w + 1:04d}.mat"
            with h5py.File(tmp_path / name, "w", userblock_size=512) as wf:
                _dense(wf, "M_window", mat)
            names.append(name)
        _cell(f, inverse, "M_win_files", names)
        _char(inverse, "M_win_variable", "M_window")

    _add_inversions(path, [fill])
    with raise_if_dask_computes():
        inv = read_spm_inversion(path)
    proj = inv["projector"]
    assert proj.dims == ("window", "layer", "vertex", "channel")
    assert proj.chunks[0] == (1, 1, 1)
    np.testing.assert_allclose(proj["window_start"].values, woi[:, 0] / 1000)
    np.testing.assert_array_equal(inv["free_energy"].values, [-3.0, -2.0, -1.0])
    for w in range(3):
        np.testing.assert_allclose(proj.isel(window=w).values.reshape(-1, 2), mats[w] @ modes)


def _lameg_matrix(node):
    """A matrix as laMEG 0.2.1 takes it from h5py (spec lameg.md §3.1, §8.4 of the SPM spec).

    Sparse groups keep their logical shape, the row count inferred from the largest
    stored row index; dense datasets are taken as stored (h5py's transposed view).
    """
    if isinstance(node, h5py.Group) and "MATLAB_sparse" in node.attrs:
        ir, jc = node["ir"][()].astype(int), node["jc"][()].astype(int)
        shape = (int(ir.max()) + 1, jc.size - 1)
        return scipy.sparse.csc_array((node["data"][()], ir, jc), shape=shape).toarray()
    return node[()]


def _lameg_read(path):
    """laMEG's reading of D.other.inv{1}: ``mu = M·U`` (M transposed when its columns are
    not the N_m = U.shape[0] modes but its rows are), ``S`` from ``T``."""
    with h5py.File(path, "r") as f:
        inv = f[f["D/other/inv"][0, 0]]["inverse"]
        u = _lameg_matrix(f[inv["U"][0, 0]])
        m = _lameg_matrix(inv["M"])
        if m.shape[1] != u.shape[0] and m.shape[0] == u.shape[0]:
            m = m.T
        return m @ u, inv["T"][()].T


def _lameg_style_sources(path, data):
    """laMEG's load_source_time_series (spec lameg.md §3.2): ``M·U·Y·S·Sᵀ`` per trial, the
    data trimmed to the inversion's samples when it covers one fewer, the sources padded
    back with zeros to the epoch."""
    mu, s = _lameg_read(path)
    n_times = data.shape[1]
    if s.shape[0] not in (n_times, n_times - 1):
        raise ValueError("laMEG reads only inversions of the whole epoch (+-1 sample)")
    covered = data[:, : s.shape[0]]
    out = np.zeros((mu.shape[0], n_times, data.shape[2]))
    filtered = np.einsum("ctk,ts->csk", covered, s @ s.T)
    out[:, : s.shape[0]] = np.einsum("sc,ctk->stk", mu, filtered)
    return out


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_embedded_inversion_round_trip_and_lameg_reader(spm_with_inversion, tmp_path, fmt):
    path, (_modes, _m, basis, data) = spm_with_inversion
    sensor = read_spm(path)
    inv = read_spm_inversion(path)
    mesh = read_spm_inversion_mesh(path)
    out = write_spm(sensor, tmp_path / "out.mat", fmt, inverse=inv, mesh=mesh)
    back = read_spm_inversion(out)
    xr.testing.assert_allclose(back["projector"], inv["projector"])
    xr.testing.assert_allclose(back["temporal_projector"], inv["temporal_projector"])
    assert float(back["free_energy"]) == float(inv["free_energy"])
    assert np.isnan(float(back["cv_error"]))
    for key in ("method", "patch_size", "hann", "foi", "n_layers", "n_spatial_modes"):
        assert back.attrs[key] == inv.attrs[key], key
    xr.testing.assert_allclose(read_spm_inversion_mesh(out)["vertices"], mesh["vertices"])
    if fmt == "v7.3":
        # what laMEG computes from our file equals projector · Y · S·Sᵀ
        expected = np.einsum("lvc,ctk->lvtk", inv["projector"].values, data[GOOD])
        expected = np.einsum("lvtk,ts->lvsk", expected, basis @ basis.T)
        got = _lameg_style_sources(out, data[GOOD])
        np.testing.assert_allclose(got, expected.reshape(-1, N_T, 3), rtol=1e-10, atol=1e-12)


def test_windowed_inversion_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    ds = la.sensor_dataset(rng.standard_normal((3, 10, 2)), ["A", "B", "C"], np.arange(10) / 100)
    proj = la.projector_dataarray(rng.standard_normal((2, 4, 3)), ["A", "B", "C"])
    stacked = xr.concat([proj, -proj, 2 * proj], dim="window").assign_coords(
        window_start=("window", [0.0, 0.02, 0.04]), window_end=("window", [0.03, 0.05, 0.07])
    )
    inv = xr.Dataset(
        {"projector": stacked, "free_energy": ("window", [1.0, 2.0, 3.0])}, attrs={"method": "MSP"}
    )
    for fmt in ("v7.3", "v5"):
        back = read_spm_inversion(write_spm(ds, tmp_path / f"w{fmt}.mat", fmt, inverse=inv))
        np.testing.assert_allclose(back["projector"].values, stacked.values)
        np.testing.assert_allclose(back["free_energy"].values, [1.0, 2.0, 3.0])
        np.testing.assert_allclose(back["window_end"].values, [0.03, 0.05, 0.07])


def test_inversion_with_bad_shapes_is_rejected(spm_with_inversion):
    path, _ = spm_with_inversion
    with h5py.File(path, "r+") as f:
        inverse = f[f["D/other/inv"][0, 0]]["inverse"]
        del inverse["Ic"]
        _dense(inverse, "Ic", np.array([[1, 2, 3]]))
    with pytest.raises(FileFormatError, match="channel columns"):
        read_spm_inversion(path)


# ----------------------------------------------------------------- gain


def test_read_independent_gain_layer_major(tmp_path):
    rng = np.random.default_rng(2)
    g = rng.standard_normal((3, N_LAYERS * N_VERT))  # MATLAB (Nc, Nd)
    path = spm_gain_path(tmp_path / "spmeeg_x.mat", 0)
    assert path.name == "SPMgainmatrix_spmeeg_x_1.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        _dense(f, "G", g)  # h5py sees (Nd, Nc)
        assert f["G"].shape == (N_LAYERS * N_VERT, 3)
        _cell(f, f["/"], "label", ["A", "B", "C"])
    gain = read_spm_gain(path, N_LAYERS)
    assert gain.dims == ("channel", "layer", "vertex")
    for layer in range(N_LAYERS):
        for vertex in range(N_VERT):
            np.testing.assert_array_equal(
                gain.values[:, layer, vertex], g[:, layer * N_VERT + vertex]
            )
    assert list(gain["layer"].values) == ["pial", "white"]
    with pytest.raises(FileFormatError, match="not a multiple"):
        read_spm_gain(path, 3)


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_gain_round_trip(tmp_path, fmt):
    gain = la.gain_dataarray(np.random.default_rng(3).standard_normal((4, 3, 6)), list("ABCD"))
    path = write_spm_gain(gain, tmp_path / "SPMgainmatrix_x_1.mat", fmt)
    back = read_spm_gain(path, 3)
    xr.testing.assert_allclose(back, gain)
    if fmt == "v7.3":
        with h5py.File(path, "r") as f:
            np.testing.assert_array_equal(f["G"][()].T, gain.values.reshape(4, -1))


def test_gain_file_errors(tmp_path):
    path = tmp_path / "nolabel.mat"
    with h5py.File(path, "w") as f:
        _dense(f, "G", np.ones((2, 4)))
    with pytest.raises(FileFormatError, match="no variable `label`"):
        read_spm_gain(path, 1)


def _inverse_missing_a_sample(seed=5, n_ch=6, n_modes=4, n_vert=8, n_t=390, n_tr=12):
    """An inverse as laminarray's inversion makes it (woi attr None, fewer spatial modes
    than channels) whose temporal projector misses the epoch's last sample, at 600 Hz."""
    rng = np.random.default_rng(seed)
    channels = [f"MEG{i}" for i in range(n_ch)]
    times = -0.35 + np.arange(n_t) / 600.0
    y = rng.standard_normal((n_ch, n_t, n_tr))
    burst = np.sin(2 * np.pi * 20 * times) * (times >= 0)
    y[:3] += 3 * burst[None, :, None] * rng.uniform(0.5, 1.5, n_tr)
    sensor = la.sensor_dataset(y, channels, times)
    sensor.attrs["sfreq"] = 600.0
    spatial = np.linalg.qr(rng.standard_normal((n_ch, n_modes)))[0].T  # orthonormal rows
    projector = rng.standard_normal((2, n_vert, n_modes)) @ spatial
    band = np.cos(np.pi * np.outer(np.arange(n_t - 1) + 0.5, np.arange(12)) / (n_t - 1))
    temporal = np.linalg.qr(band @ rng.standard_normal((12, 4)))[0]
    inverse = xr.Dataset(
        {
            "projector": la.projector_dataarray(projector, channels),
            "spatial_modes": (("mode", "channel"), spatial),
            "temporal_projector": xr.DataArray(
                temporal, dims=("time", "temporal_mode"), coords={"time": times[:-1]}
            ),
            "free_energy": ((), -10.0),
        },
        attrs={"method": "EBB", "woi": None},
    )
    return sensor, inverse, y


def test_lameg_reads_our_inversion_and_its_roi_power_is_uncovered_zero(tmp_path):
    """write_spm with default arguments; laMEG's reading of the file (sparse U and M, T)
    gives M·U = projector, and laMEG's roi_power_comparison on it (zero-padded sources,
    Hilbert over the whole epoch) is roi_power(uncovered="zero")."""
    from test_roi_power import BASE, WOI, _direct_reference

    from laminarray.power import roi_power

    sensor, inverse, y = _inverse_missing_a_sample()
    path = write_spm(sensor, tmp_path / "lameg.mat", inverse=inverse)
    mu, s = _lameg_read(path)
    projector = inverse["projector"].values
    np.testing.assert_allclose(mu, projector.reshape(-1, y.shape[0]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s, inverse["temporal_projector"].values)
    with h5py.File(path, "r") as f:
        woi = f[f["D/other/inv"][0, 0]]["inverse/woi"][()].ravel()
    np.testing.assert_allclose(woi, sensor["time"].values[[0, -2]] * 1000.0)

    # laMEG: x = pad(M·U·Y[:, :-1]·S·Sᵀ) — the same as projecting zero-padded filtered data
    filtered = np.zeros_like(y)
    filtered[:, :-1] = np.einsum("ctk,ts->csk", y[:, :-1], s @ s.T)
    w = mu.reshape(projector.shape)
    times = sensor["time"].values
    ref = _direct_reference(
        filtered,
        w,
        times,
        measure="envelope",
        change="difference",
        perc=75,
        roi_mode="threshold",
        roi=None,
        layer_idx=[0, 1],
    )
    got = roi_power(sensor, inverse, WOI, BASE, uncovered="zero")
    np.testing.assert_allclose(got["t_map"].values, ref[0], rtol=1e-10)
    np.testing.assert_array_equal(got["roi"].values, ref[1])
    np.testing.assert_allclose(float(got["t"]), ref[3][0], rtol=1e-10)
    # the default drops the uncovered sample: a different (Hilbert over 389 samples) answer
    dropped = roi_power(sensor, inverse, WOI, BASE)
    assert not np.allclose(dropped["t_map"].values, ref[0], rtol=1e-6)
    assert dropped.attrs["uncovered"] == "drop"
    assert got.attrs["uncovered"] == "zero"
