"""The library's BLAS thread policy: one BLAS thread inside block kernels, limits restored."""

from __future__ import annotations

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from laminarray import _blas
from laminarray._blas import blas_task, single_blas_thread


@pytest.fixture(autouse=True)
def _no_kernel_running():
    """Kernels of an earlier test's failed compute may still be finishing on dask's threads."""
    deadline = time.monotonic() + 30
    while _blas._STATE["depth"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _blas._STATE["depth"] == 0


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_overlapping_blocks_keep_one_thread_until_the_last_leaves():
    """Kernels on two dask threads enter and leave in any order: the first one out must not
    restore the limits while the other still runs."""
    with threadpool_limits(2, "blas"):
        first, second = single_blas_thread(), single_blas_thread()
        first.__enter__()
        second.__enter__()
        try:
            assert _blas_threads() == {1}
        finally:
            first.__exit__(None, None, None)
        try:
            assert _blas_threads() == {1}
        finally:
            second.__exit__(None, None, None)
        assert _blas_threads() == {2}


def test_blas_task_runs_the_kernel_single_threaded():
    def kernel(a, b, *, scale):
        return _blas_threads(), scale * (a @ b)

    with threadpool_limits(2, "blas"):
        threads, out = blas_task(kernel)(np.eye(2), np.ones((2, 2)), scale=3.0)
        assert threads == {1}
        np.testing.assert_array_equal(out, 3 * np.ones((2, 2)))
        assert _blas_threads() == {2}
