"""The sample subject: complete, deterministic, with an identifiable true layer."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import laminarray
from laminarray import LaminarrayError, check_consistent, validate_mesh, validate_sensor
from laminarray.datasets import sample
from laminarray.simulate import patch_weights


@pytest.fixture(scope="module")
def subject():
    return sample(n_vertices=300, n_layers=3, n_channels=64, n_trials=10)


def test_structure_and_consistency(subject):
    assert set(subject.children) == {"mesh", "head", "sensor", "forward"}
    assert subject["forward"]["gain"].attrs["forward_model"] == "single shell (Nolte 2003)"
    mesh = validate_mesh(subject["mesh"].to_dataset())
    sensor = validate_sensor(subject["sensor"].to_dataset())
    gain = subject["forward"].to_dataset()["gain"]
    check_consistent(sensor=sensor, gain=gain, mesh=mesh)
    assert sensor.sizes == {
        "channel": 64,
        "time": 421,
        "trial": 10,
        "source": 1,
        "xyz": 3,
        "coil": 64,
        "fiducial": 3,
    }
    assert gain.shape == (64, 3, 300)
    assert subject.attrs["true_layer"] == "pial"
    assert int(sensor["source_vertex"].values[0]) == subject.attrs["true_vertex"]
    assert sensor.attrs["snr_db"] == -10.0


def test_deterministic(subject):
    again = sample(n_vertices=300, n_layers=3, n_channels=64, n_trials=10)
    xr.testing.assert_identical(again["sensor"].to_dataset(), subject["sensor"].to_dataset())


def test_true_layer_fits_best(subject):
    """The trial-average is explained best by the patch pattern on the true layer."""
    mesh = subject["mesh"].to_dataset()
    sensor = subject["sensor"].to_dataset()
    gain = subject["forward"].to_dataset()["gain"].values
    evoked = sensor["data"].values.mean(axis=2)
    vertex = subject.attrs["true_vertex"]
    residuals = []
    for layer in range(3):
        index, weights = patch_weights(mesh, layer, vertex, 5.0)
        pattern = gain[:, layer, index] @ weights
        course = pattern @ evoked / (pattern @ pattern)
        residuals.append(np.linalg.norm(evoked - np.outer(pattern, course)))
    assert int(np.argmin(residuals)) == 0


@pytest.mark.parametrize("layer", ["white", 1])
def test_layer_choice_and_opm(layer):
    subject = sample(n_vertices=200, n_layers=3, sensors="opm", layer=layer, n_trials=2)
    expected = "white" if layer == "white" else "0.500"
    assert subject.attrs["true_layer"] == expected
    assert subject["sensor"]["channel"].values[0].startswith("OPM")


def test_callable_through_package_and_errors():
    tree = laminarray.datasets.sample(n_vertices=100, n_layers=2, n_channels=32, n_trials=1)
    assert tree["forward"]["gain"].shape == (32, 2, 100)
    with pytest.raises(LaminarrayError, match="sensors"):
        sample(sensors="squid")
    with pytest.raises(LaminarrayError, match="woi"):
        sample(n_vertices=100, n_layers=2, woi=(1.0, 2.0))
