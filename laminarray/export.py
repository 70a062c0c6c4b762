"""Per-vertex results out of laminarray: GIFTI files for surface viewers, DataFrames for notebooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._validation import LaminarrayError, validate_type
from .schema import as_str


def to_gifti(
    values: xr.DataArray, path: str | os.PathLike[str], layer: str | int | None = None
) -> Path:
    """Write per-vertex values (one layer or all) as a ``.func.gii``/``.shape.gii`` file.

    Parameters
    ----------
    values : xarray.DataArray, dims (vertex,) or (layer, vertex) or (vertex, time)
        Computed if dask-backed.
    path : str or path-like
        Output file, ending in ``.func.gii`` or ``.shape.gii``.
    layer : str or int, optional
        Keep only this layer of a ``(layer, vertex)`` result.

    Returns
    -------
    pathlib.Path
    """
    from .io import write_gifti_values

    return write_gifti_values(values, path, layer=layer)


def to_dataframe(
    values: xr.DataArray,
    *,
    rois: Mapping[str, xr.Dataset] | None = None,
    roi_set: str | None = None,
) -> pd.DataFrame:
    """A tidy table of a labelled result, one row per element.

    Parameters
    ----------
    values : xarray.DataArray
        Any labelled result with a ``vertex`` dim (e.g. a ``(layer, vertex)``
        t-map); computed.
    rois : mapping name -> ROI set, optional
        Stored ROI sets (e.g. ``subject.rois``); with ``roi_set`` naming a
        parcellation among them, a ``roi`` column gives each vertex's region.
    roi_set : str, optional

    Returns
    -------
    pandas.DataFrame
        Columns for every dim (``layer``, ``vertex``, ...), the ``hemi`` and
        ``depth`` coordinates when present, ``roi`` when asked, and the
        values under the array's name.
    """
    validate_type(values, xr.DataArray, "values")
    if "vertex" not in values.dims:
        raise LaminarrayError(f"`values` must have a `vertex` dim; found {values.dims}")
    name = values.name or "value"
    frame = values.rename(name).to_dataframe().reset_index()
    keep = [d for d in values.dims] + [
        c for c in ("hemi", "depth") if c in values.coords and c not in values.dims
    ]
    frame = frame[[*dict.fromkeys(keep), name]]
    if roi_set is not None:
        sets = dict(rois or {})
        if roi_set not in sets or "label_index" not in sets[roi_set]:
            parcels = [k for k, v in sets.items() if "label_index" in v]
            raise LaminarrayError(f"unknown parcellation {roi_set!r}; available: {parcels}")
        ds = sets[roi_set]
        labels = np.append(as_str(ds["label"].values), "")
        per_vertex = pd.Series(labels[ds["label_index"].values], index=ds["vertex"].values)
        frame["roi"] = per_vertex.reindex(frame["vertex"].values).fillna("").values
    return frame


__all__ = ["to_dataframe", "to_gifti"]
