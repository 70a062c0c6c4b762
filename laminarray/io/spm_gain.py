"""SPM gain-matrix files (``SPMgainmatrix_<data>_<i>.mat``) <-> gain DataArrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse
import xarray as xr

from .._validation import validate_type
from ..schema import gain_dataarray, validate_gain
from ._matfile import MatFile, as_text
from ._matwrite import write_mat
from .errors import FileFormatError

__all__ = ["read_spm_gain", "spm_gain_path", "write_spm_gain"]


def spm_gain_path(data_path: str | Path, index: int = 0) -> Path:
    """Where SPM keeps the gain of inversion ``index`` (0-based) of an M/EEG dataset."""
    data_path = Path(data_path)
    return data_path.parent / f"SPMgainmatrix_{data_path.stem}_{index + 1}.mat"


def read_spm_gain(
    path: str | Path,
    n_layers: int,
    *,
    layers: list[str] | None = None,
    units: str = "fT/nAm",
) -> xr.DataArray:
    """Read an SPM gain file as a gain ``(channel, layer, vertex)``.

    Parameters
    ----------
    path : str or Path
        ``SPMgainmatrix_*.mat`` (v7.3 or v5) holding ``G`` (channels x
        sources, MATLAB orientation) and ``label`` (cellstr).
    n_layers : int
        Layers of the multilayer source space; sources are layer-major (all
        vertices of layer 0, then layer 1, ...).
    layers : list of str, optional
        Layer names (default laMEG's ``pial, ..., white``).
    units : str
        Units of ``G``; SPM's are fT per nA·m for MEG with SI units.

    Returns
    -------
    xarray.DataArray
        ``gain (channel, layer, vertex)``, float64.

    Raises
    ------
    FileFormatError
        If ``G`` or ``label`` is missing or their sizes disagree, or the
        sources do not split into ``n_layers`` equal layers.
    """
    with MatFile(path) as mat:
        for name in ("G", "label"):
            if name not in mat.variables():
                raise FileFormatError(
                    f"{path} is not an SPM gain file: no variable `{name}` "
                    f"(found {mat.variables()})"
                )
        gain = mat.get("G")
        raw_labels = mat.get("label")
    if scipy.sparse.issparse(gain):
        gain = gain.toarray()
    gain = np.asarray(gain)
    if gain.ndim != 2 or gain.dtype == object:
        raise FileFormatError(f"{path}: `G` must be a numeric matrix, found shape {gain.shape}")
    try:
        labels = [
            as_text(x) for x in (raw_labels if isinstance(raw_labels, list) else [raw_labels])
        ]
    except TypeError as exc:
        raise FileFormatError(f"{path}: `label` must be a cell array of text: {exc}") from None
    if len(labels) != gain.shape[0]:
        raise FileFormatError(
            f"{path}: `G` has {gain.shape[0]} channel rows but `label` has {len(labels)} labels"
        )
    if n_layers < 1 or gain.shape[1] % n_layers:
        raise FileFormatError(
            f"{path}: `G` has {gain.shape[1]} sources, not a multiple of n_layers={n_layers}"
        )
    values = gain.astype(np.float64, copy=False).reshape(gain.shape[0], n_layers, -1)
    return gain_dataarray(values, labels, layers, units=units, attrs={"source_file": str(path)})


def write_spm_gain(gain: xr.DataArray, path: str | Path, format: str = "v7.3") -> Path:
    """Write a gain ``(channel, layer, vertex)`` as an SPM gain file.

    ``G`` is written channels x sources in layer-major source order (float64)
    with ``label`` as an n x 1 cellstr, the layout ``spm_eeg_lgainmat`` and
    laMEG read. Free-orientation gains (with ``xyz``) are rejected: SPM's
    gain files hold oriented sources.

    Returns
    -------
    Path
    """
    validate_type(gain, xr.DataArray, "gain")
    gain = validate_gain(gain)
    if "xyz" in gain.dims:
        raise FileFormatError(
            "SPM gain files hold oriented sources; project the free-orientation gain on "
            "the dipole orientations first (found dims with `xyz`)"
        )
    values = np.asarray(gain.values, dtype=np.float64).reshape(gain.sizes["channel"], -1)
    labels = np.array([[str(c)] for c in gain["channel"].values], dtype=object)
    write_mat(path, {"G": values, "label": labels}, format)
    return Path(path)
