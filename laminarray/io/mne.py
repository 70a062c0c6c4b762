"""MNE-Python conversions (optional extra ``mne``): Epochs/Evoked, Forward, SourceEstimate.

MNE stores SI units (T, T/m, V, A·m); laminarray uses fT, fT/mm, uV and nAm,
so values are scaled at this boundary and scaled back on the way out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, import_optional, validate_type
from ..forward.mne_sensors import (
    mne_channel_types,
    mne_compensation_grade,
    mne_fiducials,
    mne_ssp,
)
from ..schema import XYZ, gain_dataarray, sensor_dataset, validate_sensor, validate_source
from ..schema._vocabulary import MIXED, as_str

__all__ = ["forward_to_gain", "from_mne", "source_to_stc", "to_mne_epochs", "to_mne_evoked"]

# laminarray channel type -> (units, factor from SI, mne channel type)
_CHANNELS = {
    "MEG": ("fT", 1e15, "mag"),
    "MEGMAG": ("fT", 1e15, "mag"),
    "MEGGRAD": ("fT", 1e15, "mag"),
    "MEGPLANAR": ("fT/mm", 1e12, "grad"),
    "REFMAG": ("fT", 1e15, "ref_meg"),
    "REFGRAD": ("fT", 1e15, "ref_meg"),
    "EEG": ("uV", 1e6, "eeg"),
    "EOG": ("uV", 1e6, "eog"),
    "ECG": ("uV", 1e6, "ecg"),
    "EMG": ("uV", 1e6, "emg"),
}
_SI_FACTOR = {"fT": 1e15, "fT/mm": 1e12, "uV": 1e6}
_NANO = 1e-9  # nAm per Am
_M_TO_MM = 1000.0


def _mne() -> Any:
    return import_optional("mne", "mne", "MNE-Python conversion")


def _channel_table(info: Any) -> tuple[list[str], list[str], np.ndarray]:
    types = mne_channel_types(info)
    table = [_CHANNELS.get(t, ("", 1.0, "misc")) for t in types]
    return types, [u for u, _, _ in table], np.array([f for _, f, _ in table])


def from_mne(
    inst: Any,
    *,
    events: Any = None,
    event_id: Any = None,
    tmin: float = -0.2,
    tmax: float = 0.5,
    baseline: tuple[float | None, float | None] | None = (None, 0),
) -> xr.Dataset:
    """Convert ``mne.Epochs``, ``mne.Evoked`` or an epoched ``mne.io.Raw`` to a sensor dataset.

    Everything a forward model and a round trip back to MNE need is kept:
    sensor positions in the head frame, the device->head transform,
    fiducials and digitised points, the CTF compensation grade, SSP
    projectors, ``nave``, and MNE's whole measurement info (so that
    :func:`to_mne_epochs`/:func:`to_mne_evoked` give back the same coil
    types, compensation matrices and digitisation).

    Parameters
    ----------
    inst : mne.BaseEpochs, mne.Evoked or mne.io.BaseRaw
        Epochs are loaded into memory. A Raw recording needs ``events``.
    events : array, shape (n_events, 3), optional
        For a Raw recording: MNE events (``mne.find_events(raw)`` or
        ``mne.events_from_annotations(raw)[0]``), epoched from ``tmin`` to
        ``tmax`` seconds.
    event_id : dict, optional
        Event names to codes for a Raw recording (default every code).
    tmin, tmax : float
        Epoch window in seconds for a Raw recording.
    baseline : (float or None, float or None) or None
        Baseline correction of a Raw recording's epochs, as ``mne.Epochs``
        (default ``(None, 0)``: the mean before the event; None: none).

    Returns
    -------
    xarray.Dataset
        ``data (channel, time, trial)`` (numpy): magnetometers and axial
        gradiometers in fT (``ch_type`` ``"MEGMAG"``/``"MEGGRAD"``), planar
        gradiometers in fT/mm (``"MEGPLANAR"``), EEG in uV, with
        ``ch_units``, ``bad`` (``info["bads"]``), ``condition`` (event names
        or the Evoked's comment), ``trial_onset`` (s, Epochs);
        ``sensor_position``/``sensor_orientation (channel, xyz)`` in mm in
        the head frame (NaN for channels without a location);
        ``device_to_head (affine_row, affine_column)`` (mm), ``fiducials
        (fiducial, xyz)`` and ``headshape (headshape_point, xyz)`` (mm, head
        frame) when digitised; ``ssp_vector (ssp, channel)`` with
        ``ssp_active``; ``mne_info`` (MNE's info as FIF bytes); attrs
        ``sfreq``, ``coord_frame`` (``"head"``), ``compensation_grade``,
        ``nave`` (Evoked), ``rank`` (MNE's rank from the measurement info:
        SSS records and applied projectors, ``{kind: rank}``; the inversions
        restrict their spatial modes to it).

    Raises
    ------
    LaminarrayError
        For other objects, and for a Raw recording without ``events``
        (saying how to epoch it).
    """
    mne = _mne()
    if isinstance(inst, mne.io.BaseRaw):
        if events is None:
            raise LaminarrayError(
                "`inst` is a continuous mne.io.Raw: laminarray works on epochs. Pass the events "
                "to epoch it here, e.g. from_mne(raw, events=mne.find_events(raw), "
                "event_id={'stim': 1}, tmin=-0.2, tmax=0.5), or epoch it yourself with "
                "mne.Epochs(raw, events, event_id, tmin, tmax, preload=True) and pass the Epochs"
            )
        inst = mne.Epochs(
            inst,
            np.asarray(events),
            event_id,
            tmin,
            tmax,
            baseline=baseline,
            proj=False,
            preload=True,
            verbose="error",
        )
    attrs: dict[str, Any] = {}
    if isinstance(inst, mne.BaseEpochs):
        data = inst.get_data(copy=True).transpose(1, 2, 0)
        names = {code: name for name, code in inst.event_id.items()}
        conditions = [names.get(code, str(code)) for code in inst.events[:, 2]]
        onsets = inst.events[:, 0] / inst.info["sfreq"]
    elif isinstance(inst, mne.Evoked):
        data = inst.data[:, :, None]
        conditions = [inst.comment or "evoked"]
        onsets = None
        attrs["nave"] = int(inst.nave)
    else:
        raise LaminarrayError(
            f"`inst` must be mne.Epochs, mne.Evoked or mne.io.Raw with events, got "
            f"{type(inst).__name__}"
        )
    info = inst.info
    types, units, factor = _channel_table(info)
    kept = sorted(set(units) - {""})
    head = info["dev_head_t"]
    grade = mne_compensation_grade(info)
    ds = sensor_dataset(
        data * factor[:, None, None],
        info["ch_names"],
        inst.times,
        ch_types=types,
        units=kept[0] if len(kept) == 1 and "" not in units else MIXED,
        conditions=conditions,
        bad=[name in info["bads"] for name in info["ch_names"]],
        attrs={
            "sfreq": float(info["sfreq"]),
            "coord_frame": "head" if head is not None else "device",
            "compensation_grade": grade,
            **_info_rank(inst, mne),
            **attrs,
        },
    )
    ds = ds.assign_coords(ch_units=("channel", np.array([u or "unknown" for u in units])))
    if onsets is not None:
        ds = ds.assign_coords(trial_onset=("trial", onsets, {"units": "s"}))
    return ds.assign(_geometry(info, mne)).assign_coords(xyz=list(XYZ))


def _info_rank(inst: Any, mne: Any) -> dict[str, Any]:
    """``{"rank": {kind: rank}}`` from the SSS records and the projectors applied to the data."""
    rank = mne.compute_rank(inst, rank="info", proj=bool(inst.proj), verbose="error")
    return {"rank": {str(kind): int(value) for kind, value in rank.items()}} if rank else {}


def _geometry(info: Any, mne: Any) -> dict[str, Any]:
    """Positions, transform, digitisation, projectors and the info itself as variables."""
    out: dict[str, Any] = {}
    transform = np.eye(4) if info["dev_head_t"] is None else info["dev_head_t"]["trans"].copy()
    transform[:3, 3] *= _M_TO_MM
    locs = np.array([ch["loc"] for ch in info["chs"]], dtype=np.float64)
    placed = np.isfinite(locs[:, :3]).all(axis=1) & np.any(locs[:, :3] != 0, axis=1)
    if placed.any():
        meg = np.array([ch["kind"] in _meg_kinds(mne) for ch in info["chs"]])
        rotation = np.where(meg[:, None, None], transform[None, :3, :3], np.eye(3))
        shift = np.where(meg[:, None], transform[None, :3, 3], 0.0)
        pos = np.einsum("cij,cj->ci", rotation, locs[:, :3] * _M_TO_MM) + shift
        ori = np.einsum("cij,cj->ci", rotation, locs[:, 9:12])
        pos[~placed] = np.nan
        ori[~placed] = np.nan
        out["sensor_position"] = (
            ("channel", "xyz"),
            pos,
            {"units": "mm", "long_name": "sensor position (head)"},
        )
        out["sensor_orientation"] = (
            ("channel", "xyz"),
            ori,
            {"units": "1", "long_name": "sensor orientation"},
        )
    if info["dev_head_t"] is not None:
        out["device_to_head"] = (
            ("affine_row", "affine_column"),
            transform,
            {"units": "mm", "long_name": "device -> head rigid transform"},
        )
    fiducials = mne_fiducials(info)
    if fiducials is not None:
        out["fiducials"] = fiducials
    shape = [
        point["r"] * _M_TO_MM
        for point in info["dig"] or []
        if point["kind"] != mne.io.constants.FIFF.FIFFV_POINT_CARDINAL
        and point["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD
    ]
    if shape:
        out["headshape"] = (
            ("headshape_point", "xyz"),
            np.array(shape),
            {"units": "mm", "long_name": "head-shape point"},
        )
    ssp = mne_ssp(info)
    if ssp is not None:
        vectors = ssp.reindex(channel=info["ch_names"], fill_value=0.0)
        out["ssp_vector"] = vectors.assign_attrs(units="1", long_name="SSP projection vector")
    out["mne_info"] = (
        ("mne_info_byte",),
        _info_bytes(info, mne),
        {"long_name": "MNE measurement info (FIF bytes, for to_mne_*)"},
    )
    return out


def _meg_kinds(mne: Any) -> tuple[int, int]:
    fiff = mne.io.constants.FIFF
    return (fiff.FIFFV_MEG_CH, fiff.FIFFV_REF_MEG_CH)


def _info_bytes(info: Any, mne: Any) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "info-info.fif"
        mne.io.write_info(path, info)
        return np.frombuffer(path.read_bytes(), dtype=np.uint8).copy()


def _stored_info(ds: xr.Dataset, mne: Any) -> Any:
    """MNE's info kept by :func:`from_mne`, picked to the dataset's channels, or None."""
    if "mne_info" not in ds:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "info-info.fif"
        path.write_bytes(np.asarray(ds["mne_info"].values, dtype=np.uint8).tobytes())
        info = mne.io.read_info(path, verbose="error")
    names = [str(c) for c in ds["channel"].values]
    if not set(names) <= set(info["ch_names"]):
        return None
    return mne.pick_info(info, [info["ch_names"].index(c) for c in names], verbose="error")


def _info_for(ds: xr.Dataset, mne: Any) -> tuple[Any, np.ndarray]:
    types = [str(t).upper() for t in ds["ch_type"].values]
    if "ch_units" in ds.coords:
        factor = np.array([_SI_FACTOR.get(str(u), 1.0) for u in ds["ch_units"].values])
    else:
        factor = np.array([_CHANNELS.get(t, ("", 1.0, ""))[1] for t in types])
    info = _stored_info(ds, mne)
    if info is None:
        sfreq = float(ds.attrs.get("sfreq") or 1.0 / np.median(np.diff(ds["time"].values)))
        mne_types = [_CHANNELS.get(t, ("", 1.0, "misc"))[2] for t in types]
        info = mne.create_info([str(c) for c in ds["channel"].values], sfreq, mne_types)
        if "sensor_position" in ds:
            pos = np.asarray(ds["sensor_position"].values) / _M_TO_MM
            ori = ds["sensor_orientation"].values if "sensor_orientation" in ds else None
            for i, ch in enumerate(info["chs"]):
                ch["loc"][:3] = pos[i]
                if ori is not None:
                    ch["loc"][9:12] = ori[i]
    with info._unlock():
        info["bads"] = (
            [str(c) for c, b in zip(ds["channel"].values, ds["bad"].values, strict=True) if b]
            if "bad" in ds.coords
            else []
        )
    return info, factor


def to_mne_epochs(ds: xr.Dataset) -> Any:
    """Convert a sensor dataset to ``mne.EpochsArray`` (SI units; events from ``condition``).

    A dataset from :func:`from_mne` gets its MNE info back (coil types,
    device->head transform, digitisation, compensation, projectors), picked
    to its channels; otherwise the info is built from the channel types
    (``MEG``/``MEGMAG``/``MEGGRAD`` -> ``mag``, ``MEGPLANAR`` -> ``grad``,
    ``EEG`` -> ``eeg``, unknown -> ``misc`` unscaled) and sensor positions.
    Event samples come from ``trial_onset`` (s) when present, else ``0, 1,
    ...``; event codes are 1, 2, ... in sorted condition order; ``tmin`` is
    the first time.
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
    """Convert a one-trial sensor dataset (e.g. ``ds.mean("trial")``) to ``mne.EvokedArray``.

    The info is rebuilt as in :func:`to_mne_epochs`; ``nave`` comes from attrs.
    """
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
        data,
        info,
        tmin=float(ds["time"].values[0]),
        comment=comment,
        nave=int(ds.attrs.get("nave", 1)),
        verbose="error",
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
    all_types = dict(zip(fwd["info"]["ch_names"], mne_channel_types(fwd["info"]), strict=True))
    ch_types = [all_types[n] for n in names]
    types = [_CHANNELS.get(t, ("", 1.0, "")) for t in ch_types]
    units = sorted({u for u, _, _ in types})
    if len(units) != 1 or not units[0]:
        raise LaminarrayError(
            f"the forward mixes channel units {units}; keep one sensor type with "
            "mne.pick_types_forward(fwd, meg='mag') (or eeg=True) first"
        )
    factor = np.array([f for _, f, _ in types]) * _NANO
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
        ch_types=ch_types,
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
