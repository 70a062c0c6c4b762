"""Colour helpers with laMEG's normalisations (two-slope, linear, log).

``data_to_rgb`` bins the data range into ``n_bins`` equal bins and gives each
value the colour of its bin's upper edge (laMEG's behaviour, so colours match
laMEG figures); ``color_map`` returns 0-255 RGB integers and ``to_hex`` hex
strings.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable

from .._validation import LaminarrayError, check_option

NORMS = ("TS", "N", "LOG")
#: Percentile of the data (of |data| for signed data) that sets default colour limits.
ROBUST_PERCENTILE = 99.0
#: Default colour maps: diverging for signed quantities, sequential for one-signed ones.
DIVERGING, SEQUENTIAL = "RdBu_r", "viridis"


def is_signed(data: Any) -> bool:
    """True when the finite values of ``data`` take both signs (a diverging map applies)."""
    finite = np.asarray(data, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size) and finite.min() < 0 < finite.max()


def robust_limits(
    data: Any, *, signed: bool, percentile: float = ROBUST_PERCENTILE
) -> tuple[float, float]:
    """Colour limits that one outlier cannot set: percentiles of the finite values.

    Parameters
    ----------
    data : array
        Values to map (NaN and inf are ignored).
    signed : bool
        Symmetric limits ``±P(|data|)`` (for a diverging map centred on 0),
        else ``(P₁₀₀₋ₚ(data), Pₚ(data))``.
    percentile : float
        ``P`` (default 99).

    Returns
    -------
    (float, float)
        ``lo < hi`` (a constant or empty input gets a unit-wide range).
    """
    finite = np.asarray(data, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    if signed:
        peak = float(np.percentile(np.abs(finite), percentile)) or float(np.abs(finite).max())
        return (-peak, peak) if peak > 0 else (-1.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [100.0 - percentile, percentile]))
    return (lo, hi) if lo < hi else (lo - 0.5, lo + 0.5)


def make_norm(norm: str, vmin: float, vmax: float, vcenter: float = 0.0) -> mcolors.Normalize:
    """Build a matplotlib normalisation.

    Parameters
    ----------
    norm : {"TS", "N", "LOG"}
        Two-slope around ``vcenter``, linear, or logarithmic (clipped).
    vmin, vmax : float
        Colour limits; for ``"TS"`` they must bracket ``vcenter``; for ``"LOG"``
        they must be positive.
    vcenter : float
        Centre of the two-slope normalisation.
    """
    check_option("norm", norm, NORMS)
    if not vmin < vmax:
        raise LaminarrayError(f"`vmin` must be smaller than `vmax`, got {vmin} and {vmax}")
    if norm == "TS":
        if not vmin < vcenter < vmax:
            raise LaminarrayError(
                f"`vcenter` must lie strictly between vmin and vmax for norm='TS'; "
                f"got vmin={vmin}, vcenter={vcenter}, vmax={vmax}"
            )
        return mcolors.TwoSlopeNorm(vcenter=vcenter, vmin=vmin, vmax=vmax)
    if norm == "N":
        return mcolors.Normalize(vmin=vmin, vmax=vmax)
    if vmin <= 0:
        raise LaminarrayError(f"norm='LOG' needs vmin > 0, got {vmin}")
    return mcolors.LogNorm(vmin=vmin, vmax=vmax, clip=True)


def data_to_rgb(
    data: Any,
    n_bins: int,
    cmap: str | mcolors.Colormap,
    vmin: float,
    vmax: float,
    vcenter: float = 0.0,
    norm: str = "TS",
    ret_map: bool = False,
) -> np.ndarray | tuple[np.ndarray, ScalarMappable]:
    """Map values to RGBA colours, binned as laMEG does.

    Parameters
    ----------
    data : array, shape (n,)
        Values; NaN maps to transparent ``(0, 0, 0, 0)``.
    n_bins : int
        Number of equal bins over the finite data range; each value takes the
        colour of its bin's upper edge.
    cmap : str or Colormap
    vmin, vmax, vcenter, norm
        See :func:`make_norm`.
    ret_map : bool
        Also return the ScalarMappable (for a colourbar).

    Returns
    -------
    rgba : ndarray, shape (n, 4), float in [0, 1]
    mappable : ScalarMappable, when ``ret_map``
    """
    values = np.asarray(data, dtype=np.float64).ravel()
    mappable = ScalarMappable(
        norm=make_norm(norm, vmin, vmax, vcenter),
        cmap=mpl.colormaps[cmap] if isinstance(cmap, str) else cmap,
    )
    rgba = np.zeros((values.size, 4))
    finite = np.isfinite(values)
    if finite.any():
        edges = np.histogram_bin_edges(values[finite], bins=int(n_bins))
        upper = np.clip(np.searchsorted(edges, values[finite], side="right"), 1, edges.size - 1)
        rgba[finite] = mappable.to_rgba(edges[upper])
    return (rgba, mappable) if ret_map else rgba


def color_map(
    data: Any,
    cmap: str | mcolors.Colormap,
    vmin: float,
    vmax: float,
    n_bins: int = 1000,
    vcenter: float = 0.0,
    norm: str = "TS",
) -> tuple[np.ndarray, ScalarMappable]:
    """RGB colours as integers 0-255, shape (n, 3), and the ScalarMappable (laMEG's ``color_map``)."""
    rgba, mappable = data_to_rgb(data, n_bins, cmap, vmin, vmax, vcenter, norm, ret_map=True)
    return (rgba[:, :3] * 255).astype(np.int64), mappable


def to_hex(rgb: Any) -> list[str]:
    """Hex strings ``"#rrggbb"`` from integer RGB rows (0-255), shape (n, 3)."""
    values = np.asarray(rgb)
    if values.ndim != 2 or values.shape[1] != 3 or values.min() < 0 or values.max() > 255:
        raise LaminarrayError(f"`rgb` must be integers 0-255 of shape (n, 3), got {values.shape}")
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in values.astype(int)]
