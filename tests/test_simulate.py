"""Simulation: exact noiseless projection, SPM's SNR, patches, seeding, laziness."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from laminarray import LaminarrayError, mesh_dataset
from laminarray.datasets import synthetic_cortex, synthetic_head
from laminarray.forward import fit_sphere, helmet_array, sphere_gain
from laminarray.forward.sphere import sarvas_gain
from laminarray.simulate import current_density, dipoles, patch_weights
from laminarray.simulate.noise import pink_noise
from laminarray.surf import geodesic_distances
from laminarray.testing import raise_if_dask_computes

SFREQ = 600.0
TIMES = np.arange(-0.2, 0.5, 1 / SFREQ)


@pytest.fixture(scope="module")
def subject():
    mesh = synthetic_cortex(n_vertices=300, n_layers=3)
    sensors = helmet_array(48, head=mesh)
    gain = sphere_gain(mesh, sensors).compute()
    return mesh, sensors, gain


def _sine(mask=None):
    t = TIMES if mask is None else TIMES[mask]
    return np.sin(2 * np.pi * 20 * t)


def test_noiseless_equals_gain_times_sources(subject):
    mesh, _, gain = subject
    sim = current_density(
        gain,
        mesh,
        [10, 200],
        ["pial", 2],
        np.stack([_sine(), _sine() ** 2]),
        [10.0, 4.0],
        [5.0, 0.0],
        None,
        TIMES,
        n_trials=3,
        seed=0,
        dtype=np.float64,
    )
    # build the full source array (layer, vertex, time) and project it
    sources = np.zeros((3, 300, TIMES.size))
    for j, (vertex, layer, moment, fwhm, course) in enumerate(
        zip([10, 200], [0, 2], [10.0, 4.0], [5.0, 0.0], [_sine(), _sine() ** 2], strict=True)
    ):
        index, weights = patch_weights(mesh, layer, vertex, fwhm)
        sources[layer, index] += moment * weights[:, None] * course[None]
        np.testing.assert_allclose(sim["source_signal"].values[j], moment * course)
    expected = np.einsum("clv,lvt->ct", gain.values, sources)
    data = sim["data"].values
    for trial in range(3):
        np.testing.assert_allclose(
            data[:, :, trial], expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
        )
    assert sim["noise_std"].values == 0
    assert list(sim["source_layer"].values) == ["pial", "white"]
    np.testing.assert_allclose(sim["source_position"].values[1], mesh["vertices"].values[2, 200])


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 5.0])
def test_achieved_snr_matches_request(subject, snr_db):
    mesh, _, gain = subject
    kwargs = {"n_trials": 60, "seed": 3, "dtype": np.float64, "woi": (0.0, 0.3)}
    signal = _sine((TIMES > 0) & (TIMES <= 0.3))
    noisy = current_density(gain, mesh, 50, "white", signal, 10.0, 5.0, snr_db, TIMES, **kwargs)
    clean = current_density(gain, mesh, 50, "white", signal, 10.0, 5.0, None, TIMES, **kwargs)
    y = clean["data"].values
    # SPM's signal size: mean over channels of the (N-1) std over all samples of the epoch
    signal_size = y.std(axis=1, ddof=1).mean()
    np.testing.assert_allclose(noisy["signal_std"].values, signal_size, rtol=1e-10)
    noise = noisy["data"].values - y
    achieved = 20 * np.log10(signal_size / noise.std())
    assert abs(achieved - snr_db) < 0.1
    # zero outside the window, signal inside
    outside = (TIMES <= 0) | (TIMES > 0.3)
    assert np.all(y[:, outside] == 0)
    assert np.abs(y[:, ~outside]).max() > 0


def test_trial_unique_signals_use_mean_of_per_trial_std(subject):
    mesh, _, gain = subject
    rng = np.random.default_rng(0)
    courses = rng.normal(size=(1, TIMES.size, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    sim = current_density(
        gain, mesh, 5, 1, courses, 8.0, 3.0, None, TIMES, seed=1, dtype=np.float64
    )
    y = sim["data"].values
    assert sim.sizes["trial"] == 4
    assert sim["source_signal"].dims == ("source", "time", "trial")
    np.testing.assert_allclose(
        sim["signal_std"].values, y.std(axis=1, ddof=1).mean(axis=0).mean(), rtol=1e-10
    )
    assert not np.allclose(y[..., 0], y[..., 1])


def test_seeded_reproducible_and_chunk_independent(subject):
    mesh, _, gain = subject
    args = (gain, mesh, 7, "pial", _sine(), 10.0, 5.0, -5.0, TIMES)
    a = current_density(*args, n_trials=7, seed=11, trial_chunks=2)
    b = current_density(*args, n_trials=7, seed=11, trial_chunks=5)
    c = current_density(*args, n_trials=7, seed=12)
    assert a["data"].data.numblocks[2] == 4
    np.testing.assert_array_equal(a["data"].values, b["data"].values)
    np.testing.assert_array_equal(a["data"].values, a["data"].values)  # recompute: same draw
    assert not np.allclose(a["data"].values, c["data"].values)
    fresh = current_density(*args, n_trials=2)
    assert isinstance(fresh.attrs["seed"], int)
    np.testing.assert_array_equal(
        fresh["data"].values,
        current_density(*args, n_trials=2, seed=fresh.attrs["seed"])["data"].values,
    )


def test_average_is_mean_over_trials(subject):
    mesh, _, gain = subject
    args = (gain, mesh, 7, "pial", _sine(), 10.0, 5.0, -5.0, TIMES)
    trials = current_density(*args, n_trials=9, seed=2, dtype=np.float64)
    mean = current_density(*args, n_trials=9, seed=2, dtype=np.float64, average=True)
    assert mean.sizes["trial"] == 1
    np.testing.assert_allclose(mean["data"].values[..., 0], trials["data"].values.mean(axis=2))


def test_signal_trials_carry_signal_others_noise_only(subject):
    mesh, _, gain = subject
    args = (gain, mesh, 7, "pial", _sine(), 10.0, 5.0, None, TIMES)
    sim = current_density(*args, n_trials=4, signal_trials=[1, 3], dtype=np.float64)
    data = sim["data"].values
    np.testing.assert_array_equal(data[..., [0, 2]], 0)
    np.testing.assert_array_equal(data[..., 1], data[..., 3])
    assert np.abs(data[..., 1]).max() > 0
    assert sim.attrs["signal_trials"] == [1, 3]
    noisy = current_density(*args[:-2], 0.0, TIMES, n_trials=4, signal_trials=[1], seed=0)
    assert np.abs(noisy["data"].values[..., 0]).max() > 0  # noise everywhere
    with pytest.raises(LaminarrayError, match="signal_trials"):
        current_density(*args, n_trials=4, signal_trials=[4])


def test_lazy_with_dask_gain(subject):
    mesh, sensors, _ = subject
    lazy_gain = sphere_gain(mesh, sensors, chunks=64)
    with raise_if_dask_computes():
        sim = current_density(
            lazy_gain, mesh, 7, "pial", _sine(), 10.0, 5.0, -10.0, TIMES, n_trials=10, seed=0
        )
    assert isinstance(sim["data"].data, da.Array)
    assert sim["data"].dtype == np.float32
    eager = current_density(
        lazy_gain.compute(), mesh, 7, "pial", _sine(), 10.0, 5.0, -10.0, TIMES, n_trials=10, seed=0
    )
    np.testing.assert_allclose(sim["data"].values, eager["data"].values, rtol=1e-5)


def test_patch_weights_gaussian_on_a_flat_sheet():
    # on a plane geodesic = Euclidean distance: an independent check of the patch
    n = 41
    xx, yy = np.meshgrid(np.arange(n) * 0.5, np.arange(n) * 0.5, indexing="ij")
    sheet = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(n * n)])
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate(
        [
            np.column_stack([a.ravel(), b.ravel(), d.ravel()]),
            np.column_stack([a.ravel(), d.ravel(), c.ravel()]),
        ]
    )
    mesh = mesh_dataset(sheet, faces)
    center = idx[20, 20]
    radius = np.linalg.norm(sheet - sheet[center], axis=1)
    index, weights = patch_weights(mesh, 0, int(center), 4.0)
    assert np.isclose(weights.sum(), 1.0)
    np.testing.assert_array_equal(np.sort(index), np.flatnonzero(radius <= 4.0 + 1e-9))
    sigma = 4.0 / 2.355
    expected = np.exp(-(radius[index] ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(weights, expected / expected.sum(), rtol=1e-6)
    wide_index, wide = patch_weights(mesh, 0, int(center), 4.0, cutoff=False)
    assert wide_index.size == n * n
    assert np.isclose(wide.sum(), 1.0)
    single = patch_weights(mesh, 0, int(center), 0.0)
    np.testing.assert_array_equal(single[0], [center])


def test_patch_uses_exact_geodesics_on_folded_layer(subject):
    mesh, _, _ = subject
    index, weights = patch_weights(mesh, 1, 42, 8.0)
    dist = geodesic_distances(mesh["vertices"].values[1], mesh["faces"].values, 42).values
    assert set(index) == set(np.flatnonzero(dist <= 8.0))
    order = np.argsort(dist[index])
    assert np.all(np.diff(weights[order]) <= 1e-15)  # decreasing with distance


def test_pink_noise_rms_and_spectrum():
    noise = pink_noise(np.random.default_rng(0), (200, 2048), 3.0)
    np.testing.assert_allclose(np.sqrt((noise**2).mean(axis=1)), 3.0)
    np.testing.assert_allclose(noise.mean(axis=1), 0, atol=1e-12)
    power = (np.abs(np.fft.rfft(noise, axis=1)) ** 2).mean(axis=0)[1:]
    slope = np.polyfit(np.log(np.arange(1, power.size + 1)), np.log(power), 1)[0]
    assert -1.1 < slope < -0.9


def test_pink_noise_simulation_snr(subject):
    mesh, _, gain = subject
    kwargs = {"n_trials": 5, "seed": 0, "dtype": np.float64}
    noisy = current_density(
        gain, mesh, 3, 0, _sine(), 10.0, 5.0, 0.0, TIMES, noise_color="pink", **kwargs
    )
    clean = current_density(gain, mesh, 3, 0, _sine(), 10.0, 5.0, None, TIMES, **kwargs)
    noise = noisy["data"].values - clean["data"].values
    np.testing.assert_allclose(
        np.sqrt((noise**2).mean(axis=1)), noisy["noise_std"].values, rtol=1e-9
    )


def test_dipoles_noiseless_and_ground_truth(subject):
    _, sensors, _ = subject
    pos = np.array([[20.0, 10.0, 40.0], [-30.0, 5.0, 20.0]])
    ori = np.array([[1.0, 0, 0], [0, 2.0, 1]])
    courses = np.stack([_sine(), np.cos(2 * np.pi * 7 * TIMES)])
    head = synthetic_head(n_vertices=300)
    kwargs = {"head": head, "dtype": np.float64}
    sim = dipoles(sensors, pos, ori, courses, [8.0, 3.0], None, TIMES, model="sphere", **kwargs)
    assert sim.attrs["forward_model"] == "single sphere (Sarvas)"
    center, _ = fit_sphere(head["inner_skull_vertices"].values)
    unit = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    patterns = sarvas_gain(
        pos - center, sensors["position"].values - center, sensors["orientation"].values, unit
    )
    expected = patterns @ (courses * [[8.0], [3.0]])
    np.testing.assert_allclose(sim["data"].values[..., 0], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sim["source_orientation"].values, unit)
    assert sim.attrs["simulation"] == "dipoles"
    shell = dipoles(sensors, pos, ori, courses, [8.0, 3.0], None, TIMES, **kwargs)
    assert shell.attrs["forward_model"] == "single shell (Nolte 2003)"
    assert not np.allclose(shell["data"].values, sim["data"].values, rtol=1e-3)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"layers": "L4"}, "not one of the mesh layers"),
        ({"vertices": 10_000}, "not vertices of the mesh"),
        ({"signals": np.ones(5)}, "signals"),
        ({"moments": -1.0}, "moments"),
        ({"patch_size": [1.0, 2.0]}, "patch_size"),
        ({"woi": (2.0, 3.0)}, "no sample"),
        ({"noise_color": "brown"}, "noise_color"),
    ],
)
def test_errors(subject, change, match):
    mesh, _, gain = subject
    args = {
        "gain": gain,
        "mesh": mesh,
        "vertices": 3,
        "layers": "pial",
        "signals": _sine(),
        "moments": 1.0,
        "patch_size": 5.0,
        "snr_db": 0.0,
        "times": TIMES,
    } | change
    with pytest.raises(LaminarrayError, match=match):
        current_density(**args)


def test_free_gain_rejected(subject):
    mesh, sensors, _ = subject
    free = sphere_gain(mesh, sensors, orientation="free")
    with pytest.raises(LaminarrayError, match="fixed-orientation"):
        current_density(free, mesh, 3, 0, _sine(), 1.0, 5.0, 0.0, TIMES)


def test_result_is_a_valid_sensor_dataset_and_archivable(subject, tmp_path):
    archive = pytest.importorskip("laminarray.archive")
    mesh, _, gain = subject
    sim = current_density(gain, mesh, 3, 0, _sine(), 1.0, 5.0, 0.0, TIMES, n_trials=2, seed=0)
    archive.save(sim, tmp_path / "a.zarr", group="sub/sensor")
    back = archive.open(tmp_path / "a.zarr")["sub/sensor"].to_dataset()
    xr.testing.assert_allclose(back["data"], sim["data"])
    assert back.attrs["seed"] == 0
