"""Compound and per-channel units: planar gradiometers (fT/mm) from gain to inversion."""

from __future__ import annotations

import numpy as np
import pytest

import laminarray as lam
from laminarray import SchemaError, forward
from laminarray.inverse import invert_ebb
from laminarray.schema._vocabulary import resolved_units, split_units
from laminarray.simulate import current_density


def test_split_units_at_the_right_slash():
    assert split_units("fT/mm/nAm") == ("fT/mm", "nAm")
    assert split_units("fT/nAm") == ("fT", "nAm")
    assert split_units("nAm/fT/mm", per="sensor") == ("fT/mm", "nAm")
    with pytest.raises(SchemaError, match="compound"):
        split_units("fT")
    assert resolved_units("mixed/nAm", ["fT/mm", "fT/mm"]) == "fT/mm/nAm"
    assert resolved_units("mixed", ["fT", "fT/mm"]) == "mixed"


def _planar_helmet(helmet, baseline=16.8):
    """Two-point planar gradiometers (fT/mm) at a helmet's channels plus its magnetometers."""
    pos, ori = helmet["position"].values, helmet["orientation"].values
    tangent = forward.sensors._tangent_frames(ori)[:, 0]
    n = len(pos)
    points = np.concatenate([pos - tangent * baseline / 2, pos + tangent * baseline / 2, pos])
    tra = np.zeros((2 * n, 3 * n))
    tra[np.arange(n), np.arange(n)] = -1 / baseline
    tra[np.arange(n), n + np.arange(n)] = 1 / baseline
    tra[n + np.arange(n), 2 * n + np.arange(n)] = 1.0
    return forward.sensors_from_coils(
        points,
        np.concatenate([ori, ori, ori]),
        tra,
        labels=[f"G{i:03d}" for i in range(n)] + [f"M{i:03d}" for i in range(n)],
        ch_types=["MEGPLANAR"] * n + ["MEGMAG"] * n,
    )


@pytest.fixture(scope="module")
def planar():
    mesh = lam.datasets.synthetic_cortex(n_vertices=200, n_layers=2, seed=0)
    sensors = _planar_helmet(forward.helmet_array(40, head=mesh))
    return mesh, sensors, forward.sphere_gain(mesh, sensors).compute()


def test_planar_gain_simulation_and_inversion_keep_fT_per_mm(planar):
    mesh, _, gain = planar
    assert gain.attrs["units"] == "mixed/nAm"
    grads = gain.sel(channel=gain["ch_type"] == "MEGPLANAR")
    assert lam.validate_gain(grads).attrs["units"] == "fT/mm/nAm"
    # a planar gradiometer is the field difference over its baseline
    mags = gain.sel(channel=gain["ch_type"] == "MEGMAG")
    assert np.abs(grads).max() < np.abs(mags).max() / 5
    grads = lam.validate_gain(grads)
    times = np.linspace(-0.1, 0.2, 61)
    sim = current_density(
        grads,
        mesh,
        10,
        "pial",
        np.sin(2 * np.pi * 10 * times)[None],
        10.0,
        5.0,
        0.0,
        times,
        n_trials=3,
        seed=0,
    )
    assert sim["data"].attrs["units"] == "fT/mm"
    assert set(sim["ch_type"].values) == {"MEGPLANAR"}
    assert sim["signal_std"].attrs["units"] == "fT/mm"
    lam.check_consistent(sensor=sim, gain=grads, mesh=mesh)
    inv = invert_ebb(sim, grads, mesh, n_temp_modes=2)
    assert np.isfinite(float(inv["free_energy"]))


def test_selecting_one_type_of_a_mixed_dataset_gives_its_units(planar):
    _, sensors, gain = planar
    data = np.random.default_rng(0).normal(size=(sensors.sizes["channel"], 5))
    ds = lam.sensor_dataset(
        data,
        sensors["channel"].values,
        np.arange(5) / 100,
        ch_types=sensors["ch_type"].values,
        units="mixed",
    ).assign_coords(ch_units=("channel", sensors["ch_units"].values))
    grads = ds.sel(channel=ds["ch_type"] == "MEGPLANAR")
    assert lam.validate_sensor(grads)["data"].attrs["units"] == "fT/mm"
    mags = lam.validate_sensor(ds.sel(channel=ds["ch_type"] == "MEGMAG"))
    assert mags["data"].attrs["units"] == "fT"
    assert lam.validate_sensor(ds)["data"].attrs["units"] == "mixed"
    lam.check_consistent(sensor=grads, gain=gain.sel(channel=grads["channel"]))
    with pytest.raises(SchemaError, match="units disagree"):
        lam.check_consistent(
            sensor=mags, gain=gain.sel(channel=mags["channel"]).assign_attrs(units="fT/mm/nAm")
        )
