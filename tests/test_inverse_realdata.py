"""Laminar comparison on real Neuromag data after SSS (rank 69 for 204 gradiometers).

Keeping all 204 gradiometer modes models the 135 empty directions as sensor
noise and inflates the pial-white free-energy difference by orders of
magnitude; with the spatial modes restricted to the data's signal subspace it
equals the comparison of data and gain projected onto that subspace by hand.
References: MNE's rank from the SSS records (``compute_rank(rank="info")``),
MNE's spherical forward model for the gain.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import laminarray as lam
from laminarray.inverse import compare_layers

mne = pytest.importorskip("mne")

N_SOURCES = 60
#: ReML's own stopping rule (dF < 1e-2) bounds how closely two equivalent fits agree.
F_TOL = 0.05


@pytest.fixture(scope="module")
def neuromag(realdata):
    """Gradiometer data cut into 3 pseudo-trials, a two-layer cap and its sphere gain."""
    raw = mne.io.read_raw_fif(
        realdata / "neuromag" / "sample_audvis_trunc_raw_sss.fif", preload=True, verbose=False
    ).pick("grad")
    rank = mne.compute_rank(raw, rank="info", verbose=False)["grad"]
    data = raw.get_data() * 1e12  # T/m -> fT/mm
    n_times = data.shape[1] // 3
    trials = data[:, : 3 * n_times].reshape(data.shape[0], 3, n_times).transpose(0, 2, 1)
    names = raw.info["ch_names"]
    sensor = lam.sensor_dataset(
        trials, names, np.arange(n_times) / raw.info["sfreq"], ch_types="MEGPLANAR", units="fT/mm"
    )
    # a cap over the left temporal lobe, pial 70 mm and white 66 mm from the sphere centre
    rng = np.random.default_rng(0)
    theta = np.deg2rad(rng.uniform(60, 110, N_SOURCES))
    phi = np.deg2rad(rng.uniform(150, 210, N_SOURCES))
    radial = np.column_stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    )
    tangent = np.cross(radial, [0.0, 0.0, 1.0])
    orient = tangent / np.linalg.norm(tangent, axis=1)[:, None] + 0.3 * radial
    orient /= np.linalg.norm(orient, axis=1)[:, None]
    origin = np.array([0.0, 0.0, 0.04])
    sphere = mne.make_sphere_model(r0=origin, head_radius=None, verbose=False)
    layers = []
    for radius in (0.070, 0.066):
        src = mne.setup_volume_source_space(
            pos={"rr": origin + radius * radial, "nn": orient}, verbose=False
        )
        fwd = mne.make_forward_solution(raw.info, None, src, sphere, eeg=False, verbose=False)
        free = fwd["sol"]["data"].reshape(len(names), N_SOURCES, 3)
        layers.append(np.einsum("cnk,nk->cn", free, orient) * 1e3)  # (T/m)/(A·m) -> fT/mm/nAm
    gain = lam.gain_dataarray(
        np.stack(layers, axis=1), names, ["pial", "white"], units="fT/mm/nAm", ch_types="MEGPLANAR"
    )
    centres = origin + 0.068 * radial
    dist = 1000 * np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    kernel = np.exp(-(dist**2) / (2 * (5 / 2.355) ** 2)) * (dist <= 5)
    return rank, sensor, gain, sp.csc_array(kernel / kernel.sum(axis=0))


@pytest.mark.slow
def test_sss_rank_caps_modes_and_layer_comparison_matches_projection(neuromag):
    rank, sensor, gain, smoothing = neuromag
    assert rank == 69
    capped = compare_layers(sensor, gain, smoothing=smoothing)
    assert capped.attrs["rank"] == "auto"
    # the projected problem: an orthonormal basis of the data's 69 dimensions (numpy SVD)
    flat = sensor["data"].values.reshape(sensor.sizes["channel"], -1)
    basis = np.linalg.svd(flat, full_matrices=False)[0][:, :rank]
    names = [f"V{i:02d}" for i in range(rank)]
    virtual = lam.sensor_dataset(
        np.einsum("cv,ctk->vtk", basis, sensor["data"].values),
        names,
        sensor["time"].values,
        ch_types="MEGPLANAR",
        units="fT/mm",
    )
    virtual_gain = lam.gain_dataarray(
        np.einsum("cv,cln->vln", basis, gain.values), names, ["pial", "white"], units="fT/mm/nAm"
    )
    projected = compare_layers(virtual, virtual_gain, smoothing=smoothing)
    np.testing.assert_allclose(capped.free_energy, projected.free_energy, atol=F_TOL)
    uncapped = compare_layers(sensor, gain, smoothing=smoothing, rank="full")
    delta = float(capped.free_energy.diff("layer")[0])
    delta_uncapped = float(uncapped.free_energy.diff("layer")[0])
    assert float(projected.free_energy.diff("layer")[0]) == pytest.approx(delta, abs=F_TOL)
    # 204 modes for 69 dimensions: the layer difference is inflated by orders of magnitude
    assert abs(delta_uncapped) > 100 * max(abs(delta), F_TOL)
    inv = lam.inverse.invert_ebb(sensor, gain, smoothing=smoothing, layer="pial")
    assert inv.attrs["data_rank"] == rank
    assert inv.attrs["data_rank_source"] == "eigen-spectrum"
    assert inv.sizes["mode"] <= rank
    from_info = lam.inverse.invert_ebb(
        sensor.assign_attrs(rank={"meg": rank}), gain, smoothing=smoothing, layer="pial"
    )
    assert from_info.attrs["data_rank_source"] == "attrs"
    assert float(from_info.free_energy) == pytest.approx(float(inv.free_energy), abs=F_TOL)


def test_from_mne_records_the_sss_rank_the_inversion_uses(realdata):
    raw = mne.io.read_raw_fif(
        realdata / "neuromag" / "sample_audvis_trunc_raw_sss.fif", preload=True, verbose=False
    ).pick("meg")
    epochs = mne.make_fixed_length_epochs(raw, duration=0.3, preload=True, verbose=False)
    sensor = lam.io.from_mne(epochs)
    assert sensor.attrs["rank"] == {"meg": 69}
    grads = sensor.isel(channel=np.flatnonzero(sensor["ch_type"].values == "MEGPLANAR"))
    assert grads.attrs["rank"] == {"meg": 69}
