"""MNE-Python conversions (optional extra ``mne``): Epochs/Evoked, Forward, SourceEstimate.

MNE stores SI units (T, T/m, V, A·m); laminarray uses fT, fT/mm, uV and nAm,
so values are scaled at this boundary and scaled back on the way out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, import_optional, validate_type
from ..schema import XYZ, gain_dataarray, sensor_dataset, validate_sensor, validate_source
from ..schema._vocabulary import as_str

__all__ = ["forward_to_gain", "from_mne", "source_to_stc", "to_mne_epochs", "to_mne_evoked"]

# mne channel type -> (laminarray ch_type, units, factor from SI)
_FROM_MNE = {
    "mag": ("MEG", "fT", 1e15),
    "grad": ("MEGPLANAR", "fT/mm", 1e12),
    "ref_meg": ("REFMAG", "fT", 1e15),
    "eeg": ("EEG", "uV", 1e6),
    "eog": ("EOG", "uV", 1e6),
    "ecg": ("ECG", "uV", 1e6),
    "emg": ("EMG", "uV", 1e6),
}
_TO_MNE = {
    "MEG": "mag",
    "MEGMAG": "mag",
    "MEGGRAD": "mag",
    "MEGPLANAR": "grad",
    "REFMAG": "ref_meg",
    "REFGRAD": "ref_meg",
    "EEG": "eeg",
    "EOG": "eog",
    "ECG": "ecg",
    "EMG": "emg",
}
_NANO = 1e-9  # nAm per Am


def _mne() -> Any:
    return import_optional("mne", "mne", "MNE-Python conversion")


def _channel_table(info: Any, mne: Any) -> tuple[list[str], list[str], np.ndarray]:
    kinds = info.get_channel_types()
    table = [_FROM_MNE.get(k, (k.upper(), "", 1.0)) for k in kinds]
    return [t for t, _, _ in table], [u for _, u, _ in table], np.array([f for _, _, f in table])


def from_mne(inst: Any) -> xr.Dataset:
    """Convert ``mne.Epochs`` or ``mne.Evoked`` to a sensor dataset.

    Parameters
    ----------
    inst : mne.BaseEpochs or mne.Evoked
        Loaded into memory (Epochs are preloaded if needed).

    Returns
    -------
    xarray.Dataset
        ``data (channel, time, trial)`` (numpy) with MEG magnetometers in fT
        (``ch_type`` ``"MEG"``), planar gradiometers in fT/mm
        (``"MEGPLANAR"``), EEG in uV; ``ch_units``, ``bad`` from
        ``info["bads"]``; ``condition`` from the event names (Epochs) or the
        comment (Evoked); ``trial_onset`` (s, the event samples of Epochs);
        ``sensor_position``/``sensor_orientation``
        ``(channel, xyz)`` in mm when the channels have locations; attrs
        ``sfreq``.
    """
    mne = _mne()
    if isinstance(inst, mne.BaseEpochs):
        data = inst.get_data(copy=True).transpose(1, 2, 0)
        names = {code: name for name, code in inst.event_id.items()}
        conditions = [names.get(code, str(code)) for code in inst.events[:, 2]]
        onsets = inst.events[:, 0] / inst.info["sfreq"]
    elif isinstance(inst, mne.Evoked):
        data = inst.data[:, :, None]
        conditions = [inst.comment or "evoked"]
        onsets = None
    else:
        raise LaminarrayError(
            f"`inst` must be mne.Epochs or mne.Evoked, got {type(inst).__name__}"
        )
    info = inst.info
    types, units, factor = _channel_table(info, mne)
    kept = sorted(set(units) - {""})
    ds = sensor_dataset(
        data * factor[:, None, None],
        info["ch_names"],
        inst.times,
        ch_types=types,
        units=kept[0] if len(kept) == 1 and "" not in units else "mixed",
        conditions=conditions,
        bad=[name in info["bads"] for name in info["ch_names"]],
        attrs={"sfreq": float(info["sfreq"])},
    )
    ds = ds.assign_coords(ch_units=("channel", np.array([u or "unknown" for u in units])))
    if onsets is not None:
        ds = ds.assign_coords(trial_onset=("trial", onsets, {"units": "s"}))
    locs = np.array([ch["loc"] for ch in info["chs"]], dtype=np.float64)
    if np.any(locs[:, :3]) and np.all(np.isfinite(locs[:, :3])):
        ds["sensor_position"] = (
            ("channel", "xyz"),
            locs[:, :3] * 1000.0,
            {"units": "mm", "long_name": "sensor position"},
        )
        ds["sensor_orientation"] = (
            ("channel", "xyz"),
            locs[:, 9:12],
            {"units": "1", "long_name": "sensor orientation"},
        )
        ds = ds.assign_coords(xyz=list(XYZ))
    return ds


def _info_for(ds: xr.Dataset, mne: Any) -> tuple[Any, np.ndarray]:
    types = [_TO_MNE.get(str(t).upper(), "misc") for t in ds["ch_type"].values]
    factor = np.array([_FROM_MNE.get(t, ("", "", 1.0))[2] for t in types])
    sfreq = float(ds.attrs.get("sfreq") or 1.0 / np.median(np.diff(ds["time"].values)))
    info = mne.create_info([str(c) for c in ds["channel"].values], sfreq, types)
    if "sensor_position" in ds:
        pos = np.asarray(ds["sensor_position"].values) / 1000.0
        ori = ds["sensor_orientation"].values if "sensor_orientation" in ds else None
        for i, ch in enumerate(info["chs"]):
            ch["loc"][:3] = pos[i]
            if ori is not None:
                ch["loc"][9:12] = ori[i]
    if "bad" in ds.coords:
        info["bads"] = [
            str(c) for c, b in zip(ds["channel"].values, ds["bad"].values, strict=True) if b
        ]
    return info, factor


def to_mne_epochs(ds: xr.Dataset) -> Any:
    """Convert a sensor dataset to ``mne.EpochsArray`` (SI units; events from ``condition``).

    Event samples come from ``trial_onset`` (s) when present, else ``0, 1, ...``.

    Channel types map back (``MEG``/``MEGMAG`` -> ``mag``, ``MEGPLANAR`` ->
    ``grad``, ``EEG`` -> ``eeg``, unknown -> ``misc`` unscaled); event codes
    are 1, 2, ... in sorted condition order; ``tmin`` is the first time.
    """
    mne = _mne()
    ds = validate_sensor(validate_type(ds, xr.Dataset, "ds"))
    info, factor = _info_for(ds, mne)
    data = np.asarray(ds["data"].values, dtype=np.float64) / factor[:, None, None]
    conditions = (
        [str(c) for c in ds["condition"].values]
        if "condition" in ds.coords
        else ["1"] * ds.sizes["trial"]
    )
    event_id = {name: code for code, name in enumerate(sorted(set(conditions)), start=1)}
    samples = (
        np.round(ds["trial_onset"].values * info["sfreq"]).astype(int)
        if "trial_onset" in ds.coords
        else np.arange(len(conditions))
    )
    codes = [event_id[c] for c in conditions]
    events = np.column_stack([samples, np.zeros(len(conditions), int), codes])
    return mne.EpochsArray(
        data.transpose(2, 0, 1),
        info,
        events=events,
        tmin=float(ds["time"].values[0]),
        event_id=event_id,
        verbose="error",
    )


def to_mne_evoked(ds: xr.Dataset) -> Any:
    """Convert a one-trial sensor dataset (e.g. ``ds.mean("trial")``) to ``mne.EvokedArray``."""
    mne = _mne()
    ds = validate_sensor(validate_type(ds, xr.Dataset, "ds"))
    if ds.sizes["trial"] != 1:
        raise LaminarrayError(
            f"an Evoked holds one average: `ds` has {ds.sizes['trial']} trials; "
            "average first with ds.mean('trial', keepdims=True) or use to_mne_epochs"
        )
    info, factor = _info_for(ds, mne)
    data = np.asarray(ds["data"].values[:, :, 0], dtype=np.float64) / factor[:, None]
    comment = str(ds["condition"].values[0]) if "condition" in ds.coords else ""
    return mne.EvokedArray(
        data, info, tmin=float(ds["time"].values[0]), comment=comment, verbose="error"
    )


def forward_to_gain(
    fwd: Any, *, n_layers: int = 1, layers: list[str] | None = None
) -> xr.DataArray:
    """Convert an ``mne.Forward`` to a gain ``(channel, layer, vertex[, xyz])``.

    Parameters
    ----------
    fwd : mne.Forward
        Fixed-orientation (one column per source) or free (three per source,
        giving a trailing ``xyz`` dim). Pick one sensor type first
        (``mne.pick_types_forward``) so the gain has one unit.
    n_layers : int
        Layers stacked layer-major in the source space (1 for an ordinary
        MNE source space, which gives ``hemi`` and ``mne_vertno`` coords).
    layers : list of str, optional

    Returns
    -------
    xarray.DataArray
        In fT/nAm (magnetometers), fT/mm/nAm (gradiometers) or uV/nAm (EEG).
    """
    mne = _mne()
    validate_type(fwd, mne.Forward, "fwd")
    sol = fwd["sol"]
    names = list(sol["row_names"])
    types = [_FROM_MNE.get(t, ("", "", 1.0)) for t in fwd["info"].get_channel_types(picks=names)]
    units = sorted({u for _, u, _ in types})
    if len(units) != 1 or not units[0]:
        raise LaminarrayError(
            f"the forward mixes channel units {units}; keep one sensor type with "
            "mne.pick_types_forward(fwd, meg='mag') (or eeg=True) first"
        )
    factor = np.array([f for _, _, f in types]) * _NANO
    values = np.asarray(sol["data"], dtype=np.float64) * factor[:, None]
    n_src = int(fwd["nsource"])
    free = values.shape[1] == 3 * n_src
    values = values.reshape(len(names), n_src, 3) if free else values
    if n_src % n_layers:
        raise LaminarrayError(f"{n_src} sources do not split into n_layers={n_layers}")
    n_v = n_src // n_layers
    values = values.reshape(len(names), n_layers, n_v, *((3,) if free else ()))
    hemi = None
    vertno = None
    if n_layers == 1 and len(fwd["src"]) == 2 and all(s["type"] == "surf" for s in fwd["src"]):
        hemi = np.concatenate(
            [[("lh", "rh")[i % 2]] * s["nuse"] for i, s in enumerate(fwd["src"])]
        )
        vertno = np.concatenate([s["vertno"] for s in fwd["src"]])
        if hemi.size != n_v:
            hemi = vertno = None
    gain = gain_dataarray(
        values,
        names,
        layers,
        units=f"{units[0]}/nAm",
        hemi=hemi,
        ch_types=[t for t, _, _ in types],
    )
    return gain if vertno is None else gain.assign_coords(mne_vertno=("vertex", vertno))


def source_to_stc(
    source: xr.DataArray, layer: str | int, *, trial: Any = None, subject: str | None = None
) -> Any:
    """One layer of a source estimate as an ``mne.SourceEstimate`` (A·m).

    Parameters
    ----------
    source : xarray.DataArray
        ``(layer, vertex, time, trial)`` in nAm (numpy or dask; only the
        chosen layer and trial are computed).
    layer : str or int
        Layer name or position.
    trial : label, optional
        Trial to export; required when there is more than one trial (average
        first with ``source.mean("trial")`` to export an evoked estimate).
    subject : str, optional

    Returns
    -------
    mne.SourceEstimate
        Vertices from the ``mne_vertno`` coordinate if present, else
        ``vertex``; split by ``hemi`` (all left hemisphere without it); rows
        sorted by vertex number within each hemisphere, as MNE requires.
    """
    mne = _mne()
    validate_type(source, xr.DataArray, "source")
    if "trial" not in source.dims:
        source = source.expand_dims(trial=[0], axis=-1)
    source = validate_source(source)
    names = [str(x) for x in source["layer"].values]
    if isinstance(layer, str):
        if layer not in names:
            raise LaminarrayError(f"`layer` must be one of {names}; got {layer!r}")
        sel = source.sel(layer=layer)
    else:
        sel = source.isel(layer=layer)
    if trial is None:
        if sel.sizes["trial"] != 1:
            raise LaminarrayError(
                f"`source` has {sel.sizes['trial']} trials: pass `trial=` or average with "
                "source.mean('trial') first"
            )
        sel = sel.isel(trial=0)
    else:
        sel = sel.sel(trial=trial)
    numbers = np.asarray(
        sel["mne_vertno"].values if "mne_vertno" in sel.coords else sel["vertex"].values
    )
    hemi = as_str(sel["hemi"].values) if "hemi" in sel.coords else np.full(numbers.size, "lh")
    values = np.asarray(sel.transpose("vertex", "time").values, dtype=np.float64) * _NANO
    vertices, rows = [], []
    for h in ("lh", "rh"):
        idx = np.flatnonzero(hemi == h)
        idx = idx[np.argsort(numbers[idx], kind="stable")]
        vertices.append(numbers[idx].astype(np.int64))
        rows.append(idx)
    times = np.asarray(sel["time"].values, dtype=np.float64)
    tstep = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    return mne.SourceEstimate(
        values[np.concatenate(rows)], vertices, tmin=float(times[0]), tstep=tstep, subject=subject
    )
