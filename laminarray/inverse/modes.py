"""Data reduction: spatial modes, time window, band-limited temporal modes, reduced data.

Kernels for design note spm_inversion §1 (numpy in, numpy out, float64;
the trial reductions also accept dask arrays and compute only small results).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from .._validation import LaminarrayError
from ..options import task_budget
from ._linalg import spm_svd

AUTO_SPATIAL_THRESHOLD = float(np.exp(-16.0))
PREP_SPATIAL_THRESHOLD = 1e-12
AUTO_TEMPORAL_THRESHOLD = float(np.exp(-8.0))
MAX_TEMPORAL_MODES = 16


def spatial_modes(gain: np.ndarray, n_modes: str | int) -> np.ndarray:
    """Spatial projector ``A`` (modes × channels) from a gain matrix.

    Parameters
    ----------
    gain : ndarray, shape (n_channels, n_sources)
    n_modes : "all", "auto" or int
        ``"all"``: identity (no reduction, F comparable across forward
        models); ``"auto"``: every eigenvector of ``L·Lᵀ`` above SPM's
        threshold e⁻¹⁶; an int below the channel count: the top ``n_modes``
        eigenvectors (threshold 1e-12), identity otherwise.

    Returns
    -------
    ndarray, shape (n_modes, n_channels)
        Orthonormal rows.
    """
    n_channels = gain.shape[0]
    if n_modes == "all" or (not isinstance(n_modes, str) and n_modes >= n_channels):
        return np.eye(n_channels)
    gram = gain @ gain.T
    if n_modes == "auto":
        return spm_svd(gram, AUTO_SPATIAL_THRESHOLD)[0].T
    vecs = spm_svd(gram, PREP_SPATIAL_THRESHOLD)[0]
    if vecs.shape[1] < n_modes:
        raise LaminarrayError(
            f"`n_spatial_modes` = {n_modes} exceeds the {vecs.shape[1]} spatial modes the gain "
            "supports (rank of L·Lᵀ); use 'auto' or fewer modes"
        )
    return vecs[:, : int(n_modes)].T


def inversion_samples(
    woi_ms: tuple[float, float], times_s: np.ndarray, sfreq: float
) -> np.ndarray:
    """0-based sample indices of an inversion window, exactly as SPM (design note spm_inversion §1.3).

    The window edges (ms) are clipped to the epoch and truncated toward zero
    to whole milliseconds; then the fractional sample positions
    ``(t/1000 − t₀)·fs + 1`` of the two edges define a MATLAB colon range
    (step 1) whose elements are truncated: always consecutive samples.

    Parameters
    ----------
    woi_ms : (float, float)
        Window in milliseconds (``±inf`` for the whole epoch).
    times_s : ndarray, shape (n_times,)
        Sample times in seconds.
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    ndarray of int, shape (n_window,)
    """
    first, last = 1000.0 * times_s[0], 1000.0 * times_s[-1]
    lo = math.trunc(_round_ms(max(min(woi_ms), first)))
    hi = math.trunc(_round_ms(min(max(woi_ms), last)))
    start = (lo / 1000.0 - times_s[0]) * sfreq + 1.0
    stop = (hi / 1000.0 - times_s[0]) * sfreq + 1.0
    start, stop = max(1.0, start), min(stop, float(times_s.size))
    tol = 4 * np.finfo(np.float64).eps * max(abs(start), abs(stop))
    count = math.floor(stop - start + tol) + 1
    if count < 1:
        return np.zeros(0, dtype=np.int64)
    # trunc(start + k) = trunc(start) + k: consecutive samples even when float
    # noise puts ``start`` a hair below an integer (``start + k`` may round up)
    return math.trunc(start) - 1 + np.arange(count, dtype=np.int64)


def _round_ms(value: float) -> float:
    """Round to 1e-6 ms so that seconds→ms float noise does not move a truncation."""
    return round(value, 6) if math.isfinite(value) else value


def dct_band(times_ms: np.ndarray, foi: tuple[float, float]) -> np.ndarray:
    """Orthonormal DCT-II basis restricted to the band ``foi`` (design note spm_inversion §1.4).

    Parameters
    ----------
    times_ms : ndarray, shape (n_window,)
        Times of the window samples in ms (their span sets the frequencies).
    foi : (float, float)
        Band in Hz; both edges are truncated to integers.

    Returns
    -------
    ndarray, shape (n_window, n_kept)
    """
    nb = times_ms.size
    k = np.arange(nb)
    n = np.arange(nb)[:, None]
    basis = np.sqrt(2.0 / nb) * np.cos(np.pi * (2 * n + 1) * k / (2 * nb))
    basis[:, 0] = 1.0 / np.sqrt(nb)
    duration = (times_ms[-1] - times_ms[0]) / 1000.0
    freqs = k / (2.0 * duration)
    low, high = math.trunc(min(foi)), math.trunc(max(foi))
    return basis[:, (freqs >= low) & (freqs <= high)]


def hanning(n: int) -> np.ndarray:
    """SPM's Hann window without zero end points, ``(1 − cos(2π(i+1)/(n+1)))/2``."""
    return (1.0 - np.cos(2.0 * np.pi * np.arange(1, n + 1) / (n + 1))) / 2.0


@dataclass(frozen=True)
class Reduced:
    """Data reduced to spatial and temporal modes for one window.

    Attributes
    ----------
    yy : ndarray, shape (n_modes, n_modes)
        ``Σ_k Ỹ_k Ỹ_kᵀ`` (a sum over trials).
    y : ndarray, shape (n_modes, n_temp_modes, n_trials)
        Reduced data ``Ỹ_k = A·Y_k·S``.
    temporal : ndarray, shape (n_window, n_temp_modes)
        Temporal projector ``S = T·V`` (orthonormal columns).
    samples : ndarray of int, shape (n_window,)
        0-based sample indices of the window.
    explained : float
        Fraction of band-limited temporal variance kept by the modes.
    """

    yy: np.ndarray
    y: np.ndarray
    temporal: np.ndarray
    samples: np.ndarray
    explained: float

    @property
    def n_samples(self) -> int:
        """Number of ReML samples ``K·Nr``."""
        return self.y.shape[1] * self.y.shape[2]


def reduce_window(
    data: Any,
    modes: np.ndarray,
    samples: np.ndarray,
    times_s: np.ndarray,
    *,
    foi: tuple[float, float],
    n_temp_modes: int,
    hann: bool,
) -> Reduced:
    """Reduce sensor data to spatial × temporal modes (design note spm_inversion §1.4–§1.6).

    Parameters
    ----------
    data : ndarray or dask array, shape (n_channels, n_times, n_trials)
        Sensor data of the channels used by ``modes`` (dask data are reduced
        chunk-wise; only small results are computed).
    modes : ndarray, shape (n_modes, n_channels)
        Spatial projector ``A``.
    samples : ndarray of int
        Window sample indices (:func:`inversion_samples`).
    times_s : ndarray, shape (n_times,)
    foi : (float, float)
        Frequency band (Hz).
    n_temp_modes : int
        Number of temporal modes; 0 chooses them automatically (1 to 16).
    hann : bool
        Taper the temporal covariance (only) with a Hann window.

    Returns
    -------
    Reduced
    """
    window = data[:, samples[0] : samples[-1] + 1, :]
    basis = dct_band(1000.0 * times_s[samples], foi)
    if n_temp_modes > basis.shape[1]:
        raise LaminarrayError(
            f"`n_temp_modes` must be at most the {basis.shape[1]} DCT components of the "
            f"{samples.size}-sample window in the band foi={tuple(foi)}; got {n_temp_modes}"
        )
    taper = hanning(samples.size) if hann else np.ones(samples.size)
    ytty = _temporal_gram(window, _reduction(modes), taper[:, None] * basis) / window.shape[2]
    values, vecs = np.linalg.eigh(ytty)  # symmetric PSD: the SVD SPM takes, faster
    values, vecs = values[::-1], vecs[:, ::-1]
    if n_temp_modes:
        n_r = int(n_temp_modes)
    else:
        n_r = spm_svd(ytty, AUTO_TEMPORAL_THRESHOLD)[0].shape[1] or vecs.shape[1]
        n_r = min(max(n_r, 1), MAX_TEMPORAL_MODES)
    temporal = basis @ vecs[:, :n_r]
    explained = float(values[:n_r].sum() / np.trace(ytty))
    reduced = project(window, modes, temporal)
    flat = reduced.transpose(0, 2, 1).reshape(reduced.shape[0], -1)
    return Reduced(
        yy=flat @ flat.T,
        y=reduced,
        temporal=temporal,
        samples=samples,
        explained=explained,
    )


#: float64 data converted per trial block (bounds the temporaries), as a multiple of
#: the ``task_bytes`` option (32 MiB at the default).
BLOCK_SCALE = 0.5


def _reduction(modes: np.ndarray | None) -> np.ndarray | None:
    """``None`` for the identity (no spatial product needed), else ``modes``."""
    if modes is None or (
        modes.shape[0] == modes.shape[1] and np.array_equal(modes, np.eye(modes.shape[0]))
    ):
        return None
    return modes


def _trial_blocks(window: np.ndarray) -> list[slice]:
    per_trial = window.shape[0] * window.shape[1] * 8
    size = max(1, task_budget(BLOCK_SCALE) // per_trial)
    return [slice(k, k + size) for k in range(0, window.shape[2], size)]


def _block_projection(block: Any, modes: np.ndarray | None, temporal: np.ndarray) -> Any:
    """``A·Y_k·temporal`` of a block of trials, float64, as (modes, trials, columns).

    numpy blocks use two plain GEMMs; dask blocks the equivalent einsums.
    """
    if isinstance(block, da.Array):
        in_time = da.einsum("cbk,bf->ckf", block.astype(np.float64), temporal)
        return in_time if modes is None else da.einsum("mc,ckf->mkf", modes, in_time)
    n_ch, n_b, n_k = block.shape
    rows = np.ascontiguousarray(block.transpose(0, 2, 1), dtype=np.float64).reshape(-1, n_b)
    in_time = (rows @ temporal).reshape(n_ch, n_k, -1)
    if modes is None:
        return in_time
    return (modes @ in_time.reshape(n_ch, -1)).reshape(modes.shape[0], n_k, -1)


def _temporal_gram(window: Any, modes: np.ndarray | None, temporal: np.ndarray) -> np.ndarray:
    """``Σ_k (A·Y_k·T)ᵀ(A·Y_k·T)``: the sample Gram ``Σ_k (A·Y_k)ᵀ(A·Y_k)`` then ``T``.

    The Gram is one symmetric rank-k update per block of trials (numpy data are
    converted to float64 one block at a time; dask data chunk-wise).
    """
    if isinstance(window, da.Array):
        rows = window.astype(np.float64)
        if modes is not None:
            rows = da.einsum("mc,cbk->mbk", modes, rows)
        gram = np.asarray(da.einsum("cbk,cdk->bd", rows, rows).compute(), dtype=np.float64)
    else:
        n_b = window.shape[1]
        gram = np.zeros((n_b, n_b))
        for trials in _trial_blocks(window):
            block = np.asarray(window[:, :, trials], dtype=np.float64)
            if modes is not None:
                block = (modes @ block.reshape(block.shape[0], -1)).reshape(-1, *block.shape[1:])
            rows = np.ascontiguousarray(block.transpose(0, 2, 1)).reshape(-1, n_b)
            gram += rows.T @ rows
    return temporal.T @ gram @ temporal


def project(window: Any, modes: np.ndarray | None, temporal: np.ndarray) -> np.ndarray:
    """``A·Y_k·temporal`` for every trial → (n_modes, n_columns, n_trials), float64.

    ``modes=None`` (or the identity) means no spatial projection. numpy data
    are converted to float64 one block of trials at a time; dask data are
    contracted chunk-wise and only the small result is computed.
    """
    modes = _reduction(modes)
    if isinstance(window, da.Array):
        out = np.asarray(_block_projection(window, modes, temporal).compute(), np.float64)
    else:
        blocks = [
            _block_projection(window[:, :, t], modes, temporal) for t in _trial_blocks(window)
        ]
        out = np.concatenate(blocks, axis=1)
    return out.transpose(0, 2, 1)
