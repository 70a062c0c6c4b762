"""ROI power and the demo's CSD use only the samples an inversion's temporal projector covers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray.power import roi_power
from laminarray.power._window import covered_samples


def _objects(n_times=60, n_channels=6, n_vertices=8, n_trials=10):
    rng = np.random.default_rng(3)
    channels = [f"c{i}" for i in range(n_channels)]
    times = -0.1 + np.arange(n_times) / 300
    sensor = lam.sensor_dataset(
        rng.standard_normal((n_channels, n_times, n_trials)), channels, times
    )
    projector = lam.projector_dataarray(rng.standard_normal((2, n_vertices, n_channels)), channels)
    # SPM's whole-millisecond window drops the last sample (design note spm_inversion §1.3).
    covered = times[:-1]
    modes, _ = np.linalg.qr(rng.standard_normal((covered.size, 3)))
    temporal = xr.DataArray(modes, dims=("time", "temporal_mode"), coords={"time": covered})
    inverse = xr.Dataset({"projector": projector, "temporal_projector": temporal})
    return sensor, inverse


def test_covered_samples_restricts_to_projector_times():
    sensor, inverse = _objects()
    data, modes = covered_samples(sensor["data"], inverse["temporal_projector"])
    np.testing.assert_array_equal(data["time"].values, sensor["time"].values[:-1])
    assert modes.shape == (sensor.sizes["time"] - 1, 3)
    shifted = inverse["temporal_projector"].assign_coords(time=inverse["time"].values + 0.5 / 300)
    with pytest.raises(lam.SchemaError, match="not samples of the sensor data"):
        covered_samples(sensor["data"], shifted)


def test_roi_power_with_a_shorter_inversion_window_equals_the_restricted_data():
    sensor, inverse = _objects()
    kwargs = {
        "woi": (0.0, 0.1),
        "baseline": (-0.1, 0.0),
        "measure": "variance",
        "perc_thresh": 50.0,
    }
    result = roi_power(sensor, inverse, **kwargs)
    # the restricted data end one sample earlier: a window reaching past them is refused, not
    # clipped, so give the window that ends where they do
    short = sensor.isel(time=slice(None, -1))
    restricted = roi_power(short, inverse, **{**kwargs, "woi": (0.0, float(sensor.time[-1]))})
    xr.testing.assert_allclose(result["t_map"], restricted["t_map"])
    assert np.isfinite(float(result["t"]))


def test_channels_read_back_as_numpy_strings_align():
    """Plain xarray.open_datatree gives numpy StringDType labels; projection must accept them."""
    from laminarray._projection import align_channels

    sensor, inverse = _objects()
    labels = np.array(sensor["channel"].values.tolist()[::-1], dtype=np.dtypes.StringDType())
    data = sensor["data"].isel(channel=slice(None, None, -1)).assign_coords(channel=labels)
    aligned = align_channels(data, inverse["projector"])
    np.testing.assert_array_equal(aligned.values, sensor["data"].values)
