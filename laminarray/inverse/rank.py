"""Rank of the sensor data and their signal subspace (design note §1.9).

Recordings whose channels were projected (SSS/Maxfilter, SSP projectors,
ICA cleaning, an average reference) occupy a subspace of fewer dimensions
than they have channels: Neuromag data after SSS have rank ~70 for 306
channels. An inversion that keeps more spatial modes than the data have
dimensions models the empty directions as sensor noise of almost zero
power, which inflates the free energy and its differences between forward
models by orders of magnitude. The inversions therefore find the rank,
restrict the spatial modes to the data's signal subspace and record it.

The rank comes from, in order: the ``rank`` of the inversion settings, the
``rank`` attribute of the sensor data (what MNE's
``mne.compute_rank(inst, rank="info")`` reports from the SSS records and
projectors: an int or a mapping of channel kind to rank such as
``{"meg": 69}``), or the eigen-spectrum of the data: the number of singular
values of the channel-normalised data above ``RANK_TOLERANCE`` times the
largest. Data stored as float32 (most acquisition formats) have a rounding
floor near 1e-7 relative; sensor noise in a shielded room lies orders of
magnitude above 1e-6 relative to the strongest component.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from .._validation import LaminarrayError

logger = logging.getLogger(__name__)

#: Relative singular-value tolerance of the data-driven rank.
RANK_TOLERANCE = 1e-6

#: Keys of MNE's ``compute_rank`` mapping that count MEG channels.
MEG_RANK_KEYS = ("meg", "mag", "grad", "ref_meg")

#: Bytes of data converted per block of trials when summing the covariance.
BLOCK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class DataRank:
    """Rank of the sensor data and what is needed to find its subspace.

    Attributes
    ----------
    rank : int
        Number of dimensions the data occupy.
    source : str
        ``"settings"``, ``"attrs"`` or ``"eigen-spectrum"``.
    covariance : ndarray, shape (n_channels, n_channels)
        ``Σ Y·Yᵀ`` over every sample and trial, channels normalised by
        ``channel_scale``.
    channel_scale : ndarray, shape (n_channels,)
        Per-channel normalisation (the inverse RMS of the channel's modality),
        so that modalities in different units weigh alike.
    """

    rank: int
    source: str
    covariance: np.ndarray
    channel_scale: np.ndarray

    @property
    def n_channels(self) -> int:
        """Number of channels analysed."""
        return int(self.covariance.shape[0])

    @property
    def deficient(self) -> bool:
        """Whether the data have fewer dimensions than channels."""
        return self.rank < self.n_channels

    def subspace(self, channels: np.ndarray | None = None) -> np.ndarray:
        """Orthonormal basis of the signal subspace (in normalised channel units).

        Parameters
        ----------
        channels : ndarray of int, optional
            Positions of the channels to use (a cross-validation training
            set); default all.

        Returns
        -------
        ndarray, shape (n_used, rank_used)
            The top eigenvectors of the normalised covariance; ``rank_used``
            is the rank, at most the data-driven rank of the subset.
        """
        cov = self.covariance
        if channels is not None:
            cov = cov[np.ix_(channels, channels)]
        values, vectors = np.linalg.eigh(cov)
        values, vectors = values[::-1], vectors[:, ::-1]
        kept = min(self.rank, _count_above(values))
        return vectors[:, :kept]


def data_rank(
    data: Any,
    modality: np.ndarray,
    *,
    rank: Any = "auto",
    attrs: Mapping[str, Any] | None = None,
) -> DataRank | None:
    """Rank of sensor data and the statistics of their signal subspace.

    Parameters
    ----------
    data : ndarray or dask array, shape (n_channels, n_times, n_trials)
    modality : ndarray of str, shape (n_channels,)
        Modality of each channel (channels of one modality share a scale).
    rank : "auto", "full" or int
        ``"auto"``: the sensor data's ``rank`` attribute if present, else
        the eigen-spectrum; ``"full"``: no rank analysis (returns None); an
        int: that rank.
    attrs : mapping, optional
        Attributes of the sensor dataset.

    Returns
    -------
    DataRank or None
        None for ``rank="full"``.
    """
    if isinstance(rank, str) and rank == "full":
        return None
    n_channels = data.shape[0]
    covariance = _covariance(data)
    scale = _modality_scale(covariance, modality)
    covariance = covariance * np.outer(scale, scale)
    if not isinstance(rank, str):
        found, source = int(rank), "settings"
    elif attrs is not None and attrs.get("rank") is not None:
        found, source = _rank_from_attrs(attrs["rank"], modality), "attrs"
    else:
        found = _count_above(np.linalg.eigvalsh(covariance))
        source = "eigen-spectrum"
        n_samples = data.shape[1] * data.shape[2]
        if found >= min(n_channels, n_samples):
            found = n_channels  # no deficiency visible (or limited by the sample count)
    found = min(found, n_channels)
    if found < n_channels:
        logger.info(
            "sensor data have rank %d for %d channels (%s): the spatial modes are restricted "
            "to the %d-dimensional signal subspace",
            found,
            n_channels,
            source,
            found,
        )
    return DataRank(found, source, covariance, scale)


def _count_above(values: np.ndarray) -> int:
    """Number of eigenvalues whose square root exceeds ``RANK_TOLERANCE`` of the largest."""
    top = values.max(initial=0.0)
    if top <= 0:
        return 0
    return int(np.sum(np.sqrt(np.clip(values, 0.0, None) / top) > RANK_TOLERANCE))


def _rank_from_attrs(value: Any, modality: np.ndarray) -> int:
    """An int, or MNE's ``{kind: rank}`` summed over the kinds present."""
    if isinstance(value, Mapping):
        meg = any(m.startswith("MEG") for m in modality)
        eeg = any(m == "EEG" for m in modality)
        keys = [k for k in value if (meg and k in MEG_RANK_KEYS) or (eeg and k == "eeg")]
        if not keys:
            raise LaminarrayError(
                f"sensor attrs `rank` = {dict(value)!r} names none of the channel kinds "
                f"inverted ({sorted(set(modality.tolist()))})"
            )
        return int(sum(int(value[k]) for k in keys))
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise LaminarrayError(
            f"sensor attrs `rank` must be a positive int or a mapping of channel kind to rank "
            f"(as mne.compute_rank returns); got {value!r}"
        )
    return int(value)


def _covariance(data: Any) -> np.ndarray:
    """``Σ_k Y_k·Y_kᵀ`` over every trial, float64 (dask data chunk-wise)."""
    if isinstance(data, da.Array):
        rows = data.astype(np.float64)
        return np.asarray(da.einsum("ctk,dtk->cd", rows, rows).compute(), dtype=np.float64)
    n_channels, n_times, n_trials = data.shape
    out = np.zeros((n_channels, n_channels))
    step = max(1, BLOCK_BYTES // max(1, n_channels * n_times * 8))
    for start in range(0, n_trials, step):
        block = np.asarray(data[:, :, start : start + step], dtype=np.float64)
        flat = block.reshape(n_channels, -1)
        out += flat @ flat.T
    return out


def _modality_scale(covariance: np.ndarray, modality: np.ndarray) -> np.ndarray:
    """Inverse RMS of each channel's modality (1 where a modality is silent)."""
    power = np.diag(covariance)
    scale = np.ones(power.size)
    for name in np.unique(modality):
        rows = modality == name
        mean = power[rows].mean()
        if mean > 0:
            scale[rows] = 1.0 / np.sqrt(mean)
    return scale
