"""Expression sets: log10 p-values of transform expression over sources and latency.

An expression set is an :class:`xarray.Dataset` with one variable
``log_p (transform, <source dims>, latency)``: ``<source dims>`` are
``(layer, vertex)`` in source space (with ``depth (layer)`` and
``hemi (vertex)`` coords) or ``(channel,)`` in sensor space; ``transform``
holds the transforms' names and ``latency`` is in seconds. Values are
log10 p (0 = p of 1, -10 = p of 1e-10). It is stored in a study archive
under ``/<subject>/results/<name>`` like any other result.

The helpers here are plain functions of the Dataset, so the object stays an
ordinary xarray Dataset.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import LaminarrayError, SchemaError, describe
from ..schema import as_str

__all__ = [
    "best_transforms",
    "combine",
    "crop",
    "expression_set",
    "rename",
    "source_dims",
    "validate_expression_set",
]

LOG_P_ATTRS = {"units": "1", "long_name": "log10 p-value of transform expression"}
LATENCY_ATTRS = {"units": "s", "long_name": "latency"}


def expression_set(
    log_p: Any,
    transforms: Any,
    latencies: Any,
    *,
    layers: Any = None,
    vertices: Any = None,
    depth: Any = None,
    hemi: Any = None,
    channels: Any = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build an expression set from an array of log10 p-values.

    Parameters
    ----------
    log_p : array, shape (n_transforms, n_layers, n_vertices, n_latencies) or (n_transforms, n_channels, n_latencies)
        log10 p-values (<= 0); numpy or dask.
    transforms : sequence of str, length n_transforms
    latencies : array, shape (n_latencies,)
        Seconds.
    layers, vertices, depth, hemi
        Source-space labels, as in :func:`laminarray.schema.source_dataarray`
        (default laMEG layer names, ``0..n_vertices-1``, equidistant depth).
    channels : sequence of str, optional
        Channel labels: pass them (and a 3-D ``log_p``) for a sensor-space set.
    attrs : dict, optional

    Returns
    -------
    xarray.Dataset
        Validated by :func:`validate_expression_set`.
    """
    from .. import schema

    values = np.asarray(log_p) if not hasattr(log_p, "chunks") else log_p
    dims: tuple[str, ...] = (
        ("transform", "channel", "latency")
        if channels is not None
        else ("transform", "layer", "vertex", "latency")
    )
    if values.ndim != len(dims):
        raise LaminarrayError(f"`log_p` must have dims {dims}, got {describe(values)}")
    if channels is not None:
        coords: dict[str, Any] = {"channel": as_str(channels)}
    else:
        template = schema.projector_dataarray(
            np.zeros((values.shape[1], values.shape[2], 1)),
            ["-"],
            layers,
            vertices,
            depth=depth,
            hemi=hemi,
        )
        coords = {k: v.variable for k, v in template.coords.items() if k != "channel"}
    coords["transform"] = as_str(transforms)
    coords["latency"] = ("latency", np.asarray(latencies, dtype=np.float64), dict(LATENCY_ATTRS))
    ds = xr.Dataset(
        {"log_p": (dims, values, dict(LOG_P_ATTRS))}, coords=coords, attrs=dict(attrs or {})
    )
    return validate_expression_set(ds)


def source_dims(es: xr.Dataset) -> tuple[Hashable, ...]:
    """The source dims of an expression set: ``(layer, vertex)`` or ``(channel,)``."""
    return tuple(d for d in es["log_p"].dims if d not in ("transform", "latency"))


def validate_expression_set(es: xr.Dataset) -> xr.Dataset:
    """Check an expression set and return it with ``log_p`` in canonical dim order.

    Raises
    ------
    SchemaError
        If ``log_p`` is missing, its dims are not ``(transform, layer, vertex,
        latency)`` or ``(transform, channel, latency)`` (any order), or the
        transform/latency labels are missing or duplicated.
    """
    if not isinstance(es, xr.Dataset) or "log_p" not in es.data_vars:
        raise SchemaError(
            f"an expression set must be a Dataset with a `log_p` variable, got {describe(es)}"
        )
    dims = set(es["log_p"].dims)
    for expected in (
        ("transform", "layer", "vertex", "latency"),
        ("transform", "channel", "latency"),
    ):
        if dims == set(expected):
            break
    else:
        raise SchemaError(
            "expression set `log_p` must have dims (transform, layer, vertex, latency) or "
            f"(transform, channel, latency); found {tuple(es['log_p'].dims)}"
        )
    for dim in ("transform", "latency", *expected[1:-1]):
        if dim not in es.coords:
            raise SchemaError(f"expression set is missing the `{dim}` coordinate")
        values = es[dim].values
        if np.unique(values).size != values.size:
            raise SchemaError(f"expression set has duplicated `{dim}` labels")
    if es["log_p"].dims != expected:
        es = es.assign(log_p=es["log_p"].transpose(*expected))
    return es


def combine(*sets: xr.Dataset) -> xr.Dataset:
    """Concatenate expression sets of different transforms along ``transform``.

    Parameters
    ----------
    *sets : xarray.Dataset
        Expression sets with the same sources and latencies and distinct
        transform names.

    Returns
    -------
    xarray.Dataset
        Attrs that differ between the sets are dropped.
    """
    if not sets:
        raise LaminarrayError("`combine` needs at least one expression set")
    sets = tuple(validate_expression_set(es) for es in sets)
    names = np.concatenate([es["transform"].values for es in sets])
    unique, counts = np.unique(names, return_counts=True)
    if unique.size != names.size:
        raise LaminarrayError(
            f"expression sets to combine share transforms {unique[counts > 1].tolist()}; "
            "rename them first with `rename`"
        )
    first = sets[0]
    for index, es in enumerate(sets[1:], start=1):
        for dim in (*source_dims(first), "latency"):
            if dim not in es.dims or not np.array_equal(es[dim].values, first[dim].values):
                raise LaminarrayError(
                    f"expression set {index} has different `{dim}` labels from set 0; "
                    "select common sources/latencies before combining"
                )
    return xr.concat(sets, dim="transform", combine_attrs="drop_conflicts")


def crop(es: xr.Dataset, start: float | None = None, stop: float | None = None) -> xr.Dataset:
    """Keep latencies in ``[start, stop]`` (s, inclusive; ``None`` leaves a side open)."""
    es = validate_expression_set(es)
    latency = es["latency"].values
    keep = np.ones(latency.size, bool)
    if start is not None:
        keep &= latency >= start
    if stop is not None:
        keep &= latency <= stop
    if not keep.any():
        raise LaminarrayError(
            f"no latency in [{start}, {stop}] s; the set spans {latency.min():g} to "
            f"{latency.max():g} s"
        )
    return es.isel(latency=np.flatnonzero(keep))


def rename(es: xr.Dataset, names: Mapping[str, str]) -> xr.Dataset:
    """Rename transforms: ``names`` maps old names to new ones."""
    es = validate_expression_set(es)
    current = [str(name) for name in es["transform"].values]
    unknown = [name for name in names if name not in current]
    if unknown:
        raise LaminarrayError(f"`names` refers to unknown transforms {unknown}; have {current}")
    new = [names.get(name, name) for name in current]
    if len(set(new)) != len(new):
        raise LaminarrayError(f"renaming would duplicate transform names: {new}")
    return es.assign_coords(transform=np.asarray(new, dtype=str))


def best_transforms(es: xr.Dataset) -> pd.DataFrame:
    """The best transform, latency and log p of each source (computes ``log_p``).

    For every source, the transform and latency of the smallest log p over
    all transforms and latencies. Sources whose best p is 1 (log p = 0, no
    evidence at all) are omitted.

    Parameters
    ----------
    es : xarray.Dataset
        An expression set.

    Returns
    -------
    pandas.DataFrame
        One row per source, sorted by log p: the source labels (``layer``,
        ``depth``, ``vertex``, ``hemi`` or ``channel``, those present) and
        ``transform``, ``latency`` (s), ``log_p``.
    """
    es = validate_expression_set(es)
    dims = source_dims(es)
    stacked = es["log_p"].stack(source=dims).transpose("transform", "source", "latency")
    values = np.asarray(stacked.values, dtype=np.float64)
    best_lat = np.argmin(values, axis=2)
    per_transform = np.take_along_axis(values, best_lat[..., None], axis=2)[..., 0]
    best_tr = np.argmin(per_transform, axis=0)
    columns = np.arange(values.shape[1])
    best = per_transform[best_tr, columns]
    keep = best < 0
    frame = {
        name: coord.values[keep]
        for name, coord in stacked["source"].coords.items()
        if name != "source" and coord.dims == ("source",)
    }
    frame["transform"] = es["transform"].values[best_tr[keep]]
    frame["latency"] = es["latency"].values[best_lat[best_tr, columns][keep]]
    frame["log_p"] = best[keep]
    return pd.DataFrame(frame).sort_values("log_p", kind="stable").reset_index(drop=True)
