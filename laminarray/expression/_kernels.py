"""Pure-numpy kernels of the expression grid search (they trust their inputs).

Shapes use these letters: ``c`` channels, ``s`` sources (or a batch of them),
``i`` splits, ``n`` samples of a source segment, ``f`` rFFT frequencies,
``t`` transforms, ``k`` latencies, ``p`` pairings (identity first, then the
derangements).

The correlation at latency ``k`` between transform split ``i`` (``L``
samples, zero mean, unit norm) and source segment ``j`` is the Pearson
correlation of the transform with the ``L`` source samples starting at
``lag[k]`` of the segment: a cross-correlation (computed with the FFT)
divided by the norm of the mean-removed window (window sums from a product
with a 0/1 box matrix). ``j`` indexes the segments of a batch; ``partners``
says which transform split each segment meets in each pairing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
from scipy import signal
from scipy import stats as sps

from ..options import task_budget

#: Working memory of one batch of sources x splits inside a task, as a multiple of the
#: ``task_bytes`` option (64 MiB at the default).
BATCH_SCALE = 1.0
#: Most sources per batch: enough rows for the projection GEMM to be compute-bound.
BATCH_SOURCES = 256

#: Samples filtered per convolution in :func:`filter_at`.
_FILTER_BLOCK = 8192

_LN10 = np.log(10.0)


# --------------------------------------------------------------------------- sensor side


def lowpass_taps(sfreq: float, cutoff: float) -> np.ndarray:
    """Odd-length, symmetric (linear-phase) Kaiser-windowed FIR low-pass.

    Parameters
    ----------
    sfreq : float
        Sample rate of the data to filter (Hz).
    cutoff : float
        Cut-off frequency (Hz), below ``sfreq / 2``.

    Returns
    -------
    ndarray, shape (n_taps,), float64
        Taps with unit gain at 0 Hz; ``n_taps = 20 * ceil(sfreq / (2 cutoff)) + 1``.
    """
    ratio = int(np.ceil(sfreq / (2.0 * cutoff)))
    return signal.firwin(20 * ratio + 1, cutoff, window=("kaiser", 5.0), fs=sfreq)


def filter_at(data: np.ndarray, positions: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-phase FIR filter of ``data (c, time)``, returned at some samples only.

    ``out[:, m] = sum_j taps[j] * data[:, positions[m] + j - len(taps) // 2]``
    with zeros beyond the edges of ``data``: a centred convolution with
    symmetric taps (no phase shift, so latencies are not moved). Only the
    span of ``positions`` plus half the filter on each side is filtered
    (overlap-add FFT convolution), :data:`_FILTER_BLOCK` samples at a time
    to bound the temporaries.

    Parameters
    ----------
    data : ndarray, shape (c, n_times)
    positions : ndarray of int, shape (m,)
        Sorted sample indices in ``[0, n_times)``.
    taps : ndarray, shape (n_taps,), odd length

    Returns
    -------
    ndarray, shape (c, m)
    """
    half = taps.size // 2
    kernel = taps.astype(data.dtype)[None, :]
    out = np.empty((data.shape[0], positions.size), dtype=data.dtype)
    block = np.searchsorted(
        positions, positions[0] + np.arange(0, positions[-1] + 1, _FILTER_BLOCK)
    )
    for first, last in zip(block, [*block[1:], positions.size], strict=True):
        if first == last:
            continue
        start = max(0, int(positions[first]) - half)
        stop = min(data.shape[1], int(positions[last - 1]) + half + 1)
        filtered = signal.oaconvolve(data[:, start:stop], kernel, mode="same", axes=-1)
        out[:, first:last] = filtered[:, positions[first:last] - start]
    return out


def segment_indices(
    split_starts: np.ndarray, n_samples: int, sfreq_in: float, sfreq_out: float, t0: float
) -> np.ndarray:
    """Sample indices of every split's source segment in a recording.

    Parameters
    ----------
    split_starts : ndarray, shape (n_splits,)
        Recording time (s) of the first sample of each segment.
    n_samples : int
        Segment length at the output rate.
    sfreq_in, sfreq_out : float
        Recording and output (transform) sample rates (Hz).
    t0 : float
        Time (s) of the recording's first sample.

    Returns
    -------
    ndarray, shape (n_splits, n_samples), int64
        Nearest recording sample of each output sample (exact when
        ``sfreq_in / sfreq_out`` is an integer).
    """
    first = np.rint((split_starts - t0) * sfreq_in).astype(np.int64)
    offsets = np.rint(np.arange(n_samples) * (sfreq_in / sfreq_out)).astype(np.int64)
    return first[:, None] + offsets[None, :]


def cut_segments(samples: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Spread decimated samples ``(c, m)`` over segments ``where (i, n)``; float32, mean-removed.

    Returns
    -------
    ndarray, shape (c, i, n), float32
        ``samples[:, where]`` minus each segment's mean (removing it in sensor
        space removes it from every projected source too, and keeps the
        float32 window sums well conditioned).
    """
    segments = samples.astype(np.float32, copy=False)[:, where]
    segments -= segments.mean(axis=-1, keepdims=True)
    return segments


def derangements(n: int, count: int, seed: int) -> np.ndarray:
    """``count`` random permutations of ``range(n)`` without fixed points.

    Rejection sampling of uniform permutations (about e draws per derangement),
    so each derangement is uniformly distributed.

    Returns
    -------
    ndarray, shape (count, n), int64
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, n), dtype=np.int64)
    identity = np.arange(n)
    for row in range(count):
        perm = rng.permutation(n)
        while np.any(perm == identity):
            perm = rng.permutation(n)
        out[row] = perm
    return out


def transform_spectra(splits: np.ndarray, n_fft: int) -> np.ndarray:
    """Conjugate rFFT of each transform split, normalised to zero mean and unit norm.

    Parameters
    ----------
    splits : ndarray, shape (t, i, L)
    n_fft : int

    Returns
    -------
    ndarray, shape (t, i, n_fft // 2 + 1), complex
        Zero where a split is constant (its correlation is then 0).
    """
    centred = splits - splits.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(centred, axis=-1, keepdims=True)
    unit = np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)
    return np.conj(scipy.fft.rfft(unit, n=n_fft, axis=-1))


# --------------------------------------------------------------------------- correlations


def window_norms(x: np.ndarray, lags: np.ndarray, length: int) -> np.ndarray:
    """Norm of each mean-removed window ``x[..., lag:lag + length]``.

    Parameters
    ----------
    x : ndarray, shape (s, j, n)
    lags : ndarray of int, shape (k,)
    length : int

    Returns
    -------
    ndarray, shape (s, j, k), float64
        ``sqrt(sum(w**2) - sum(w)**2 / length)``. The window sums of ``x`` and
        ``x**2`` are two matrix products with a 0/1 box matrix ``(n, k)``
        (BLAS, in the precision of ``x``: float32 sums of a few hundred
        terms are exact to about 1e-6 relative), combined in float64.
    """
    samples = np.arange(x.shape[-1])[:, None]
    box = ((samples >= lags) & (samples < lags + length)).astype(x.dtype)
    flat = x.reshape(-1, x.shape[-1])
    s1 = (flat @ box).astype(np.float64)
    s2 = (np.square(flat) @ box).astype(np.float64)
    norms = np.sqrt(np.maximum(s2 - s1 * s1 / length, 0.0))
    return norms.reshape(*x.shape[:-1], lags.size)


def correlations(
    x: np.ndarray,
    spectra: np.ndarray,
    partners: np.ndarray,
    lags: np.ndarray,
    length: int,
) -> np.ndarray:
    """Pearson correlation of every source segment with its paired transform splits.

    Parameters
    ----------
    x : ndarray, shape (s, j, n)
        Source segments (real).
    spectra : ndarray, shape (t, i, f)
        :func:`transform_spectra` of all transform splits, ``n_fft = 2 (f - 1)``.
    partners : ndarray of int, shape (p, j)
        ``partners[q, j]``: the transform split paired with segment ``j`` in
        pairing ``q`` (the segment's own split for the true pairing).
    lags : ndarray of int, shape (k,)
        Window starts within a segment; ``lags + length <= n``.
    length : int
        Split length ``L``.

    Returns
    -------
    ndarray, shape (t, p, s, j, k)
        Correlations in [-1, 1]; 0 where a window is constant.
    """
    n_fft = 2 * (spectra.shape[-1] - 1)
    dtype = np.result_type(x.dtype, np.float32)
    norms = window_norms(x, lags, length)
    inverse_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(dtype)
    # a contiguous run of lags is a view of the inverse FFT, not a copy
    contiguous = bool(np.all(np.diff(lags) == 1))
    pick = slice(int(lags[0]), int(lags[-1]) + 1) if contiguous else lags
    x_hat = scipy.fft.rfft(x, n=n_fft, axis=-1)
    out = np.empty((spectra.shape[0], partners.shape[0], *x.shape[:2], lags.size), dtype=dtype)
    for q, partner in enumerate(partners):
        product = x_hat[None] * spectra[:, None, partner, :]
        cross = scipy.fft.irfft(product, n=n_fft, axis=-1)
        np.multiply(cross[..., pick], inverse_norms[None], out=out[:, q])
    return out


# --------------------------------------------------------------------------- statistics


def fisher_z(r: np.ndarray) -> np.ndarray:
    """Fisher's z = artanh(r) in place, with r clipped just inside (-1, 1)."""
    bound = 1.0 - 1e-7 if r.dtype == np.float32 else 1.0 - 1e-12
    np.clip(r, -bound, bound, out=r)
    return np.arctanh(r, out=r)


def welch_log10_p(
    mean1: np.ndarray,
    var1: np.ndarray,
    n1: float,
    mean2: np.ndarray,
    var2: np.ndarray,
    n2: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's unequal-variance t-test from sample moments (vectorised, two-sided).

    Parameters
    ----------
    mean1, var1 : ndarray
        Mean and unbiased variance (ddof=1) of sample 1 (broadcastable).
    n1 : float
        Size of sample 1.
    mean2, var2, n2
        The same for sample 2.

    Returns
    -------
    t : ndarray
        ``(mean1 - mean2) / sqrt(var1/n1 + var2/n2)``.
    df : ndarray
        Welch-Satterthwaite degrees of freedom.
    log10_p : ndarray
        log10 of the two-sided p-value; exact (``scipy.stats.t.logsf``) until
        the p-value underflows, then the asymptotic :func:`log_t_tail`. 0 (p = 1) where the
        test is undefined (both variances 0).
    """
    mean1, var1, mean2, var2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (mean1, var1, mean2, var2))
    )
    a = var1 / n1
    b = var2 / n2
    se2 = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (mean1 - mean2) / np.sqrt(se2)
        df = se2**2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        abs_t = np.abs(t)
        log_sf = np.array(sps.t.logsf(abs_t, df), dtype=np.float64)
        tail = ~np.isfinite(log_sf) & np.isfinite(abs_t)
        if np.any(tail):
            log_sf[tail] = log_t_tail(abs_t[tail], df[tail])
    log10_p = np.minimum((log_sf + np.log(2.0)) / _LN10, 0.0)
    undefined = ~np.isfinite(t)
    return t, df, np.where(undefined, 0.0, log10_p)


def log_t_tail(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Asymptotic natural log of Student's t survival function for large ``t > 0``.

    ``sf(t) ~ pdf(t) (df + t^2) / ((df + 1) t)``: the ratio of the density to
    its logarithmic derivative, exact to first order in ``1 / t^2``.
    """
    return sps.t.logpdf(t, df) + np.log((df + t**2) / ((df + 1.0) * t))


class Moments:
    """Running sums of Fisher z for the true and null pairings of a set of sources.

    Sums are additive over splits, so a block of sources can be processed
    one block of splits at a time.

    Parameters
    ----------
    n_transforms, n_sources, n_lags : int
    """

    def __init__(self, n_transforms: int, n_sources: int, n_lags: int) -> None:
        self.true = np.zeros((2, n_transforms, n_sources, n_lags))
        self.null = np.zeros((2, n_transforms, n_sources))
        self.n_true = 0
        self.n_null = 0

    def add(self, z: np.ndarray) -> None:
        """Accumulate Fisher z of shape ``(t, p, s, j, k)`` (pairing 0 true)."""
        true, null = z[:, 0], z[:, 1:]
        self.true[0] += true.sum(axis=-2, dtype=np.float64)
        self.true[1] += np.square(true).sum(axis=-2, dtype=np.float64)
        self.null[0] += null.sum(axis=(1, 3, 4), dtype=np.float64)
        self.null[1] += np.square(null).sum(axis=(1, 3, 4), dtype=np.float64)
        self.n_true += true.shape[-2]
        self.n_null += null.shape[1] * null.shape[3] * null.shape[4]

    def log10_p(self) -> np.ndarray:
        """Welch's test of the true sample at each latency against the pooled null.

        Returns
        -------
        ndarray, shape (t, s, k), float64
            The ``n_splits`` true z at a latency against the ``n_derangements
            x n_splits x n_lags`` null z of the same source.
        """
        (mean1, var1), (mean2, var2) = (
            _mean_var(total, squares, n)
            for (total, squares), n in ((self.true, self.n_true), (self.null, self.n_null))
        )
        return welch_log10_p(
            mean1, var1, self.n_true, mean2[..., None], var2[..., None], self.n_null
        )[2]


def _mean_var(total: np.ndarray, squares: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mean = total / n
    return mean, np.maximum(squares - total * mean, 0.0) / (n - 1)


# --------------------------------------------------------------------------- fused block


def batch_shape(
    n_sources: int,
    n_splits: int,
    n_samples: int,
    n_fft: int,
    n_lags: int,
    n_pairings: int,
    n_transforms: int,
) -> tuple[int, int]:
    """Sources and splits per batch, so that one batch's arrays fit in ``task_budget(BATCH_SCALE)``.

    Counts, per source and split: the segment, its squares and float64
    window sums, its spectrum, one pairing's product and inverse FFT per
    transform, and the correlations (at most 8 bytes per real value); at
    most :data:`BATCH_SOURCES` sources, in batches of nearly equal size.
    """
    per_split = (
        24 * n_samples
        + 8 * n_fft * (1 + 2 * n_transforms)
        + 8 * n_lags * n_pairings * n_transforms
    )
    sources = -(-n_sources // -(-n_sources // BATCH_SOURCES))  # balanced batches
    splits = max(1, min(n_splits, task_budget(BATCH_SCALE) // (sources * per_split)))
    return sources, splits


def expression_block(
    projector: np.ndarray | None,
    segments: np.ndarray,
    spectra: np.ndarray,
    partners: np.ndarray,
    lags: np.ndarray,
    length: int,
) -> np.ndarray:
    """Project, cross-correlate and test one block of sources, batch by batch.

    Parameters
    ----------
    projector : ndarray, shape (s, c), or None
        Rows of the inverse projector; None means the sources are the
        channels of ``segments`` themselves (sensor space).
    segments : ndarray, shape (c, i, n)
        Sensor segments at the transform's rate.
    spectra, partners, lags, length
        As in :func:`correlations` (``partners`` covers all ``i`` segments).

    Returns
    -------
    ndarray, shape (t, s, k), float64
        log10 p-values. Source segments exist only one batch (a few hundred
        sources x a few splits) at a time.
    """
    n_channels, n_splits, n_samples = segments.shape
    n_sources = n_channels if projector is None else projector.shape[0]
    step_s, step_i = batch_shape(
        n_sources,
        n_splits,
        n_samples,
        2 * (spectra.shape[-1] - 1),
        lags.size,
        partners.shape[0],
        spectra.shape[0],
    )
    out = np.empty((spectra.shape[0], n_sources, lags.size))
    for s0 in range(0, n_sources, step_s):
        s1 = min(s0 + step_s, n_sources)
        moments = Moments(spectra.shape[0], s1 - s0, lags.size)
        for i0 in range(0, n_splits, step_i):
            i1 = min(i0 + step_i, n_splits)
            if projector is None:
                x = segments[s0:s1, i0:i1]
            else:
                block = np.ascontiguousarray(segments[:, i0:i1]).reshape(n_channels, -1)
                x = (projector[s0:s1] @ block).reshape(s1 - s0, i1 - i0, n_samples)
            moments.add(fisher_z(correlations(x, spectra, partners[:, i0:i1], lags, length)))
        out[:, s0:s1] = moments.log10_p()
    return out


def fused_source_block(
    projector: np.ndarray,
    features: np.ndarray,
    *,
    spectra: np.ndarray,
    partners: np.ndarray,
    lags: np.ndarray,
    length: int,
) -> np.ndarray:
    """:func:`expression_block` as a :func:`laminarray._projection.fused_projection` kernel.

    Parameters
    ----------
    projector : ndarray, shape (layer, vertex, c)
    features : ndarray, shape (c, i, n, 1)
        The sensor segments with a trailing "trial" axis of one.

    Returns
    -------
    ndarray, shape (layer, vertex, t, k, 1)
    """
    n_layers, n_vertices, n_channels = projector.shape
    segments = features[..., 0]
    rows = projector.reshape(n_layers * n_vertices, n_channels).astype(segments.dtype, copy=False)
    log10_p = expression_block(rows, segments, spectra, partners, lags, length)
    log10_p = log10_p.reshape(spectra.shape[0], n_layers, n_vertices, lags.size)
    return np.moveaxis(log10_p, 0, 2)[..., None]


def sensor_block(segments: np.ndarray, spectra: np.ndarray, **kwargs: Any) -> np.ndarray:
    """:func:`expression_block` with the channels as sources; returns ``(t, c, k)``."""
    return expression_block(None, segments, spectra, **kwargs)
