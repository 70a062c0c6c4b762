"""Regions of interest: FreeSurfer parcellations mapped to mesh columns, and a query grammar.

A stored ROI set (archive group ``/<subject>/rois/<name>``) is one of

- a *parcellation*: ``label_index (vertex)`` (int, -1 = unlabelled) with a
  ``label`` coordinate holding the region names and optional attrs
  ``categories`` (``{category: [label, ...]}``), e.g. FreeSurfer's ``aparc``;
- a *mask*: ``mask (vertex)`` (bool), e.g. an ROI found by an analysis.

A query (the ``roi=`` keyword everywhere) is ``"all"``; a region name
(``"precentral"``, matching both hemispheres, or ``"lh.precentral"``); a
category name; a stored mask's name; ``"<set>:<region>"`` to pick one set;
a list of any of these (their union); or a boolean mask / vertex labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ._validation import LaminarrayError, describe
from .schema import validate_mesh
from .schema._vocabulary import as_str

HEMIS = ("lh", "rh")


def parcellation_from_annot(
    mesh: xr.Dataset,
    annotations: Mapping[str, str | os.PathLike[str]],
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> xr.Dataset:
    """Map FreeSurfer annotation labels (``?h.aparc.annot``) onto mesh columns.

    The annotations index the full-resolution surfaces of each hemisphere
    (lh first, then rh, as the combined mesh); a downsampled mesh's
    ``original_vertex`` coordinate picks each column's label (laMEG's
    ``get_roi_idx``). A mesh with a ``hemi`` coordinate and no
    ``original_vertex`` takes each hemisphere's labels from that
    hemisphere's annotation, column by column in mesh order; the annotation
    may be of a finer icosahedral subdivision (fsaverage's ``aparc`` for an
    fsaverage5 mesh: fsaverage5's vertices are fsaverage's first 10242).
    Vertices labelled ``unknown`` or -1 get -1.

    Parameters
    ----------
    mesh : xarray.Dataset
        Laminar mesh, with ``original_vertex (vertex)`` when downsampled and
        ``hemi (vertex)`` for two hemispheres.
    annotations : mapping {"lh": path, "rh": path}
        FreeSurfer ``.annot`` files, one per hemisphere present in the mesh.
    categories : mapping category -> list of region names, optional
        Named groups of regions, usable in queries.

    Returns
    -------
    xarray.Dataset
        ``label_index (vertex)`` int64 with a ``label`` coordinate of region
        names, and ``categories`` in attrs.
    """
    import nibabel.freesurfer as fs

    mesh = validate_mesh(mesh)
    names: list[str] = []
    combined: list[np.ndarray] = []
    for hemi in (h for h in HEMIS if h in annotations):
        path = os.fspath(annotations[hemi])
        if not os.path.isfile(path):
            raise LaminarrayError(f"annotation file for {hemi} not found: {path}")
        codes, _, region_names = fs.read_annot(path)
        decoded = [n.decode() if isinstance(n, bytes) else str(n) for n in region_names]
        index = np.full(codes.shape, -1, dtype=np.int64)
        for position, region in enumerate(decoded):
            if region.lower() == "unknown":
                continue
            label = f"{hemi}.{region}"
            names.append(label)
            index[codes == position] = len(names) - 1
        combined.append(index)
    if not combined:
        raise LaminarrayError(
            f"`annotations` must map 'lh'/'rh' to files; got {list(annotations)}"
        )
    hemis = [h for h in HEMIS if h in annotations]
    if "hemi" in mesh.coords and "original_vertex" not in mesh.coords:
        label_index = _labels_by_hemisphere(mesh, dict(zip(hemis, combined, strict=True)))
        return parcellation(label_index, names, mesh["vertex"].values, categories=categories)
    full = np.concatenate(combined)
    columns = (
        np.asarray(mesh["original_vertex"].values)
        if "original_vertex" in mesh.coords
        else np.asarray(mesh["vertex"].values)
    )
    if columns.max() >= full.size:
        raise LaminarrayError(
            f"the annotations cover {full.size} full-resolution vertices but the mesh refers to "
            f"vertex {int(columns.max())}; pass the annotations of the surfaces the mesh was built from"
        )
    if "hemi" in mesh.coords:
        owner = np.repeat(np.array(hemis), [c.size for c in combined])
        if np.any(owner[columns] != as_str(mesh["hemi"].values)):
            raise LaminarrayError(
                "hemisphere mismatch: some columns' original vertices fall in the other "
                "hemisphere's annotation; pass the annotations of the surfaces the mesh was "
                "built from"
            )
    return parcellation(full[columns], names, mesh["vertex"].values, categories=categories)


def _labels_by_hemisphere(mesh: xr.Dataset, annotations: dict[str, np.ndarray]) -> np.ndarray:
    """Label of each column from its own hemisphere's annotation.

    Column ``j`` of a hemisphere (in mesh order) takes annotation entry ``j``:
    the hemisphere's full surface, or an icosahedral subdivision of it
    (fsaverage5 columns are the first 10242 vertices of fsaverage), so an
    annotation may cover more vertices than the mesh hemisphere.
    """
    hemis = as_str(mesh["hemi"].values)
    out = np.full(hemis.size, -1, dtype=np.int64)
    for hemi in np.unique(hemis):
        rows = np.flatnonzero(hemis == hemi)
        if hemi not in annotations:
            raise LaminarrayError(
                f"`annotations` lacks hemisphere {hemi!r} of the mesh; got {list(annotations)}"
            )
        codes = annotations[hemi]
        if rows.size > codes.size:
            raise LaminarrayError(
                f"the {hemi} annotation covers {codes.size} vertices but the mesh has "
                f"{rows.size} {hemi} columns; pass the annotation of the surfaces the mesh was "
                "built from (or of a finer icosahedral subdivision, e.g. fsaverage for fsaverage5)"
            )
        out[rows] = codes[: rows.size]
    return out


def parcellation(
    label_index: Any,
    labels: Sequence[str],
    vertices: Any,
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> xr.Dataset:
    """Build a parcellation ROI set from per-vertex label indices.

    Parameters
    ----------
    label_index : array of int, shape (n_vertices,)
        Index into ``labels`` per vertex, -1 for unlabelled.
    labels : sequence of str
        Region names (``"lh.precentral"`` style names make hemisphere-free
        queries like ``"precentral"`` match both hemispheres).
    vertices : array of int, shape (n_vertices,)
        The mesh ``vertex`` labels.
    categories : mapping, optional

    Returns
    -------
    xarray.Dataset
    """
    index = np.asarray(label_index, dtype=np.int64)
    if index.shape != np.shape(vertices):
        raise LaminarrayError(
            f"`label_index` must have one entry per vertex: expected {np.shape(vertices)}, "
            f"got {index.shape}"
        )
    if index.size and (index.min() < -1 or index.max() >= len(labels)):
        raise LaminarrayError(f"`label_index` must be in -1..{len(labels) - 1}")
    cats = {str(k): [str(v) for v in vs] for k, vs in (categories or {}).items()}
    unknown = sorted({v for vs in cats.values() for v in vs} - set(map(str, labels)))
    if unknown:
        raise LaminarrayError(f"`categories` name regions not in `labels`: {unknown[:10]}")
    return xr.Dataset(
        {"label_index": ("vertex", index, {"long_name": "region index (-1 = none)"})},
        coords={"vertex": np.asarray(vertices), "label": np.asarray(labels, dtype=str)},
        attrs={"categories": cats},
    )


def roi_mask(mask: Any, vertices: Any) -> xr.Dataset:
    """A stored custom ROI: ``mask (vertex)`` bool."""
    values = np.asarray(mask, dtype=bool)
    if values.shape != np.shape(vertices):
        raise LaminarrayError(
            f"`mask` must have one entry per vertex: expected {np.shape(vertices)}, got {values.shape}"
        )
    return xr.Dataset({"mask": ("vertex", values)}, coords={"vertex": np.asarray(vertices)})


def available(rois: Mapping[str, xr.Dataset]) -> list[str]:
    """Every name a query may use, sorted."""
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


def resolve_roi(query: Any, rois: Mapping[str, xr.Dataset], vertices: Any) -> np.ndarray:
    """Boolean mask over ``vertices`` for an ROI query (see the module docs).

    Parameters
    ----------
    query : str, sequence, boolean array/DataArray or vertex labels
    rois : mapping name -> ROI set Dataset
    vertices : array of int, shape (n_vertices,)
        The mesh ``vertex`` labels the mask is aligned with.

    Returns
    -------
    ndarray of bool, shape (n_vertices,)

    Raises
    ------
    LaminarrayError
        For unknown names, listing the available ones.
    """
    vertices = np.asarray(vertices)
    if isinstance(query, str):
        mask = _name_mask(query, rois, vertices.size)
        if mask is None:
            choices = available(rois)
            raise LaminarrayError(
                f"unknown ROI {query!r}; available: {', '.join(choices[:40])}"
                + (f" ... ({len(choices)} in all)" if len(choices) > 40 else "")
            )
        return mask
    if isinstance(query, xr.DataArray) and query.dtype == bool:
        return np.asarray(query.reindex(vertex=vertices, fill_value=False).values, bool)
    array = np.asarray(query)
    if array.dtype == bool:
        if array.shape != vertices.shape:
            raise LaminarrayError(
                f"a boolean `roi` must have one entry per vertex: expected {vertices.shape}, "
                f"got {array.shape}"
            )
        return array
    if array.dtype.kind in "iu":
        missing = np.setdiff1d(array, vertices)
        if missing.size:
            raise LaminarrayError(f"`roi` names vertices not in the mesh: {missing[:10].tolist()}")
        return np.isin(vertices, array)
    if array.dtype.kind in "UO" and array.ndim == 1:
        out = np.zeros(vertices.size, bool)
        for item in array:
            out |= resolve_roi(str(item), rois, vertices)
        return out
    raise LaminarrayError(
        f"`roi` must be a name, a list of names or a mask; got {describe(query)}"
    )
