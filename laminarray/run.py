"""Configured laminar analyses on a study archive: ROI power, then the CSD of the winning column.

Used by ``laminarray run <archive>`` and by ``laminarray demo``. A run reads,
for each subject, ``/<subject>/sensor``, ``/<subject>/inverse/<name>`` and
``/<subject>/mesh``, runs :func:`laminarray.power.roi_power` and
:func:`laminarray.csd.compute_csd` on the column with the largest t inside
the ROI, and writes ``/<subject>/results/roi_power`` and
``/<subject>/results/csd``.

A configuration is a TOML file or a mapping with these optional keys::

    subjects = ["sub-01"]          # default: every subject of the archive
    inverse = "ebb"                # default: the subject's only inverse
    woi = [0.1, 0.3]               # s, half-open; default [0, end of epoch)
    baseline = [-0.2, 0.0]         # s, half-open; default [start of epoch, 0)
    measure = "envelope"           # or "variance"
    change = "difference"          # or "relative"
    perc_thresh = 75.0
    roi_mode = "threshold"
    layers = ["pial", "white"]     # or "all"
    csd_method = "KCSD1D"          # or "StandardCSD"; "none" skips the CSD
    csd_smoothing = "none"         # or an interp1d kind, e.g. "cubic"
    progress = true                # default: laminarray.options.show_progress()
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import archive
from ._validation import LaminarrayError
from .csd import compute_csd
from .power import roi_power
from .power._window import covered_samples
from .study import Subject, open_study

__all__ = [
    "DEFAULTS",
    "demo_step",
    "load_config",
    "run_analysis",
    "summarise",
    "winning_column",
]

#: Every configuration key and its default (None: derived from the data).
DEFAULTS: dict[str, Any] = {
    "subjects": None,
    "inverse": None,
    "woi": None,
    "baseline": None,
    "measure": "envelope",
    "change": "difference",
    "perc_thresh": 75.0,
    "roi_mode": "threshold",
    "layers": ["pial", "white"],
    "csd_method": "KCSD1D",
    "csd_smoothing": "none",
    "progress": None,
}


def load_config(
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Merge the defaults, a TOML file or mapping, and keyword overrides (None values ignored).

    Raises
    ------
    LaminarrayError
        Unknown keys (naming them and the allowed ones) or an unreadable file.
    """
    if config is None:
        given: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        given = dict(config)
    else:
        path = Path(config)
        try:
            given = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LaminarrayError(
                f"cannot read the analysis config {str(path)!r}: {exc}"
            ) from None
    given.update({key: value for key, value in overrides.items() if value is not None})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise LaminarrayError(f"unknown config keys {unknown}; allowed: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **given}


def _default_windows(times: np.ndarray) -> tuple[list[float], list[float]]:
    """Baseline [start, 0) and window of interest [0, end] of an epoch spanning 0 s."""
    if not times[0] < 0 <= times[-1]:
        raise LaminarrayError(
            f"the epoch runs from {times[0]:.3g} to {times[-1]:.3g} s, not across 0 s: "
            "give `woi` and `baseline` in the config"
        )
    step = float(np.median(np.diff(times)))
    return [0.0, float(times[-1]) + step], [float(times[0]), 0.0]


def winning_column(result: xr.Dataset) -> int:
    """Vertex label of the ROI column with the largest t on any compared layer."""
    t_in_roi = result["t_map"].where(result["roi"]).max("layer")
    return int(t_in_roi["vertex"].values[int(np.nanargmax(t_in_roi.values))])


def _column_thickness(mesh: xr.Dataset, vertex: int) -> float:
    """Path length pial -> white through the layers of one column (mm), as laMEG's tutorials."""
    positions = np.asarray(mesh["vertices"].sel(vertex=vertex).transpose("layer", "xyz").values)
    return float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum())


def _column_signal(sensor: xr.Dataset, inverse: xr.Dataset, vertex: int) -> xr.DataArray:
    """Trial-averaged source time series of one column on every layer, ``(layer, time)``."""
    projector = inverse["projector"].sel(vertex=vertex)
    evoked = sensor["data"].sel(channel=projector["channel"].values).mean("trial")
    evoked, basis = covered_samples(evoked, inverse.get("temporal_projector"))
    if basis is not None:
        evoked = evoked.copy(data=(evoked.values @ basis) @ basis.T)
    column = projector.dot(evoked, dim="channel")
    return column.assign_attrs(units="nAm", long_name="trial-averaged source signal").compute()


def _analyse(subject: Subject, options: dict[str, Any]) -> dict[str, xr.Dataset]:
    sensor = subject.sensor()
    inverse = subject.inverse(options["inverse"])
    woi, baseline = options["woi"], options["baseline"]
    if woi is None or baseline is None:
        default_woi, default_baseline = _default_windows(np.asarray(sensor["time"].values))
        woi, baseline = woi or default_woi, baseline or default_baseline
    layers = options["layers"]
    power = roi_power(
        sensor,
        inverse,
        woi,
        baseline,
        measure=options["measure"],
        change=options["change"],
        perc_thresh=options["perc_thresh"],
        roi_mode=options["roi_mode"],
        layers=layers if isinstance(layers, str) else list(layers),
        progress=options["progress"],
    )
    results = {"roi_power": power}
    if options["csd_method"] != "none":
        vertex = winning_column(power)
        smoothing = options["csd_smoothing"]
        csd = compute_csd(
            _column_signal(sensor, inverse, vertex),
            _column_thickness(subject.mesh(), vertex),
            float(sensor.attrs.get("sfreq", 1.0 / np.median(np.diff(sensor["time"].values)))),
            method=options["csd_method"],
            smoothing=None if smoothing == "none" else smoothing,
        )
        results["csd"] = csd.assign_coords(vertex=vertex).to_dataset()
    return results


def run_analysis(
    archive_path: str | os.PathLike[str],
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    save: bool = True,
    **overrides: Any,
) -> dict[str, dict[str, xr.Dataset]]:
    """Run the configured ROI power and CSD analysis on every selected subject of an archive.

    Parameters
    ----------
    archive_path : str or path-like
        Study archive (see :mod:`laminarray.archive`).
    config : str, path-like or mapping, optional
        TOML file or mapping with the keys of :data:`DEFAULTS` (module docs).
    save : bool
        Write ``/<subject>/results/roi_power`` and ``/<subject>/results/csd``.
    **overrides
        Config keys given directly (``woi=(0.1, 0.3)``...); None values are
        ignored so that unset command-line flags keep the config's value.

    Returns
    -------
    dict
        ``{subject: {"roi_power": Dataset, "csd": Dataset}}``.
    """
    options = load_config(config, **overrides)
    study = open_study(archive_path)
    names = options["subjects"] or study.subjects
    outputs = {}
    for name in names:
        outputs[name] = results = _analyse(study.subject(name), options)
        if save:
            for kind, ds in results.items():
                archive.save(
                    ds,
                    archive_path,
                    f"{name}/results/{kind}",
                    provenance={
                        "function": f"laminarray.run.run_analysis ({kind})",
                        "parameters": _jsonable(options),
                    },
                )
    return outputs


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in options.items()
    }


def demo_step(
    archive_path: str | os.PathLike[str], subject: str, **overrides: Any
) -> dict[str, xr.Dataset]:
    """The demo's analysis step: ROI power and the winning column's CSD, stored in the archive.

    Parameters
    ----------
    archive_path : str or path-like
        The demo archive, holding ``/<subject>/sensor``, ``/<subject>/inverse/<name>``
        (one inverse, or pass ``inverse=``) and ``/<subject>/mesh``.
    subject : str
        Subject group name.
    **overrides
        Config keys (see :func:`run_analysis`); ``progress`` defaults to False here.

    Returns
    -------
    dict
        ``{"roi_power": Dataset, "csd": Dataset}``, also written to
        ``/<subject>/results/roi_power`` and ``/<subject>/results/csd``.
    """
    overrides.setdefault("progress", False)
    return run_analysis(archive_path, subjects=[subject], **overrides)[subject]


def summarise(outputs: Mapping[str, Mapping[str, xr.Dataset]]) -> list[str]:
    """One line per subject: the laminar test, ROI size and where the results went."""
    lines = []
    for subject, results in outputs.items():
        power = results["roi_power"]
        if power["t"].ndim == 0:
            test = f"t={float(power['t']):.3f} p={float(power['p']):.3g} df={int(power['df'])}"
        else:
            test = "t profile " + ", ".join(
                f"{layer}={float(t):.2f}"
                for layer, t in zip(power["layer"].values, power["t"].values, strict=True)
            )
        stored = ", ".join(f"/{subject}/results/{kind}" for kind in results)
        lines.append(f"{subject}: {test}; ROI {int(power['roi'].sum())} vertices -> {stored}")
    return lines
