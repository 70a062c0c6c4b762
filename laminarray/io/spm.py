"""SPM M/EEG datasets (``.mat`` header + ``.dat`` binary) <-> laminarray sensor datasets.

:func:`read_spm` returns a lazy sensor dataset whose data are a dask array
over the ``.dat`` file (chunked over trials, each chunk read on demand); :func:`write_spm`
streams a sensor dataset back to the SPM layout, optionally with an inversion
in ``D.other.inv{1}`` (see :mod:`laminarray.io.spm_inversion`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option, validate_type
from ..forward.sensors import coil_geometry, sensors_from_coils
from ..schema import XYZ, sensor_dataset, validate_sensor
from ..schema._vocabulary import as_str
from ._dat import lazy_dat, write_dat
from ._matwrite import StructArray, write_mat
from ._spm_header import SPMHeader, open_spm, read_fiducials, read_header, read_sensors
from ._units import sensor_unit_factor
from .errors import FileFormatError

__all__ = ["read_spm", "read_spm_sensors", "write_spm"]

CHUNK_BYTES = 64 * 2**20
_SELECTIONS = ("all", "MEG", "good", "EEG")


def read_spm(
    path: str | Path,
    channels: str | Sequence[str] = "all",
    *,
    chunk_bytes: int = CHUNK_BYTES,
    external_dat: bool = False,
) -> xr.Dataset:
    """Read an SPM M/EEG dataset lazily as a sensor dataset.

    Parameters
    ----------
    path : str or Path
        The header ``.mat`` (v7.3 HDF5 or v5/v7); the ``.dat`` is looked for
        beside it as SPM12 does: the file name of ``D.data.fname`` in the
        header's directory, then ``<header>.dat``.
    channels : {"all", "MEG", "good", "EEG"} or sequence of str
        ``"all"`` keeps every channel; ``"MEG"`` channels whose type contains
        ``"MEG"`` (MEG, MEGMAG, MEGGRAD, MEGPLANAR; not REFMAG); ``"good"``
        those MEG channels not marked bad (laMEG's selection); ``"EEG"`` EEG
        channels; or a list of labels (in the order wanted). Bad flags stay
        available as the ``bad`` coordinate.
    chunk_bytes : int
        Target chunk size of the dask array (whole trials per chunk; a trial
        larger than this is split along time).
    external_dat : bool
        Also follow ``D.data.fname`` outside the header's directory
        (absolute, or relative with ``..``), after the two places above.
        Default False: a copied dataset reads its own binary, and a header
        cannot point laminarray at another file.

    Returns
    -------
    xarray.Dataset
        ``data (channel, time, trial)`` backed by dask, MEG in fT, EEG in uV
        (per-channel units in ``ch_units``); coords ``channel``, ``ch_type``,
        ``bad``, ``ch_units``, ``time`` (s, ``timeOnset + n / Fsample``),
        ``trial``, ``condition``, ``bad_trial`` and ``trial_onset`` (s, when
        stored); when the header has them, ``fiducials (fiducial, xyz)``,
        ``headshape (headshape_point, xyz)``, ``sensor_position`` and
        ``sensor_orientation (channel, xyz)`` and the MEG coil geometry
        ``coil_position``/``coil_orientation (coil, xyz)``,
        ``coil_weight (channel, coil)``; positions in mm. attrs ``sfreq``,
        ``time_onset``, ``spm_type``, ``source_file``, ``spm_format``.

    Raises
    ------
    FileFormatError
        For a missing or truncated ``.dat`` (expected and actual bytes),
        header dims that disagree with the binary, an unsupported data type,
        a missing field (named), a v7.3 file that is not HDF5 or a ``.mat``
        that is not an SPM dataset, a value declaring more bytes than the file
        can hold. Nothing is read before all checks pass.

    Examples
    --------
    >>> ds = read_spm("sub-01_task.mat", channels="good")   # doctest: +SKIP
    >>> ds.data.sel(time=slice(0, 0.5)).mean("trial").compute()   # doctest: +SKIP
    """
    try:
        with open_spm(path) as mat:
            header = read_header(mat, external_dat=external_dat)
            geometry = {
                "fiducials": read_fiducials(mat),
                "sensors": read_sensors(mat, header.labels),
            }
    except LaminarrayError:
        raise
    except (
        ValueError,
        TypeError,
        OverflowError,
        KeyError,
        IndexError,
        RuntimeError,
        OSError,
    ) as exc:  # damage below the named checks (HDF5 structures, numbers out of range)
        raise FileFormatError(
            f"{path}: cannot read the SPM header ({type(exc).__name__}: {exc})"
        ) from exc
    index = _select_channels(header, channels)
    canonical = [sensor_unit_factor(header.units[i], header.types[i]) for i in index]
    factor = np.array([f for _, f in canonical])
    gain = factor if header.slope is None else header.slope[index] * factor
    intercept = None if header.intercept is None else header.intercept[index] * factor
    data = lazy_dat(
        header.layout, index, None if np.all(gain == 1.0) else gain, intercept, chunk_bytes
    )
    ch_units = [u for u, _ in canonical]
    labels = [header.labels[i] for i in index]
    ds = sensor_dataset(
        data,
        labels,
        header.times,
        ch_types=[header.types[i] for i in index],
        units=ch_units[0] if len(set(ch_units)) == 1 else "mixed",
        conditions=header.conditions,
        bad=header.bad[index],
        attrs={
            "sfreq": header.fsample,
            "time_onset": header.time_onset,
            "spm_type": header.spm_type,
            "source_file": str(header.path),
            "spm_format": header.format,
        },
    )
    coords: dict[str, Any] = {
        "ch_units": ("channel", np.array(ch_units, dtype=str)),
        "bad_trial": ("trial", header.bad_trials),
    }
    if header.onsets is not None:
        coords["trial_onset"] = ("trial", header.onsets, {"units": "s"})
    ds = ds.assign_coords(coords)
    return ds.assign(_geometry_variables(geometry, index))


def _select_channels(header: SPMHeader, channels: str | Sequence[str]) -> np.ndarray:
    types = [t.upper() for t in header.types]
    if isinstance(channels, str):
        check_option("channels", channels, _SELECTIONS)
        keep = {
            "all": [True] * len(types),
            "MEG": ["MEG" in t for t in types],
            "good": [("MEG" in t) and not b for t, b in zip(types, header.bad, strict=True)],
            "EEG": [t == "EEG" for t in types],
        }[channels]
        index = np.flatnonzero(keep)
    else:
        wanted = [str(c) for c in channels]
        position = {label: i for i, label in enumerate(header.labels)}
        unknown = [c for c in wanted if c not in position]
        if unknown:
            raise LaminarrayError(
                f"`channels` names labels not in {header.path}: {unknown[:10]}; "
                f"available: {header.labels[:10]}{' ...' if len(header.labels) > 10 else ''}"
            )
        index = np.array([position[c] for c in wanted], dtype=np.int64)
    if index.size == 0:
        raise LaminarrayError(
            f"`channels={channels!r}` selects no channel of {header.path} "
            f"(types present: {sorted(set(header.types))})"
        )
    return index


def _geometry_variables(geometry: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
    mm = {"units": "mm"}
    out: dict[str, Any] = {}
    fid = geometry["fiducials"]
    if "fiducials" in fid:
        labels, points = fid["fiducials"]
        out["fiducials"] = xr.DataArray(
            points,
            dims=("fiducial", "xyz"),
            coords={"fiducial": np.array(labels, dtype=str)},
            attrs={**mm, "long_name": "fiducial position"},
        )
    if "headshape" in fid:
        out["headshape"] = xr.DataArray(
            fid["headshape"],
            dims=("headshape_point", "xyz"),
            attrs={**mm, "long_name": "head-shape point"},
        )
    sens = geometry["sensors"]
    for key, name, attrs in (
        ("position", "sensor_position", {**mm, "long_name": "sensor position"}),
        ("orientation", "sensor_orientation", {"units": "1", "long_name": "sensor orientation"}),
    ):
        if key in sens:
            out[name] = xr.DataArray(sens[key][index], dims=("channel", "xyz"), attrs=attrs)
    if "coil_weight" in sens:
        out["coil_position"] = xr.DataArray(
            sens["coil_position"], dims=("coil", "xyz"), attrs={**mm, "long_name": "coil position"}
        )
        out["coil_orientation"] = xr.DataArray(
            sens["coil_orientation"],
            dims=("coil", "xyz"),
            attrs={"units": "1", "long_name": "coil orientation"},
        )
        out["coil_weight"] = xr.DataArray(
            sens["coil_weight"][index],
            dims=("channel", "coil"),
            attrs={
                "units": "1",
                "long_name": "channel = coil_weight @ coil signals",
                "compensation": sens.get("compensation", "none"),
                "coord_frame": sens.get("coord_frame", "head"),
            },
        )
    return {k: v.assign_coords(xyz=list(XYZ)) if "xyz" in v.dims else v for k, v in out.items()}


def read_spm_sensors(path: str | Path, channels: str | Sequence[str] = "MEG") -> xr.Dataset:
    """The MEG sensor array of an SPM dataset (``D.sensors.meg``, ``D.fiducials``).

    SPM keeps FieldTrip's description of the MEG system: coil points
    ``coilpos``/``coilori`` and the channels x points matrix ``tra``, which
    for CTF data already includes the synthetic gradient compensation named
    in ``balance.current`` (e.g. ``"G3BR"``, 3rd order). With a cortical
    mesh in the same (head) frame this is all a gain needs:
    ``forward.sphere_gain(mesh, read_spm_sensors(path))``.

    Parameters
    ----------
    path : str or Path
        The SPM header ``.mat``.
    channels : {"MEG", "good"} or sequence of str
        As in :func:`read_spm`; only MEG channels with coils are kept.

    Returns
    -------
    xarray.Dataset
        A sensor array (see :func:`laminarray.forward.sensors_from_coils`) in
        mm with the channels' types and units (planar gradiometers in fT/mm),
        ``fiducials`` when stored, attrs ``compensation`` and ``coord_frame``.

    Raises
    ------
    FileFormatError
        If the dataset has no MEG coil geometry (``D.sensors.meg`` with
        ``coilpos``, ``coilori`` and ``tra``).
    """
    ds = read_spm(path, channels=channels)
    if "coil_weight" not in ds:
        raise FileFormatError(
            f"{path}: no MEG coil geometry (`D.sensors.meg` with coilpos, coilori and tra)"
        )
    return _sensors_from_dataset(ds)


def _sensors_from_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Sensor array of the channels of ``ds`` that have coil weights."""
    weights = ds["coil_weight"].transpose("channel", "coil").values
    rows = np.flatnonzero(np.any(weights != 0, axis=1))
    used = np.flatnonzero(np.any(weights[rows] != 0, axis=0))
    sel = ds.isel(channel=rows)
    return sensors_from_coils(
        ds["coil_position"].values[used],
        ds["coil_orientation"].values[used],
        weights[np.ix_(rows, used)],
        labels=sel["channel"].values,
        ch_types=as_str(sel["ch_type"].values),
        ch_units=as_str(sel["ch_units"].values) if "ch_units" in sel.coords else None,
        positions=sel["sensor_position"].values if "sensor_position" in sel else None,
        orientations=sel["sensor_orientation"].values if "sensor_orientation" in sel else None,
        fiducials=ds.get("fiducials"),
        coord_frame=ds["coil_weight"].attrs.get("coord_frame", "head"),
        attrs={"compensation": ds["coil_weight"].attrs.get("compensation", "none")},
    )


# --------------------------------------------------------------------------- writing


def write_spm(
    ds: xr.Dataset,
    path: str | Path,
    format: str = "v7.3",
    *,
    inverse: xr.Dataset | None = None,
    mesh: xr.Dataset | None = None,
    sensors: xr.Dataset | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Path:
    """Write a sensor dataset as an SPM M/EEG dataset (``.mat`` header + ``.dat``).

    The ``.dat`` is float32 little-endian in SPM's order, written in blocks of
    whole trials (about ``chunk_bytes`` at a time) so datasets larger than
    memory can be written from dask; each file is written beside and moved
    into place.

    Parameters
    ----------
    ds : xarray.Dataset
        Sensor dataset ``data (channel, time, trial)`` with uniformly sampled
        ``time`` (s). Values are written in their own units (per channel from
        ``ch_units`` when present, else ``data.attrs["units"]``).
    path : str or Path
        Header path; ``.mat`` is added or replaced, the binary goes beside it
        with the ``.dat`` suffix.
    format : {"v7.3", "v5"}
        MATLAB format of the header.
    inverse : xarray.Dataset, optional
        An inverse dataset to embed as ``D.other.inv{1}`` (see
        :func:`laminarray.io.spm_inversion.inversion_record`).
    mesh : xarray.Dataset, optional
        Multilayer mesh stored with the inversion (``mesh.tess_mni``).
    sensors : xarray.Dataset, optional
        A sensor array (e.g. :func:`laminarray.forward.sensors_from_mne`)
        written as ``D.sensors.meg`` (FieldTrip's grad: ``coilpos``,
        ``coilori``, ``tra``, ``chanpos``, ``chanori``, ``chantype``,
        ``chanunit``, ``balance.current``, unit mm) with its fiducials as
        ``D.fiducials``. Default: the geometry ``ds`` carries (from
        :func:`read_spm`).
    chunk_bytes : int
        Memory bound of the streaming write.

    Returns
    -------
    Path
        The header path written.
    """
    validate_type(ds, xr.Dataset, "ds")
    check_option("format", format, ("v7.3", "v5"))
    ds = validate_sensor(ds)
    mat_path = Path(path)
    mat_path = (
        mat_path.with_suffix(".mat")
        if mat_path.suffix in (".mat", ".dat")
        else Path(f"{mat_path}.mat")
    )
    dat_path = mat_path.with_suffix(".dat")
    times = np.asarray(ds["time"].values, dtype=np.float64)
    fsample = _sampling_rate(times, ds)
    n_c, n_t, n_k = (ds.sizes[d] for d in ("channel", "time", "trial"))
    write_dat(dat_path, ds["data"].data, chunk_bytes)
    header: dict[str, Any] = {
        "type": "single" if n_k > 1 else "evoked",
        "Nsamples": float(n_t),
        "Fsample": fsample,
        "timeOnset": float(times[0]),
        "trials": _trial_records(ds),
        "channels": _channel_records(ds),
        "data": {
            "fname": str(dat_path.resolve()),
            "dim": np.array([n_c, n_t, n_k] if n_k > 1 else [n_c, n_t], dtype=np.float64),
            "dtype": 16.0,
            "be": 0.0,
            "offset": 0.0,
            "pos": np.zeros((1, 0)),
            "scl_slope": np.zeros((0, 0)),
            "scl_inter": np.zeros((0, 0)),
            "permission": "rw",
        },
        "fname": mat_path.name,
        "path": str(mat_path.resolve().parent),
        "transform": {"ID": "time"},
        "condlist": sorted(set(_conditions(ds))),
        "history": None,
        "other": {},
    }
    header.update(_geometry_fields(ds if sensors is None else _as_geometry(sensors, ds)))
    if inverse is not None:
        from .spm_inversion import inversion_record

        header["other"] = {"inv": [inversion_record(inverse, ds, mesh)]}
    header["other"]["laminarray"] = {"written": datetime.datetime.now(datetime.UTC).isoformat()}
    write_mat(mat_path, {"D": header}, format)
    return mat_path


def _sampling_rate(times: np.ndarray, ds: xr.Dataset) -> float:
    if times.size < 2:
        sfreq = ds.attrs.get("sfreq")
        if sfreq is None:
            raise LaminarrayError(
                "a one-sample dataset needs attrs['sfreq'] (Hz) to be written as SPM"
            )
        return float(sfreq)
    steps = np.diff(times)
    step = (times[-1] - times[0]) / (times.size - 1)
    sfreq = ds.attrs.get("sfreq")
    if sfreq and abs(float(sfreq) * step - 1.0) < 1e-9:
        step = 1.0 / float(sfreq)  # the exact rate the times were made from
    if not np.allclose(steps, step, rtol=1e-6, atol=0):
        worst = float(np.max(np.abs(steps - step)))
        raise LaminarrayError(
            f"SPM needs uniformly sampled `time`; steps deviate from {step:.6g} s by up to "
            f"{worst:.3g} s"
        )
    return float(sfreq) if sfreq and step == 1.0 / float(sfreq) else float(1.0 / step)


def _conditions(ds: xr.Dataset) -> list[str]:
    if "condition" in ds.coords:
        return [str(c) for c in ds["condition"].values]
    return ["Undefined"] * ds.sizes["trial"]


def _trial_records(ds: xr.Dataset) -> StructArray:
    bad = ds["bad_trial"].values if "bad_trial" in ds.coords else np.zeros(ds.sizes["trial"])
    onset = ds["trial_onset"].values if "trial_onset" in ds.coords else None
    return StructArray(
        {"label": label, "bad": float(bad[k]), "repl": 1.0}
        | ({} if onset is None else {"onset": float(onset[k])})
        for k, label in enumerate(_conditions(ds))
    )


def _channel_records(ds: xr.Dataset) -> StructArray:
    n_c = ds.sizes["channel"]
    units = (
        [str(u) for u in ds["ch_units"].values]
        if "ch_units" in ds.coords
        else [str(ds["data"].attrs["units"])] * n_c
    )
    if "mixed" in units:
        raise LaminarrayError(
            "sensor data with units 'mixed' need a `ch_units (channel)` coordinate to be "
            "written as SPM"
        )
    types = ds["ch_type"].values if "ch_type" in ds.coords else ["MEG"] * n_c
    bad = ds["bad"].values if "bad" in ds.coords else np.zeros(n_c, bool)
    return StructArray(
        {
            "label": str(label),
            "type": str(types[i]),
            "bad": float(bool(bad[i])),
            "units": units[i],
        }
        for i, label in enumerate(ds["channel"].values)
    )


def _as_geometry(sensors: xr.Dataset, ds: xr.Dataset) -> xr.Dataset:
    """A sensor array renamed to the geometry variables of a sensor dataset."""
    coil_pos, coil_ori, weights = coil_geometry(sensors)
    geometry = xr.Dataset(
        {
            "sensor_position": (("channel", "xyz"), sensors["position"].values),
            "sensor_orientation": (("channel", "xyz"), sensors["orientation"].values),
            "coil_position": (("coil", "xyz"), coil_pos),
            "coil_orientation": (("coil", "xyz"), coil_ori),
            "coil_weight": (
                ("channel", "coil"),
                weights,
                {
                    "compensation": _balance(sensors),
                    "coord_frame": sensors.attrs.get("coord_frame", "head"),
                },
            ),
        },
        coords={
            "channel": sensors["channel"].values,
            "ch_type": ("channel", as_str(sensors["ch_type"].values)),
            "ch_units": ("channel", as_str(sensors["ch_units"].values)),
        },
    )
    fiducials = sensors.get("fiducials", ds.get("fiducials"))
    if fiducials is not None:
        geometry["fiducials"] = fiducials
    if "headshape" in ds:
        geometry["headshape"] = ds["headshape"]
    return geometry


def _balance(sensors: xr.Dataset) -> str:
    """FieldTrip's name of the compensation folded into ``tra`` (CTF grades 1-3: G1BR...)."""
    if "compensation" in sensors.attrs:
        return str(sensors.attrs["compensation"])
    grade = int(sensors.attrs.get("compensation_grade", 0))
    return {0: "none", 1: "G1BR", 2: "G2BR", 3: "G3BR"}.get(grade, "none")


def _geometry_fields(ds: xr.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "fiducials" in ds:
        headshape = ds["headshape"].values if "headshape" in ds else np.zeros((0, 3))
        out["fiducials"] = {
            "fid": {
                "pnt": np.asarray(ds["fiducials"].values, float),
                "label": np.array([[str(x)] for x in ds["fiducial"].values], dtype=object),
            },
            "pnt": np.asarray(headshape, float),
            "unit": "mm",
        }
    if "sensor_position" in ds or "coil_weight" in ds:
        types = as_str(ds["ch_type"].values)
        meg = np.array(["MEG" in t.upper() for t in types])
        labels = [str(x) for x in ds["channel"].values[meg]]
        sens: dict[str, Any] = {
            "label": np.array([[x] for x in labels], dtype=object),
            "chantype": np.array([[t.lower()] for t in types[meg]], dtype=object),
            "unit": "mm",
        }
        if "ch_units" in ds.coords:
            sens["chanunit"] = np.array(
                [[u] for u in as_str(ds["ch_units"].values[meg])],
                dtype=object,
            )
        if "sensor_position" in ds:
            sens["chanpos"] = np.asarray(ds["sensor_position"].values[meg], float)
        if "sensor_orientation" in ds:
            sens["chanori"] = np.asarray(ds["sensor_orientation"].values[meg], float)
        if "coil_weight" in ds:
            sens["coilpos"] = np.asarray(ds["coil_position"].values, float)
            sens["coilori"] = np.asarray(ds["coil_orientation"].values, float)
            sens["tra"] = np.asarray(ds["coil_weight"].values[meg], float)
            attrs = ds["coil_weight"].attrs
            sens["balance"] = {"current": str(attrs.get("compensation", "none"))}
            sens["coordsys"] = str(attrs.get("coord_frame", "head"))
        out["sensors"] = {"meg": sens}
    return out
