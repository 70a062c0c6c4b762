"""Empirical Bayesian beamformer (EBB) inversion, SPM's ``'EBB'`` as laMEG drives it."""

from __future__ import annotations

from typing import Any

import xarray as xr

from ._run import invert
from .settings import InversionSettings

#: Shared parameter documentation of the inversion functions.
PARAMETERS = """
    sensor : xarray.Dataset
        Sensor data ``data (channel, time, trial)`` (numpy or dask; fT). Channels
        flagged ``bad`` are left out; every trial is used. Several modalities
        (``ch_type`` ``MEG``/``MEGMAG``/``MEGGRAD``, ``MEGPLANAR``, ``EEG``) are
        fused with SPM's per-modality scaling and noise components
        (:mod:`laminarray.inverse.sensor_space`).
    gain : xarray.DataArray
        Fixed-orientation gain ``(channel, layer, vertex)`` (fT/nAm) containing
        every good sensor channel.
    mesh : xarray.Dataset, optional
        The multilayer mesh of ``gain``: the patch (smoothing) operator is its
        geodesic Gaussian of FWHM ``patch_size`` within each layer.
    smoothing : sparse matrix, optional
        An explicit patch operator instead (e.g. SPM's ``QG``): sources x sources
        on the layer-major flat axis of the (selected) gain, or vertices x
        vertices, used for every layer. Columns are patches.
    patch_size : float
        Patch FWHM in mm (laMEG ``patch_size``, default 5).
    n_spatial_modes : "all", "auto" or int
        Spatial reduction (default laMEG's ``"auto"``); use ``"all"`` to compare
        free energies between forward models.
    n_temp_modes : int
        Temporal modes (default 4; 0 = automatic).
    foi : (float, float)
        Frequency band, Hz (default (0, 256); edges truncated to integers).
    woi : (float, float), optional
        Time window, seconds (default the whole epoch; SPM truncates edges to
        whole milliseconds).
    hann : bool
        Hann-taper the data covariance that selects the temporal modes.
    n_folds, ideal_pc_test : int, float
        Cross-validation folds and percentage of held-out channels (default
        1 and 0: no cross-validation, ``cv_error`` NaN).
    layer : str, optional
        Invert on this layer of ``gain`` only.
    seed : int
        Seed of the random channel split (SPM's is unseeded).
    rank : "auto", "full" or int
        Rank of the sensor data: ``"auto"`` (default) reads the data's ``rank``
        attribute (MNE's SSS/projector records) or else counts the singular
        values above 1e-6 of the largest, and restricts the spatial modes to
        the signal subspace when there are fewer dimensions than channels
        (attrs ``data_rank``, ``data_rank_source``); ``"full"`` skips the
        analysis (laMEG); an int imposes the rank.
    progress : bool, optional
        Report the folds and stages on stderr (default
        :func:`laminarray.options.show_progress`).
"""

RETURNS = """
    xarray.Dataset
        The inverse dataset: ``projector (layer, vertex, channel)`` (M·A, source
        units per sensor unit, float64; held-out channels of the last fold get
        zero weight), ``free_energy`` (SPM's F of the final ReML; mean over folds
        with ``fold_free_energy (fold)`` when cross-validating), ``accuracy`` and
        ``complexity`` (F = accuracy − complexity), ``cv_error`` (mean RMS
        prediction error of held-out channels, sensor units; NaN without
        cross-validation — laMEG returns a placeholder), ``spatial_modes (mode,
        channel)``, ``temporal_projector (time, temporal_mode)``,
        ``hyperparameters (component)``, ``prior_variance``/``posterior_variance
        (layer, vertex)``; every setting in attrs, with ``modalities``,
        ``data_rank``/``data_rank_source`` and, for fused modalities, their
        ``modality_data_scale``, ``modality_gain_scale`` and ``source_scale``
        (one noise component ``noise_<modality>`` each). Computed eagerly (the result is
        small compared with the data; dask sensor data are reduced chunk-wise).
"""


def invert_ebb(
    sensor: xr.Dataset,
    gain: xr.DataArray,
    mesh: xr.Dataset | None = None,
    *,
    smoothing: Any = None,
    patch_size: float = 5.0,
    n_spatial_modes: str | int = "auto",
    n_temp_modes: int = 4,
    foi: tuple[float, float] = (0.0, 256.0),
    woi: tuple[float, float] | None = None,
    hann: bool = False,
    n_folds: int = 1,
    ideal_pc_test: float = 0.0,
    layer: str | None = None,
    seed: int = 0,
    rank: str | int = "auto",
    progress: bool | None = None,
) -> xr.Dataset:
    """Empirical Bayesian beamformer inversion with SPM's free energy.

    The beamformer power of every patch, normalised to a maximum of 1, is the
    source prior variance; two ReML stages fit the sensor noise and prior
    scales (laMEG ``invert_ebb``; design note spm_inversion §2.2, §3.4).

    Parameters
    ----------{parameters}
    Returns
    -------{returns}
    Examples
    --------
    >>> inv = invert_ebb(sensor, gain, mesh, n_spatial_modes="all")  # doctest: +SKIP
    >>> float(inv.free_energy)  # doctest: +SKIP
    """
    settings = InversionSettings(
        method="EBB",
        patch_size=patch_size,
        n_spatial_modes=n_spatial_modes,
        n_temp_modes=n_temp_modes,
        foi=foi,
        woi=woi,
        hann=hann,
        n_folds=n_folds,
        ideal_pc_test=ideal_pc_test,
        layer=layer,
        seed=seed,
        rank=rank,
    )
    return invert(sensor, gain, mesh, smoothing, settings, progress=progress)


invert_ebb.__doc__ = (invert_ebb.__doc__ or "").format(parameters=PARAMETERS, returns=RETURNS)
