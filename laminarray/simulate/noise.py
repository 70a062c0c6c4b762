"""Sensor noise at a signal-to-noise ratio in dB, with SPM's definition.

``signal_std`` is the mean over channels of the sample standard deviation
(``N - 1``) over time of the noiseless signal (zeros outside the signal
window included), averaged over trials for trial-unique signals; the noise
standard deviation is ``signal_std * 10^(-snr_db / 20)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["noise_level", "signal_std"]


def signal_std(patterns: np.ndarray, signals: np.ndarray) -> float:
    """SPM's signal size of ``patterns @ signals`` without forming it.

    Parameters
    ----------
    patterns : ndarray, shape (n_channels, n_sources)
        Sensor pattern of each source (fT per nAm of its time course).
    signals : ndarray, shape (n_sources, n_times, n_trials)
        Source time courses in nAm (``n_trials`` may be 1 for a shared course).

    Returns
    -------
    float
        Mean over trials of the mean over channels of the temporal standard
        deviation (fT). Uses the per-trial source covariance, so the cost is
        independent of the number of channels times samples.
    """
    centred = signals - signals.mean(axis=1, keepdims=True)
    cov = np.einsum("atk,btk->kab", centred, centred) / max(signals.shape[1] - 1, 1)
    var = np.einsum("ca,kab,cb->kc", patterns, cov, patterns, optimize=True)
    return float(np.sqrt(np.clip(var, 0, None)).mean())


def noise_level(std: float, snr_db: float) -> float:
    """Noise standard deviation (fT) for ``snr_db`` dB given the signal size ``std``."""
    return float(std * 10.0 ** (-snr_db / 20.0))


def pink_noise(rng: np.random.Generator, shape: tuple[int, int], rms: float) -> np.ndarray:
    """1/f-power noise per channel (SPM fork's generator), rescaled to RMS ``rms`` exactly.

    A white sequence per channel is Fourier transformed, the bins
    ``k = 1..n//2`` scaled by ``1/sqrt(k)`` (``k = 0`` zeroed), transformed
    back as a real signal, demeaned and rescaled so that its RMS is ``rms``.
    """
    n = shape[1]
    spectrum = np.fft.rfft(rng.standard_normal(shape), axis=1)
    k = np.arange(spectrum.shape[1], dtype=np.float64)
    scale = np.zeros_like(k)
    scale[1:] = 1.0 / np.sqrt(k[1:])
    noise = np.fft.irfft(spectrum * scale, n=n, axis=1)
    noise -= noise.mean(axis=1, keepdims=True)
    current = np.sqrt(np.mean(noise**2, axis=1, keepdims=True))
    return noise * (rms / np.where(current > 0, current, 1.0))
