"""Inputs that cannot silently lie: every bad input of issue 17 gets a named, explained error."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray.datasets import synthetic_cortex
from laminarray.forward import helmet_array, sphere_gain
from laminarray.inverse import apply_inverse, invert_ebb
from laminarray.power import roi_power

N_CH, N_TRIALS = 8, 6
CHANNELS = [f"MEG{i:03d}" for i in range(N_CH)]
TIMES = lam.schema.time_axis(70, 100.0, -0.2)  # -0.2 .. 0.49 s at 100 Hz


def _sensor(scale: float = 100.0, n_trials: int = N_TRIALS, times=TIMES) -> xr.Dataset:
    rng = np.random.default_rng(0)
    data = scale * rng.standard_normal((N_CH, len(times), n_trials))
    data[:2, np.asarray(times) >= 0] *= 3.0
    return lam.sensor_dataset(data, CHANNELS, times)


def _projector() -> xr.DataArray:
    rng = np.random.default_rng(1)
    return lam.projector_dataarray(rng.standard_normal((2, 30, N_CH)), CHANNELS, ["pial", "white"])


def _gain() -> xr.DataArray:
    rng = np.random.default_rng(2)
    return lam.gain_dataarray(rng.standard_normal((N_CH, 2, 30)), CHANNELS, ["pial", "white"])


# ------------------------------------------------------------------ the six silent-wrong cases


def test_times_in_ms_labelled_seconds_are_refused_with_a_hint():
    with pytest.raises(lam.SchemaError) as info:
        _sensor(times=TIMES * 1000)
    message = str(info.value)
    assert "`time` must be in seconds" in message  # argument and expectation
    assert "found a step of 10" in message  # what was found
    assert "time / 1000" in message  # the one-line hint for ms
    with lam.set_options(check_plausibility=False):  # the documented escape hatch
        assert _sensor(times=TIMES * 1000).sizes["time"] == TIMES.size
    # at 10 kHz a millisecond step is small, but epochs of 700 "s" are not plausible
    fast = lam.schema.time_axis(7000, 10.0, -200.0)
    with pytest.raises(lam.SchemaError, match="epochs of at most 60 s; found 6 trials spanning"):
        _sensor(times=fast)
    assert _sensor(n_trials=1, times=lam.schema.time_axis(7000, 50.0)).sizes["trial"] == 1


def test_tesla_values_labelled_ft_are_refused_naming_the_units():
    sensor = _sensor(scale=1e-13)  # tesla-sized values with the default units 'fT'
    with pytest.raises(lam.SchemaError) as info:
        roi_power(sensor, _projector(), (0.0, 0.3), (-0.2, 0.0))
    message = str(info.value)
    assert "implausible for units 'fT'" in message
    assert "expected an RMS between" in message
    assert "found 1" in message
    assert "'T'" in message  # the hint: these values are plausible in tesla
    # the check is keyed on the declared units: gradiometer data in fT/mm too
    gradients = xr.Dataset({"data": sensor["data"].assign_attrs(units="fT/mm")})
    with pytest.raises(lam.SchemaError, match="'T/m'"):
        lam.plausibility.check_amplitude(gradients, "sensor")
    lam.plausibility.check_amplitude(_sensor().assign(data=_sensor()["data"] / 10), "sensor")
    with lam.set_options(check_plausibility=False):
        roi_power(sensor, _projector(), (0.0, 0.3), (-0.2, 0.0))


def test_a_gain_passed_as_the_inverse_is_refused():
    with pytest.raises(lam.LaminarrayError) as info:
        roi_power(_sensor(), _gain(), (0.0, 0.3), (-0.2, 0.0))
    message = str(info.value)
    assert "`projector` must be an inverse projector" in message
    assert "'fT/nAm'" in message
    with pytest.raises(lam.LaminarrayError, match="gain-like"):
        apply_inverse(_gain(), _sensor())


@pytest.mark.parametrize(
    ("woi", "baseline", "expected"),
    [
        ((0, 500), (-200, 0), "looks like milliseconds: use \\(0, 0.5\\)"),  # laMEG's ms windows
        ((0.0, 0.3), (-0.3, 0.0), "`baseline` = \\(-0.3, 0.0\\) s reaches outside the data"),
        ((0.2, 0.8), (-0.2, 0.0), "windows are not clipped"),
    ],
)
def test_windows_outside_the_epoch_are_errors_not_clipped(woi, baseline, expected):
    with pytest.raises(lam.LaminarrayError, match=expected):
        roi_power(_sensor(), _projector(), woi, baseline)


def test_the_whole_epoch_is_a_valid_window():
    # the end is exclusive: one sample past the last one is inside
    end = float(TIMES[-1]) + 0.01
    result = roi_power(_sensor(), _projector(), (0.0, end), (float(TIMES[0]), 0.0))
    assert np.isfinite(result["t"])


def test_patch_size_beyond_the_mesh_scale_warns():
    mesh = synthetic_cortex(n_vertices=60, n_layers=2, seed=0)
    pos = mesh["vertices"].values
    extent = float(np.linalg.norm(np.ptp(pos.reshape(-1, 3), axis=0)))
    with pytest.warns(UserWarning, match="beyond the scale of the mesh"):
        lam.surf.smoothing_operator(mesh, extent / 3)
    with lam.set_options(check_plausibility=False), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        lam.surf.smoothing_operator(mesh, extent / 3)


def test_empty_and_unknown_selections_are_refused_listing_the_labels():
    with pytest.raises(lam.LaminarrayError, match=r"`layers` selects nothing.*'pial', 'white'"):
        apply_inverse(_projector(), _sensor(), layers=[])
    with pytest.raises(lam.LaminarrayError) as info:
        apply_inverse(_projector(), _sensor(), layers=["middle"])
    assert "['pial', 'white']" in str(info.value)
    assert "['middle']" in str(info.value)
    with pytest.raises(lam.LaminarrayError, match=r"`vertices`.*unknown \[999\]"):
        apply_inverse(_projector(), _sensor(), vertices=[0, 999])


def test_study_sources_with_an_unknown_layer_lists_the_layers(tmp_path):
    path = tmp_path / "s.zarr"
    lam.archive.save(_sensor(), path, "sub-01/sensor")
    lam.archive.save(xr.Dataset({"projector": _projector()}), path, "sub-01/inverse/ebb")
    sub = lam.open_study(path).subject("sub-01")
    with pytest.raises(lam.LaminarrayError, match=r"expected among \['pial', 'white'\]"):
        sub.sources(layers=["middle"])
    with pytest.raises(lam.LaminarrayError, match="selects nothing"):
        sub.sources(time=(5.0, 6.0))
    assert sub.sources(layers="pial").sizes["layer"] == 1


def test_one_trial_roi_power_needs_two_trials():
    with pytest.raises(lam.LaminarrayError, match=r"needs >= 2 trials; found 1"):
        roi_power(_sensor(n_trials=1), _projector(), (0.0, 0.3), (-0.2, 0.0))
    with pytest.raises(lam.LaminarrayError, match=r"needs >= 2 `trial` entries; found 1"):
        lam.stats.ttest_rel_corrected(xr.DataArray(np.ones((3, 1)), dims=("v", "trial")), "trial")


def test_plausibility_option_is_checked():
    with pytest.raises(lam.LaminarrayError, match="`check_plausibility` must be True or False"):
        lam.set_options(check_plausibility="no")
    assert lam.get_options()["check_plausibility"] is True


# ------------------------------------------------------------------ progress


def test_progress_reports_on_stderr_only_when_asked(capsys):
    mesh = synthetic_cortex(n_vertices=40, n_layers=2, seed=0)
    gain = sphere_gain(mesh, helmet_array(16, head=mesh)).compute()
    rng = np.random.default_rng(0)
    sensor = lam.sensor_dataset(
        100 * rng.standard_normal((gain.sizes["channel"], 40, 2)),
        gain["channel"].values,
        lam.schema.time_axis(40, 200.0, -0.1),
    )
    invert_ebb(sensor, gain, mesh, n_spatial_modes="all", n_temp_modes=2)
    assert capsys.readouterr().err == ""  # silent under pytest by default
    invert_ebb(sensor, gain, mesh, n_spatial_modes="all", n_temp_modes=2, progress=True)
    err = capsys.readouterr().err
    assert "invert_ebb: 1/1 folds" in err
    assert "done" in err
    with lam.set_options(progress=True):  # the single switch
        lam.inverse.compare_layers(sensor, gain, mesh, n_temp_modes=2)
    assert "100%" in capsys.readouterr().err  # dask's bar over the per-layer inversions
    roi_power(_sensor(), _projector(), (0.0, 0.3), (-0.2, 0.0), progress=True)
    captured = capsys.readouterr()
    assert "100%" in captured.err
    assert captured.out == ""


# ------------------------------------------------------------------ exact time axes


def test_time_axes_are_exact():
    times = lam.schema.time_axis(420, 600.0, -0.2)
    assert times[120] == 0.0
    assert times[180] == 0.1
    sensor = lam.sensor_dataset(np.ones((1, 420, 1)), ["a"], times)
    assert sensor.attrs["sfreq"] == 600.0
    assert float(sensor["time"].sel(time=0.1)) == 0.1
    assert lam.schema.sampling_rate(times) == 600.0


def test_the_demo_time_axis_is_exact():
    from laminarray.demo import TIMES

    assert TIMES[0] == -0.2
    assert TIMES[120] == 0.0
    assert TIMES[180] == 0.1
    assert TIMES.size == 420
    assert lam.schema.sampling_rate(TIMES) == 600.0


# ------------------------------------------------------------------ discoverable API


def test_dir_lists_submodules_and_no_leaked_names():
    names = dir(lam)
    for module in ("surf", "inverse", "power", "viz", "io", "plausibility"):
        assert module in names
    for leaked in ("Any", "importlib", "lazy_attributes"):
        assert leaked not in names
    assert callable(lam.roi_power)
    assert "roi_power" in names


def test_accessor_offers_only_what_applies():
    mesh = synthetic_cortex(n_vertices=40, n_layers=2, seed=0)
    assert "thickness" in dir(mesh.lam)
    assert "invert_ebb" not in dir(mesh.lam)
    assert not hasattr(mesh.lam, "invert_ebb")
    with pytest.raises(AttributeError, match="applies to sensor objects; this Dataset is mesh"):
        mesh.lam.invert_ebb  # noqa: B018
    sensor = _sensor()
    assert "invert_ebb" in dir(sensor.lam)
    assert "thickness" not in dir(sensor.lam)
    assert "lead_field_rms_diff" in dir(_gain().lam)
    assert "lead_field_rms_diff" not in dir(_projector().lam)
    assert lam.accessor.kind(_projector()) == "projector"


# ------------------------------------------------------------------ error and CLI gaps


def test_archive_errors_name_the_problem(tmp_path):
    with pytest.raises(lam.ArchiveError, match="no archive at"):
        lam.archive.open(tmp_path / "missing.zarr")
    with pytest.raises(lam.ArchiveError, match="`group` is an empty string"):
        lam.archive.save(_sensor(), tmp_path / "y.zarr", "")
    assert not (tmp_path / "y.zarr" / "data").exists()


def test_mesh_mismatch_says_vertices():
    mesh = synthetic_cortex(n_vertices=40, n_layers=2, seed=0)
    with pytest.raises(lam.SchemaError, match="number of vertices"):
        lam.check_consistent(gain=_gain(), mesh=mesh)
