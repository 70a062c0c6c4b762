"""t-tests over a labelled dimension: laMEG's corrected test, paired and one-sample tests.

All tests reduce over one named dim of an :class:`xarray.DataArray` and return
an :class:`xarray.Dataset` with ``t``, ``df`` and ``p`` over the remaining dims.
They are lazy on dask-backed input (nothing is computed until asked) and
ignore NaN values test by test (each test uses its own count of non-NaN
values).

Tails: ``tail=0`` two-sided, ``tail=1`` right-tailed (H1: mean > 0, p =
P(T >= t)), ``tail=-1`` left-tailed (H1: mean < 0, p = P(T <= t)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats as _sps

from ._validation import LaminarrayError, check_option, describe
from .plausibility import check_trials

__all__ = ["ttest_1samp", "ttest_rel", "ttest_rel_corrected"]

_TAILS = (0, 1, -1)


def _check_data(data: Any, dim: str) -> xr.DataArray:
    if not isinstance(data, xr.DataArray):
        raise LaminarrayError(f"`data` must be an xarray.DataArray, got {describe(data)}")
    if dim not in data.dims:
        raise LaminarrayError(f"`dim` must be one of the dims of `data` {data.dims}; got {dim!r}")
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise LaminarrayError(f"`data` must hold real numbers, got dtype {data.dtype}")
    check_trials(data.sizes[dim], 2, f"a t-test over `{dim}`", f"`{dim}` entries")
    return data


def _p_value(t: np.ndarray, df: np.ndarray, tail: int, lameg_compat: bool) -> np.ndarray:
    """p-value of Student's t with ``df`` degrees of freedom (numpy kernel)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(df > 0, df, np.nan)
        if tail == 0:
            return 2.0 * _sps.t.sf(np.abs(t), df)
        if tail == -1 or lameg_compat:
            return _sps.t.cdf(t, df)
        return _sps.t.sf(t, df)


def _result(
    t: xr.DataArray, df: xr.DataArray, tail: int, lameg_compat: bool, attrs: dict[str, Any]
) -> xr.Dataset:
    p = xr.apply_ufunc(
        _p_value,
        t,
        df.astype(np.float64),
        kwargs={"tail": tail, "lameg_compat": lameg_compat},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    tail_name = {0: "two-sided", 1: "right", -1: "left"}[tail]
    return xr.Dataset(
        {
            "t": t.assign_attrs(long_name="t statistic", units="1"),
            "df": df.assign_attrs(long_name="degrees of freedom", units="1"),
            "p": p.assign_attrs(long_name=f"p-value ({tail_name})", units="1"),
        },
        attrs={"tail": tail, **attrs},
    )


def _moments(data: xr.DataArray, dim: str) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Non-NaN count, NaN-ignoring mean and population variance along ``dim``."""
    n = data.notnull().sum(dim)
    mean = data.mean(dim, skipna=True)
    var = data.var(dim, skipna=True, ddof=0)
    return n, mean, var


def ttest_rel_corrected(
    data: xr.DataArray,
    dim: str,
    correction: float | None = 0,
    tail: int = 0,
    *,
    lameg_compat: bool = False,
    correction_dims: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """laMEG's one-sample t-test of (paired) differences against 0 with a variance floor.

    The "corrected noise variance" of Ridgway et al. (2012, NeuroImage 59:2131):
    a fraction of the largest variance is added to every test's variance to
    damp spuriously large t at low-variance tests::

        n  = number of non-NaN values along dim
        m  = NaN-mean,  v = NaN-variance with ddof = 0 (population)
        c  = 0.01 * max(v) over *all* tests of `data` when correction == 0
             (a NaN variance propagates), `correction` itself otherwise
        t  = m / sqrt((v + c) / n),      df = max(n - 1, 0)

    Parameters
    ----------
    data : xarray.DataArray
        Paired differences (or any sample), numpy- or dask-backed.
    dim : str
        The dim holding the samples (e.g. ``"trial"``).
    correction : float or None
        0 (laMEG's default): ``0.01 * max(var)`` over every test in ``data``.
        A positive number: added as is (units of ``data`` squared). ``None``:
        no correction (then ``t`` is scipy's one-sample t times
        ``sqrt(n / (n - 1))``, because the variance has ddof = 0).
    tail : {0, 1, -1}
        Two-sided, right-tailed or left-tailed p-value.
    lameg_compat : bool
        Reproduce laMEG 0.2.1, which returns the *left*-tail probability
        ``cdf(t)`` for both ``tail=1`` and ``tail=-1``. Default False: correct
        tails (``tail=1`` gives ``sf(t)``). Two-sided values are unaffected.
    correction_dims : str or sequence of str, optional
        Dims over which ``max(var)`` is taken for the automatic correction
        (default: all, as laMEG). E.g. ``"vertex"`` for one correction per
        layer of a ``(layer, vertex)`` t-map, or ``()`` for every test on its
        own (what laMEG does when it tests one 1-D vector at a time).

    Returns
    -------
    xarray.Dataset
        ``t``, ``df`` and ``p`` over the dims of ``data`` without ``dim``;
        lazy if ``data`` is dask-backed. attrs ``correction`` (the rule) and
        ``tail``.

    Examples
    --------
    >>> diff = power.sel(window="woi") - power.sel(window="baseline")
    >>> res = ttest_rel_corrected(diff, "trial")
    """
    data = _check_data(data, dim)
    check_option("tail", tail, _TAILS)
    n, mean, var = _moments(data, dim)
    if correction is None:
        floor: Any = 0.0
        rule = "none"
    elif correction == 0:
        floor = 0.01 * var.max(dim=correction_dims, skipna=False)
        rule = "0.01 * max(var)"
    else:
        if not np.isfinite(correction) or correction < 0:
            raise LaminarrayError(
                f"`correction` must be 0 (automatic), a positive number or None; got {correction!r}"
            )
        floor = float(correction)
        rule = repr(float(correction))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = mean / np.sqrt((var + floor) / n)
    df = np.maximum(n - 1, 0)
    return _result(t, df, tail, lameg_compat, {"correction": rule})


def ttest_1samp(data: xr.DataArray, dim: str, popmean: float = 0.0, tail: int = 0) -> xr.Dataset:
    """Ordinary one-sample t-test of ``data`` against ``popmean`` along ``dim``.

    ``t = (mean - popmean) / (s / sqrt(n))`` with the sample standard deviation
    ``s`` (ddof = 1) and ``df = n - 1``, NaN values omitted per test (as
    ``scipy.stats.ttest_1samp(..., nan_policy="omit")``).

    Parameters
    ----------
    data : xarray.DataArray
    dim : str
        The sample dim.
    popmean : float
        Mean under the null hypothesis.
    tail : {0, 1, -1}
        Two-sided, right-tailed (mean > popmean) or left-tailed.

    Returns
    -------
    xarray.Dataset
        ``t``, ``df``, ``p`` over the remaining dims (lazy on dask input).
    """
    data = _check_data(data, dim)
    check_option("tail", tail, _TAILS)
    n, mean, var = _moments(data, dim)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(var * n / (n - 1))
        t = (mean - popmean) / (sd / np.sqrt(n))
    df = np.maximum(n - 1, 0)
    return _result(t, df, tail, False, {"popmean": float(popmean)})


def ttest_rel(a: xr.DataArray, b: xr.DataArray, dim: str, tail: int = 0) -> xr.Dataset:
    """Ordinary paired t-test of ``a - b`` against 0 along ``dim``.

    Equivalent to ``scipy.stats.ttest_rel(a, b)``; pairs where either value is
    NaN are omitted.

    Parameters
    ----------
    a, b : xarray.DataArray
        Paired samples; aligned and broadcast by xarray.
    dim : str
        The sample dim (e.g. ``"trial"``).
    tail : {0, 1, -1}
        Two-sided, right-tailed (a > b) or left-tailed (a < b).

    Returns
    -------
    xarray.Dataset
        ``t``, ``df``, ``p`` over the remaining dims.
    """
    _check_data(b, dim)
    return ttest_1samp(_check_data(a, dim) - b, dim, 0.0, tail)
