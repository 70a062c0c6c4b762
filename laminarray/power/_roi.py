"""laMEG's ROI power comparison as one fused dask graph (design note lameg §1.1)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .. import schema
from .._compute import active_client
from .._compute import compute as _compute
from .._validation import LaminarrayError, check_option
from ..plausibility import check_amplitude, check_trials
from ..schema import validate_sensor
from ..schema.selection import layer_names
from ..stats import ttest_rel_corrected
from ._staging import stage_trials
from ._window import window_power

__all__ = ["roi_power"]

ROI_MODES = ("threshold", "restrict_threshold", "direct")
CHANGES = ("difference", "relative")


def _changes(power: xr.DataArray) -> dict[str, xr.DataArray]:
    """Per-(layer, vertex, trial) difference and relative change (0 where the baseline is 0)."""
    woi = power.sel(window="woi", drop=True)
    base = power.sel(window="baseline", drop=True)
    difference = (woi - base).assign_attrs(units=power.attrs["units"])
    relative = (difference / base.where(base != 0)).fillna(0).assign_attrs(units="1")
    return {"difference": difference, "relative": relative}


def _layerwise_ttest(values: xr.DataArray) -> xr.Dataset:
    """Corrected t-test over trials with one variance correction per layer (over its vertices)."""
    return ttest_rel_corrected(
        values, "trial", correction_dims=[d for d in values.dims if d not in ("layer", "trial")]
    )


def _thresholds(t_map: np.ndarray, perc_thresh: float) -> np.ndarray:
    """numpy's (linear) percentile of each layer's t-map, shape (L, 1)."""
    return np.percentile(t_map, perc_thresh, axis=1)[:, None]


def _roi_mask(t_map: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Vertices whose t exceeds (strictly) their layer's threshold on any layer."""
    mask = (t_map > thresholds).any(axis=0)
    if not mask.any():
        raise LaminarrayError(
            "the ROI is empty: no vertex has a t-value above the percentile threshold "
            f"(thresholds {thresholds.ravel().tolist()}); lower `perc_thresh` or check the windows"
        )
    return mask


def _select_roi(t_map: xr.DataArray, perc_thresh: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Lazy percentile thresholds (layer) and ROI mask (vertex) from the t-maps."""
    t = da.asarray(t_map.data).rechunk(-1)
    thr = t.map_blocks(_thresholds, perc_thresh, chunks=((t.shape[0],), (1,)), dtype=t.dtype)
    mask = da.map_blocks(
        _roi_mask, t, thr, drop_axis=0, chunks=((t.shape[1],),), dtype=bool, token="roi-mask"
    )
    return (
        xr.DataArray(thr[:, 0], dims="layer", coords={"layer": t_map["layer"]}),
        xr.DataArray(mask, dims="vertex", coords={"vertex": t_map["vertex"]}),
    )


def _laminar_test(roi_change: xr.DataArray, reference: str) -> xr.Dataset:
    """Corrected t-test of |ROI change| of each layer minus that of ``reference``, over trials.

    Two layers give scalars; more give a ``layer`` profile whose reference entry is NaN.
    """
    magnitude = abs(roi_change).reset_coords(drop=True)
    others = [name for name in magnitude["layer"].values if name != reference]
    diff = magnitude.sel(layer=others) - magnitude.sel(layer=reference, drop=True)
    result = _layerwise_ttest(diff).reset_coords(drop=True)
    if len(others) == 1:
        result = result.squeeze("layer", drop=True)
    else:
        result = result.reindex(layer=magnitude["layer"].values)
    result.attrs = {"contrast": f"|layer change| - |{reference} change|", "reference": reference}
    return result


def _summarise(
    changes: dict[str, xr.DataArray],
    t_map: xr.DataArray,
    *,
    change: str,
    map_change: str,
    roi_mode: str,
    perc_thresh: float,
    reference: str,
) -> dict[str, tuple[xr.DataArray, str, str | None]]:
    """ROI selection, ROI-mean changes and the laminar test from the changes and t-maps."""
    if roi_mode == "direct":
        threshold = xr.full_like(t_map.isel(vertex=0, drop=True), np.nan)
        mask = xr.DataArray(
            np.ones(t_map.sizes["vertex"], bool), dims="vertex", coords={"vertex": t_map["vertex"]}
        )
    else:
        threshold, mask = _select_roi(t_map, perc_thresh)
    roi_change = changes[change].where(mask, 0).sum("vertex") / mask.sum()
    laminar = _laminar_test(roi_change, reference)
    return {
        "t_map": (t_map, f"vertex-wise corrected t of the {map_change} change", "1"),
        "threshold": (threshold, f"{perc_thresh} percentile of t_map", "1"),
        "roi": (mask, "region of interest", None),
        "roi_change": (
            roi_change,
            f"ROI-mean {change} power change",
            changes[change].attrs["units"],
        ),
        **{
            name: (laminar[name], laminar[name].attrs["long_name"], "1")
            for name in ("t", "p", "df")
        },
    }


def _candidates(projector: xr.DataArray, roi: Any, roi_mode: str) -> np.ndarray | None:
    """Vertex labels whose power is computed (None = all)."""
    if roi_mode == "threshold":
        if roi is not None:
            raise LaminarrayError(
                "`roi` is not used with roi_mode='threshold' (laMEG 0.2.1 silently ignores it); "
                "pass roi_mode='restrict_threshold' to threshold within it or 'direct' to use it"
            )
        return None
    if roi is None:
        raise LaminarrayError(f"roi_mode={roi_mode!r} needs `roi` (vertex labels or a mask)")
    labels = np.asarray(projector["vertex"].values)
    values = labels[schema.resolve_roi(roi, None, labels, within="inverse")]
    if values.size == 0:
        raise LaminarrayError("`roi` must be a non-empty set of vertex labels of the inverse")
    return np.unique(values)


def roi_power(
    sensor: xr.Dataset,
    inverse: xr.Dataset | xr.DataArray,
    woi: Sequence[float],
    baseline: Sequence[float],
    *,
    measure: str = "envelope",
    change: str = "difference",
    map_change: str = "difference",
    perc_thresh: float = 75.0,
    roi_mode: str = "threshold",
    roi: Any = None,
    layers: Any = ("pial", "white"),
    reference: str | None = None,
    algorithm: str = "auto",
    uncovered: str = "drop",
    vertex_chunk: int | None = None,
    trial_chunk: int | None = None,
    compute: bool = True,
    progress: bool | None = None,
    stage_to_disk: bool | None = None,
    scratch: str | None = None,
) -> xr.Dataset:
    """laMEG's ROI power comparison: which layer's power changes most, trial by trial.

    Steps (laMEG ``roi_power_comparison``, design note lameg §1.1), all in one dask
    graph that never materialises the source estimate:

    1. power of every source and trial in ``woi`` and ``baseline``
       (:func:`window_power`: fused projection + reduction per block);
    2. change per (layer, vertex, trial): ``difference`` = woi - baseline,
       ``relative`` = (woi - baseline) / baseline (0 where the baseline is 0);
    3. vertex-wise t-maps: :func:`~laminarray.stats.ttest_rel_corrected` of the
       ``map_change`` over trials, layer by layer (the variance correction uses
       that layer's candidate vertices);
    4. ROI (``threshold``, ``restrict_threshold``): candidate vertices whose t
       is strictly greater than the ``perc_thresh`` percentile (numpy linear)
       of their layer's t-map, on any of the selected layers; ``direct``: the
       given ``roi``;
    5. per-trial ROI change: mean of the ``change`` over the ROI vertices;
    6. laminar test: corrected t-test over trials of ``|R_layer| - |R_reference|``
       (``|mean|`` of the ROI change), for every selected layer but the reference.

    laMEG 0.2.1 is ``measure="envelope", change="difference"`` (the defaults);
    laMEG <= 0.1.x is ``measure="variance", change="relative"`` (t-maps still on
    the difference, as both versions do).

    Parameters
    ----------
    sensor : xarray.Dataset
        Sensor data ``data (channel, time, trial)`` (fT), epoched, >= 2 trials.
    inverse : xarray.Dataset or xarray.DataArray
        Inverse dataset or projector ``(layer, vertex, channel)`` (nAm/fT).
    woi, baseline : (float, float)
        Window of interest and baseline in s, half-open ``[t0, t1)``.
    measure : {"envelope", "variance"}
        Mean Hilbert amplitude or population variance in each window.
    change : {"difference", "relative"}
        Change used for the ROI summaries and the laminar test.
    map_change : {"difference", "relative"}
        Change used for the vertex-wise t-maps (laMEG: difference).
    perc_thresh : float
        Percentile (0-100) of each t-map above which a vertex enters the ROI.
    roi_mode : {"threshold", "restrict_threshold", "direct"}
        Threshold all vertices, threshold within ``roi``, or use ``roi`` as is.
    roi : array of vertex labels or bool mask over ``vertex``, optional
        Required by ``restrict_threshold`` and ``direct``.
    layers : "all", or sequence of layer names
        Layers compared; default laMEG's ``("pial", "white")``. With more than
        two, the result is a depth profile (each layer against ``reference``),
        and the ROI is the union over all their t-maps.
    reference : str, optional
        Layer subtracted in the laminar test (default the last of ``layers``).
    algorithm, uncovered, vertex_chunk, trial_chunk
        See :func:`window_power`. ``uncovered="zero"`` reproduces laMEG 0.2.1
        when SPM's inversion window dropped the epoch's last sample.
    compute : bool
        Compute now (default) and return a numpy-backed Dataset; False returns
        the lazy Dataset (nothing computed; an empty ROI raises at compute time).
    progress : bool, optional
        Show a progress bar while computing (distributed's when a Client is
        active, dask's otherwise); default
        :func:`laminarray.options.show_progress`.
    stage_to_disk : bool, optional
        With ``compute``: write the per-(layer, vertex, trial) changes to a
        temporary Zarr store one trial chunk at a time, then derive the
        t-maps, ROI and summaries from it in two streaming passes, so that
        peak memory does not grow with the number of trials. Default: on,
        unless a ``dask.distributed`` Client is active (then one graph runs on
        the cluster).
    scratch : str, optional
        Directory for the temporary store (default the system's temporary
        directory); on a multi-machine cluster it must be shared.

    Returns
    -------
    xarray.Dataset
        ``t_map (layer, vertex)`` over the candidate vertices, ``threshold
        (layer)`` (NaN in direct mode), ``roi (vertex)`` bool, ``roi_change
        (layer, trial)``, and the laminar test ``t``, ``p`` (two-sided),
        ``df``: scalars for two layers (positive t: larger absolute change in
        the first layer), dim ``layer`` (every layer but the reference) for a
        profile. attrs record every setting.

    Raises
    ------
    LaminarrayError
        Bad option, ``roi`` missing/unknown/given in threshold mode, windows
        without samples, fewer than two layers, or (at compute) an empty ROI.
    """
    check_option("roi_mode", roi_mode, ROI_MODES)
    check_option("change", change, CHANGES)
    check_option("map_change", map_change, CHANGES)
    if not 0 <= float(perc_thresh) <= 100:
        raise LaminarrayError(f"`perc_thresh` must be in [0, 100], got {perc_thresh!r}")
    sensor = validate_sensor(sensor)
    check_amplitude(sensor, lazy_ok=compute)
    check_trials(sensor.sizes["trial"], 2, "roi_power (a t-test over trials)")
    projector = schema.as_projector(inverse, layers=layers)
    names = layer_names(projector)
    if len(names) < 2:
        raise LaminarrayError(f"`layers` must name at least two layers to compare, got {names}")
    reference = names[-1] if reference is None else reference
    check_option("reference", reference, names)
    vertices = _candidates(projector, roi, roi_mode)
    power = window_power(
        sensor,
        inverse,
        woi,
        baseline,
        measure=measure,
        layers=names,
        vertices=vertices,
        algorithm=algorithm,
        uncovered=uncovered,
        vertex_chunk=vertex_chunk,
        trial_chunk=trial_chunk,
    )
    changes = _changes(power)
    options: dict[str, Any] = {
        "change": change,
        "map_change": map_change,
        "roi_mode": roi_mode,
        "perc_thresh": float(perc_thresh),
        "reference": reference,
    }
    stage = compute and (stage_to_disk if stage_to_disk is not None else active_client() is None)
    with contextlib.ExitStack() as stack:
        if stage:
            directory = stack.enter_context(
                tempfile.TemporaryDirectory(dir=scratch, prefix="laminarray-roi-power-")
            )
            needed = {name: changes[name] for name in {change, map_change}}
            changes = stage_trials(needed, directory, progress=progress)
            (t_map,) = _compute(_layerwise_ttest(changes[map_change])["t"], progress=progress)
        else:
            t_map = _layerwise_ttest(changes[map_change])["t"]
        variables = _summarise(changes, t_map, **options)
        coords = {
            name: coord for name, coord in power.coords.items() if "window" not in coord.dims
        }
        result = xr.Dataset(
            {
                name: var.reset_coords(drop=True).assign_attrs(
                    long_name=long_name, **({"units": units} if units else {})
                )
                for name, (var, long_name, units) in variables.items()
            },
            coords=coords,
            attrs={
                "analysis": "roi_power",
                "measure": measure,
                "change": change,
                "map_change": map_change,
                "perc_thresh": float(perc_thresh),
                "roi_mode": roi_mode,
                "layers": names,
                "windows": "half-open [start, end) in s",
                "uncovered": uncovered,
                **{k: v for k, v in power.attrs.items() if k in ("woi", "baseline")},
                "contrast": f"|layer change| - |{reference} change|",
                "reference": reference,
            },
        )
        if compute:
            (result,) = _compute(result, progress=progress)
    return result
