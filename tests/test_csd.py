"""CSD: laMEG's StandardCSD parity vectors (spec lameg.md §1.4) and kCSD recovery."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from laminarray import LaminarrayError
from laminarray.csd import compute_csd
from laminarray.csd._kcsd import KCSDSettings, kcsd_column
from laminarray.testing import raise_if_dask_computes

# spec lameg.md §1.4: computed with elephant 1.2.1, identical to laMEG's formula
PARITY_ROWS = np.array(
    [
        [0.30279854, 0.30470825, 0.27939927, 0.22913239, 0.15839779],
        [0.26523782, 0.20754916, 0.13132076, 0.04336186, -0.04847042],
        [0.10293161, 0.01277647, -0.07851996, -0.16280243, -0.23254225],
        [-0.10778495, -0.18800520, -0.25143151, -0.29239819, -0.30724581],
        [-0.26780856, -0.30036509, -0.30609090, -0.28447452, -0.23744688],
        [-0.30187762, -0.27145858, -0.21679095, -0.14275803, -0.05597296],
        [-0.19396892, -0.11488086, -0.02553083, 0.06609979, 0.15182591],
    ]
)


def _parity_signal():
    layer, time = np.arange(11)[:, None], np.arange(5)[None, :]
    return xr.DataArray(1e-3 * np.sin(0.7 * layer + 0.3 * time), dims=("layer", "time"))


def test_standard_csd_parity():
    csd = compute_csd(_parity_signal(), 4.0, 600.0, method="StandardCSD")
    assert csd.dims == ("depth", "time")
    np.testing.assert_allclose(csd.values[2:9], PARITY_ROWS, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(csd.values[[0, 1, 9, 10]], 0.0)
    np.testing.assert_allclose(csd["depth"], np.linspace(0, 4.0, 11))
    assert csd["depth"].attrs["units"] == "mm"


def test_standard_csd_cubic_smoothing_parity():
    csd = compute_csd(_parity_signal(), 4.0, 600.0, method="StandardCSD", smoothing="cubic")
    assert csd.shape == (500, 5)
    np.testing.assert_allclose(
        csd.values[[100, 250, 400], 0], [0.30343362, -0.10982332, -0.19108070], atol=1e-8
    )
    np.testing.assert_allclose(csd["depth"][-1], 4.0)


def test_standard_csd_linear_profile_has_no_interior_csd():
    """Second difference of a linear potential is 0 away from the (extended) ends."""
    signal = xr.DataArray(np.linspace(0, 1, 9)[:, None] * np.ones((1, 3)), dims=("layer", "time"))
    csd = compute_csd(signal, 2.0, 100.0, method="StandardCSD")
    np.testing.assert_allclose(csd.values[3:6], 0.0, atol=1e-12)


def _disc_potentials(true_csd, electrodes, h=1.0, sigma=1.0):
    """Forward model by brute-force quadrature (independent of the kCSD code)."""
    grid = np.linspace(-4.0, 8.0, 24001)
    kernel = np.sqrt((electrodes[:, None] - grid) ** 2 + h**2) - np.abs(electrodes[:, None] - grid)
    return np.trapezoid(kernel * true_csd(grid), grid, axis=1) / (2 * sigma)


def _dipole(x):
    return np.exp(-((x - 1.0) ** 2) / (2 * 0.3**2)) - np.exp(-((x - 2.0) ** 2) / (2 * 0.3**2))


def test_kcsd_recovers_gaussian_sources():
    thickness, n_layers = 3.0, 11
    electrodes = np.linspace(0, thickness, n_layers)
    rng = np.random.default_rng(0)
    scale = np.array([1.0, -0.5, 2.0])
    potentials = _disc_potentials(_dipole, electrodes)[:, None] * scale
    potentials += rng.normal(0, 1e-3 * np.abs(potentials).max(), potentials.shape)
    signal = xr.DataArray(potentials / 1e3, dims=("layer", "time"))  # kCSD sees x 1e3
    csd = compute_csd(signal, thickness, 600.0, Rs=[0.2, 0.4, 0.8])
    assert csd.sizes["depth"] == 100
    truth = _dipole(np.linspace(0, thickness, 100))[:, None] * scale
    error = np.linalg.norm(csd.values - truth) / np.linalg.norm(truth)
    assert error < 0.1
    assert csd.attrs["units"] == "uA/mm3"


def test_kcsd_cross_validation_regularises_noise():
    electrodes = np.linspace(0, 3.0, 11)
    clean = _disc_potentials(_dipole, electrodes)[:, None]
    noisy = clean + np.random.default_rng(1).normal(0, 0.05 * np.abs(clean).max(), (11, 40))
    settings = KCSDSettings(rs=(0.4,))
    _, lam_clean, _ = kcsd_column(clean, 3.0, settings)
    _, lam_noisy, _ = kcsd_column(noisy, 3.0, settings)
    assert lam_noisy > lam_clean


@pytest.mark.parametrize(("thickness", "n_points"), [(4.6092634, 99), (3.7, 99), (4.0, 100)])
def test_kcsd_estimation_grid_as_elephant(thickness, n_points):
    """elephant's gdx = 0.01 * thickness gives 99 or 100 points depending on rounding."""
    signal = xr.DataArray(
        np.random.default_rng(2).standard_normal((11, 4)), dims=("layer", "time")
    )
    csd = compute_csd(signal, thickness, 600.0, lambdas=[1e-3])
    assert csd.sizes["depth"] == n_points
    np.testing.assert_allclose(np.diff(csd["depth"]), thickness / (n_points - 1))
    assert csd["depth"][0] == 0
    assert csd.attrs["lambdas"] == [1e-3]
    assert float(csd["kcsd_lambda"]) == 1e-3
    assert float(csd["kcsd_R"]) == 0.23


# elephant 1.2.1: elephant.current_source_density.estimate_csd(lfp, coordinates, "KCSD1D")
# exactly as laMEG 0.2.1 calls it (signal x 1e6 labelled uV, coordinates
# linspace(0, thickness, 11) mm), on the spec's 11-layer profile; rows 0, 5, 49, 98
# of the (n_est, time) result, and the cross-validated R and lambda.
ELEPHANT_KCSD = {
    # thickness 3.7 mm, default Rs = [0.23]: 99 estimation points
    (3.7, None): (
        99,
        0.23,
        0.00012115276586285876,
        [
            [-6.267230323, -4.1511553722, -1.6642700751, 0.9712795111, 3.5200675914],
            [-4.5059211006, -1.9335356112, 0.8115668558, 3.4841744726, 5.8455511606],
            [-1.8778034128, -3.2753813325, -4.3803791928, -5.0940908256, -5.3527624964],
            [8.8069399968, 8.5810747124, 7.5886875806, 5.9184255883, 3.7194882646],
        ],
    ),
    # thickness 4.609 mm, Rs = [0.1, 0.23, 0.5, 1.0]: 100 estimation points
    (4.609, (0.1, 0.23, 0.5, 1.0)): (
        100,
        1.0,
        4.641588833612754e-18,
        [
            [-3.100252633, -1.8155376373, -0.3686460716, 1.1111755498, 2.4917391687],
            [-0.5594220766, 0.6231469001, 1.7500520201, 2.7206302052, 3.4481825968],
            [-1.360527766, -2.4274596716, -3.2775538343, -3.8348738743, -4.0496360524],
            [4.7762605247, 4.9116416322, 4.6082804207, 3.8932752439, 2.8304953847],
        ],
    ),
}


@pytest.mark.parametrize(("thickness", "rs"), list(ELEPHANT_KCSD))
def test_kcsd_matches_elephant(thickness, rs):
    n_points, r, lam, rows = ELEPHANT_KCSD[(thickness, rs)]
    options = {} if rs is None else {"Rs": list(rs)}
    csd = compute_csd(_parity_signal(), thickness, 600.0, method="KCSD1D", **options)
    assert csd.sizes["depth"] == n_points
    np.testing.assert_allclose(csd.values[[0, 5, 49, 98]], rows, rtol=1e-9, atol=1e-9)
    assert float(csd["kcsd_R"]) == r
    np.testing.assert_allclose(float(csd["kcsd_lambda"]), lam, rtol=1e-12)
    assert csd["kcsd_R"].attrs["units"] == "mm"


def test_kcsd_matches_kcsd_package_grid():
    """kcsd 2.0.1's KCSD1D (101 estimation points at 3.7 mm, Rs = [0.1, 0.23, 0.5, 1])."""
    layer, time = np.arange(11)[:, None], np.arange(5)[None, :]
    potentials = np.sin(0.7 * layer + 0.3 * time)  # the kCSD's own input (x 1e3 applied)
    settings = KCSDSettings(rs=(0.1, 0.23, 0.5, 1.0), n_estimates=101)
    csd, lam, r = kcsd_column(potentials, 3.7, settings)
    np.testing.assert_allclose(
        csd[[0, 50, 100], 0], [-3.33510808, -1.8659225, 5.39870687], rtol=1e-8
    )
    assert (lam, r) == (4.641588833612754e-18, 1.0)


def test_per_vertex_thickness_lazy_matches_columns():
    rng = np.random.default_rng(3)
    values = rng.standard_normal((11, 4, 6))
    thickness = xr.DataArray([2.0, 2.5, 3.0, 3.5], dims="vertex")
    signal = xr.DataArray(
        da.from_array(values, chunks=(11, 2, 6)), dims=("layer", "vertex", "time")
    )
    with raise_if_dask_computes():
        csd = compute_csd(signal, thickness, 600.0, method="StandardCSD", smoothing="linear")
    assert csd.dims == ("vertex", "depth", "time")
    assert isinstance(csd.data, da.Array)
    for v in range(4):
        column = xr.DataArray(values[:, v], dims=("layer", "time"))
        one = compute_csd(
            column, float(thickness[v]), 600.0, method="StandardCSD", smoothing="linear"
        )
        np.testing.assert_allclose(csd.isel(vertex=v).values, one.values, rtol=1e-12)
    np.testing.assert_allclose(csd["depth_mm"].isel(vertex=3, depth=-1), 3.5)
    assert csd["depth"].attrs["units"] == "1"


def test_kcsd_lazy_over_vertices():
    values = np.random.default_rng(4).standard_normal((2, 11, 5))
    signal = xr.DataArray(
        da.from_array(values, chunks=(1, 11, 5)), dims=("vertex", "layer", "time")
    )
    with raise_if_dask_computes():
        csd = compute_csd(signal, 3.0, 600.0, lambdas=[1e-4, 1e-2])
    first = compute_csd(signal.isel(vertex=0).compute(), 3.0, 600.0, lambdas=[1e-4, 1e-2])
    np.testing.assert_allclose(csd.isel(vertex=0).values, first.values)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "iCSD"}, "`method` must be one of"),
        ({"smoothing": "spline"}, "`smoothing` must be one of"),
        ({"method": "StandardCSD", "lambdas": [1.0]}, "StandardCSD takes no options"),
        ({"foo": 1}, "unknown KCSD1D options"),
        ({"Rs": [0.0]}, "positive"),
        ({"thickness": -1.0}, "thickness"),
    ],
)
def test_bad_arguments(kwargs, match):
    options = {"thickness": 3.0, **kwargs}
    with pytest.raises(LaminarrayError, match=match):
        compute_csd(_parity_signal(), sfreq=600.0, **options)


def test_needs_layer_dim():
    with pytest.raises(LaminarrayError, match="`layer` dim"):
        compute_csd(xr.DataArray(np.ones((3, 4)), dims=("x", "time")), 2.0, 600.0)


def test_source_estimate_input_replaces_layer_depth():
    """A source estimate's relative `depth (layer)` coordinate gives way to depth in mm."""
    import laminarray as lam

    src = lam.source_dataarray(
        np.random.default_rng(5).random((11, 3, 20, 2)), np.arange(20) / 100
    )
    csd = compute_csd(src.mean("trial"), 3.0, 100.0, method="StandardCSD")
    assert csd.dims == ("vertex", "depth", "time")
    assert "layer" not in csd.coords
    np.testing.assert_allclose(csd["depth"], np.linspace(0, 3.0, 11))
    np.testing.assert_allclose(csd["relative_depth"], np.linspace(0, 1, 11))


def test_kcsd_per_vertex_thickness_labels_lambda_and_r():
    values = np.random.default_rng(6).standard_normal((11, 2, 5))
    signal = xr.DataArray(
        da.from_array(values, chunks=(11, 1, 5)), dims=("layer", "vertex", "time")
    )
    thickness = xr.DataArray([3.7, 4.0], dims="vertex")
    with raise_if_dask_computes():
        csd = compute_csd(signal, thickness, 600.0, Rs=[0.23, 0.5], lambdas=[1e-3, 1e-6])
    assert csd.sizes["depth"] == 100  # one grid for all columns
    assert csd["kcsd_R"].dims == ("vertex",)
    one = compute_csd(
        xr.DataArray(values[:, 1], dims=("layer", "time")),
        4.0,
        600.0,
        Rs=[0.23, 0.5],
        lambdas=[1e-3, 1e-6],
    )
    np.testing.assert_allclose(csd.isel(vertex=1).values, one.values)
    assert float(csd["kcsd_R"][1]) == float(one["kcsd_R"])
    assert float(csd["kcsd_lambda"][1]) == float(one["kcsd_lambda"])
