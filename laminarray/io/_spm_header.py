"""Parse and check the header ``D`` of an SPM M/EEG dataset (either MATLAB format)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from ..schema import time_axis
from ._dat import DatLayout, parse_spm_dtype
from ._matfile import MatFile, as_records, as_scalar, as_text, as_vector
from ._units import length_factor
from .errors import FileFormatError, MissingFileError

__all__ = [
    "SPMHeader",
    "field",
    "open_spm",
    "read_channels",
    "read_fiducials",
    "read_header",
    "read_sensors",
]


@dataclass
class SPMHeader:
    """What laminarray uses from an SPM M/EEG header, checked against the binary."""

    path: Path
    format: str
    fsample: float
    time_onset: float
    n_samples: int
    labels: list[str]
    types: list[str]
    bad: np.ndarray
    units: list[str]
    conditions: list[str]
    bad_trials: np.ndarray
    onsets: np.ndarray | None
    layout: DatLayout
    slope: np.ndarray | None
    intercept: np.ndarray | None
    spm_type: str

    @property
    def times(self) -> np.ndarray:
        """Sample times in s: ``timeOnset + arange(Nsamples) / Fsample``."""
        return time_axis(self.n_samples, self.fsample, self.time_onset)


def open_spm(path: str | Path) -> MatFile:
    """Open an SPM header file, checking that it holds a variable ``D``."""
    path = Path(path)
    if path.suffix.lower() == ".dat":
        path = path.with_suffix(".mat")
    mat = MatFile(path)
    if "D" not in mat.variables():
        mat.close()
        raise FileFormatError(
            f"{path} is not an SPM M/EEG dataset: it has no variable `D` (found {mat.variables()})"
        )
    return mat


def field(
    mat: MatFile, keys: tuple[str | int, ...], convert: Callable[[Any], Any], what: str
) -> Any:
    """Read ``D.<keys>`` and convert it, naming the field in any error."""
    name = "D." + ".".join(str(k) for k in keys)
    value = mat.get("D", *keys, default=None)
    if value is None:
        raise FileFormatError(f"{mat.path}: SPM header is missing field `{name}` ({what})")
    try:
        return convert(value)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"{mat.path}: field `{name}` ({what}) is malformed: {exc}") from None


def _record_value(
    rec: dict[str, Any], key: str, convert: Callable[[Any], Any], default: Any
) -> Any:
    value = rec.get(key)
    if value is None or (
        isinstance(value, np.ndarray) and value.size == 0 and default is not None
    ):
        return default
    return convert(value)


def _records(
    mat: MatFile, key: str, required: tuple[str, ...], wanted: tuple[str, ...]
) -> list[dict[str, Any]]:
    value = mat.get("D", key, default=None, fields=wanted)
    if value is None:
        raise FileFormatError(f"{mat.path}: SPM header is missing field `D.{key}` (struct array)")
    try:
        records = as_records(value)
    except TypeError as exc:
        raise FileFormatError(f"{mat.path}: field `D.{key}` is malformed: {exc}") from None
    for i, rec in enumerate(records):
        missing = [f for f in required if f not in rec]
        if missing:
            raise FileFormatError(f"{mat.path}: `D.{key}({i + 1})` is missing field(s) {missing}")
    return records


def read_channels(mat: MatFile) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """Labels, types, bad flags and units of ``D.channels``."""
    channels = _records(mat, "channels", ("label", "type"), ("label", "type", "bad", "units"))
    try:
        labels = [as_text(c["label"]) for c in channels]
        types = [as_text(c["type"]) for c in channels]
        bad = np.array([_record_value(c, "bad", as_scalar, 0.0) != 0 for c in channels], bool)
        units = [_record_value(c, "units", as_text, "") for c in channels]
    except TypeError as exc:
        raise FileFormatError(f"{mat.path}: `D.channels` is malformed: {exc}") from None
    return labels, types, bad, units


def read_header(mat: MatFile, *, external_dat: bool = False) -> SPMHeader:
    """Read and cross-check the header fields laminarray needs.

    ``external_dat`` lets ``D.data.fname`` point outside the header's
    directory (see :func:`locate_dat`).

    Raises
    ------
    FileFormatError
        Naming the missing or malformed field, or the disagreement between
        the header and the ``.dat`` file.
    """
    fsample = field(mat, ("Fsample",), as_scalar, "sampling rate in Hz")
    n_samples = field(mat, ("Nsamples",), as_scalar, "samples per trial")
    onset = field(mat, ("timeOnset",), as_scalar, "time of the first sample in s")
    if not np.isfinite(fsample) or fsample <= 0:
        raise FileFormatError(f"{mat.path}: `D.Fsample` must be > 0, found {fsample}")
    if n_samples != int(n_samples) or n_samples < 1:
        raise FileFormatError(
            f"{mat.path}: `D.Nsamples` must be a positive integer, found {n_samples}"
        )
    labels, types, bad, units = read_channels(mat)
    trials = (
        _records(mat, "trials", (), ("label", "bad", "onset")) if mat.has("D", "trials") else []
    )
    try:
        conditions = [_record_value(t, "label", as_text, "Undefined") for t in trials]
        bad_trials = np.array([_record_value(t, "bad", as_scalar, 0.0) != 0 for t in trials], bool)
        onsets = [_record_value(t, "onset", as_scalar, np.nan) for t in trials]
    except TypeError as exc:
        raise FileFormatError(f"{mat.path}: `D.trials` is malformed: {exc}") from None
    layout, slope, intercept = _data_layout(
        mat, len(labels), int(n_samples), len(trials), external_dat
    )
    n_trials = layout.shape[2]
    if not trials:
        conditions, bad_trials, onsets = ["Undefined"] * n_trials, np.zeros(n_trials, bool), []
    spm_type = mat.get("D", "type", default="")
    return SPMHeader(
        path=mat.path,
        format=mat.format,
        fsample=fsample,
        time_onset=onset,
        n_samples=int(n_samples),
        labels=labels,
        types=types,
        bad=bad,
        units=units,
        conditions=conditions,
        bad_trials=bad_trials,
        onsets=np.array(onsets, float) if onsets and np.isfinite(onsets).all() else None,
        layout=layout,
        slope=slope,
        intercept=intercept,
        spm_type=spm_type if isinstance(spm_type, str) else "",
    )


def _data_layout(
    mat: MatFile, n_channels: int, n_samples: int, n_trials: int, external_dat: bool
) -> tuple[DatLayout, np.ndarray | None, np.ndarray | None]:
    dims = field(mat, ("data", "dim"), as_vector, "dims of the binary array")
    if dims.size not in (2, 3) or np.any(dims != np.round(dims)) or np.any(dims < 1):
        raise FileFormatError(
            f"{mat.path}: `D.data.dim` must be [nchannels, nsamples(, ntrials)] of positive "
            f"integers, found {dims.tolist()}"
        )
    shape = (int(dims[0]), int(dims[1]), int(dims[2]) if dims.size == 3 else 1)
    expected = (n_channels, n_samples, n_trials or shape[2])
    if shape != expected:
        raise FileFormatError(
            f"{mat.path}: `D.data.dim` {list(shape)} disagrees with the header's "
            f"{n_channels} channels, {n_samples} samples (`D.Nsamples`) and "
            f"{n_trials or shape[2]} trials (`D.trials`)"
        )
    big_endian = mat.get("D", "data", "be", default=None)
    big_endian = bool(as_scalar(big_endian)) if _present(big_endian) else False
    code = mat.get("D", "data", "dtype", default=None)
    if not _present(code) or code == "":
        code = 16  # SPM12 writes float32
    try:
        dtype = parse_spm_dtype(code if isinstance(code, str) else as_scalar(code), big_endian)
    except (TypeError, FileFormatError) as exc:
        raise FileFormatError(f"{mat.path}: `D.data.dtype` is not usable: {exc}") from None
    offset = mat.get("D", "data", "offset", default=None)
    offset = field(mat, ("data", "offset"), as_scalar, "byte offset") if _present(offset) else 0
    if not np.isfinite(offset) or offset != int(offset) or offset < 0:
        raise FileFormatError(
            f"{mat.path}: `D.data.offset` must be an integer >= 0, found {offset}"
        )
    fname = mat.get("D", "data", "fname", default=None)
    layout = DatLayout(
        locate_dat(mat.path, fname, external=external_dat), dtype, shape, int(offset)
    )
    layout.check()
    slope = _scaling(mat, "scl_slope", n_channels)
    intercept = _scaling(mat, "scl_inter", n_channels)
    if slope is not None and np.all(slope == 1.0):
        slope = None
    if intercept is not None and np.all(intercept == 0.0):
        intercept = None
    return layout, slope, intercept


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, np.ndarray) and value.size == 0)


def _scaling(mat: MatFile, name: str, n_channels: int) -> np.ndarray | None:
    value = mat.get("D", "data", name, default=None)
    if not _present(value):
        return None
    try:
        vector = as_vector(value).astype(np.float64)
    except TypeError as exc:
        raise FileFormatError(f"{mat.path}: `D.data.{name}` is malformed: {exc}") from None
    if vector.size == 1:
        return np.full(n_channels, vector[0])
    if vector.size != n_channels:
        raise FileFormatError(
            f"{mat.path}: `D.data.{name}` must be a scalar or one value per channel "
            f"({n_channels}), found {vector.size} values"
        )
    return vector


def locate_dat(mat_path: Path, fname: Any, *, external: bool = False) -> Path:
    """The ``.dat`` of an SPM header, looked for as SPM12 does: beside the header first.

    Candidates, in order: the file name of ``D.data.fname`` (its last path
    component, also for Windows paths) in the header's directory, then
    ``<header>.dat``; only with ``external=True``, then ``D.data.fname`` as
    stored (absolute, or relative to the header, ``..`` allowed). A copied or
    moved dataset therefore reads its own binary, never the original's, and
    a crafted ``fname`` cannot make laminarray read another local file.

    Raises
    ------
    MissingFileError
        Listing the candidates looked for (and, when the stored path exists
        but was not followed, how to allow it).
    """
    candidates: list[Path] = []
    stored = None
    if isinstance(fname, str) and fname:
        name = PureWindowsPath(fname).name if "\\" in fname else Path(fname).name
        if name not in ("", ".", ".."):
            candidates.append(mat_path.parent / name)
        stored = Path(fname) if Path(fname).is_absolute() else mat_path.parent / fname
    candidates.append(mat_path.with_suffix(".dat"))
    if external and stored is not None:
        candidates.append(stored)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    hint = ""
    if stored is not None and not external and stored.is_file():
        hint = (
            f"; `D.data.fname` points to {stored} outside the header's directory: pass "
            "external_dat=True to read it"
        )
    raise MissingFileError(
        f"SPM data file for {mat_path} not found; looked for "
        + ", ".join(str(c) for c in dict.fromkeys(candidates))
        + hint
    )


# --------------------------------------------------------------------------- geometry


def read_fiducials(mat: MatFile) -> dict[str, Any]:
    """``D.fiducials`` as arrays in mm: fiducial labels/positions and head-shape points."""
    fid = mat.get("D", "fiducials", default=None)
    if not isinstance(fid, dict):
        return {}
    where = f"{mat.path}: `D.fiducials`"
    scale = length_factor(as_text(fid.get("unit", "mm")) or "mm", where)
    out: dict[str, Any] = {}
    inner = fid.get("fid")
    if isinstance(inner, dict) and _present(inner.get("pnt")):
        points = _points(inner["pnt"], where + ".fid.pnt") * scale
        labels = inner.get("label", [])
        labels = [as_text(x) for x in labels] if isinstance(labels, list) else [as_text(labels)]
        if len(labels) != len(points):
            raise FileFormatError(f"{where}.fid has {len(points)} points but {len(labels)} labels")
        out["fiducials"] = (labels, points)
    if _present(fid.get("pnt")):
        out["headshape"] = _points(fid["pnt"], where + ".pnt") * scale
    return out


def _points(value: Any, where: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise FileFormatError(f"{where} must be an (n, 3) array, found shape {array.shape}")
    return array


def read_sensors(mat: MatFile, labels: list[str]) -> dict[str, Any]:
    """Channel positions/orientations (mm) for ``labels`` and MEG coil geometry.

    Returns a dict with ``position``/``orientation`` ``(n_channels, 3)`` (NaN
    where a channel has no sensor) and, for MEG, ``coil_position``,
    ``coil_orientation`` ``(n_coils, 3)`` and ``coil_weight``
    ``(n_channels, n_coils)`` (the ``tra`` matrix, zero rows for channels
    without MEG sensors; rows of planar gradiometers in 1/mm), ``compensation``
    (FieldTrip's ``balance.current``, e.g. ``"G3BR"``: ``tra`` already
    includes it) and ``coord_frame`` (``coordsys``) when stored.
    """
    sensors = mat.get("D", "sensors", default=None)
    if not isinstance(sensors, dict):
        return {}
    index = {label: i for i, label in enumerate(labels)}
    position = np.full((len(labels), 3), np.nan)
    orientation = np.full((len(labels), 3), np.nan)
    out: dict[str, Any] = {}
    for kind in ("meg", "eeg"):
        sens = sensors.get(kind)
        if not isinstance(sens, dict) or "label" not in sens:
            continue
        where = f"{mat.path}: `D.sensors.{kind}`"
        scale = length_factor(as_text(sens.get("unit", "mm")) or "mm", where)
        names = sens["label"] if isinstance(sens["label"], list) else [sens["label"]]
        names = [as_text(n) for n in names]
        rows = np.array([index.get(n, -1) for n in names])
        keep = rows >= 0
        pos_key = "chanpos" if _present(sens.get("chanpos")) else "elecpos"
        for key, target, factor in ((pos_key, position, scale), ("chanori", orientation, 1.0)):
            if _present(sens.get(key)):
                values = _points(sens[key], f"{where}.{key}")
                if len(values) == len(names):
                    target[rows[keep]] = values[keep] * factor
        coil_pos = sens.get("coilpos", sens.get("pnt"))
        coil_ori = sens.get("coilori", sens.get("ori"))
        tra = sens.get("tra")
        if kind == "meg" and _present(coil_pos) and _present(coil_ori) and tra is not None:
            coil_pos = _points(coil_pos, f"{where}.coilpos") * scale
            coil_ori = _points(coil_ori, f"{where}.coilori")
            tra = tra.toarray() if hasattr(tra, "toarray") else np.asarray(tra, float)
            if tra.shape != (len(names), len(coil_pos)) or coil_ori.shape != coil_pos.shape:
                raise FileFormatError(
                    f"{where}: `tra` must be (n_channels={len(names)}, n_coils={len(coil_pos)}), "
                    f"found {tra.shape}; coil orientations {coil_ori.shape}"
                )
            # gradiometers per length (planar, chanunit T/m): weights per grad unit -> per mm
            units = sens.get("chanunit")
            units = [as_text(u) for u in units] if isinstance(units, list) else []
            if len(units) == len(names):
                per_length = np.array(["/" in u for u in units])
                tra = np.where(per_length[:, None], tra / scale, tra)
            weights = np.zeros((len(labels), len(coil_pos)))
            weights[rows[keep]] = tra[keep]
            out.update(coil_position=coil_pos, coil_orientation=coil_ori, coil_weight=weights)
            balance = sens.get("balance")
            current = as_text(balance.get("current", "")) if isinstance(balance, dict) else ""
            out["compensation"] = current or "none"
            if sens.get("coordsys") is not None:
                out["coord_frame"] = as_text(sens["coordsys"])
    if np.isfinite(position).any():
        out["position"] = position
    if np.isfinite(orientation).any():
        out["orientation"] = orientation
    return out
