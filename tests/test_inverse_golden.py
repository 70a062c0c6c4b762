"""The public inversions reproduce SPM's golden case (design note spm_inversion §10.3).

Reference: tests/data/spm_golden_case.npz, computed by running SPM's own
``spm_eeg_invert_classic`` under Octave on a two-layer flat mesh.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import laminarray as lam
from laminarray.inverse import InversionSettings, invert_ebb, invert_msp, sliding_window

FORWARDS = {"pial": "pial", "white": "white", "both": None}


@pytest.fixture(scope="module")
def case(golden):
    n_channels = golden["L"].shape[0]
    channels = [f"MEG{i:03d}" for i in range(n_channels)]
    gain = lam.gain_dataarray(golden["L"].reshape(n_channels, 2, 100), channels)
    sensors = {
        name: lam.sensor_dataset(golden[f"Y_{name}_source"], channels, golden["time_s"])
        for name in ("pial", "white")
    }
    return {"gain": gain, "sensor": sensors, "qg": sp.csc_array(golden["QG_layer"])}


def _invert(case, golden, data, method, forward, modes):
    invert = invert_ebb if method == "EBB" else invert_msp
    extra = {"n_patches": 100} if method == "MSP" else {}
    smoothing = golden["QG_twolayer"] if forward == "both" else case["qg"]
    return invert(
        case["sensor"][data],
        case["gain"],
        smoothing=smoothing,
        n_spatial_modes=modes,
        layer=FORWARDS[forward],
        **extra,
    )


CASES = [
    (data, method, forward, modes)
    for data in ("pial", "white")
    for method in ("EBB", "MSP")
    for forward in ("pial", "white", "both")
    for modes in ("all", "auto")
]


@pytest.mark.parametrize(("data", "method", "forward", "modes"), CASES)
def test_free_energy_hyperparameters_and_modes(case, golden, data, method, forward, modes):
    inv = _invert(case, golden, data, method, forward, modes)
    key = f"Y{data}_{method}_{forward}_{modes}"
    f_tol, h_tol = (1e-3, 1e-8) if method == "EBB" else (0.1, 1e-2)
    assert float(inv.free_energy) == pytest.approx(float(golden[f"spm_F_{key}"]), abs=f_tol)
    np.testing.assert_allclose(inv.hyperparameters, golden[f"spm_h_{key}"], rtol=h_tol)
    assert inv.sizes["mode"] == int(golden[f"spm_Nm_{key}"])
    assert float(inv.free_energy) == pytest.approx(float(inv.accuracy - inv.complexity), rel=1e-12)
    if f"spm_MU_{key}" in golden:
        mu = golden[f"spm_MU_{key}"]
        projector = inv.projector.values.reshape(mu.shape)
        rtol = 1e-6 if method == "EBB" else 2e-3
        assert np.abs(projector - mu).max() <= rtol * np.abs(mu).max()
        cq = golden[f"spm_Cq_{key}"]
        variance = inv.posterior_variance.values.ravel()
        assert np.abs(variance - cq).max() <= rtol * np.abs(cq).max()


def test_inverse_dataset_format(case, golden):
    inv = _invert(case, golden, "pial", "EBB", "both", "all")
    assert inv.projector.dims == ("layer", "vertex", "channel")
    assert inv.projector.dtype == np.float64
    assert inv.projector.attrs["units"] == "nAm/fT"
    assert inv.free_energy.attrs["long_name"] == "free energy"
    assert np.isnan(inv.cv_error)
    assert inv.spatial_modes.dims == ("mode", "channel")
    assert inv.temporal_projector.dims == ("time", "temporal_mode")
    np.testing.assert_allclose(
        inv.temporal_projector.values.T @ inv.temporal_projector.values, np.eye(4), atol=1e-12
    )
    assert inv.attrs["method"] == "EBB"
    assert InversionSettings.from_dict(inv.attrs) == InversionSettings(
        method="EBB", n_spatial_modes="all"
    )
    lam.validate_projector(inv.projector)
    # EBB two stages: the final prior hyperparameter is 1 (design note spm_inversion §10.1 item 4)
    assert float(inv.hyperparameters[1]) == pytest.approx(1.0, abs=1e-10)


def test_two_layer_gain_with_per_layer_smoothing_equals_explicit_block_diagonal(case, golden):
    both = invert_ebb(case["sensor"]["pial"], case["gain"], smoothing=case["qg"])
    explicit = invert_ebb(case["sensor"]["pial"], case["gain"], smoothing=golden["QG_twolayer"])
    assert float(both.free_energy) == float(explicit.free_energy)


def test_sliding_window_series(case, golden):
    """§10.3 sliding run: EBB, pial forward, auto spatial modes, Nt = 1, Hann, foi 0-40 Hz."""
    times = golden["time_s"]
    windows = times[golden["spm_sliding_windows_1based"].astype(int) - 1]
    res = sliding_window(
        case["sensor"]["pial"],
        case["gain"],
        windows=windows,
        smoothing=case["qg"],
        method="EBB",
        n_spatial_modes="auto",
        foi=(0, 40),
    )
    assert res.free_energy.dims == ("layer", "window")
    np.testing.assert_allclose(res.window_start, windows[:, 0])
    np.testing.assert_allclose(
        res.free_energy.sel(layer="pial"), golden["spm_F_sliding_EBB_pial"], rtol=0, atol=1e-6
    )
    # Windows are independent inversions: window 3 alone gives the same F.
    alone = invert_ebb(
        case["sensor"]["pial"],
        case["gain"],
        smoothing=case["qg"],
        layer="white",
        n_temp_modes=1,
        hann=True,
        foi=(0, 40),
        woi=tuple(windows[3]),
    )
    assert float(res.free_energy.sel(layer="white")[3]) == pytest.approx(
        float(alone.free_energy), abs=1e-9
    )
