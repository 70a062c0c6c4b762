"""Expression grid search: planted effects, null calibration, kernels against references."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal, stats

import laminarray as lam
from laminarray import LaminarrayError
from laminarray.expression import _kernels, best_transforms, gridsearch
from laminarray.testing import raise_if_dask_computes

SFREQ, TR_SFREQ = 200.0, 100.0
N_LAYERS, N_VERTICES, N_CHANNELS = 3, 20, 80
LAYER, VERTEX, LATENCY = 1, 7, 0.08
LATENCIES = np.round(np.arange(0.0, 0.21, 0.01), 2)


def _smooth(rng, n, cutoff, sfreq):
    b, a = signal.butter(4, cutoff / (sfreq / 2))
    return signal.filtfilt(b, a, rng.standard_normal(n), axis=-1)


def _planted(seed=0, amplitude=1.0, delay=0.0):
    """Sources = noise, plus the transform delayed by LATENCY (+ ``delay``) at one source.

    Sensor data = gain @ sources with more channels than sources, and the
    projector is the gain's pseudo-inverse, so projected sensor data are the
    sources exactly. The transform is the planted signal at half the rate.
    """
    rng = np.random.default_rng(seed)
    n = int(22 * SFREQ)
    pad = 100
    s = _smooth(rng, n + 2 * pad, 20.0, SFREQ)
    sources = rng.standard_normal((N_LAYERS, N_VERTICES, n))
    shift = round((LATENCY + delay) * SFREQ)
    sources[LAYER, VERTEX] += amplitude * s[pad - shift : pad - shift + n]
    gain = rng.standard_normal((N_CHANNELS, N_LAYERS * N_VERTICES))
    channels = [f"MEG{i:03d}" for i in range(N_CHANNELS)]
    sensor = lam.sensor_dataset(gain @ sources.reshape(-1, n), channels, np.arange(n) / SFREQ)
    projector = lam.projector_dataarray(
        np.linalg.pinv(gain),
        channels,
        lam.default_layer_names(N_LAYERS),
        hemi=np.repeat(["lh", "rh"], N_VERTICES // 2),
    )
    n_tr = int(20 * TR_SFREQ)
    transform = xr.DataArray(
        s[pad : pad + 2 * n_tr : 2],
        dims="time",
        coords={"time": np.arange(n_tr) / TR_SFREQ},
        name="loudness",
    )
    return sensor, projector, transform


def _search(sensor, inverse, transform, **kwargs):
    kwargs.setdefault("seconds_per_split", 0.5)
    kwargs.setdefault("n_splits", 40)
    return gridsearch(sensor, inverse, transform, LATENCIES, **kwargs)


@pytest.fixture(scope="module")
def planted():
    return _planted()


@pytest.fixture(scope="module")
def planted_result(planted):
    return _search(*planted)


# --------------------------------------------------------------------------- science


def test_planted_effect_found_at_its_layer_vertex_and_latency(planted_result):
    log_p = planted_result["log_p"]
    assert log_p.dims == ("transform", "layer", "vertex", "latency")
    best = log_p.isel(log_p.argmin(...))
    assert str(best["layer"].values) == lam.default_layer_names(N_LAYERS)[LAYER]
    assert int(best["vertex"]) == VERTEX
    assert float(best["latency"]) == pytest.approx(LATENCY)
    # far below every other source, and below a Bonferroni 5-sigma threshold
    others = log_p.where(log_p["vertex"] != VERTEX).min()
    assert float(best) < float(others) - 10
    assert float(best) < np.log10(2.87e-7 / log_p.size)
    frame = best_transforms(planted_result)
    assert frame.iloc[0][["vertex", "transform", "latency"]].tolist() == [
        VERTEX,
        "loudness",
        pytest.approx(LATENCY),
    ]
    assert frame.iloc[0]["hemi"] == "lh"


def test_delivery_latency_shifts_the_found_latency():
    sensor, projector, transform = _planted(amplitude=1.0, delay=0.03)
    es = _search(sensor, projector, transform, stimulus_delivery_latency=0.03)
    best = es["log_p"].isel(es["log_p"].argmin(...))
    assert int(best["vertex"]) == VERTEX
    assert float(best["latency"]) == pytest.approx(LATENCY)


def test_shift_correction_recovers_a_drifting_stimulus():
    """The stimulus clock runs 0.2 % slow: splits land 1.5 transform samples late by the end."""
    rng = np.random.default_rng(3)
    drift = 0.002
    n_tr = int(20 * TR_SFREQ)
    tau = np.arange(int(22 * SFREQ)) / SFREQ
    fine = _smooth(rng, tau.size * 4, 20.0, 4 * SFREQ)
    fine_t = np.arange(fine.size) / (4 * SFREQ)
    transform = xr.DataArray(
        np.interp(np.arange(n_tr) / TR_SFREQ, fine_t, fine),
        dims="time",
        coords={"time": np.arange(n_tr) / TR_SFREQ},
        name="f",
    )
    # the recording sees transform time tau at (1 + drift) tau + LATENCY
    data = np.interp((tau - LATENCY) / (1 + drift), fine_t, fine)[None]
    data = data + 0.5 * rng.standard_normal((4, tau.size))
    sensor = lam.sensor_dataset(data, ["a", "b", "c", "d"], tau)
    kwargs = {"seconds_per_split": 0.5, "n_splits": 40}
    lat = np.round(np.arange(0.05, 0.12, 0.01), 2)
    fixed = gridsearch(sensor, None, transform, lat, stimulus_shift_correction=drift, **kwargs)
    plain = gridsearch(sensor, None, transform, lat, **kwargs)
    corrected = fixed["log_p"].sel(transform="f", channel="a")
    assert float(corrected.idxmin()) == pytest.approx(LATENCY)
    assert float(corrected.min()) < float(plain["log_p"].sel(channel="a").min()) - 3


def test_null_data_give_uniform_p_values():
    rng = np.random.default_rng(1)
    n_channels = 300
    noise = _smooth(rng, (n_channels, 4200), 15.0, 100.0)
    transform = xr.DataArray(
        _smooth(rng, 4000, 15.0, 100.0), dims="time", coords={"time": np.arange(4000) / 100}
    ).rename("f")
    sensor = lam.sensor_dataset(noise, [f"C{i}" for i in range(n_channels)], np.arange(4200) / 100)
    es = gridsearch(sensor, None, transform, [0.0, 0.1, 0.3], seconds_per_split=0.5, n_splits=80)
    p = 10 ** es["log_p"].values[0]
    for k in range(p.shape[1]):  # sources are independent at one latency
        assert stats.kstest(p[:, k], "uniform").pvalue > 1e-3
    assert 0.02 < np.mean(p < 0.05) < 0.09


def test_several_transforms_equal_separate_searches(planted):
    sensor, projector, transform = planted
    other = transform.copy(data=np.random.default_rng(5).permutation(transform.values))
    both = xr.Dataset({"loudness": transform, "shuffled": other.rename("shuffled")})
    es = _search(sensor, projector, both)
    alone = _search(sensor, projector, other.rename("shuffled"))
    xr.testing.assert_allclose(es["log_p"].sel(transform=["shuffled"]), alone["log_p"])
    frame = best_transforms(es)
    assert frame.iloc[0]["transform"] == "loudness"


def test_sensor_space_skips_bad_channels(planted):
    sensor, _, transform = planted
    flags = np.zeros(N_CHANNELS, bool)
    flags[:3] = True
    es = _search(sensor.assign_coords(bad=("channel", flags)), None, transform)
    assert es["log_p"].dims == ("transform", "channel", "latency")
    assert es.sizes["channel"] == N_CHANNELS - 3
    assert es.attrs["space"] == "sensor"
    # the planted source leaks into every channel through the gain
    assert float(es["log_p"].min()) < -5


def test_layers_and_roi_select_sources(planted, planted_result):
    sensor, projector, transform = planted
    roi = np.zeros(N_VERTICES, bool)
    roi[[2, VERTEX]] = True
    es = _search(sensor, projector, transform, layers=["pial", "0.500"], roi=roi)
    assert es.sizes == {"transform": 1, "layer": 2, "vertex": 2, "latency": LATENCIES.size}
    expected = planted_result["log_p"].sel(layer=["pial", "0.500"], vertex=[2, VERTEX])
    # correlations run in float32 (about 1e-6 relative): BLAS may pick another kernel for a
    # smaller block, or after other tests changed its thread count, so log10 p agrees to ~1e-5
    xr.testing.assert_allclose(es["log_p"], expected, rtol=1e-4, atol=1e-5)
    by_label = _search(sensor, projector, transform, layers="0.500", roi=[VERTEX])
    assert by_label.sizes["layer"] == 1
    assert by_label.sizes["vertex"] == 1


def test_trials_are_averaged_and_chunks_do_not_change_the_result(planted, planted_result):
    sensor, projector, transform = planted
    data = sensor["data"].values
    noise = np.random.default_rng(11).standard_normal(data.shape)
    repeated = lam.sensor_dataset(
        np.concatenate([data + noise, data - noise], axis=2), sensor["channel"], sensor["time"]
    )
    assert repeated.sizes["trial"] == 2
    es = _search(repeated, projector, transform, chunks=7)
    xr.testing.assert_allclose(es, planted_result, atol=1e-4)


def test_more_derangements_keep_the_planted_effect(planted):
    es = _search(*planted, n_derangements=3, seed=4)
    assert es.attrs["n_derangements"] == 3
    best = es["log_p"].isel(es["log_p"].argmin(...))
    assert (int(best["vertex"]), float(best["latency"])) == (VERTEX, pytest.approx(LATENCY))


# --------------------------------------------------------------------------- laziness


def _dask_inputs(planted, vertex_chunk=5):
    sensor, projector, transform = planted
    lazy_sensor = sensor.copy()
    lazy_sensor["data"] = sensor["data"].chunk({"time": 1000})
    return lazy_sensor, projector.chunk({"vertex": vertex_chunk}), transform


def test_dask_inputs_give_a_lazy_identical_result(planted, planted_result):
    sensor, projector, transform = _dask_inputs(planted)
    with raise_if_dask_computes():
        es = _search(sensor, projector, transform)
    assert isinstance(es["log_p"].data, da.Array)
    assert es["log_p"].chunks[2] == (5,) * 4
    # float32 sums differ with the filter's chunk boundaries: equal to ~1e-6 in log10 p
    xr.testing.assert_allclose(es.compute(), planted_result, atol=1e-4)


class _TaskSizes(Callback):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def _posttask(self, key, result, dsk, state, worker_id):
        self.sizes.append(getattr(result, "nbytes", 0))


def test_fused_graph_has_no_task_larger_than_a_chunk():
    rng = np.random.default_rng(2)
    n_layers, n_vertices, n_channels = 3, 400, 40
    times = np.arange(4400) / SFREQ
    channels = [f"C{i}" for i in range(n_channels)]
    sensor = lam.sensor_dataset(
        da.from_array(rng.standard_normal((n_channels, times.size, 1)), chunks=(-1, 1100, 1)),
        channels,
        times,
    )
    projector = lam.projector_dataarray(
        da.from_array(
            rng.standard_normal((n_layers, n_vertices, n_channels)), chunks=(-1, 50, -1)
        ),
        channels,
        lam.default_layer_names(n_layers),
    )
    transform = xr.DataArray(
        rng.standard_normal(2000), dims="time", coords={"time": np.arange(2000) / TR_SFREQ}
    ).rename("f")
    es = _search(sensor, projector, transform)
    log_p = es["log_p"].data
    assert log_p.chunks == ((1,), (n_layers,), (50,) * 8, (LATENCIES.size,))
    n_samples = 50 + 20
    source_series = n_layers * n_vertices * 40 * n_samples * 4
    largest_input = max(
        sensor["data"].data.nbytes / sensor["data"].data.npartitions,
        n_channels * 40 * n_samples * 4,  # the sensor segments, one chunk
        projector.data.nbytes / projector.data.npartitions,
    )
    tracker = _TaskSizes()
    with tracker, dask.config.set(scheduler="threads"):
        log_p.compute()
    assert max(tracker.sizes) <= largest_input
    assert max(tracker.sizes) < source_series / 20


# --------------------------------------------------------------------------- kernels


def test_fft_cross_correlation_equals_direct_pearson():
    rng = np.random.default_rng(4)
    n_sources, n_splits, length, n_samples = 3, 5, 16, 25
    x = rng.standard_normal((n_sources, n_splits, n_samples)) + 3.0
    splits = rng.standard_normal((2, n_splits, length))
    lags = np.array([0, 2, 5, 9])
    partners = np.vstack([np.arange(n_splits), _kernels.derangements(n_splits, 2, seed=0)])
    spectra = _kernels.transform_spectra(splits, n_fft=32)
    r = _kernels.correlations(x, spectra, partners, lags, length)
    assert r.shape == (2, 3, n_sources, n_splits, lags.size)
    for t, q, s, j, k in np.ndindex(r.shape):
        window = x[s, j, lags[k] : lags[k] + length]
        expected = np.corrcoef(splits[t, partners[q, j]], window)[0, 1]
        assert r[t, q, s, j, k] == pytest.approx(expected, abs=1e-12)


def _one_pass_log10_p(z):
    """log10 p of Fisher z ``(t, p, s, j, k)`` accumulated in a single step."""
    moments = _kernels.Moments(z.shape[0], z.shape[2], z.shape[4])
    moments.add(z)
    return moments.log10_p()


def test_batched_block_equals_one_pass(monkeypatch):
    """Sources and splits processed in small batches give the one-pass statistics."""
    rng = np.random.default_rng(8)
    n_channels, n_splits, length, n_samples = 6, 12, 10, 14
    segments = rng.standard_normal((n_channels, n_splits, n_samples))
    projector = rng.standard_normal((9, n_channels))
    spectra = _kernels.transform_spectra(rng.standard_normal((2, n_splits, length)), n_fft=16)
    partners = np.vstack([np.arange(n_splits), _kernels.derangements(n_splits, 2, seed=1)])
    lags = np.array([0, 1, 4])
    x = np.einsum("sc,cjn->sjn", projector, segments)
    z = _kernels.fisher_z(_kernels.correlations(x, spectra, partners, lags, length))
    expected = _one_pass_log10_p(z)
    monkeypatch.setattr(_kernels, "BATCH_BYTES", 4 * 2**10)
    monkeypatch.setattr(_kernels, "BATCH_SOURCES", 4)
    assert _kernels.batch_shape(9, n_splits, n_samples, 16, 3, 3, 2) == (3, 1)
    got = _kernels.expression_block(projector, segments, spectra, partners, lags, length)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_derangements_have_no_fixed_points_and_are_seeded():
    perms = _kernels.derangements(7, 50, seed=3)
    assert np.all(perms != np.arange(7))
    assert np.all(np.sort(perms, axis=1) == np.arange(7))
    np.testing.assert_array_equal(perms, _kernels.derangements(7, 50, seed=3))


def test_welch_equals_scipy_ttest_ind():
    rng = np.random.default_rng(6)
    for n1, n2, shift in [(40, 400, 0.3), (12, 30, -0.8), (200, 5000, 0.05)]:
        a = rng.normal(shift, 1.0, n1)
        b = rng.normal(0.0, 2.5, n2)
        t, df, log10_p = _kernels.welch_log10_p(
            a.mean(), a.var(ddof=1), n1, b.mean(), b.var(ddof=1), n2
        )
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert t == pytest.approx(ref.statistic, rel=1e-12)
        assert df == pytest.approx(ref.df, rel=1e-12)
        assert 10**log10_p == pytest.approx(ref.pvalue, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    n1=st.integers(3, 60),
    n2=st.integers(3, 300),
    shift=st.floats(-2.0, 2.0),
    scale=st.floats(0.1, 5.0),
    seed=st.integers(0, 2**16),
)
def test_welch_equals_scipy_property(n1, n2, shift, scale, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(shift, scale, n1), rng.normal(0.0, 1.0, n2)
    _, _, log10_p = _kernels.welch_log10_p(
        a.mean(), a.var(ddof=1), n1, b.mean(), b.var(ddof=1), n2
    )
    expected = np.log10(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert log10_p == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_expression_statistic_pools_the_null_over_splits_and_latencies():
    rng = np.random.default_rng(7)
    z = rng.normal(0, 0.1, (1, 3, 2, 30, 4))  # (t, pairing, source, split, latency)
    z[0, 0, 1, :, 2] += 0.05
    log10_p = _one_pass_log10_p(z)
    for s, k in np.ndindex(2, 4):
        ref = stats.ttest_ind(z[0, 0, s, :, k], z[0, 1:, s].ravel(), equal_var=False)
        assert 10 ** log10_p[0, s, k] == pytest.approx(ref.pvalue, rel=1e-9)


def test_extreme_t_gives_finite_monotone_log_p():
    t_values = np.array([5.0, 30.0, 60.0, 200.0, 1000.0])
    se = np.sqrt(2 / 400)
    t, _, log10_p = _kernels.welch_log10_p(t_values * se, 1.0, 400, 0.0, 1.0, 400)
    np.testing.assert_allclose(t, t_values)
    assert np.all(np.isfinite(log10_p))
    assert np.all(np.diff(log10_p) < 0)
    assert np.isfinite(_kernels.welch_log10_p(100.0, 1.0, 400, 0.0, 1.0, 400)[2])  # scalars
    # the asymptotic tail used beyond underflow agrees with the exact one where both exist
    for value in (30.0, 60.0):
        exact = stats.t.logsf(value, 798)
        assert _kernels.log_t_tail(np.array(value), 798.0) == pytest.approx(exact, rel=2e-3)


def test_constant_sources_have_p_one():
    z = np.zeros((1, 2, 1, 10, 3))
    assert np.all(_one_pass_log10_p(z) == 0.0)


def test_lowpass_is_zero_phase_and_equals_a_centred_convolution():
    taps = _kernels.lowpass_taps(1000.0, 45.0)
    assert taps.sum() == pytest.approx(1.0)
    impulse = np.zeros((1, 501))
    impulse[0, 250] = 1.0
    response = _kernels.filter_at(impulse, np.arange(501), taps)[0]
    assert np.argmax(response) == 250
    np.testing.assert_allclose(response, response[::-1], atol=1e-15)
    data = np.random.default_rng(9).standard_normal((3, 400))
    positions = np.array([0, 5, 17, 200, 350, 399])  # both edges included
    reference = signal.oaconvolve(data, taps[None], mode="same", axes=-1)[:, positions]
    np.testing.assert_allclose(_kernels.filter_at(data, positions, taps), reference, atol=1e-12)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latencies": [0.0, 0.013]}, "multiples of the transform's sample period"),
        ({"n_splits": 200}, "transform is too short"),
        ({"latencies": [0.0, 2.5]}, "must cover every split"),
        ({"layers": ["nope"]}, "not among the layers"),
        ({"roi": [999]}, "not in the projector"),
        ({"n_derangements": 0}, "n_derangements"),
        ({"seconds_per_split": 0.01}, "at least 3 transform samples"),
    ],
)
def test_bad_arguments_are_named(planted, kwargs, match):
    sensor, projector, transform = planted
    args = {"latencies": LATENCIES, "seconds_per_split": 0.5, "n_splits": 40, **kwargs}
    latencies = args.pop("latencies")
    with pytest.raises(LaminarrayError, match=match):
        gridsearch(sensor, projector, transform, latencies, **args)


def test_bad_inverse_and_transform_are_named(planted):
    sensor, projector, transform = planted
    windowed = xr.Dataset({"projector": projector.expand_dims(window=2)})
    with pytest.raises(LaminarrayError, match="sliding-window"):
        _search(sensor, windowed, transform)
    with pytest.raises(LaminarrayError, match="sensor data lack"):
        _search(sensor.isel(channel=slice(1, None)), projector, transform)
    with pytest.raises(LaminarrayError, match="needs a name"):
        _search(sensor, projector, transform.rename(None))
    with pytest.raises(LaminarrayError, match="need an `inverse`"):
        _search(sensor, None, transform, layers="pial")
    with pytest.raises(LaminarrayError, match="projector"):
        _search(sensor, xr.Dataset(), transform)
