"""ROI power (spec lameg.md §1.1) against a direct numpy computation that materialises sources."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback
from scipy import stats
from scipy.signal import hilbert

import laminarray as lam
from laminarray import LaminarrayError
from laminarray._compute import compute
from laminarray._projection import fused_projection, project_block
from laminarray.power import roi_power, window_power, window_samples
from laminarray.testing import raise_if_dask_computes

N_CH, N_T, N_TR, N_L, N_V = 12, 80, 9, 3, 30
SFREQ = 100.0
TIMES = -0.4 + np.arange(N_T) / SFREQ
WOI, BASE = (0.0, 0.25), (-0.3, -0.05)


def _data(seed=0, n_t=N_T, n_tr=N_TR, n_v=N_V, n_l=N_L):
    rng = np.random.default_rng(seed)
    times = -0.4 + np.arange(n_t) / SFREQ
    y = rng.standard_normal((N_CH, n_t, n_tr))
    # an evoked burst after 0 s in a few channels, varying across trials
    burst = np.sin(2 * np.pi * 12 * times) * (times >= 0)
    y[:4] += 2.0 * burst[None, :, None] * rng.uniform(0.5, 1.5, n_tr)
    channels = [f"MEG{i:03d}" for i in range(N_CH)]
    sensor = lam.sensor_dataset(y, channels, times)
    w = rng.standard_normal((n_l, n_v, N_CH))
    # channel order of the projector differs from the sensor's: must be matched by label
    order = rng.permutation(N_CH)
    projector = lam.projector_dataarray(w[:, :, order], [channels[i] for i in order])
    return sensor, projector, y, w, times


def _chunk_trials(sensor, size):
    """Dask-backed sensor data (coordinates stay numpy, as when read from an archive)."""
    return sensor.assign(data=sensor["data"].chunk({"trial": size}))


def _in_window(times, window):
    """Half-open [t0, t1) as laMEG selects it in ms: edges compared with a 1 ns tolerance."""
    return (times >= window[0] - 1e-9) & (times < window[1] - 1e-9)


def _direct_reference(
    y, w, times, *, measure, change, perc, roi_mode, roi, layer_idx, temporal=None
):
    """laMEG's algorithm written out with the source estimate materialised (numpy)."""
    if temporal is not None:
        y = np.einsum("ctk,ts->csk", y, temporal @ temporal.T)
    x = np.einsum("lvc,ctk->lvtk", w[layer_idx], y)
    in_woi, in_base = _in_window(times, WOI), _in_window(times, BASE)
    if measure == "envelope":
        amp = np.abs(hilbert(x, axis=2))
        p_woi, p_base = amp[:, :, in_woi].mean(2), amp[:, :, in_base].mean(2)
    else:
        p_woi, p_base = x[:, :, in_woi].var(2), x[:, :, in_base].var(2)
    diff = p_woi - p_base
    rel = np.where(p_base != 0, diff / np.where(p_base != 0, p_base, 1), 0)
    cand = np.arange(w.shape[1]) if roi is None else np.asarray(roi)
    k = y.shape[2]
    d = diff[:, cand]
    var = d.var(axis=2)
    t_map = d.mean(axis=2) / np.sqrt((var + 0.01 * var.max(axis=1, keepdims=True)) / k)
    if roi_mode == "direct":
        mask = np.ones(cand.size, bool)
    else:
        thr = np.percentile(t_map, perc, axis=1)
        mask = (t_map > thr[:, None]).any(axis=0)
    chosen = {"difference": diff, "relative": rel}[change][:, cand][:, mask]
    roi_change = chosen.mean(axis=1)
    contrast = np.abs(roi_change[:-1]) - np.abs(roi_change[-1])
    lam_t = contrast.mean(1) / np.sqrt(1.01 * contrast.var(1) / k)
    return t_map, mask, roi_change, lam_t


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("measure", ["envelope", "variance"])
@pytest.mark.parametrize("change", ["difference", "relative"])
@pytest.mark.parametrize("roi_mode", ["threshold", "restrict_threshold", "direct"])
def test_matches_direct_computation(measure, change, roi_mode):
    sensor, projector, y, w, times = _data()
    roi = np.arange(0, N_V, 2) if roi_mode != "threshold" else None
    res = roi_power(
        sensor,
        projector,
        WOI,
        BASE,
        measure=measure,
        change=change,
        perc_thresh=70,
        roi_mode=roi_mode,
        roi=roi,
        vertex_chunk=7,
        trial_chunk=4,
    )
    t_map, mask, roi_change, lam_t = _direct_reference(
        y,
        w,
        times,
        measure=measure,
        change=change,
        perc=70,
        roi_mode=roi_mode,
        roi=roi,
        layer_idx=[0, N_L - 1],
    )
    _close(res.t_map.transpose("layer", "vertex"), t_map)
    np.testing.assert_array_equal(res.roi, mask)
    _close(res.roi_change.transpose("layer", "trial"), roi_change)
    _close(res.t, lam_t[0])
    assert int(res.df) == N_TR - 1
    _close(res.p, 2 * stats.t.sf(abs(lam_t[0]), N_TR - 1))
    assert res.t.dims == ()


@pytest.mark.parametrize("algorithm", ["covariance", "projection"])
def test_variance_algorithms_agree(algorithm):
    sensor, projector, y, w, times = _data(1)
    res = roi_power(
        sensor,
        projector,
        WOI,
        BASE,
        measure="variance",
        change="relative",
        algorithm=algorithm,
        vertex_chunk=8,
    )
    ref = _direct_reference(
        y,
        w,
        times,
        measure="variance",
        change="relative",
        perc=75,
        roi_mode="threshold",
        roi=None,
        layer_idx=[0, N_L - 1],
    )
    _close(res.t_map, ref[0])
    _close(res.t, ref[3][0])


def test_depth_profile_all_layers():
    sensor, projector, y, w, times = _data(2)
    res = roi_power(sensor, projector, WOI, BASE, layers="all", perc_thresh=80)
    t_map, mask, roi_change, lam_t = _direct_reference(
        y,
        w,
        times,
        measure="envelope",
        change="difference",
        perc=80,
        roi_mode="threshold",
        roi=None,
        layer_idx=list(range(N_L)),
    )
    _close(res.t_map, t_map)
    np.testing.assert_array_equal(res.roi, mask)
    _close(res.roi_change, roi_change)
    assert res.t.dims == ("layer",)
    assert res.t.dims == ("layer",)
    assert res.attrs["reference"] == "white"
    _close(res.t[:-1], lam_t)
    assert np.isnan(res.t[-1])


def test_temporal_projector_applied():
    sensor, projector, y, w, times = _data(3)
    modes, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((N_T, 10)))
    inverse = xr.Dataset(
        {"projector": projector, "temporal_projector": (("time", "temporal_mode"), modes)}
    )
    res = roi_power(sensor, inverse, WOI, BASE, measure="variance", algorithm="projection")
    ref = _direct_reference(
        y,
        w,
        times,
        measure="variance",
        change="difference",
        perc=75,
        roi_mode="threshold",
        roi=None,
        layer_idx=[0, N_L - 1],
        temporal=modes,
    )
    _close(res.t_map, ref[0])
    _close(res.t, ref[3][0])


def _with_modes(projector, n_modes=4, covered=N_T - 1, seed=0):
    """Inverse with orthonormal temporal modes over the first ``covered`` samples."""
    modes, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((covered, n_modes)))
    temporal = xr.DataArray(
        modes, dims=("time", "temporal_mode"), coords={"time": TIMES[:covered]}
    )
    return xr.Dataset({"projector": projector, "temporal_projector": temporal})


@pytest.mark.parametrize("measure", ["envelope", "variance"])
@pytest.mark.parametrize("uncovered", ["drop", "zero"])
def test_temporal_mode_space_equals_sensor_space(measure, uncovered):
    """x = W·Y·S·Sᵀ reduced from the mode coefficients W·(Y·S) equals the sensor-space path."""
    sensor, projector, *_ = _data(7)
    inverse = _with_modes(projector)
    kwargs = {"measure": measure, "layers": "all", "uncovered": uncovered}
    modes = window_power(_chunk_trials(sensor, 4), inverse, WOI, BASE, vertex_chunk=7, **kwargs)
    assert any("sensor-modes" in name for name in modes.data.dask.layers)  # the default
    reference = window_power(sensor, inverse, WOI, BASE, algorithm="projection", **kwargs)
    np.testing.assert_allclose(modes.values, reference.values, rtol=1e-10, atol=0)
    if measure == "variance":
        covariance = window_power(sensor, inverse, WOI, BASE, algorithm="covariance", **kwargs)
        np.testing.assert_allclose(modes.values, covariance.values, rtol=1e-10)


def test_uncovered_zero_is_the_zero_padded_epoch():
    """laMEG: sources are 0 at the sample the inversion misses; Hilbert over the whole epoch."""
    sensor, projector, y, w, times = _data(8)
    inverse = _with_modes(projector)
    modes = inverse["temporal_projector"].values
    padded = np.zeros_like(y)
    padded[:, :-1] = np.einsum("ctk,ts->csk", y[:, :-1], modes @ modes.T)
    x = np.einsum("lvc,ctk->lvtk", w, padded)
    amp = np.abs(hilbert(x, axis=2))
    power = window_power(sensor, inverse, WOI, (-0.1, 0.4), uncovered="zero", layers="all")
    _close(power.sel(window="baseline"), amp[:, :, _in_window(times, (-0.1, 0.4))].mean(2))
    # a window reaching the uncovered last sample exists only with uncovered="zero"
    with pytest.raises(LaminarrayError, match="contains no sample"):
        window_power(sensor, inverse, WOI, (TIMES[-1], TIMES[-1] + 0.01))


def test_modes_need_a_temporal_projector():
    sensor, projector, *_ = _data()
    with pytest.raises(LaminarrayError, match="needs an inverse with a `temporal_projector`"):
        window_power(sensor, projector, WOI, BASE, algorithm="modes")


@pytest.mark.parametrize("chunked", [False, True])
def test_window_power_values_and_labels(chunked):
    sensor, projector, y, w, times = _data(4)
    sensor = _chunk_trials(sensor, 2) if chunked else sensor
    power = window_power(sensor, projector, WOI, BASE, measure="variance", layers="all")
    assert power.dims == ("layer", "vertex", "window", "trial")
    x = np.einsum("lvc,ctk->lvtk", w, y)
    in_woi = _in_window(times, WOI)
    _close(power.sel(window="woi"), x[:, :, in_woi].var(2))
    assert power.attrs["units"] == "nAm2"
    np.testing.assert_array_equal(power.layer, lam.default_layer_names(N_L))


def test_half_open_windows():
    times = np.array([0.0, 0.1, 0.2, 0.3])
    assert window_samples(times, (0.1, 0.3)) == (1, 3)
    # ms -> s rounding: 0.30000000000000004 still excludes the 0.3 sample
    assert window_samples(times, (0.1, 0.1 + 0.2)) == (1, 3)
    with pytest.raises(LaminarrayError, match="contains no sample"):
        window_samples(times, (0.31, 0.35))


class _LargestOutput(Callback):
    """Record the largest array a task produced."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.largest = max(self.largest, getattr(result, "nbytes", 0))


@pytest.mark.parametrize("measure", ["envelope", "variance"])
def test_no_task_output_larger_than_a_chunk(measure):
    """Each block is projected and reduced in one task: nothing source-sized is ever returned."""
    n_t, n_tr, n_v, chunk_v, chunk_tr = 400, 16, 64, 16, 8
    sensor, projector, *_ = _data(5, n_t=n_t, n_tr=n_tr, n_v=n_v)
    sensor = _chunk_trials(sensor, chunk_tr)
    res = roi_power(
        sensor,
        projector,
        (0.0, 0.3),
        (-0.4, -0.1),
        measure=measure,
        algorithm="projection",
        vertex_chunk=chunk_v,
        trial_chunk=chunk_tr,
        compute=False,
    )
    sensor_chunk = N_CH * n_t * chunk_tr * 8
    source_block = 2 * chunk_v * n_t * chunk_tr * 8
    with _LargestOutput() as probe:
        compute(res)
    assert 0 < probe.largest <= sensor_chunk < source_block


def test_lazy_graph():
    sensor, projector, *_ = _data(6)
    sensor = _chunk_trials(sensor, 3)
    projector = projector.chunk({"vertex": 10})
    with raise_if_dask_computes():
        res = roi_power(sensor, projector, WOI, BASE, compute=False)
        power = window_power(sensor, projector, WOI, BASE)
    assert isinstance(res.t.data, da.Array)
    assert isinstance(power.data, da.Array)
    eager = roi_power(sensor, projector, WOI, BASE)
    xr.testing.assert_allclose(res.compute(), eager)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"roi_mode": "direct"}, "needs `roi`"),
        ({"roi": [1, 2]}, "not used with roi_mode='threshold'"),
        ({"roi_mode": "direct", "roi": [999]}, "unknown"),
        ({"measure": "power"}, "`measure` must be one of"),
        ({"layers": ["pial"]}, "at least two layers"),
        ({"layers": ["pial", "deep"]}, "unknown"),
        ({"perc_thresh": 120}, "perc_thresh"),
    ],
)
def test_bad_arguments(kwargs, match):
    sensor, projector, *_ = _data()
    with pytest.raises(LaminarrayError, match=match):
        roi_power(sensor, projector, WOI, BASE, **kwargs)


def test_missing_channels_named():
    sensor, projector, *_ = _data()
    with pytest.raises(LaminarrayError, match="channels the sensor data lack"):
        roi_power(sensor.isel(channel=slice(1, None)), projector, WOI, BASE)


def test_empty_roi_raises_at_compute():
    sensor, projector, *_ = _data()
    with pytest.raises(LaminarrayError, match="ROI is empty"):
        roi_power(sensor, projector, WOI, BASE, perc_thresh=100)


def test_staging_on_disk_matches_one_graph(tmp_path):
    sensor, projector, *_ = _data(7)
    sensor = _chunk_trials(sensor, 4)
    kwargs = {"measure": "variance", "change": "relative", "vertex_chunk": 9}
    staged = roi_power(
        sensor, projector, WOI, BASE, stage_to_disk=True, scratch=str(tmp_path), **kwargs
    )
    single = roi_power(sensor, projector, WOI, BASE, stage_to_disk=False, **kwargs)
    xr.testing.assert_identical(staged, single)
    assert list(tmp_path.iterdir()) == []  # the temporary store is removed


def _trial_sum_kernel(projector, features):
    return project_block(projector, features).sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("per_trial_chunk", [False, True])
def test_fused_projection_generic(per_trial_chunk):
    """The shared block equals einsum, per trial or summed per trial chunk (lazily)."""
    rng = np.random.default_rng(8)
    w = rng.standard_normal((2, 10, 5))
    y = rng.standard_normal((5, 7, 6))
    proj = da.from_array(w, chunks=(2, 4, 5))
    feats = da.from_array(y, chunks=(5, 7, 4))
    kernel = _trial_sum_kernel if per_trial_chunk else project_block
    with raise_if_dask_computes():
        out = fused_projection(
            proj, feats, kernel, (7,), dtype=np.float64, per_trial_chunk=per_trial_chunk
        )
    direct = np.einsum("lvc,ctk->lvtk", w, y)
    if per_trial_chunk:
        assert out.shape == (2, 10, 7, 2)
        np.testing.assert_allclose(out.sum(-1).compute(), direct.sum(-1))
    else:
        assert out.chunks[1] == (4, 4, 2)
        assert out.chunks[3] == (4, 2)
        np.testing.assert_allclose(out.compute(), direct)


def test_fused_projection_needs_single_channel_chunk():
    proj = da.zeros((2, 10, 5), chunks=(2, 5, 2))
    with pytest.raises(LaminarrayError, match="one chunk"):
        fused_projection(proj, da.zeros((5, 7, 6)), project_block, (7,), dtype=float)
