"""Rank-deficient data and fused modalities (magnetometers + planar gradiometers).

Independent references: the inversion of data and gain projected onto the
signal subspace by hand (rotation invariance of F, docs/design/spm_inversion.md
§10.1),
MNE's ``compute_rank``, and SPM's multimodal scale formulas evaluated here
with plain numpy.
"""

import logging

import mne
import numpy as np
import pytest
import scipy.sparse as sp

import laminarray as lam
from laminarray.inverse import compare_layers, invert_ebb, invert_msp
from laminarray.inverse.modes import dct_band

CHANNELS = [f"MEG{i:03d}" for i in range(48)]
RANK = 30
#: ReML stops once an iteration gains less than 1e-2 of F (SPM's rule), so rounding
#: differences (BLAS threads, a rotated basis) can move F by about that much.
F_TOL = 0.05
N_TRIALS = 5  # of the golden case's 20: enough, and fast


@pytest.fixture(scope="module")
def recording(golden):
    return golden["Y_pial_source"][:, :, :N_TRIALS]


@pytest.fixture(scope="module")
def qg(golden):
    return sp.csc_array(golden["QG_layer"])


@pytest.fixture(scope="module")
def projected(golden, recording):
    """Golden pial data projected onto a random 30-dimensional subspace (as SSS does)."""
    basis = np.linalg.qr(np.random.default_rng(3).standard_normal((48, RANK)))[0]
    data = np.einsum("cv,dv,dtk->ctk", basis, basis, recording)
    return basis, lam.sensor_dataset(data, CHANNELS, golden["time_s"])


@pytest.fixture(scope="module")
def gain(golden):
    return lam.gain_dataarray(golden["L"].reshape(48, 2, 100), CHANNELS)


def _virtual(basis, sensor, gain):
    """Data and gain in the coordinates of ``basis`` (channels -> virtual channels)."""
    names = [f"V{i:02d}" for i in range(basis.shape[1])]
    data = np.einsum("cv,ctk->vtk", basis, sensor["data"].values)
    values = np.einsum("cv,cln->vln", basis, gain.values)
    return (
        lam.sensor_dataset(data, names, sensor["time"].values),
        lam.gain_dataarray(values, names, list(gain["layer"].values)),
    )


@pytest.mark.parametrize("modes", ["all", "auto"])
def test_capped_inversion_equals_projected_inversion(projected, gain, qg, modes, caplog):
    basis, sensor = projected
    with caplog.at_level(logging.INFO, logger="laminarray.inverse.rank"):
        inv = invert_ebb(sensor, gain, smoothing=qg, layer="pial", n_spatial_modes=modes)
    assert "rank 30 for 48 channels" in caplog.text
    assert inv.attrs["data_rank"] == RANK
    assert inv.attrs["data_rank_source"] == "eigen-spectrum"
    assert inv.sizes["mode"] <= RANK
    ref = invert_ebb(
        *_virtual(basis, sensor, gain), smoothing=qg, layer="pial", n_spatial_modes=modes
    )
    assert ref.attrs["data_rank"] == RANK  # full rank: nothing capped
    assert float(inv.free_energy) == pytest.approx(float(ref.free_energy), abs=F_TOL)
    # the same sources from the same data: projector·Y equal
    y = sensor["data"].values[:, :, 0]
    src = inv.projector.values[0] @ y
    src_ref = ref.projector.values[0] @ np.einsum("cv,ct->vt", basis, y)
    np.testing.assert_allclose(src, src_ref, atol=5e-3 * np.abs(src_ref).max())
    uncapped = invert_ebb(
        sensor, gain, smoothing=qg, layer="pial", n_spatial_modes=modes, rank="full"
    )
    assert abs(float(uncapped.free_energy) - float(ref.free_energy)) > 100


def test_capped_layer_comparison_and_msp_equal_projected(projected, gain, qg):
    basis, sensor = projected
    virtual = _virtual(basis, sensor, gain)
    capped = compare_layers(sensor, gain, smoothing=qg)
    ref = compare_layers(*virtual, smoothing=qg)
    np.testing.assert_allclose(capped.free_energy, ref.free_energy, atol=F_TOL)
    msp = invert_msp(sensor, gain, smoothing=qg, layer="pial", n_patches=10, n_spatial_modes="all")
    msp_ref = invert_msp(*virtual, smoothing=qg, layer="pial", n_patches=10, n_spatial_modes="all")
    assert float(msp.free_energy) == pytest.approx(float(msp_ref.free_energy), abs=F_TOL)


def test_rank_from_attrs_settings_and_mne(projected, gain, qg):
    sensor = projected[1]
    info = mne.create_info(CHANNELS, 200.0, "mag")
    epochs = mne.EpochsArray(sensor["data"].values.transpose(2, 0, 1) * 1e-15, info, verbose=False)
    assert mne.compute_rank(epochs, rank=None, verbose=False)["mag"] == RANK
    data = sensor.assign_attrs(rank={"meg": RANK})
    from_attrs = invert_ebb(data, gain, smoothing=qg, layer="pial", n_spatial_modes="all")
    assert from_attrs.attrs["data_rank_source"] == "attrs"
    assert from_attrs.sizes["mode"] == RANK
    imposed = invert_ebb(sensor, gain, smoothing=qg, layer="pial", n_spatial_modes="all", rank=25)
    assert imposed.attrs["data_rank"] == 25
    assert imposed.sizes["mode"] == 25
    with pytest.raises(lam.LaminarrayError, match="channel kinds"):
        invert_ebb(sensor.assign_attrs(rank={"eeg": 3}), gain, smoothing=qg, layer="pial")
    with pytest.raises(lam.LaminarrayError, match="`rank`"):
        invert_ebb(sensor, gain, smoothing=qg, layer="pial", rank="half")


def test_full_rank_data_are_not_capped(golden, recording, gain, qg):
    sensor = lam.sensor_dataset(recording, CHANNELS, golden["time_s"])
    inv = invert_ebb(sensor, gain, smoothing=qg, layer="pial", n_spatial_modes="all")
    assert inv.attrs["data_rank"] == 48
    assert inv.sizes["mode"] == 48
    # too few samples to see a deficiency: no cap
    short = sensor.isel(time=slice(0, 20), trial=[0])
    assert invert_ebb(short, gain, smoothing=qg, layer="pial").attrs["data_rank"] == 48


# --- fused modalities ---------------------------------------------------------------

TYPES = np.array(["MEG", "MEGPLANAR"] * 24)  # interleaved, as Neuromag triplets


def _mixed(golden, gain, data_factor=1.0, gain_factor=1.0):
    """The golden case with every other channel relabelled a planar gradiometer and rescaled."""
    factor = np.where(TYPES == "MEGPLANAR", data_factor, 1.0)
    lead = np.where(TYPES == "MEGPLANAR", gain_factor, 1.0)
    sensor = lam.sensor_dataset(
        golden["Y_pial_source"][:, :, :N_TRIALS] * factor[:, None, None],
        CHANNELS,
        golden["time_s"],
        ch_types=TYPES,
        units="mixed",
    )
    values = gain.values * lead[:, None, None]
    mixed_gain = lam.gain_dataarray(
        values, CHANNELS, list(gain["layer"].values), units="mixed/nAm"
    )
    return sensor, mixed_gain


def test_modality_scales_follow_spm_formulas(golden, gain, qg):
    sensor, mixed_gain = _mixed(golden, gain, data_factor=1e-3, gain_factor=2e-3)
    inv = invert_ebb(sensor, mixed_gain, smoothing=qg, layer="pial", n_spatial_modes="all")
    assert inv.attrs["modalities"] == ["MEG", "MEGPLANAR"]
    assert inv["component"].values.tolist() == ["noise_MEG", "noise_MEGPLANAR", "prior"]
    lead = mixed_gain.sel(layer="pial").values
    y = sensor["data"].values
    band = dct_band(1000 * golden["time_s"], (0, 256))
    for m, name in enumerate(["MEG", "MEGPLANAR"]):
        rows = np.equal(TYPES, name)
        # 'all' modes: A_m = I; s = sqrt(tr(L L')/Nm), d = sqrt(tr(YY)/(Nm N))
        s_m = np.sqrt(np.sum(lead[rows] ** 2) / rows.sum())
        d_m = np.sqrt(
            np.sum(np.einsum("ctk,tf->cfk", y[rows], band) ** 2) / (rows.sum() * y[0].size)
        )
        assert inv.attrs["modality_gain_scale"][m] == pytest.approx(s_m, rel=1e-12)
        assert inv.attrs["modality_data_scale"][m] == pytest.approx(d_m, rel=1e-12)


def test_fused_inversion_ignores_each_modality_units(golden, gain, qg):
    """SPM's scaling makes F independent of each modality's units (fT vs T, fT/mm vs fT/cm)."""
    base = invert_ebb(*_mixed(golden, gain), smoothing=qg, layer="pial", n_spatial_modes="all")
    rescaled = invert_ebb(
        *_mixed(golden, gain, data_factor=1e-3, gain_factor=1e-3 / 10),
        smoothing=qg,
        layer="pial",
        n_spatial_modes="all",
    )
    assert float(rescaled.free_energy) == pytest.approx(float(base.free_energy), abs=F_TOL)
    # the source estimate is localised on the simulated patch whatever the units
    for inv, factor in ((base, 1.0), (rescaled, 1e-3)):
        y = golden["Y_pial_source"][:, :, :N_TRIALS]
        y = y * np.where(TYPES == "MEGPLANAR", factor, 1.0)[:, None, None]
        power = np.sum(np.einsum("vc,ctk->vtk", inv.projector.values[0], y) ** 2, axis=(1, 2))
        assert int(np.argmax(power)) == 45


def test_fused_msp_and_layer_comparison(golden, gain, qg):
    sensor, mixed_gain = _mixed(golden, gain, data_factor=0.05, gain_factor=0.05)
    msp = invert_msp(
        sensor, mixed_gain, smoothing=qg, layer="pial", n_patches=10, n_spatial_modes="auto"
    )
    assert msp["component"].values.tolist()[:2] == ["noise_MEG", "noise_MEGPLANAR"]
    assert np.isfinite(float(msp.free_energy))
    cmp = compare_layers(sensor, mixed_gain, smoothing=qg)
    assert float(cmp.free_energy.sel(layer="pial")) > float(cmp.free_energy.sel(layer="white"))
    cv = invert_ebb(
        sensor, mixed_gain, smoothing=qg, layer="pial", n_spatial_modes="all", ideal_pc_test=10
    )
    assert np.isfinite(float(cv.cv_error))
