"""MEG sensor arrays from MNE-Python's measurement info (optional extra ``mne``).

:func:`sensors_from_mne` turns ``info`` into the sensor schema of
:mod:`laminarray.forward.sensors` with MNE's own description of every coil
type it knows (its ``coil_def.dat``: CTF axial gradiometers and reference
coils, Neuromag/Elekta/MEGIN magnetometers and planar gradiometers, KIT, BTi
and Magnes, and OPMs such as QuSpin and FIL), at MNE's "accurate"
integration points, in the head frame (``info["dev_head_t"]``).

CTF data are stored with synthetic gradient compensation (grade 1, 2 or 3):
each channel is the raw gradiometer minus a weighted sum of reference
channels. The forward model of the data as stored must do the same, so the
compensation is folded into ``coil_weight`` exactly as MNE's forward does it
(``make_compensator(info, 0, grade)`` applied to the gain of all channels
and references): every compensated channel's row also holds the reference
coils, with the compensation weights. SSP projectors (``info["projs"]``) are
carried as ``ssp_vector`` so that :func:`laminarray.forward.apply_ssp`
projects the gain as MNE projects the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, import_optional
from .sensors import make_fiducials, sensors_from_coils

__all__ = [
    "mne_channel_types",
    "mne_compensation_grade",
    "mne_fiducials",
    "mne_ssp",
    "sensors_from_mne",
]

# MNE's coil classes (coil_def.dat) -> laminarray channel types
_COIL_CLASS_TYPES = {1: "MAG", 2: "GRAD", 3: "PLANAR", 4: "GRAD"}
_M_TO_MM = 1000.0


def _mne() -> Any:
    return import_optional("mne", "mne", "MEG sensors from MNE-Python's info")


def mne_channel_types(info: Any) -> list[str]:
    """laminarray (SPM) channel types of every channel of an MNE ``info``.

    MEG channels are ``"MEGMAG"`` (magnetometers, OPMs), ``"MEGGRAD"`` (axial
    gradiometers: CTF, KIT, Magnes) or ``"MEGPLANAR"`` (planar
    gradiometers), from the class of their coil in MNE's coil definitions;
    reference channels ``"REFMAG"``/``"REFGRAD"``; other channels MNE's type
    in upper case (``"EEG"``, ``"EOG"``, ``"STIM"``, ...).

    Parameters
    ----------
    info : mne.Info

    Returns
    -------
    list of str
    """
    mne = _mne()
    from mne.forward._make_forward import _read_coil_defs

    classes = {int(d["coil_type"]): int(d["coil_class"]) for d in _read_coil_defs(verbose=False)}
    fiff = mne.io.constants.FIFF
    out = []
    for ch, kind in zip(info["chs"], info.get_channel_types(), strict=True):
        if ch["kind"] in (fiff.FIFFV_MEG_CH, fiff.FIFFV_REF_MEG_CH):
            # the upper 16 bits of a CTF coil type hold the compensation grade
            coil_type = int(ch["coil_type"]) & 0xFFFF
            family = _COIL_CLASS_TYPES.get(classes.get(coil_type, 1), "MAG")
            if ch["unit"] == fiff.FIFF_UNIT_T_M:
                family = "PLANAR"
            prefix = "REF" if ch["kind"] == fiff.FIFFV_REF_MEG_CH else "MEG"
            out.append(prefix + ("GRAD" if prefix == "REF" and family != "MAG" else family))
        else:
            out.append(kind.upper())
    return out


def sensors_from_mne(info: Any, *, picks: Any = None) -> xr.Dataset:
    """The MEG sensor array of an MNE ``info``, as MNE's forward model sees it.

    Parameters
    ----------
    info : mne.Info
        Measurement info of the data (``raw.info``, ``epochs.info``,
        ``evoked.info``), with the device->head transform for head-frame
        sensors. Its current CTF compensation grade is the one applied.
    picks : str, list of str or int, optional
        MEG channels to keep, as MNE's ``picks`` (``"mag"``, ``"grad"``,
        channel names or indices). Default: every MEG channel (bad ones
        included, as MNE's forward does), without reference channels.

    Returns
    -------
    xarray.Dataset
        A sensor array (see :func:`laminarray.forward.sensors_from_coils`)
        in mm, ``coord_frame`` ``"head"`` (``"device"`` when ``info`` has no
        device->head transform): magnetometer and axial-gradiometer channels
        in fT, planar gradiometers in fT/mm; ``fiducials`` from the
        digitisation when present; ``ssp_vector`` from ``info["projs"]``;
        attrs ``compensation_grade`` and ``mne_coil_types``.

    Raises
    ------
    LaminarrayError
        Without MEG channels, or with KIT reference channels (which MNE
        cannot model: drop them with ``info.pick(...)`` first).

    Examples
    --------
    >>> raw = mne.io.read_raw_ctf("sub-01.ds")  # doctest: +SKIP
    >>> sensors = forward.sensors_from_mne(raw.info)  # doctest: +SKIP
    >>> gain = forward.sphere_gain(mesh, sensors)  # doctest: +SKIP
    """
    mne = _mne()
    from mne.forward._make_forward import _prep_meg_channels

    if not isinstance(info, mne.Info):
        raise LaminarrayError(f"`info` must be an mne.Info, got {type(info).__name__}")
    head_frame = info["dev_head_t"] is not None
    try:
        meg = _prep_meg_channels(info, accuracy="accurate", head_frame=head_frame, verbose=False)
    except (RuntimeError, NotImplementedError) as err:
        raise LaminarrayError(f"cannot describe the MEG sensors of `info`: {err}") from None
    grade = mne_compensation_grade(info)
    if grade and meg["compensator"] is None:
        raise LaminarrayError(
            f"the data are stored with CTF compensation grade {grade} but `info` has no "
            "reference channels to model it: pass the info with its reference (ref_meg) "
            "channels, or apply_gradient_compensation(0) to the data first"
        )
    info_meg = meg["info"]
    coils = meg["defs"]
    fiff = mne.io.constants.FIFF
    # one row per MEG and reference channel, its own integration points
    sizes = np.array([len(c["w"]) for c in coils])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    tra = np.zeros((len(coils), starts[-1]))
    for i, (coil, ch) in enumerate(zip(coils, info_meg["chs"], strict=True)):
        per_mm = 1.0 / _M_TO_MM if ch["unit"] == fiff.FIFF_UNIT_T_M else 1.0
        tra[i, starts[i] : starts[i + 1]] = coil["w"] * per_mm
    if meg["compensator"] is not None:
        tra = meg["compensator"] @ tra
    rows = np.arange(len(coils)) if meg["post_picks"] is None else np.asarray(meg["post_picks"])
    names = [info_meg["ch_names"][i] for i in rows]
    if picks is not None:
        wanted = {info["ch_names"][i] for i in _pick_indices(mne, info, picks)}
        keep = [k for k, name in enumerate(names) if name in wanted]
        if not keep:
            raise LaminarrayError(f"`picks={picks!r}` selects no MEG channel of `info`")
        rows, names = rows[keep], [names[k] for k in keep]
    tra = tra[rows]
    used = np.flatnonzero(np.any(tra != 0, axis=0))
    chs = [info_meg["chs"][i] for i in rows]
    transform = info["dev_head_t"]["trans"] if head_frame else np.eye(4)
    loc = np.array([ch["loc"] for ch in chs])
    positions = (loc[:, :3] @ transform[:3, :3].T + transform[:3, 3]) * _M_TO_MM
    orientations = loc[:, 9:12] @ transform[:3, :3].T
    all_types = dict(zip(info["ch_names"], mne_channel_types(info), strict=True))
    # MNE senses along cosmag as given (not quite unit length when the stored
    # coil frame is float32): fold the lengths into the weights
    cosmag = np.concatenate([c["cosmag"] for c in coils])[used]
    lengths = np.linalg.norm(cosmag, axis=1)
    return sensors_from_coils(
        np.concatenate([c["rmag"] for c in coils])[used] * _M_TO_MM,
        cosmag / lengths[:, None],
        tra[:, used] * lengths,
        labels=names,
        ch_types=[all_types[n] for n in names],
        positions=positions,
        orientations=orientations,
        fiducials=mne_fiducials(info),
        ssp=mne_ssp(info),
        coord_frame="head" if head_frame else "device",
        attrs={
            "compensation_grade": grade,
            "mne_coil_types": [int(ch["coil_type"]) for ch in chs],
            "source": "mne.Info",
        },
    )


def mne_compensation_grade(info: Any) -> int:
    """The CTF synthetic-gradient compensation grade of the data (0 without compensation).

    Read from the channels' coil types, so it survives ``pick_info`` dropping the
    reference channels and the compensation matrices.
    """
    _mne()
    from mne._fiff.compensator import get_current_comp

    return int(get_current_comp(info) or 0)


def mne_fiducials(info: Any) -> xr.DataArray | None:
    """Nasion, LPA and RPA (mm, head frame) from ``info["dig"]``, or None without them."""
    mne = _mne()
    fiff = mne.io.constants.FIFF
    found = {}
    for point in info["dig"] or []:
        if point["kind"] == fiff.FIFFV_POINT_CARDINAL and point["coord_frame"] == (
            fiff.FIFFV_COORD_HEAD
        ):
            found[int(point["ident"])] = np.asarray(point["r"], float) * _M_TO_MM
    idents = (fiff.FIFFV_POINT_NASION, fiff.FIFFV_POINT_LPA, fiff.FIFFV_POINT_RPA)
    if not all(int(k) in found for k in idents):
        return None
    return make_fiducials(*(found[int(k)] for k in idents))


def mne_ssp(info: Any) -> xr.DataArray | None:
    """``info["projs"]`` as a ``(ssp, channel)`` array over their channels, or None."""
    projs = info["projs"]
    if not projs:
        return None
    channels = sorted({name for p in projs for name in p["data"]["col_names"]})
    column = {name: j for j, name in enumerate(channels)}
    vectors = np.zeros((len(projs), len(channels)))
    for i, proj in enumerate(projs):
        cols = [column[name] for name in proj["data"]["col_names"]]
        vectors[i, cols] = np.asarray(proj["data"]["data"], float).reshape(-1)
    return xr.DataArray(
        vectors,
        dims=("ssp", "channel"),
        coords={
            "ssp": [str(p["desc"]) for p in projs],
            "channel": channels,
            "ssp_active": ("ssp", np.array([bool(p["active"]) for p in projs])),
        },
    )


def _pick_indices(mne: Any, info: Any, picks: Any) -> Sequence[int]:
    from mne._fiff.pick import _picks_to_idx

    try:
        return _picks_to_idx(info, picks, exclude=())
    except ValueError as err:
        raise LaminarrayError(f"`picks`: {err}") from None
