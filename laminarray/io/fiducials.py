"""Fiducial tables (one row per subject, ``"x,y,z"`` cells), as laMEG's ``get_fiducial_coords``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from ..schema import XYZ
from .errors import FileFormatError, MissingFileError

__all__ = ["read_fiducials"]


def read_fiducials(
    path: str | Path,
    subject: str,
    *,
    col_delimiter: str | None = None,
    subject_column: str = "subj_id",
    nas_column: str = "nas",
    lpa_column: str = "lpa",
    rpa_column: str = "rpa",
    val_delimiter: str = ",",
) -> xr.DataArray:
    """MRI fiducials of one subject from a TSV/CSV table.

    Parameters
    ----------
    path : str or Path
        Table with a header row; one row per subject.
    subject : str
        Value of ``subject_column`` to look up (the first matching row is used).
    col_delimiter : str, optional
        Column separator; default ``","`` for ``.csv`` files, tab otherwise
        (laMEG's default).
    subject_column, nas_column, lpa_column, rpa_column : str
        Column names.
    val_delimiter : str
        Separator of the three coordinates inside a cell.

    Returns
    -------
    xarray.DataArray
        ``fiducials (fiducial, xyz)`` in mm (scanner RAS), ``fiducial`` =
        ``["nas", "lpa", "rpa"]``.

    Raises
    ------
    FileFormatError
        If a column is missing, the subject is not in the table (laMEG returns
        ``None`` instead) or a cell is not three numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"fiducials table not found: {path}")
    if col_delimiter is None:
        col_delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    columns = {"nas": nas_column, "lpa": lpa_column, "rpa": rpa_column}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=col_delimiter)
        header = reader.fieldnames or []
        missing = [c for c in (subject_column, *columns.values()) if c not in header]
        if missing:
            raise FileFormatError(
                f"{path}: missing column(s) {missing}; header has {header} "
                f"(column delimiter {col_delimiter!r})"
            )
        rows = list(reader)
    row = next((r for r in rows if (r[subject_column] or "").strip() == str(subject)), None)
    if row is None:
        known = [r[subject_column] for r in rows][:10]
        raise FileFormatError(
            f"{path}: subject {subject!r} not found in column {subject_column!r} "
            f"(first subjects: {known})"
        )
    points = np.array(
        [
            _parse_cell(row[col], val_delimiter, f"{path}: {subject} {col}")
            for col in columns.values()
        ]
    )
    return xr.DataArray(
        points,
        dims=("fiducial", "xyz"),
        coords={"fiducial": list(columns), "xyz": list(XYZ)},
        name="fiducials",
        attrs={"units": "mm", "long_name": "MRI fiducial position", "subject": str(subject)},
    )


def _parse_cell(cell: str | None, delimiter: str, where: str) -> list[float]:
    parts = (cell or "").strip().strip("[]()").split(delimiter)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or not np.all(np.isfinite(values)):
        raise FileFormatError(
            f"{where}: expected three numbers separated by {delimiter!r}, found {cell!r}"
        )
    return values
