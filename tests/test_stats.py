"""t-tests: laMEG's corrected test (design note lameg §2.1) and ordinary tests vs scipy."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from laminarray import LaminarrayError
from laminarray.stats import ttest_1samp, ttest_rel, ttest_rel_corrected
from laminarray.testing import raise_if_dask_computes


@pytest.fixture(params=["numpy", "dask"])
def backend(request):
    """numpy or chunked dask input (the shared fixture's dask branch needs explicit chunks)."""
    if request.param == "numpy":
        return np.asarray
    return lambda values: da.from_array(np.asarray(values), chunks=2)


# design note lameg §2.1 test vector, verified there against laMEG 0.2.1
SPEC_DATA = np.array([[1, 1], [2, 2], [np.nan, 3], [4, 4]], dtype=float)


def _labelled(values, backend):
    return xr.DataArray(backend(values), dims=("trial", "test"))


def test_corrected_spec_vector(backend):
    res = ttest_rel_corrected(_labelled(SPEC_DATA, backend), "trial").compute()
    np.testing.assert_allclose(res.t, [3.22428901, 4.44456638], rtol=1e-8)
    np.testing.assert_array_equal(res.df, [2, 3])
    np.testing.assert_allclose(res.p, [0.08421719, 0.02118368], rtol=1e-6)


def test_corrected_spec_vector_explicit_correction(backend):
    res = ttest_rel_corrected(_labelled(SPEC_DATA, backend), "trial", correction=0.1).compute()
    np.testing.assert_allclose(res.t, [3.14098262, 4.30331483], rtol=1e-8)
    np.testing.assert_allclose(res.p, [0.08816231, 0.02309284], rtol=1e-6)


@pytest.mark.parametrize("tail", [1, -1])
def test_lameg_compat_tails_give_left_tail(tail):
    res = ttest_rel_corrected(
        _labelled(SPEC_DATA, np.asarray), "trial", tail=tail, lameg_compat=True
    )
    np.testing.assert_allclose(res.p, [0.9578914, 0.98940816], rtol=1e-6)


def test_correct_tails_complement():
    data = _labelled(SPEC_DATA, np.asarray)
    right = ttest_rel_corrected(data, "trial", tail=1)
    left = ttest_rel_corrected(data, "trial", tail=-1)
    np.testing.assert_allclose(right.p + left.p, 1.0)
    np.testing.assert_allclose(right.p, [1 - 0.9578914, 1 - 0.98940816], rtol=1e-5)


def test_corrected_hand_computed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5)) + np.arange(5)
    res = ttest_rel_corrected(_labelled(x, np.asarray), "trial")
    var = x.var(axis=0)
    expected = x.mean(axis=0) / np.sqrt((var + 0.01 * var.max()) / 12)
    np.testing.assert_allclose(res.t, expected, rtol=1e-12)
    np.testing.assert_allclose(res.p, 2 * sps.t.sf(np.abs(expected), 11), rtol=1e-10)


def test_corrected_1d_matches_spec_identity():
    """1-D data: t = ordinary t * sqrt(K / ((K - 1) * 1.01)) (design note lameg §1.1 step 9)."""
    x = np.random.default_rng(1).standard_normal(20) + 0.3
    res = ttest_rel_corrected(xr.DataArray(x, dims="trial"), "trial")
    ordinary = sps.ttest_1samp(x, 0).statistic
    np.testing.assert_allclose(float(res.t), ordinary * np.sqrt(20 / (19 * 1.01)), rtol=1e-12)
    assert int(res.df) == 19


def test_correction_off_relates_to_scipy():
    x = np.random.default_rng(2).standard_normal((9, 4)) + 0.5
    res = ttest_rel_corrected(_labelled(x, np.asarray), "trial", correction=None)
    ref = sps.ttest_1samp(x, 0, axis=0)
    np.testing.assert_allclose(res.t * np.sqrt(8 / 9), ref.statistic, rtol=1e-12)


def test_nan_variance_propagates_to_all():
    x = np.array([[np.nan, 1.0], [np.nan, 2.0], [np.nan, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ttest_rel_corrected(_labelled(x, np.asarray), "trial")
    assert np.all(np.isnan(res.t))
    np.testing.assert_array_equal(res.df, [0, 2])


@pytest.mark.parametrize("tail", [0, 1, -1])
def test_ttest_rel_matches_scipy(backend, tail):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((15, 6))
    b = a + rng.standard_normal((15, 6)) * 0.5 - 0.2
    b[3, 2] = np.nan
    res = ttest_rel(_labelled(a, backend), _labelled(b, backend), "trial", tail=tail).compute()
    alternative = {0: "two-sided", 1: "greater", -1: "less"}[tail]
    ref = sps.ttest_rel(a, b, axis=0, nan_policy="omit", alternative=alternative)
    np.testing.assert_allclose(res.t, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(res.p, ref.pvalue, rtol=1e-8)
    np.testing.assert_array_equal(res.df, [14, 14, 13, 14, 14, 14])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(3, 30),
    popmean=st.floats(-2, 2),
    tail=st.sampled_from([0, 1, -1]),
)
def test_ttest_1samp_matches_scipy(seed, n, popmean, tail):
    x = np.random.default_rng(seed).standard_normal((n, 3))
    res = ttest_1samp(_labelled(x, np.asarray), "trial", popmean=popmean, tail=tail)
    alternative = {0: "two-sided", 1: "greater", -1: "less"}[tail]
    ref = sps.ttest_1samp(x, popmean, axis=0, alternative=alternative)
    np.testing.assert_allclose(res.t, ref.statistic, rtol=1e-9)
    np.testing.assert_allclose(res.p, ref.pvalue, rtol=1e-7, atol=1e-300)


def test_lazy_on_dask():
    data = xr.DataArray(da.from_array(SPEC_DATA, chunks=(2, 1)), dims=("trial", "test"))
    with raise_if_dask_computes():
        res = ttest_rel_corrected(data, "trial")
        ttest_rel(data, data * 2, "trial")
    assert isinstance(res.p.data, da.Array)
    np.testing.assert_allclose(res.t.values, [3.22428901, 4.44456638], rtol=1e-8)


def test_labels_preserved():
    x = xr.DataArray(
        np.ones((4, 3)) + np.arange(12).reshape(4, 3),
        dims=("trial", "vertex"),
        coords={"vertex": [10, 20, 30]},
    )
    res = ttest_rel_corrected(x, "trial")
    assert res.t.dims == ("vertex",)
    np.testing.assert_array_equal(res.vertex, [10, 20, 30])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": "time"}, "`dim` must be one of"),
        ({"dim": "trial", "tail": 2}, "`tail` must be one of"),
        ({"dim": "trial", "correction": -1.0}, "`correction` must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(LaminarrayError, match=match):
        ttest_rel_corrected(_labelled(SPEC_DATA, np.asarray), **kwargs)


def test_rejects_numpy_input():
    with pytest.raises(LaminarrayError, match="DataArray"):
        ttest_rel_corrected(SPEC_DATA, "trial")


def test_correction_dims_per_layer():
    """One correction per layer equals testing each layer on its own."""
    x = np.random.default_rng(5).standard_normal((2, 6, 10)) * np.array([1.0, 5.0])[:, None, None]
    data = xr.DataArray(x, dims=("layer", "vertex", "trial"))
    res = ttest_rel_corrected(data, "trial", correction_dims="vertex")
    for layer in range(2):
        alone = ttest_rel_corrected(data.isel(layer=layer), "trial")
        np.testing.assert_allclose(res.t.isel(layer=layer), alone.t, rtol=1e-12)
    each = ttest_rel_corrected(data, "trial", correction_dims=[])
    var = x.var(axis=2)
    np.testing.assert_allclose(each.t, x.mean(2) / np.sqrt(1.01 * var / 10), rtol=1e-12)
