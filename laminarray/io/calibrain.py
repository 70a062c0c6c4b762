"""CaliBrain lead-field files (``<subject>_<fixed|free>_leadfield.npz``), read and written.

CaliBrain (1.0.3) stores a lead field as a numpy ``.npz`` archive written by
its ``extract_leadfield`` from an MNE forward solution, and loads it with its
``LeadfieldBuilder``. The keys:

=====================  =====================================================================
key                    content
=====================  =====================================================================
``leadfield``          fixed: ``(n_channels, n_sources)``; free MEG: ``(n_channels,
                       n_sources, 2)`` (each source's 3 orientations reduced to the 2 of
                       largest gain); free EEG: ``(n_channels, n_sources, 3)``
``Q_basis``            free: ``(n_sources, 3, k)`` orthonormal columns with
                       ``leadfield[:, s] = L_xyz[:, s] @ Q_basis[s]`` (``k`` = 2 for MEG,
                       identity for EEG); fixed: ``None`` (a pickled object) in
                       ``extract_leadfield``'s files, an empty ``(n_sources, 3, 0)`` in
                       CaliBrain's tutorials
``src_coords``         ``(n_sources, 3)`` source positions in metres (MNE head frame)
``sensor_kind``        FIFF channel kind (1 MEG, 2 EEG)
``sensor_units``       FIFF unit (112 T, 201 T/m, 107 V)
``sensor_unitmult``    FIFF unit multiplier: 0 (or absent) = SI lead field per A·m;
                       -15 (femto, MEG) or -6 (micro, EEG) = fT/nAm, fT/m/nAm or µV/nAm,
                       the units CaliBrain converts to when loading
``coil_type``          FIFF coil type (3022 magnetometer, 3012 planar gradiometer, 1 EEG)
``source_ori``         FIFF orientation code (1 fixed, 2 free)
``orientation_type``   ``"fixed"`` or ``"free"``
``subject``            subject identifier
``info``               the pickled ``mne.Info`` (never unpickled here: skipped with a warning)
=====================  =====================================================================

Files are read with ``allow_pickle=False``: object arrays (``info``, a
``None`` ``Q_basis``) are skipped with a warning naming them, never
unpickled. laminarray writes the same keys with plain numbers (so
CaliBrain's ``int(...)`` of the metadata works), no pickled objects, and its
own labels next to them (``channels``, ``layers``, ``depth``, ``vertices``,
``hemi``), which CaliBrain ignores; files written by earlier laminarray
versions (``units`` as a string) are read too.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe
from ..schema import gain_dataarray, validate_gain
from ..schema._vocabulary import as_str
from .errors import FileFormatError

__all__ = [
    "CALIBRAIN_SENSORS",
    "calibrain_leadfield_path",
    "read_calibrain_leadfield",
    "write_calibrain_leadfield",
]

# FIFF constants (mne.io.constants.FIFF)
_MEG_CH, _EEG_CH = 1, 2
_UNIT_T, _UNIT_T_M, _UNIT_V = 112, 201, 107
_UNITM_NONE, _UNITM_MU, _UNITM_F = 0, -6, -15
_FIXED_ORI, _FREE_ORI = 1, 2

#: laminarray gain units -> CaliBrain sensor metadata and the factor from the
#: laminarray value to CaliBrain's scaled value (fT/nAm, fT/m/nAm or µV/nAm).
CALIBRAIN_SENSORS: dict[str, dict[str, Any]] = {
    "fT/nAm": {
        "sensor_kind": _MEG_CH,
        "sensor_units": _UNIT_T,
        "sensor_unitmult": _UNITM_F,
        "coil_type": 3022,
        "factor": 1.0,
    },
    "fT/mm/nAm": {
        "sensor_kind": _MEG_CH,
        "sensor_units": _UNIT_T_M,
        "sensor_unitmult": _UNITM_F,
        "coil_type": 3012,
        "factor": 1e3,
    },
    "uV/nAm": {
        "sensor_kind": _EEG_CH,
        "sensor_units": _UNIT_V,
        "sensor_unitmult": _UNITM_MU,
        "coil_type": 1,
        "factor": 1.0,
    },
}
# (FIFF unit, multiplier) -> (laminarray units, factor from the stored value)
_READ_UNITS = {
    (_UNIT_T, _UNITM_NONE): ("fT/nAm", 1e6),  # T/(A·m)
    (_UNIT_T, _UNITM_F): ("fT/nAm", 1.0),
    (_UNIT_T_M, _UNITM_NONE): ("fT/mm/nAm", 1e3),  # T/m/(A·m)
    (_UNIT_T_M, _UNITM_F): ("fT/mm/nAm", 1e-3),  # fT/m/nAm
    (_UNIT_V, _UNITM_NONE): ("uV/nAm", 1e-3),  # V/(A·m)
    (_UNIT_V, _UNITM_MU): ("uV/nAm", 1.0),
}
_M_TO_MM = 1000.0


def calibrain_leadfield_path(directory: str | os.PathLike, subject: str, orientation: str) -> Path:
    """CaliBrain's file name for a subject's lead field: ``<subject>_<orientation>_leadfield.npz``.

    Parameters
    ----------
    directory : path-like
    subject : str
    orientation : {"fixed", "free"}

    Returns
    -------
    Path
    """
    if orientation not in ("fixed", "free"):
        raise LaminarrayError(f"`orientation` must be 'fixed' or 'free', got {orientation!r}")
    return Path(directory) / f"{subject}_{orientation}_leadfield.npz"


def _load_plain(path: Path) -> dict[str, np.ndarray]:
    """Every key of the archive that loads without unpickling; object keys skipped."""
    content, skipped = {}, []
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            try:
                content[key] = npz[key]
            except ValueError:
                skipped.append(key)
    if skipped:
        warnings.warn(
            f"{path.name}: skipped pickled object key(s) {skipped} (not unpickled for safety; "
            "laminarray does not need them)",
            UserWarning,
            stacklevel=3,
        )
    return content


def _int(content: dict[str, np.ndarray], key: str) -> int | None:
    if key not in content:
        return None
    value = content[key]
    if value.dtype.kind not in "iuf" or value.size != 1:
        return None
    return int(value.reshape(()))


def _units(path: Path, content: dict[str, np.ndarray], units: str | None) -> tuple[str, float]:
    """laminarray gain units and the factor converting the stored values to them."""
    unit, mult = _int(content, "sensor_units"), _int(content, "sensor_unitmult")
    if unit is None:
        legacy = content.get("units")
        if legacy is not None and legacy.dtype.kind == "U":
            return str(legacy), 1.0
        if units is None:
            raise FileFormatError(
                f"{str(path)!r}: no numeric `sensor_units` (FIFF unit code) and no `units` "
                "string: cannot tell the lead field's units; pass `units=` (e.g. 'fT/nAm')"
            )
        return units, 1.0
    key = (unit, _UNITM_NONE if mult is None else mult)
    if key not in _READ_UNITS:
        raise FileFormatError(
            f"{str(path)!r}: unsupported `sensor_units`={unit} with `sensor_unitmult`={mult}; "
            f"expected one of {sorted(_READ_UNITS)} (FIFF unit, multiplier)"
        )
    return _READ_UNITS[key]


def _free_to_xyz(path: Path, values: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """``(channel, source, k)`` components in ``Q_basis`` back to ``(channel, source, 3)``."""
    n_components = values.shape[-1]
    if basis is None:
        if n_components != 3:
            raise FileFormatError(
                f"{str(path)!r}: free lead field with {n_components} components needs a "
                "numeric `Q_basis` (n_sources, 3, k)"
            )
        return values
    if basis.shape != (values.shape[1], 3, n_components):
        raise FileFormatError(
            f"{str(path)!r}: `Q_basis` must have shape {(values.shape[1], 3, n_components)}, "
            f"got {basis.shape}"
        )
    return np.einsum("csk,sxk->csx", values, basis)


def _file_labels(content: dict[str, np.ndarray], n_layers: int, n_vertices: int) -> dict:
    """laminarray's own labels of the file, where they fit the requested layer split."""
    labels = {}
    if "depth" in content and content["depth"].shape == (n_layers,):
        labels["depth"] = content["depth"]
    for key in ("vertices", "hemi"):
        if key in content and content[key].shape == (n_vertices,):
            labels[key] = content[key]
    return labels


def read_calibrain_leadfield(
    path: str | os.PathLike,
    *,
    n_layers: int | None = None,
    layers: Any = None,
    units: str | None = None,
) -> xr.DataArray:
    """Read a CaliBrain lead field (or a laminarray one) into a labelled gain.

    Parameters
    ----------
    path : path-like
        ``.npz`` file in CaliBrain's layout (module docstring).
    n_layers : int, optional
        Split the flat sources into this many layers, layer-major (all
        vertices of the first layer, then the next...). Default: the file's
        ``layers`` or ``n_layers`` key, else 1.
    layers : sequence of str, optional
        Layer names (superficial to deep); implies ``n_layers``.
    units : str, optional
        Units of a file that has no unit keys (e.g. ``"fT/nAm"``); such a
        file is refused without it. Ignored when the file has them.

    Returns
    -------
    xarray.DataArray
        ``gain (channel, layer, vertex[, xyz])`` in fT/nAm (magnetometers),
        fT/mm/nAm (gradiometers) or uV/nAm (EEG), converted with
        ``sensor_units``/``sensor_unitmult``. Free orientation is returned in
        ``xyz``: a free MEG file's two components are mapped back with
        ``Q_basis`` (the discarded third orientation, the one of least gain,
        is absent). The three components are in the frame of the MNE forward
        solution CaliBrain extracted from: head-frame x, y, z, or each
        source's local (tangential, tangential, normal) frame when that
        forward was surface-oriented (CaliBrain converts a fixed forward to
        free with ``surf_ori=True``); attrs ``orientation_frame`` says
        ``"as stored"``. ``src_coords`` become ``source_x/y/z (layer, vertex)``
        in mm; attrs ``orientation``, ``sensor_kind``, ``coil_type``,
        ``subject``, ``forward_model``, ``source_file``.
    """
    path = Path(path)
    if not path.is_file():
        raise LaminarrayError(f"`path` {str(path)!r} is not a file")
    content = _load_plain(path)
    key = "leadfield" if "leadfield" in content else "lead_field"
    if key not in content:
        raise FileFormatError(
            f"{str(path)!r} has no `leadfield` array; found keys {sorted(content)}"
        )
    values = np.asarray(content[key], dtype=np.float64)
    units, factor = _units(path, content, units)
    orientation = str(content.get("orientation_type", "free" if values.ndim == 3 else "fixed"))
    free = orientation == "free"
    if values.ndim != 2 + free:
        raise FileFormatError(
            f"{str(path)!r}: a {orientation} `leadfield` must be (n_channels, n_sources"
            f"{', k' if free else ''}); got {describe(values)}"
        )
    if free:
        values = _free_to_xyz(path, values, content.get("Q_basis"))
    file_layers = content.get("layers")
    if layers is None and n_layers is None and file_layers is not None:
        layers = [str(x) for x in file_layers]
    if layers is not None:
        layers = [str(x) for x in layers]
        n_layers = len(layers)
    n_layers = int(n_layers or _int(content, "n_layers") or 1)
    if values.shape[1] % n_layers:
        raise LaminarrayError(
            f"{str(path)!r}: `leadfield` has {values.shape[1]} sources, not a multiple of "
            f"{n_layers} layers"
        )
    values = values.reshape((values.shape[0], n_layers, -1, *values.shape[2:])) * factor
    kind = _int(content, "sensor_kind")
    prefix = "EEG" if kind == _EEG_CH or units == "uV/nAm" else "MEG"
    labels = content.get("channels", content.get("ch_names"))
    if labels is None:
        labels = [f"{prefix}{i + 1:03d}" for i in range(values.shape[0])]
    attrs = {
        "forward_model": "loaded",
        "source_file": str(path),
        "orientation": "free" if free else "fixed",
        **({"orientation_frame": "as stored"} if free else {}),
        "sensor_kind": {_MEG_CH: "MEG", _EEG_CH: "EEG"}.get(
            kind, str(content.get("sensor_kind", "unknown"))
        ),
    }
    for name in ("coil_type", "source_ori"):
        if _int(content, name) is not None:
            attrs[name] = _int(content, name)
    if "subject" in content and content["subject"].dtype.kind == "U":
        attrs["subject"] = str(content["subject"])
    gain = gain_dataarray(
        values,
        [str(x) for x in labels],
        layers=layers,
        **_file_labels(content, n_layers, values.shape[2]),
        units=units,
        ch_types={"fT/mm/nAm": "MEGPLANAR", "uV/nAm": "EEG"}.get(units, prefix),
        attrs=attrs,
    )
    positions = None
    if "src_coords" in content:
        positions = np.asarray(content["src_coords"], dtype=np.float64) * _M_TO_MM
    elif "positions" in content:  # earlier laminarray files, mm
        positions = np.asarray(content["positions"], dtype=np.float64)
    if positions is not None:
        positions = positions.reshape(gain.sizes["layer"], gain.sizes["vertex"], 3)
        gain = gain.assign_coords(
            {
                f"source_{a}": (("layer", "vertex"), positions[..., i], {"units": "mm"})
                for i, a in enumerate("xyz")
            }
        )
    return gain


def _canonical_basis(vt: np.ndarray) -> np.ndarray:
    """Right singular vectors (sources, k, 3) as columns (sources, 3, k), signs fixed.

    Each column's entry of largest magnitude is made non-negative (CaliBrain's
    convention), so the basis does not depend on the SVD's arbitrary signs.
    """
    basis = np.swapaxes(vt, -1, -2)
    rows = np.argmax(np.abs(basis), axis=1)  # (sources, k)
    peak = np.take_along_axis(basis, rows[:, None, :], axis=1)
    return basis * np.where(peak < 0, -1.0, 1.0)


def write_calibrain_leadfield(
    gain: xr.DataArray, path: str | os.PathLike, *, subject: str | None = None
) -> Path:
    """Write a gain as CaliBrain's ``extract_leadfield`` does, readable by CaliBrain and laminarray.

    Parameters
    ----------
    gain : xarray.DataArray
        ``(channel, layer, vertex[, xyz])`` of one sensor type: units
        ``fT/nAm`` (magnetometers), ``fT/mm/nAm`` (gradiometers, stored as
        fT/m/nAm) or ``uV/nAm`` (EEG).
    path : path-like
        Output file; :func:`calibrain_leadfield_path` gives CaliBrain's name.
    subject : str, optional
        Stored as ``subject`` (default the gain's ``subject`` attr, else the
        file name's first part).

    Returns
    -------
    Path

    Notes
    -----
    Sources are flattened layer-major. Values are stored already scaled
    (``sensor_unitmult`` -15 for MEG, -6 for EEG), so CaliBrain loads them
    unchanged. Free MEG sources keep the two orientations of largest gain
    (per-source SVD of the ``(channel, 3)`` block, as CaliBrain does) with
    their ``Q_basis``; the dropped orientation carries no field in a
    spherical head and little in a BEM. Free EEG keeps all three with an
    identity ``Q_basis``; fixed sources get an empty ``(n_sources, 3, 0)``
    ``Q_basis``. ``coil_type`` is the gain's ``coil_type`` attr (kept from a
    CaliBrain file), else 3022 (magnetometer), 3012 (planar gradiometer) or
    1 (EEG). No pickled objects are written (no ``info``).
    """
    gain = validate_gain(gain)
    units = str(gain.attrs.get("units", ""))
    if units not in CALIBRAIN_SENSORS:
        raise LaminarrayError(
            f"`gain` units must be one of {sorted(CALIBRAIN_SENSORS)} (one sensor type per "
            f"CaliBrain file), got {units!r}"
        )
    sensor = CALIBRAIN_SENSORS[units]
    n_ch, n_l, n_v = (gain.sizes[d] for d in ("channel", "layer", "vertex"))
    free = "xyz" in gain.dims
    order = ("channel", "layer", "vertex", *(("xyz",) if free else ()))
    values = np.asarray(gain.transpose(*order).values, dtype=np.float64)
    values = values.reshape((n_ch, n_l * n_v, *values.shape[3:])) * sensor["factor"]
    if not free:
        basis = np.zeros((n_l * n_v, 3, 0))
    elif sensor["sensor_kind"] == _EEG_CH:
        basis = np.repeat(np.eye(3)[None], n_l * n_v, axis=0)
    else:
        _, _, vt = np.linalg.svd(np.moveaxis(values, 1, 0), full_matrices=False)
        basis = _canonical_basis(vt[:, :2, :])
        values = np.einsum("csx,sxk->csk", values, basis)
    extra = {}
    if all(f"source_{a}" in gain.coords for a in "xyz"):
        positions = np.stack(
            [gain[f"source_{a}"].transpose("layer", "vertex").values for a in "xyz"], axis=-1
        )
        extra["src_coords"] = positions.reshape(-1, 3) / _M_TO_MM
    if "hemi" in gain.coords:
        extra["hemi"] = as_str(gain["hemi"].values)
    path = Path(path)
    subject = subject or str(gain.attrs.get("subject", path.name.split("_")[0]))
    np.savez(
        path,
        subject=np.array(subject),
        leadfield=values,
        source_ori=np.array(_FREE_ORI if free else _FIXED_ORI),
        orientation_type=np.array("free" if free else "fixed"),
        coil_type=np.array(int(gain.attrs.get("coil_type", sensor["coil_type"]))),
        sensor_kind=np.array(sensor["sensor_kind"]),
        sensor_units=np.array(sensor["sensor_units"]),
        sensor_unitmult=np.array(sensor["sensor_unitmult"]),
        Q_basis=basis,
        channels=as_str(gain["channel"].values),
        layers=as_str(gain["layer"].values),
        depth=gain["depth"].values,
        vertices=gain["vertex"].values,
        **extra,
    )
    return path
