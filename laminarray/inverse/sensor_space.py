"""The reduced sensor space of an inversion: modalities, their scaling, spatial modes.

Design note ``docs/design/spm_inversion.md`` §1.7-§1.9.

One modality (every laMEG inversion) uses SPM's single-modality reduction
unchanged (``spm_eeg_invert_classic``): spatial modes of the gain, one
sensor-noise component.

Several modalities (Neuromag magnetometers in fT with planar gradiometers in
fT/mm; MEG with EEG) are fused as SPM's multimodal ``spm_eeg_invert`` does:

- each modality ``m`` gets its own spatial modes ``A_m`` (from its own gain
  ``L_m``) and the modes are stacked block-diagonally;
- its reduced lead field ``A_m·L_m`` is divided by
  ``s_m = √(tr(A_m L_m L_mᵀ A_mᵀ)/N_m)`` (``N_m`` modes), and its data by
  ``d_m = √(tr(YY_m)/(N_m·N))``, ``YY_m`` the band-limited (and, with
  ``hann``, tapered) temporal Gram of ``A_m·Y`` summed over the ``N``
  samples of every trial in the window, so that every modality enters with
  unit power per mode;
- each modality has its own sensor-noise component (i.i.d. over its modes),
  so ReML estimates one noise level per modality.

SPM also multiplies each modality's data by the sign of its mean response's
correlation with the first modality's through the lead fields; laminarray
does not, since flipping the sign of one modality's data but not its lead
field contradicts the generative model. Because data and lead fields are
scaled by different factors, the fitted sources are in units of
``d_m/s_m`` nAm; the projector is multiplied back by the geometric mean of
``d_m/s_m`` over modalities (exact when the modalities agree on the source
amplitude), which leaves the free energy unchanged.

When the data are rank deficient (:mod:`.rank`), the spatial modes are
computed inside the data's signal subspace instead: ``A = A_p·Pᵀ`` with
``P`` the subspace basis and ``A_p`` the modes of the projected (scaled)
gain ``Pᵀ·L``. With one modality the inversion is then exactly the
inversion of the projected data ``Pᵀ·Y`` with the projected gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from .modes import dct_band, hanning, project, spatial_modes
from .rank import DataRank

#: Channel types of one modality (SPM's modality names).
MODALITIES = {
    "MEG": "MEG",
    "MEGMAG": "MEG",
    "MEGGRAD": "MEG",
    "MEGPLANAR": "MEGPLANAR",
    "EEG": "EEG",
}


def channel_modality(ch_types: Any) -> np.ndarray:
    """SPM modality of each channel type (``MEGMAG``/``MEGGRAD`` are ``MEG``).

    Unknown types keep their own name (each a modality of its own).
    """
    return np.array([MODALITIES.get(str(t).upper(), str(t).upper()) for t in ch_types])


@dataclass(frozen=True)
class SensorSpace:
    """Spatial reduction of one forward model on one set of channels.

    Attributes
    ----------
    modes : ndarray, shape (n_modes, n_channels)
        Orthonormal spatial modes ``A``.
    modalities : tuple of str
        Modalities, in block order.
    rows : tuple of ndarray of int
        Channel positions of each modality.
    modality_modes : tuple of ndarray
        Each modality's own modes ``A_m`` (for its scales).
    gain_scale : ndarray, shape (n_modalities,)
        ``s_m`` (1 for one modality).
    noise : list of ndarray, shape (n_modes, n_modes), or None
        One sensor-noise component per modality (None: the single
        component ``A·Aᵀ/tr`` of the classic inversion).
    rank : int or None
        Data rank when the modes were restricted to the signal subspace.
    """

    modes: np.ndarray
    modalities: tuple[str, ...]
    rows: tuple[np.ndarray, ...]
    modality_modes: tuple[np.ndarray, ...]
    gain_scale: np.ndarray
    noise: list[np.ndarray] | None
    rank: int | None = None
    channel_gain: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        weights = np.ones(self.modes.shape[1])
        for rows, scale in zip(self.rows, self.gain_scale, strict=True):
            weights[rows] = 1.0 / scale
        object.__setattr__(self, "channel_gain", weights)

    @property
    def mixed(self) -> bool:
        """Whether several modalities are fused."""
        return len(self.modalities) > 1

    def lead_modes(self) -> np.ndarray:
        """``A·diag(1/s)``: the projector applied to the gain."""
        return self.modes * self.channel_gain

    def data_scale(
        self,
        data: Any,
        samples: np.ndarray,
        times: np.ndarray,
        *,
        foi: tuple[float, float],
        hann: bool,
    ) -> np.ndarray:
        """Each modality's data scale ``d_m`` in a window (ones for one modality).

        Parameters
        ----------
        data : ndarray or dask array, shape (n_channels, n_times, n_trials)
            The channels of this space.
        samples : ndarray of int
            Window sample indices.
        times : ndarray, shape (n_times,)
            Seconds.
        """
        if not self.mixed:
            return np.ones(1)
        window = data[:, samples[0] : samples[-1] + 1, :]
        taper = hanning(samples.size) if hann else np.ones(samples.size)
        temporal = taper[:, None] * dct_band(1000.0 * times[samples], foi)
        n = samples.size * data.shape[2]
        out = []
        for rows, modes in zip(self.rows, self.modality_modes, strict=True):
            reduced = project(window[rows], modes, temporal)
            out.append(math.sqrt(float(np.sum(reduced**2)) / (modes.shape[0] * n)))
        return np.asarray(out)

    def data_modes(self, data_scale: np.ndarray) -> np.ndarray:
        """``A·diag(1/d)``: the projector applied to the data."""
        if not self.mixed:
            return self.modes
        weights = np.ones(self.modes.shape[1])
        for rows, scale in zip(self.rows, data_scale, strict=True):
            weights[rows] = 1.0 / scale
        return self.modes * weights

    def source_scale(self, data_scale: np.ndarray) -> float:
        """Geometric mean of ``d_m/s_m``: fitted sources -> source units."""
        if not self.mixed:
            return 1.0
        return float(np.exp(np.mean(np.log(data_scale / self.gain_scale))))

    def channel_factor(self, data_scale: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """``(d_m/s_m)/source_scale`` for channels of the given modalities.

        It converts the gain's prediction from sources to each channel's data
        (ones for one modality).
        """
        factor = np.ones(len(modality))
        if self.mixed:
            ratio = data_scale / self.gain_scale / self.source_scale(data_scale)
            for name, value in zip(self.modalities, ratio, strict=True):
                factor[modality == name] = value
        return factor


def sensor_space(
    gain: np.ndarray,
    modality: np.ndarray,
    n_modes: str | int,
    rank: DataRank | None = None,
    channels: np.ndarray | None = None,
) -> SensorSpace:
    """Spatial modes, modality scales and noise components of one forward model.

    Parameters
    ----------
    gain : ndarray, shape (n_channels, n_sources)
        The gain rows of the channels used.
    modality : ndarray of str, shape (n_channels,)
    n_modes : "all", "auto" or int
        As :func:`.modes.spatial_modes` (per modality; within the signal
        subspace when the data are rank deficient).
    rank : DataRank, optional
        The data rank; restricts the modes to the signal subspace when
        deficient.
    channels : ndarray of int, optional
        Positions of the used channels within ``rank``'s channels.
    """
    names = tuple(dict.fromkeys(modality.tolist()))
    rows = tuple(np.flatnonzero(modality == name) for name in names)
    if len(names) == 1:
        own = (spatial_modes(gain, n_modes),) if rank is None or not rank.deficient else ()
        scales = np.ones(1)
    else:
        own = tuple(spatial_modes(gain[r], n_modes) for r in rows)
        scales = np.array(
            [
                math.sqrt(float(np.sum((a @ gain[r]) ** 2)) / a.shape[0])
                for a, r in zip(own, rows, strict=True)
            ]
        )
    weights = np.ones(gain.shape[0])
    for r, s in zip(rows, scales, strict=True):
        weights[r] = 1.0 / s
    if rank is not None and rank.deficient:
        basis = rank.subspace(channels)
        inner = spatial_modes(basis.T @ (weights[:, None] * gain), _capped(n_modes, basis))
        modes = inner @ basis.T
        used_rank: int | None = basis.shape[1]
        if len(names) == 1:
            own = (modes,)
    else:
        modes = own[0] if len(own) == 1 else scipy.linalg.block_diag(*own)
        if len(own) > 1:
            order = np.concatenate(rows)
            placed = np.zeros_like(modes)
            placed[:, order] = modes
            modes = placed
        used_rank = None
    noise = None
    if len(names) > 1:
        noise = [(modes[:, r] @ modes[:, r].T) for r in rows]
    return SensorSpace(modes, names, rows, own, scales, noise, used_rank)


def _capped(n_modes: str | int, basis: np.ndarray) -> str | int:
    """An int number of modes is capped at the subspace's dimension."""
    if isinstance(n_modes, str):
        return n_modes
    return min(int(n_modes), basis.shape[1])
