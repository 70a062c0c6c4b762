"""The medial-wall cut (laMEG's ``nodeep`` stage): drop the columns outside the cortex.

FreeSurfer's cortical parcellation (``?h.aparc.annot``) leaves the medial
wall (corpus callosum, brainstem cut) unlabelled or labelled ``unknown``.
laMEG removes those vertices from every layer before downsampling
(design note lameg §4.2 step 5): a vertex goes when its annotation label index is
<= 0 or its label name is ``unknown`` (any case); faces touching it go too,
and the rest are reindexed. The cut mesh keeps every per-column variable
and records its columns' indices in the full-resolution surfaces in
``original_vertex`` (composed with any earlier one), which is what the ROI
(:func:`laminarray.rois.parcellation_from_annot`) and fsaverage mappings use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, describe
from ..schema import as_str, validate_mesh
from ._correspondence import original_index
from .io import HEMIS, _infer_hemi

__all__ = ["medial_wall_mask", "remove_medial_wall"]


def _read_annotation(path: Any) -> tuple[np.ndarray, list[str]]:
    """Label indices and names of a FreeSurfer ``.annot`` file (errors name the file)."""
    import nibabel.freesurfer as fs

    path = Path(path)
    if not path.is_file():
        raise LaminarrayError(f"annotation file not found: {str(path)!r}")
    try:
        labels, _, names = fs.read_annot(str(path))
    except Exception as error:  # nibabel raises several types for a bad file
        raise LaminarrayError(
            f"cannot read {str(path)!r} as a FreeSurfer annotation (?h.aparc.annot): {error}"
        ) from None
    return labels, [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _annotation_wall(spec: Any, where: str) -> np.ndarray:
    """Boolean medial-wall flags of one hemisphere's annotation, shape (n_vertices,)."""
    names: list[str] | None = None
    if isinstance(spec, str | os.PathLike):
        labels, names = _read_annotation(spec)
    elif isinstance(spec, tuple) and len(spec) in (2, 3):
        labels = spec[0]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in spec[-1]]
    else:
        labels = spec
    values = np.asarray(labels)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise LaminarrayError(
            f"the annotation{where} must be an .annot path, per-vertex integer label indices "
            f"(n_vertices,), or a (labels, ctab, names) tuple from nibabel's read_annot; got "
            f"{describe(spec)}" + (f" with dtype {values.dtype}" if values.ndim == 1 else "")
        )
    wall = values <= 0
    if names is not None:
        if values.size and values.max() >= len(names):
            raise LaminarrayError(
                f"the annotation{where} has label index {int(values.max())} but only "
                f"{len(names)} label names"
            )
        unknown = np.array([name.lower() == "unknown" for name in names], dtype=bool)
        wall |= unknown[np.maximum(values, 0)]
    return wall


def _by_hemisphere(annot: Any, mesh_hemis: list[str | None]) -> dict[str | None, Any]:
    """Annotation spec per hemisphere of the mesh (lh first), with hemisphere checks."""
    if isinstance(annot, Mapping):
        unknown = sorted(set(map(str, annot)) - set(HEMIS))
        if unknown:
            raise LaminarrayError(f"`annot` keys must be 'lh'/'rh', got {unknown}")
        specs: dict[str | None, Any] = {h: annot[h] for h in HEMIS if h in annot}
        for hemi, spec in specs.items():
            named = _infer_hemi(spec) if isinstance(spec, str | os.PathLike) else None
            if named not in (None, hemi):
                raise LaminarrayError(
                    f"hemisphere mismatch: `annot[{hemi!r}]` is {str(spec)!r}, a {named} file"
                )
    elif isinstance(annot, list | tuple) and all(isinstance(a, str | os.PathLike) for a in annot):
        specs = {_infer_hemi(a): a for a in annot}
        if None in specs or len(specs) != len(annot):
            raise LaminarrayError(
                f"cannot tell the hemisphere of each file in `annot` ({[str(a) for a in annot]}); "
                "pass a dict like {'lh': 'lh.aparc.annot', 'rh': 'rh.aparc.annot'}"
            )
    else:
        hemi = _infer_hemi(annot) if isinstance(annot, str | os.PathLike) else None
        specs = {hemi: annot}
    if mesh_hemis == [None]:
        if len(specs) != 1:
            raise LaminarrayError(
                f"the mesh has no `hemi` coordinate, so `annot` must be one annotation; got "
                f"annotations for {list(specs)}"
            )
        return {None: next(iter(specs.values()))}
    if list(specs) == [None]:
        if len(mesh_hemis) != 1:
            raise LaminarrayError(
                f"the mesh has hemispheres {mesh_hemis}: pass one annotation per hemisphere, "
                "e.g. {'lh': 'lh.aparc.annot', 'rh': 'rh.aparc.annot'}"
            )
        return {mesh_hemis[0]: specs[None]}
    if set(specs) != set(mesh_hemis):
        raise LaminarrayError(
            f"hemisphere mismatch: `annot` covers {list(specs)} but the mesh has "
            f"hemispheres {mesh_hemis}"
        )
    return specs


def _wall_of_columns(mesh: xr.Dataset, annot: Any) -> np.ndarray:
    """Medial-wall flag of each column of ``mesh``, shape (n_vertices,)."""
    hemis = as_str(mesh["hemi"].values) if "hemi" in mesh.coords else None
    present = [h for h in HEMIS if hemis is not None and np.any(hemis == h)]
    specs = _by_hemisphere(annot, present or [None])
    walls = {h: _annotation_wall(spec, f" of {h}" if h else "") for h, spec in specs.items()}
    if "original_vertex" not in mesh.coords:
        out = np.zeros(mesh.sizes["vertex"], dtype=bool)
        for h, wall in walls.items():
            rows = np.ones(out.size, bool) if h is None else hemis == h
            if wall.size != rows.sum():
                raise LaminarrayError(
                    f"the annotation{f' of {h}' if h else ''} has {wall.size} vertices but the "
                    f"mesh has {int(rows.sum())} columns{f' in {h}' if h else ''}; pass the "
                    "annotation of the surfaces the mesh was built from"
                )
            out[rows] = wall
        return out
    combined = np.concatenate(list(walls.values()))
    owner = np.repeat(np.array([h or "" for h in walls]), [w.size for w in walls.values()])
    expected = mesh.attrs.get("n_original_vertices")
    index = original_index(mesh)
    if (expected is not None and combined.size != int(expected)) or index.max() >= combined.size:
        raise LaminarrayError(
            f"the annotations have {combined.size} vertices in all but the mesh comes from "
            f"surfaces with {expected if expected is not None else f'> {int(index.max())}'} "
            "vertices (`original_vertex`); pass the annotations of the full-resolution surfaces"
        )
    if hemis is not None and present and np.any(owner[index] != hemis):
        raise LaminarrayError(
            "hemisphere mismatch: some columns' original vertices fall in the other "
            "hemisphere's annotation; the annotations' vertex counts do not match the surfaces"
        )
    return combined[index]


def medial_wall_mask(mesh: xr.Dataset, annot: Any) -> xr.DataArray:
    """Which columns of a mesh lie on the medial wall of a FreeSurfer parcellation.

    Parameters
    ----------
    mesh : xarray.Dataset
        Laminar mesh (full resolution, or with an ``original_vertex``
        coordinate into the full-resolution surfaces); ``hemi`` coordinate
        for two hemispheres.
    annot : path, array, tuple, or dict {"lh": ..., "rh": ...}
        Per hemisphere: a FreeSurfer annotation file (``lh.aparc.annot``), the
        per-vertex label indices (``(n_vertices,)`` int, as
        ``nibabel.freesurfer.read_annot`` returns them), or that function's
        ``(labels, ctab, names)`` tuple. A single annotation serves a
        one-hemisphere mesh; a list of paths whose names start with
        ``lh.``/``rh.`` is read as a dict. Annotations index the
        full-resolution surfaces of each hemisphere.

    Returns
    -------
    xarray.DataArray of bool, dims ``(vertex,)``
        Named ``medial_wall``: True where the column's label index is <= 0
        or its label name is ``unknown`` (case-insensitive).

    Raises
    ------
    LaminarrayError
        A missing or unreadable file (named), an annotation whose vertex count
        differs from the mesh's columns of that hemisphere, annotations for
        other hemispheres than the mesh's.
    """
    mesh = validate_mesh(mesh)
    wall = _wall_of_columns(mesh, annot)
    coords = {name: mesh[name] for name in ("vertex", "hemi", "original_vertex") if name in mesh}
    return xr.DataArray(
        wall,
        dims=("vertex",),
        coords=coords,
        name="medial_wall",
        attrs={"long_name": "medial wall (annotation label <= 0 or 'unknown')"},
    )


def _cut(faces: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose corners are all kept, and those faces reindexed to the kept vertices.

    Returns
    -------
    face_kept : ndarray of bool, shape (n_faces,)
    faces : ndarray of int32, shape (n_kept_faces, 3)
    """
    new_index = np.full(len(keep), -1, dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    face_kept = keep[faces].all(axis=1)
    return face_kept, new_index[faces[face_kept]].astype(np.int32)


def remove_medial_wall(mesh: xr.Dataset, annot: Any) -> xr.Dataset:
    """Remove the medial-wall columns of a laminar mesh (laMEG's ``nodeep`` stage).

    Parameters
    ----------
    mesh : xarray.Dataset
        Laminar mesh (any number of layers; full resolution, or with an
        ``original_vertex`` coordinate).
    annot : path, array, tuple, or dict {"lh": ..., "rh": ...}
        FreeSurfer parcellation per hemisphere (``?h.aparc.annot``), as in
        :func:`medial_wall_mask`.

    Returns
    -------
    xarray.Dataset
        The mesh without the medial-wall columns on every layer: every
        variable with a ``vertex`` dim (``vertices``, ``orientation``,
        ``thickness``, ``column_depth``, ...) keeps the remaining columns in
        their order; faces touching a removed column are dropped and the
        others reindexed. ``vertex`` is renumbered ``0..n-1`` and
        ``original_vertex (vertex)`` gives each column's index in the
        full-resolution surfaces (composed with the mesh's own
        ``original_vertex``, so ``full.isel(vertex=cut.original_vertex)``
        selects the same columns). attrs ``n_original_vertices`` (the
        full-resolution vertex count) and ``medial_wall_removed`` (columns
        removed by medial-wall cuts).

    Raises
    ------
    LaminarrayError
        As :func:`medial_wall_mask`, or when every column is medial wall.

    Examples
    --------
    >>> cut = remove_medial_wall(mesh, {"lh": "lh.aparc.annot", "rh": "rh.aparc.annot"})
    ... # doctest: +SKIP
    """
    mesh = validate_mesh(mesh)
    keep = ~_wall_of_columns(mesh, annot)
    if not keep.any():
        raise LaminarrayError("`annot` marks every column of the mesh as medial wall")
    face_kept, faces = _cut(np.asarray(mesh["faces"].values), keep)
    columns = np.flatnonzero(keep)
    cut = mesh.isel(vertex=columns, face=np.flatnonzero(face_kept))
    cut = cut.assign(faces=(("face", "corner"), faces, mesh["faces"].attrs))
    cut = cut.assign_coords(
        vertex=np.arange(columns.size),
        original_vertex=(
            "vertex",
            original_index(mesh)[columns],
            {"long_name": "vertex index in the original mesh"},
        ),
    )
    cut.attrs.update(
        n_original_vertices=int(mesh.attrs.get("n_original_vertices", mesh.sizes["vertex"])),
        medial_wall_removed=int(mesh.attrs.get("medial_wall_removed", 0)) + int((~keep).sum()),
    )
    return validate_mesh(cut)
