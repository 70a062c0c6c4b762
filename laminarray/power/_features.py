"""Numpy block kernels of window power: sensor-side features and projector-side reductions.

Every source time series is ``x = w · Y`` (``w`` one projector row, ``Y`` one
trial's sensor data, channels x time). Window power is reduced exactly,
without forming ``x`` for every sample where algebra allows:

* **variance**, covariance form: the population variance of ``x`` over the
  ``n`` samples of a window is ``w · Σ · wᵀ`` with the window's sensor
  covariance ``Σ = (Y - Ȳ)(Y - Ȳ)ᵀ / n``. Writing the symmetric ``Σ`` as its
  upper triangle ``s`` (off-diagonal entries doubled) and ``q = w ⊗ w`` on the
  same triangle, all sources of a block and both windows of all trials are one
  GEMM ``Q · S`` of inner size ``C(C+1)/2``: cheaper than projecting the
  samples as soon as the two windows hold more than ``C + 1`` samples.
* **variance**, projection form: project the window samples, centred and
  scaled by ``1/sqrt(n)``, and sum their squares.
* **envelope**: the Hilbert transform is linear along time, so the analytic
  signal of ``x`` is ``w`` times the analytic sensor signal. Only the window
  samples of the analytic sensor signal (real and imaginary parts) are
  projected, then ``|·|`` is averaged over each window.

* **temporal modes** (inverses with a ``temporal_projector`` ``S``, T x r
  orthonormal columns): laMEG's sources are ``x = W·Y·S·Sᵀ``, so every source
  time series is ``a·Sᵀ`` with the r mode coefficients ``a = W·(Y·S)`` (r = 4
  by default). Each (source, trial) is projected with ``2·C·r`` flops instead
  of ``2·C·n`` for ``n`` window samples. Its analytic signal is ``a·H(S)ᵀ``
  (``H`` the Hilbert transform along time, linear, applied to the r columns
  of ``S`` once); its window variance is ``|R·a|²`` with ``R`` the triangular
  factor of the window's centred modes (``S_w - mean = Q·R``, ``Q``
  orthonormal). Both are exact rewritings, not approximations.

Sensor features are computed per trial chunk (cheap: no source dimension);
projector kernels run in :func:`laminarray._projection.fused_projection`.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

from .._projection import project_block

__all__ = [
    "analytic_window_features",
    "centred_window_features",
    "covariance_features",
    "covariance_kernel",
    "mode_basis",
    "mode_features",
    "mode_kernel",
    "n_channel_pairs",
    "window_kernel",
]

#: Rows (source x trial pairs) expanded from modes to window samples at a time: small
#: enough for the expanded blocks (rows x window samples, real and imaginary) to stay
#: in the CPU cache.
MODE_ROWS = 512


def n_channel_pairs(n_channels: int) -> int:
    """Number of entries of a symmetric channel x channel matrix's upper triangle."""
    return n_channels * (n_channels + 1) // 2


def _filtered(sensor: np.ndarray, temporal: np.ndarray | None) -> np.ndarray:
    """Apply the temporal projector ``S Sᵀ`` along time: ``Y S Sᵀ`` per trial (float64)."""
    sensor = sensor.astype(np.float64, copy=False)
    if temporal is None:
        return sensor
    modes = np.einsum("ctk,tm->cmk", sensor, temporal, optimize=True)
    return np.einsum("cmk,tm->ctk", modes, temporal, optimize=True)


def _windows(sensor: np.ndarray, windows: tuple[tuple[int, int], ...]) -> list[np.ndarray]:
    return [sensor[:, start:stop, :] for start, stop in windows]


def covariance_features(
    sensor: np.ndarray,
    windows: tuple[tuple[int, int], ...],
    temporal: np.ndarray | None,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Upper-triangle window covariances of one trial chunk.

    Parameters
    ----------
    sensor : ndarray, shape (C, T, k)
    windows : tuple of (start, stop) sample ranges, one per window
    temporal : ndarray, shape (T, n_modes), optional
        Orthonormal temporal modes ``S``; the data are filtered by ``S Sᵀ``.
    out_dtype : numpy dtype
        Output dtype.

    Returns
    -------
    ndarray, shape (C(C+1)/2, n_windows, k)
        ``s[(c, d)] = Σ[c, d]`` for ``c == d`` and ``2 Σ[c, d]`` for ``c < d``
        (row-major upper triangle), ``Σ`` the population covariance over the
        window's samples.
    """
    data = _filtered(sensor, temporal)
    n_channels = data.shape[0]
    upper = np.triu_indices(n_channels)
    weight = np.where(upper[0] == upper[1], 1.0, 2.0)[:, None]
    out = np.empty((upper[0].size, len(windows), data.shape[2]), dtype=out_dtype)
    for i, segment in enumerate(_windows(data, windows)):
        centred = segment - segment.mean(axis=1, keepdims=True)
        trials = np.ascontiguousarray(centred.transpose(2, 0, 1))
        cov = trials @ trials.transpose(0, 2, 1) / segment.shape[1]
        out[:, i, :] = cov[:, upper[0], upper[1]].T * weight
    return out


def covariance_kernel(projector: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Window variances of a projector block from covariance features.

    Parameters
    ----------
    projector : ndarray, shape (L, v, C)
    features : ndarray, shape (C(C+1)/2, n_windows, k)
        From :func:`covariance_features`.

    Returns
    -------
    ndarray, shape (L, v, n_windows, k)
        ``w Σ wᵀ`` for every source ``w`` of the block, window and trial.
    """
    n_layers, n_vertices, n_channels = projector.shape
    rows = projector.reshape(n_layers * n_vertices, n_channels)
    pairs = np.empty((rows.shape[0], features.shape[0]), dtype=features.dtype)
    offset = 0
    for c in range(n_channels):
        width = n_channels - c
        np.multiply(rows[:, c:], rows[:, c : c + 1], out=pairs[:, offset : offset + width])
        offset += width
    out = pairs @ features.reshape(features.shape[0], -1)
    return out.reshape(n_layers, n_vertices, *features.shape[1:])


def centred_window_features(
    sensor: np.ndarray,
    windows: tuple[tuple[int, int], ...],
    temporal: np.ndarray | None,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Window samples, centred per window and scaled by ``1/sqrt(n)``, concatenated.

    Returns
    -------
    ndarray, shape (C, sum of window lengths, k)
        The sum of squares of a projected window segment is the population
        variance of the source time series in that window.
    """
    segments = _windows(_filtered(sensor, temporal), windows)
    scaled = [(seg - seg.mean(axis=1, keepdims=True)) / np.sqrt(seg.shape[1]) for seg in segments]
    return np.concatenate(scaled, axis=1).astype(out_dtype, copy=False)


def analytic_window_features(
    sensor: np.ndarray,
    windows: tuple[tuple[int, int], ...],
    temporal: np.ndarray | None,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Real and imaginary parts of the analytic sensor signal at the window samples.

    The Hilbert transform (``scipy.signal.hilbert``) runs over the whole epoch,
    without padding, as laMEG does.

    Returns
    -------
    ndarray, shape (C, 2, sum of window lengths, k)
        ``[..., 0, :, :]`` real part, ``[..., 1, :, :]`` imaginary part.
    """
    analytic = hilbert(_filtered(sensor, temporal), axis=1)
    samples = np.concatenate(_windows(analytic, windows), axis=1)
    return np.stack([samples.real, samples.imag], axis=1).astype(out_dtype, copy=False)


def window_kernel(
    projector: np.ndarray, features: np.ndarray, sizes: tuple[int, ...], measure: str
) -> np.ndarray:
    """Project window features of a block and reduce each window to its power.

    Parameters
    ----------
    projector : ndarray, shape (L, v, C)
    features : ndarray
        ``(C, n_samples, k)`` from :func:`centred_window_features` (variance) or
        ``(C, 2, n_samples, k)`` from :func:`analytic_window_features` (envelope).
    sizes : tuple of int
        Number of samples of each window, in order.
    measure : {"variance", "envelope"}

    Returns
    -------
    ndarray, shape (L, v, n_windows, k)
    """
    sources = project_block(projector, features)
    if measure == "envelope":
        magnitude, imaginary = sources[:, :, 0], sources[:, :, 1]
        np.multiply(magnitude, magnitude, out=magnitude)  # in place: no new page faults
        np.multiply(imaginary, imaginary, out=imaginary)
        np.add(magnitude, imaginary, out=magnitude)
        np.sqrt(magnitude, out=magnitude)
        reduced = np.add.reduceat(magnitude, _starts(sizes), axis=2)
        reduced /= np.asarray(sizes, dtype=reduced.dtype)[:, None]
        return reduced
    np.square(sources, out=sources)
    return np.add.reduceat(sources, _starts(sizes), axis=2)


def _starts(sizes: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def mode_features(sensor: np.ndarray, temporal: np.ndarray, out_dtype: np.dtype) -> np.ndarray:
    """Sensor data of one trial chunk in temporal-mode space, ``Y_k·S`` per trial.

    Parameters
    ----------
    sensor : ndarray, shape (C, T, k)
    temporal : ndarray, shape (T, r)
        Temporal modes ``S`` (rows of samples outside the inversion are 0).
    out_dtype : numpy dtype

    Returns
    -------
    ndarray, shape (C, r, k)
    """
    modes = np.empty((sensor.shape[0], temporal.shape[1], sensor.shape[2]))
    for channel, samples in enumerate(sensor):  # (T, k) blocks: no transposed copy of the data
        np.matmul(temporal.T, samples, out=modes[channel])
    return modes.astype(out_dtype, copy=False)


def mode_basis(
    temporal: np.ndarray, windows: tuple[tuple[int, int], ...], measure: str, dtype: np.dtype
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Expansion of mode coefficients to window samples and the per-window reduction.

    Parameters
    ----------
    temporal : ndarray, shape (T, r)
        Temporal modes ``S`` over the samples the windows index.
    windows : tuple of (start, stop) sample ranges
    measure : {"envelope", "variance"}
    dtype : numpy dtype

    Returns
    -------
    bases : tuple of ndarray, each of shape (r, F)
        envelope: ``(Re H_wᵀ, Im H_wᵀ)`` with ``H_w`` the rows of the analytic
        modes ``hilbert(S)`` (over all T samples) in the windows, concatenated
        (F = window samples); variance: one basis, the stacked ``Rᵀ`` of every
        window (``(S_w - mean(S_w)) / sqrt(n_w) = Q·R``), F = their rows.
    reduction : ndarray, shape (F, n_windows)
        envelope: the window means of the amplitudes (``1/n_w`` entries);
        variance: sums of the squared ``R·a`` of each window (ones).
    """
    if measure == "envelope":
        analytic = hilbert(temporal, axis=0)
        analytic = np.concatenate([analytic[start:stop] for start, stop in windows], axis=0)
        bases = (analytic.real.T, analytic.imag.T)
        weights = [np.full(stop - start, 1.0 / (stop - start)) for start, stop in windows]
    else:
        factors = []
        for start, stop in windows:
            segment = temporal[start:stop]
            centred = (segment - segment.mean(axis=0)) / np.sqrt(stop - start)
            factors.append(np.linalg.qr(centred, mode="r"))
        bases = (np.concatenate([factor.T for factor in factors], axis=1),)
        weights = [np.ones(factor.shape[0]) for factor in factors]
    reduction = np.zeros((sum(w.size for w in weights), len(windows)))
    offset = 0
    for i, w in enumerate(weights):
        reduction[offset : offset + w.size, i] = w
        offset += w.size
    return tuple(np.ascontiguousarray(b, dtype=dtype) for b in bases), reduction.astype(dtype)


def mode_kernel(
    projector: np.ndarray,
    features: np.ndarray,
    bases: tuple[np.ndarray, ...],
    reduction: np.ndarray,
    measure: str,
) -> np.ndarray:
    """Window powers of a projector block from mode features.

    Per (source, trial) the mode coefficients ``a`` are expanded to the window
    samples with each basis, squared and summed over the bases (``|a·H|²``
    for the analytic signal), square-rooted for the envelope, and reduced
    per window, in row blocks that stay in the CPU cache.

    Parameters
    ----------
    projector : ndarray, shape (L, v, C)
    features : ndarray, shape (C, r, k)
        From :func:`mode_features`.
    bases, reduction : ndarray
        From :func:`mode_basis`.
    measure : {"envelope", "variance"}

    Returns
    -------
    ndarray, shape (L, v, n_windows, k)
    """
    n_layers, n_vertices = projector.shape[:2]
    coefficients = project_block(projector, features)  # (L, v, r, k)
    rows = np.ascontiguousarray(np.moveaxis(coefficients, 2, 3)).reshape(-1, features.shape[1])
    out = np.empty((rows.shape[0], reduction.shape[1]), dtype=rows.dtype)
    step = min(MODE_ROWS, rows.shape[0])
    buffers = [np.empty((step, basis.shape[1]), dtype=rows.dtype) for basis in bases]
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        parts = [buffer[: block.shape[0]] for buffer in buffers]
        for basis, part in zip(bases, parts, strict=True):
            np.matmul(block, basis, out=part)
            np.square(part, out=part)
        total = parts[0]
        for part in parts[1:]:
            np.add(total, part, out=total)
        if measure == "envelope":
            np.sqrt(total, out=total)
        np.matmul(total, reduction, out=out[start : start + step])
    out = out.reshape(n_layers, n_vertices, features.shape[2], -1)
    return np.ascontiguousarray(np.moveaxis(out, 3, 2))
