"""Standard (second spatial difference) CSD with laMEG's conventions (design note lameg §1.4)."""

from __future__ import annotations

import numpy as np

__all__ = ["CONDUCTIVITY", "standard_csd"]

#: Extracellular conductivity (S/m) of the standard CSD.
CONDUCTIVITY = 0.3
_SMOOTH = np.array([np.exp(-0.5), 1.0, np.exp(-0.5)]) / (1.0 + 2.0 * np.exp(-0.5))


def standard_csd(signal: np.ndarray, thickness: np.ndarray | float) -> np.ndarray:
    """Standard CSD of laminar profiles along the second-to-last axis.

    1. Vaknin extension: the first and last layers are repeated once.
    2. ``c = -σ · Δ²V / h`` with σ = 0.3 S/m and the layer spacing
       ``h = thickness / (N - 1)`` in metres, divided **once** (elephant's
       ``StandardCSD`` convention that laMEG inherits).
    3. Smoothing along depth with the normalised 3-tap Gaussian
       ``[e^-1/2, 1, e^-1/2]`` (zero beyond the ends).
    4. The two outermost rows at each end are set to 0 (laMEG).

    Parameters
    ----------
    signal : ndarray, shape (..., N, n_samples)
        Laminar profiles, layer 0 = pial; N >= 3.
    thickness : float or ndarray broadcastable to shape (...)
        Column thickness in mm.

    Returns
    -------
    ndarray, shape (..., N, n_samples), float64
    """
    v = np.asarray(signal, dtype=np.float64)
    n = v.shape[-2]
    padded = np.concatenate([v[..., :1, :], v, v[..., -1:, :]], axis=-2)
    second = padded[..., :-2, :] - 2.0 * padded[..., 1:-1, :] + padded[..., 2:, :]
    spacing_m = np.asarray(thickness, dtype=np.float64)[..., None, None] / (n - 1) / 1000.0
    csd = -CONDUCTIVITY * second / spacing_m
    smooth = _SMOOTH[1] * csd
    smooth[..., 1:, :] += _SMOOTH[0] * csd[..., :-1, :]
    smooth[..., :-1, :] += _SMOOTH[2] * csd[..., 1:, :]
    smooth[..., [0, 1, n - 2, n - 1], :] = 0.0
    return smooth
