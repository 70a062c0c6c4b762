"""The same graphs on a dask.distributed LocalCluster (2 worker processes) and on threads."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray.csd import compute_csd
from laminarray.power import roi_power
from laminarray.stats import ttest_rel_corrected

distributed = pytest.importorskip("distributed")

WOI, BASE = (0.0, 0.2), (-0.3, -0.1)


def _inputs():
    rng = np.random.default_rng(0)
    times = -0.4 + np.arange(70) / 100.0
    channels = [f"MEG{i:03d}" for i in range(10)]
    data = rng.standard_normal((10, 70, 8))
    data[:3, times >= 0] *= 2.0
    sensor = lam.sensor_dataset(data, channels, times)
    sensor = sensor.assign(data=sensor["data"].chunk({"trial": 4}))
    projector = lam.projector_dataarray(rng.standard_normal((5, 24, 10)), channels)
    return sensor, projector


def _analyses(progress):
    sensor, projector = _inputs()
    power = roi_power(
        sensor,
        projector,
        WOI,
        BASE,
        measure="variance",
        layers="all",
        vertex_chunk=12,
        progress=progress,
    )
    column = xr.DataArray(
        projector.values[:, :3, :] @ sensor["data"].values.mean(-1),
        dims=("layer", "vertex", "time"),
    ).chunk({"vertex": 1})
    csd = compute_csd(column, 2.5, 100.0, lambdas=[1e-3, 1e-6]).compute()
    stats = ttest_rel_corrected(sensor["data"], "trial").compute()
    return power, csd, stats


@pytest.mark.slow
def test_local_cluster_matches_threads():
    with dask.config.set(scheduler="threads"):
        expected = _analyses(progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        actual = _analyses(progress=True)
    for got, want in zip(actual, expected, strict=True):
        xr.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        xr.testing.assert_identical(got.coords.to_dataset(), want.coords.to_dataset())
    np.testing.assert_array_equal(actual[0].roi, expected[0].roi)
