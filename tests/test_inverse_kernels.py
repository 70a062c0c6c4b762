"""Private inversion kernels: SPM helper semantics, data reduction, ReML (design note spm_inversion §1–§3).

References: the helper rules of design note spm_inversion §1.2.1/§3.2
checked on hand-made matrices, and SPM's own golden numbers (§10.3).
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from laminarray._validation import LaminarrayError
from laminarray.inverse import _kernels, modes
from laminarray.inverse._linalg import spm_dx, spm_inv, spm_logdet, spm_svd
from laminarray.inverse.priors import evenly_spaced_patches
from laminarray.inverse.reml import reml_sc


def test_spm_inv_adds_tiny_ridge():
    a = np.diag([2.0, 4.0])
    tau = np.exp(-32.0)
    np.testing.assert_allclose(spm_inv(a), np.diag([1 / (2 + tau), 1 / (4 + tau)]), rtol=0)


def test_spm_logdet_quirks():
    # negative diagonal entries of a diagonal matrix are silently dropped
    assert spm_logdet(np.diag([2.0, -3.0, 5.0])) == pytest.approx(np.log(10.0))
    # zero-diagonal rows are dropped
    assert spm_logdet(np.diag([0.0, 3.0])) == pytest.approx(np.log(3.0))
    # negative definite non-diagonal: log|det| via singular values
    j = -np.array([[2.0, 0.5], [0.5, 1.0]])
    assert spm_logdet(j) == pytest.approx(np.log(abs(np.linalg.det(j))))
    # symmetric positive definite: Cholesky
    c = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert spm_logdet(c) == pytest.approx(np.log(np.linalg.det(c)))


def test_spm_dx_is_local_linearisation():
    j = -np.array([[2.0, 0.3], [0.3, 1.0]])
    g = np.array([0.5, -1.0])
    t = 1.0
    tau = np.exp(t - np.log(abs(np.linalg.det(j))) / 2)
    expected = (scipy.linalg.expm(tau * j) - np.eye(2)) @ np.linalg.solve(j, g)
    np.testing.assert_allclose(spm_dx(j, g, t), expected, rtol=1e-10)
    # a diagonal J has logdet 0 in SPM (negative entries dropped): tau = e^t
    jd = np.diag([-2.0])
    np.testing.assert_allclose(
        spm_dx(jd, np.array([1.0]), 0.0), (np.exp(-2.0) - 1) / -2.0, rtol=1e-12
    )
    # huge tau: Newton step
    np.testing.assert_allclose(spm_dx(j, g, 40.0), -np.linalg.solve(j, g), rtol=1e-8)


def test_spm_svd_keep_rule_and_diagonal_branch():
    x = np.diag([1.0, 3.0, 1e-5, 0.0])
    vecs, vals = spm_svd(x, 1e-6)
    # kept iff s^2 * n / sum(s^2) > u, with n = 3 after dropping the zero row/col
    np.testing.assert_array_equal(vals, [3.0, 1.0])
    np.testing.assert_array_equal(vecs[:, 0], [0, 1, 0, 0])
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    x = q @ np.diag([10.0, 5.0, 1.0, 1e-4, 1e-9]) @ q.T
    vecs, vals = spm_svd(x, 1e-6)
    np.testing.assert_allclose(vals, [10.0, 5.0, 1.0], rtol=1e-10)
    np.testing.assert_allclose(np.abs(vecs.T @ q[:, :3]), np.eye(3), atol=1e-10)


def test_window_samples_spec_example():
    times = -0.1 + np.arange(600) / 600.0
    np.testing.assert_array_equal(modes.inversion_samples((-100, -91.667), times, 600.0), range(6))
    # SPM truncates the epoch end (898.33 ms) to whole ms: the last sample is dropped
    whole = modes.inversion_samples((-np.inf, np.inf), times, 600.0)
    np.testing.assert_array_equal(whole, range(599))
    on_grid = modes.inversion_samples((-np.inf, np.inf), np.arange(101) * 0.005, 200.0)
    np.testing.assert_array_equal(on_grid, range(101))


def test_dct_band_orthonormal_and_band_rule():
    times_ms = np.arange(101) * 5.0  # 200 Hz, dur = 0.5 s
    full = modes.dct_band(times_ms, (0, 256))
    # f_k = k / (2 dur) = k Hz: every component up to 100 Hz is kept
    assert full.shape == (101, 101)
    np.testing.assert_allclose(full.T @ full, np.eye(101), atol=1e-12)
    band = modes.dct_band(times_ms, (10.7, 20.2))  # edges truncated to 10..20
    assert band.shape[1] == 11


def test_evenly_spaced_patches():
    np.testing.assert_array_equal(evenly_spaced_patches(10, 4), [2, 4, 7, 9])
    assert evenly_spaced_patches(200, 100)[0] == 1


def test_reml_accuracy_is_gaussian_loglik():
    rng = np.random.default_rng(1)
    n, n_samples = 6, 40
    basis = rng.standard_normal((n, 2))
    y = rng.standard_normal((n, n_samples)) + basis @ rng.standard_normal((2, n_samples))
    yy = y @ y.T
    res = reml_sc(yy, [np.eye(n), basis @ basis.T], n_samples, 1e-3 * np.eye(n))
    cov = res.cov
    loglik = -0.5 * np.trace(np.linalg.solve(cov, yy)) - n_samples / 2 * (
        np.linalg.slogdet(cov)[1] + n * np.log(2 * np.pi)
    )
    assert res.accuracy == pytest.approx(loglik, rel=1e-9)
    assert res.free_energy == pytest.approx(res.accuracy - res.complexity, rel=1e-12)
    assert res.complexity > 0


def test_n_temp_modes_larger_than_band_is_an_error(golden):
    times = golden["time_s"]
    samples = np.arange(10)
    with pytest.raises(LaminarrayError, match="n_temp_modes"):
        modes.reduce_window(
            golden["Y_pial_source"],
            np.eye(48),
            samples,
            times,
            foi=(0, 256),
            n_temp_modes=20,
            hann=False,
        )


def test_sliding_windows_match_spm(golden):
    """§10.3 sliding-window run: EBB, pial, A = spm_A_auto_pial, Nt = 1, Hann, foi 0-40."""
    times = golden["time_s"]
    lead = golden["L"][:, :100]
    a = golden["spm_A_auto_pial"]
    qg = sp.csc_array(golden["QG_layer"])
    free = []
    for first, last in golden["spm_sliding_windows_1based"].astype(int):
        woi = (1000 * times[first - 1], 1000 * times[last - 1])
        samples = modes.inversion_samples(woi, times, 200.0)
        np.testing.assert_array_equal(samples, np.arange(first - 1, last))
        reduced = modes.reduce_window(
            golden["Y_pial_source"], a, samples, times, foi=(0, 40), n_temp_modes=1, hann=True
        )
        free.append(_kernels.fit_ebb(a @ lead, qg, a, reduced).free_energy)
    np.testing.assert_allclose(free, golden["spm_F_sliding_EBB_pial"], rtol=0, atol=1e-6)


def test_window_samples_are_consecutive_when_float_noise_puts_the_start_below_an_integer():
    # the sample subject's axis: 600.0000000000011 Hz in floats, read as 600 Hz; the window
    # (0.145, 0.245) s starts a hair below sample 207, where start + 48 rounds up to 256
    times = np.linspace(-0.2, 0.5, 421)
    samples = modes.inversion_samples((145.0, 245.0), times, 600.0)
    np.testing.assert_array_equal(np.diff(samples), 1)
    assert samples[0] == 206
    assert samples.size == 61


def test_single_blas_thread_restores_threads_after_overlapping_blocks():
    """Parallel layer fits enter and leave the single-thread block out of order (A enters,
    B enters, A leaves, B leaves): the process-wide BLAS thread count must come back (it
    used to stay at 1, and float32 kernels elsewhere then gave other roundings)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from laminarray._blas import single_blas_thread

    def blas_threads():
        info = threadpoolctl.threadpool_info()
        return [i["num_threads"] for i in info if i["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        first, second = single_blas_thread(), single_blas_thread()
        first.__enter__()
        second.__enter__()
        assert set(blas_threads()) == {1}
        first.__exit__(None, None, None)
        assert set(blas_threads()) == {1}  # the second block still runs
        second.__exit__(None, None, None)
        assert blas_threads() == before
