"""The selection vocabulary shared by every module: layers, ROIs, time windows, projectors.

One rule each, so that the same argument selects the same thing everywhere:

- ``layers=`` — :func:`select_layers`: ``None`` or ``"all"`` keeps every
  layer; a name or an integer position selects that one layer and keeps the
  ``layer`` dim (results stay ``(layer, vertex, ...)``); a sequence selects
  those layers in the given order. Unknown names raise an error listing the
  known ones.
- ``roi=`` — :func:`resolve_roi`: a boolean mask over the vertices, from a
  mask, vertex labels, or names of stored ROI sets (see :mod:`laminarray.rois`).
- time windows — :func:`window_mask` / :func:`window_bounds`: a window
  ``(t0, t1)`` in seconds is **half-open** ``[t0, t1)`` by default (a sample
  ``t`` is in it when ``t0 <= t < t1``, each edge with a 1 ns tolerance for
  float rounding), as laMEG's ROI power selects it, so that consecutive
  windows tile the epoch without sharing a sample. ``closed=`` states another
  rule explicitly where one is needed. The only other rule in the library is
  SPM's inversion window (whole milliseconds, see
  :func:`laminarray.inverse.modes.inversion_samples` and design note
  spm_inversion §1.3), used where SPM parity needs it.
- ``inverse=`` — :func:`as_projector`: the ``projector (layer, vertex,
  channel)`` of an inverse Dataset or a projector DataArray; a gain passed by
  mistake is refused (by its units, in the projector validator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, SchemaError, check_option, describe
from ._vocabulary import as_str
from .validators import validate_projector

__all__ = [
    "CLOSURES",
    "TIME_TOLERANCE",
    "as_projector",
    "as_str",
    "layer_names",
    "resolve_roi",
    "roi_names",
    "select_layers",
    "window_bounds",
    "window_mask",
]

#: Tolerance (s) on window edges, absorbing float rounding of ms -> s conversions.
TIME_TOLERANCE = 1e-9
#: Window closure rules: ``"left"`` = ``[t0, t1)`` (the library's default),
#: ``"right"`` = ``(t0, t1]``, ``"both"`` = ``[t0, t1]``.
CLOSURES = ("left", "right", "both")


# --------------------------------------------------------------------------- layers


def layer_names(obj: Any) -> list[str]:
    """The ``layer`` labels of ``obj`` as a list of str."""
    return [str(name) for name in as_str(obj["layer"].values)]


def select_layers(obj: Any, layers: Any, *, name: str = "layers") -> Any:
    """Restrict ``obj`` to some of its layers (lazily), by the library's one rule.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Any object with a ``layer`` dim (gain, projector, source estimate,
        mesh, power).
    layers : None, "all", str, int or sequence of str/int
        ``None`` or ``"all"``: every layer (``obj`` unchanged). A name or an
        integer position: that layer, keeping the ``layer`` dim. A sequence:
        those layers in that order (names and positions may be mixed).
    name : str
        Argument name used in error messages.

    Returns
    -------
    Same type as ``obj``
        With the ``layer`` dim restricted (never dropped).

    Raises
    ------
    LaminarrayError
        If ``obj`` has no ``layer`` dim, or a layer is unknown (the message
        lists the known layers), or the selection is empty.
    """
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return obj
    if "layer" not in getattr(obj, "dims", ()):
        raise LaminarrayError(
            f"`{name}=` selects along `layer`, which this object lacks ({describe(obj)})"
        )
    known = layer_names(obj)
    wanted = [layers] if isinstance(layers, str | int | np.integer) else list(layers)
    positions: list[int] = []
    unknown: list[Any] = []
    for item in wanted:
        if isinstance(item, int | np.integer) and not isinstance(item, bool):
            if -len(known) <= int(item) < len(known):
                positions.append(int(item) % len(known))
            else:
                unknown.append(item)
        elif str(item) in known:
            positions.append(known.index(str(item)))
        else:
            unknown.append(item)
    if unknown or not positions:
        if not unknown:
            raise LaminarrayError(
                f"`{name}` selects nothing: expected at least one of the layers {known}"
            )
        raise LaminarrayError(
            f"`{name}` names unknown layers {unknown}, not among the layers {known}; expected "
            "'all', a layer name or position, or a list of them"
        )
    if positions == list(range(len(known))):
        return obj
    return obj.isel(layer=positions)


# --------------------------------------------------------------------------- ROIs


def roi_names(rois: Mapping[str, xr.Dataset]) -> list[str]:
    """Every name an ROI query may use with the ROI sets ``rois``, sorted."""
    names = {"all", *rois}
    for set_name, ds in rois.items():
        if "label_index" in ds:
            for label in map(str, ds["label"].values):
                names.update({label, f"{set_name}:{label}", label.split(".", 1)[-1]})
            names.update(ds.attrs.get("categories", {}))
    return sorted(names)


def _name_mask(name: str, rois: Mapping[str, xr.Dataset], n_vertices: int) -> np.ndarray | None:
    if name == "all":
        return np.ones(n_vertices, bool)
    set_name, _, region = name.rpartition(":")
    sets = {set_name: rois[set_name]} if set_name in rois else rois
    if not set_name and name in rois and "mask" in rois[name]:
        return np.asarray(rois[name]["mask"].values, bool)
    found = None
    for ds in sets.values():
        if "label_index" not in ds:
            continue
        labels = [str(v) for v in ds["label"].values]
        wanted = ds.attrs.get("categories", {}).get(region, [region])
        hits = [
            i for i, lab in enumerate(labels) if lab in wanted or lab.split(".", 1)[-1] in wanted
        ]
        if hits:
            mask = np.isin(np.asarray(ds["label_index"].values), hits)
            found = mask if found is None else found | mask
    return found


def resolve_roi(
    query: Any,
    rois: Mapping[str, xr.Dataset] | None,
    vertices: Any,
    *,
    name: str = "roi",
    within: str = "mesh",
) -> np.ndarray:
    """Boolean mask over ``vertices`` for an ROI query (the ``roi=`` keyword everywhere).

    Parameters
    ----------
    query : str, sequence of str, bool array/DataArray or vertex labels
        ``"all"``; a region, category or stored-mask name of ``rois`` (see
        :mod:`laminarray.rois`); a list of names (their union); a boolean
        mask with one entry per vertex (a boolean DataArray is aligned on its
        ``vertex`` coordinate); or integer vertex labels.
    rois : mapping of str to xarray.Dataset, or None
        Stored ROI sets that names refer to (``None``: no named ROI).
    vertices : array of int, shape (n_vertices,)
        The ``vertex`` labels the mask is aligned with.
    name : str
        Argument name used in error messages.
    within : str
        What ``vertices`` are the vertices of, for error messages.

    Returns
    -------
    ndarray of bool, shape (n_vertices,)

    Raises
    ------
    LaminarrayError
        For unknown names (listing the available ones), masks of the wrong
        shape, vertex labels not in ``vertices`` or another type.
    """
    rois = {} if rois is None else rois
    vertices = np.asarray(vertices)
    if isinstance(query, str):
        mask = _name_mask(query, rois, vertices.size)
        if mask is None:
            choices = roi_names(rois)
            raise LaminarrayError(
                f"unknown ROI {query!r} in `{name}`; available: {', '.join(choices[:40])}"
                + (f" ... ({len(choices)} in all)" if len(choices) > 40 else "")
            )
        return mask
    if isinstance(query, xr.DataArray) and query.dtype == bool and "vertex" in query.coords:
        return np.asarray(query.reindex(vertex=vertices, fill_value=False).values, bool)
    array = np.asarray(query.values if isinstance(query, xr.DataArray) else query)
    if array.dtype == bool:
        if array.shape != vertices.shape:
            raise LaminarrayError(
                f"a boolean `{name}` must have one entry per vertex: expected {vertices.shape}, "
                f"got {array.shape}"
            )
        return array
    if array.dtype.kind in "iu":
        missing = np.setdiff1d(array, vertices)
        if missing.size:
            raise LaminarrayError(
                f"`{name}` names unknown vertices (not in the {within}): {missing[:10].tolist()}"
            )
        return np.isin(vertices, array)
    if array.dtype.kind in "UO" and array.ndim == 1:
        out = np.zeros(vertices.size, bool)
        for item in array:
            out |= resolve_roi(str(item), rois, vertices, name=name, within=within)
        return out
    raise LaminarrayError(
        f"`{name}` must be a name, a list of names or a mask; got {describe(query)}"
    )


# --------------------------------------------------------------------------- time windows


def _window_edges(window: Any, name: str) -> tuple[float, float]:
    try:
        t0, t1 = (float(v) for v in window)
    except (TypeError, ValueError):
        raise LaminarrayError(
            f"`{name}` must be a pair (start, end) in s, got {window!r}"
        ) from None
    if not t0 < t1:
        raise LaminarrayError(f"`{name}` must have start < end (s), got {window!r}")
    return t0, t1


def window_mask(
    times: Any,
    window: Sequence[float],
    *,
    closed: str = "left",
    tolerance: float = TIME_TOLERANCE,
    name: str = "window",
) -> np.ndarray:
    """Samples of ``times`` inside a time window, by the library's one closure rule.

    Parameters
    ----------
    times : array, shape (n_times,)
        Sample times in s.
    window : (float, float)
        ``(t0, t1)`` in s, ``t0 < t1`` (``±inf`` allowed).
    closed : {"left", "right", "both"}
        ``"left"`` (the library's default): ``t0 <= t < t1``, so consecutive
        windows share no sample; ``"right"``: ``t0 < t <= t1``; ``"both"``:
        ``t0 <= t <= t1``.
    tolerance : float
        Seconds within which a sample counts as on an edge (default 1 ns,
        absorbing float rounding such as ``0.1 + 0.2``); 0 compares exactly.
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray of bool, shape (n_times,)
        Not empty.

    Raises
    ------
    LaminarrayError
        If ``window`` is not an increasing pair, or holds no sample.
    """
    check_option("closed", closed, CLOSURES)
    t0, t1 = _window_edges(window, name)
    times = np.asarray(times, dtype=np.float64)
    tol = float(tolerance)
    lower = times >= t0 - tol if closed in ("left", "both") else times > t0 + tol
    upper = times < t1 - tol if closed == "left" else times <= t1 + tol
    mask = lower & upper
    if not mask.any():
        rule = {"left": "half-open [start, end)", "right": "(start, end]", "both": "[start, end]"}[
            closed
        ]
        where = f"from {times[0]:.6g} to {times[-1]:.6g} s" if times.size else "(no samples)"
        raise LaminarrayError(
            f"`{name}` {tuple(window)!r} (s, {rule}) contains no sample of the data, "
            f"whose times run {where}"
        )
    return mask


def window_bounds(
    times: Any, window: Sequence[float], *, closed: str = "left", name: str = "window"
) -> tuple[int, int]:
    """``(start, stop)`` indices of a window over increasing ``times``: it is ``times[start:stop]``.

    Parameters
    ----------
    times : array, shape (n_times,)
        Increasing sample times in s.
    window : (float, float)
        ``(t0, t1)`` in s.
    closed : {"left", "right", "both"}
        Closure rule, as :func:`window_mask` (default ``[t0, t1)``).
    name : str
        Argument name used in error messages.

    Returns
    -------
    (int, int)
    """
    index = np.flatnonzero(window_mask(times, window, closed=closed, name=name))
    return int(index[0]), int(index[-1]) + 1


# --------------------------------------------------------------------------- projectors


def as_projector(
    inverse: Any,
    *,
    layers: Any = None,
    vertices: Any = None,
    name: str = "inverse",
    windows: bool = False,
) -> xr.DataArray:
    """The ``projector (layer, vertex, channel)`` of an inverse, selected, then validated.

    Layers and vertices are selected before validation, so only the selected
    part of a numpy projector is scanned for NaN/inf (comparing pial and white
    reads 2 of 11 layers).

    Parameters
    ----------
    inverse : xarray.Dataset or xarray.DataArray
        An inverse dataset with a ``projector`` variable, or a projector.
    layers : optional
        Layers to keep, by the rule of :func:`select_layers` (default all).
    vertices : array of int, optional
        ``vertex`` labels to keep, in that order (default all).
    name : str
        Argument name used in error messages.
    windows : bool
        Accept a sliding-window inversion (leading ``window`` dim); by default
        it is refused with a hint to select one window.

    Returns
    -------
    xarray.DataArray
        ``projector ([window,] layer, vertex, channel)``, units ``nAm/<sensor>``.

    Raises
    ------
    LaminarrayError
        If ``inverse`` is neither, has no ``projector``, is a gain (refused by
        :func:`laminarray.schema.validate_projector` from its units), or is a
        sliding-window inversion and ``windows`` is False, or a layer or
        vertex is unknown.
    """
    if isinstance(inverse, xr.Dataset):
        if "projector" not in inverse.data_vars:
            raise SchemaError(
                f"`{name}` must hold a `projector` variable; found {list(inverse.data_vars)}"
            )
        projector = inverse["projector"]
    elif isinstance(inverse, xr.DataArray):
        projector = inverse
    else:
        raise LaminarrayError(
            f"`{name}` must be an inverse Dataset or a projector DataArray, "
            f"got {describe(inverse)}"
        )
    if "window" in projector.dims and not windows:
        raise LaminarrayError(
            f"`{name}` is a sliding-window inversion (projector dims {projector.dims}); "
            f"select one window first, e.g. {name}.isel(window=0)"
        )
    if {"layer", "vertex"} <= set(projector.coords) & set(projector.dims):
        # (otherwise validation names what is missing)
        projector = select_layers(projector, layers)
        if vertices is not None:
            projector = projector.isel(vertex=_positions(projector.indexes["vertex"], vertices))
    return validate_projector(projector)


def _positions(index: Any, labels: Any) -> Any:
    """Integer positions of vertex ``labels`` in ``index`` (a slice when they are all of it)."""
    labels = np.atleast_1d(np.asarray(labels))
    if labels.shape == index.shape and np.array_equal(labels, np.asarray(index)):
        return slice(None)
    positions = index.get_indexer(labels)
    if np.any(positions < 0):
        raise LaminarrayError(f"unknown vertex labels: {labels[positions < 0][:5].tolist()}")
    return positions
