"""OPM sensor tables (FIL/UCL's BIDS-like ``*_positions.tsv`` and ``*_channels.tsv``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from ..forward.sensors import sensors_from_coils
from .errors import FileFormatError, MissingFileError

__all__ = ["read_opm_positions"]

_POSITION_COLUMNS = ("name", "Px", "Py", "Pz", "Ox", "Oy", "Oz")


def read_opm_positions(
    positions: str | Path, channels: str | Path | None = None, *, good_only: bool = False
) -> xr.Dataset:
    """An OPM array from its positions table (one row per sensor axis).

    Each row is one magnetometer channel: its name, position ``Px, Py, Pz``
    (mm) and sensing axis ``Ox, Oy, Oz``, in the frame of the recording (FIL's
    ``*_positions.tsv``). Channels are point magnetometers, as FieldTrip and
    SPM describe OPMs; MNE's QuSpin coil definitions (see
    :func:`laminarray.forward.sensors_from_mne`) integrate over the vapour
    cell and differ from point sensors by a few per cent at most.

    Parameters
    ----------
    positions : str or Path
        Tab-separated table with columns ``name, Px, Py, Pz, Ox, Oy, Oz``.
    channels : str or Path, optional
        The channels table (``name, type, units, status``): channel types and
        units are taken from it, and channels it lists as not ``MEGMAG``
        (triggers, ...) are left out.
    good_only : bool
        Keep only channels whose ``status`` is ``good`` (needs ``channels``).

    Returns
    -------
    xarray.Dataset
        A sensor array (see :func:`laminarray.forward.sensors_from_coils`), in
        mm, ``coord_frame`` ``"device"``.

    Raises
    ------
    MissingFileError, FileFormatError
        For a missing file, missing columns or non-numeric values (named).
    """
    rows = _table(positions, _POSITION_COLUMNS)
    names = [r["name"] for r in rows]
    try:
        values = np.array([[float(r[c]) for c in _POSITION_COLUMNS[1:]] for r in rows])
    except ValueError as err:
        raise FileFormatError(
            f"{positions}: non-numeric position or orientation ({err})"
        ) from None
    types, units = ["MEGMAG"] * len(names), ["fT"] * len(names)
    keep = np.ones(len(names), bool)
    if channels is not None:
        table = {r["name"]: r for r in _table(channels, ("name", "type", "units", "status"))}
        keep = np.array([n in table and table[n]["type"].upper() == "MEGMAG" for n in names])
        if good_only:
            keep &= np.array([n in table and table[n]["status"] == "good" for n in names])
        types = [table[n]["type"].upper() if n in table else "MEGMAG" for n in names]
        units = [table[n]["units"] if n in table else "fT" for n in names]
    elif good_only:
        raise FileFormatError("`good_only=True` needs the `channels` table with `status`")
    index = np.flatnonzero(keep)
    if index.size == 0:
        raise FileFormatError(f"{positions}: no MEGMAG channel to keep")
    return sensors_from_coils(
        values[index, :3],
        values[index, 3:],
        np.eye(index.size),
        labels=[names[i] for i in index],
        ch_types=[types[i] for i in index],
        ch_units=[units[i] for i in index],
        coord_frame="device",
        attrs={"source_file": str(positions)},
    )


def _table(path: str | Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"OPM table {path} not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise FileFormatError(
                f"{path}: missing column(s) {missing}; found {reader.fieldnames}"
            )
        return [{k: (v or "").strip() for k, v in row.items()} for row in reader]
