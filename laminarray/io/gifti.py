"""GIFTI files: per-vertex results (``.func.gii``/``.shape.gii``) and meshes (``.surf.gii``).

Written files open in standard surface viewers (Connectome Workbench,
FreeView, nilearn) and in SPM/laMEG (a multilayer mesh is written as one
surface with layer-major vertices and the dipole orientations in a
``NIFTI_INTENT_VECTOR`` array, as laMEG's multilayer meshes store them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import xarray as xr

from .._validation import LaminarrayError, validate_type
from ..schema import mesh_dataset, select_layers, validate_mesh
from .errors import FileFormatError, MissingFileError

__all__ = ["read_gifti_mesh", "write_gifti_mesh", "write_gifti_values"]


def _select_layer(obj: Any, layer: str | int | None) -> Any:
    if layer is None or "layer" not in obj.dims:
        return obj
    return select_layers(obj, layer, name="layer").isel(layer=0)


def write_gifti_values(
    values: xr.DataArray, path: str | os.PathLike[str], *, layer: str | int | None = None
) -> Path:
    """Write per-vertex values as a functional GIFTI (``.func.gii`` or ``.shape.gii``).

    Parameters
    ----------
    values : xarray.DataArray
        Dims ``(vertex,)`` or ``(vertex, <other>)`` with one other dim (e.g.
        ``layer``, ``time``), computed if dask-backed.
    path : str or Path
        Ending in ``.func.gii`` (one data array per entry of the other dim,
        intent ``NIFTI_INTENT_TIME_SERIES`` when it is ``time``, else
        ``NIFTI_INTENT_NONE``) or ``.shape.gii`` (intent ``NIFTI_INTENT_SHAPE``).
    layer : str or int, optional
        Write only this layer (name or position) of a ``(layer, vertex)`` result.

    Returns
    -------
    Path
    """
    validate_type(values, xr.DataArray, "values")
    path = Path(path)
    if not path.name.endswith((".func.gii", ".shape.gii")):
        raise LaminarrayError(f"`path` must end in .func.gii or .shape.gii; got {path.name!r}")
    values = _select_layer(values, layer)
    if "vertex" not in values.dims or values.ndim > 2:
        raise LaminarrayError(
            f"`values` must have dims (vertex,) or (vertex, <one other dim>); found {values.dims}"
        )
    other = [d for d in values.dims if d != "vertex"]
    table = np.asarray(values.transpose(*other, "vertex").values, dtype=np.float32)
    table = table.reshape(-1, values.sizes["vertex"])
    if path.name.endswith(".shape.gii"):
        intent = "NIFTI_INTENT_SHAPE"
    else:
        intent = "NIFTI_INTENT_TIME_SERIES" if other == ["time"] else "NIFTI_INTENT_NONE"
    labels = [str(x) for x in values[other[0]].values] if other else [str(values.name or "values")]
    arrays = [
        nib.gifti.GiftiDataArray(
            row,
            intent=intent,
            datatype="NIFTI_TYPE_FLOAT32",
            meta=nib.gifti.GiftiMetaData({"Name": label}),
        )
        for row, label in zip(table, labels, strict=True)
    ]
    meta = {"units": str(values.attrs.get("units", "")), "dim": other[0] if other else ""}
    nib.save(nib.gifti.GiftiImage(darrays=arrays, meta=nib.gifti.GiftiMetaData(meta)), path)
    return path


def write_gifti_mesh(
    mesh: xr.Dataset, path: str | Path, *, layer: str | int | None = None
) -> Path:
    """Write a mesh as a ``.surf.gii`` surface (positions in mm).

    Parameters
    ----------
    mesh : xarray.Dataset
        A mesh dataset (``vertices (layer, vertex, xyz)``, ``faces``).
    path : str or Path
        Ending in ``.surf.gii`` (``.gii`` accepted).
    layer : str or int, optional
        One layer. By default a one-layer mesh is written as is and a
        multilayer mesh as laMEG's multilayer surface: vertices layer-major,
        faces repeated per layer with offsets ``l·V``, plus the orientations
        as a vector array when the mesh has them.

    Returns
    -------
    Path
    """
    validate_type(mesh, xr.Dataset, "mesh")
    mesh = validate_mesh(mesh)
    path = Path(path)
    if path.suffix != ".gii":
        raise LaminarrayError(f"`path` must end in .surf.gii; got {path.name!r}")
    sub = _select_layer(mesh, layer)
    pos = np.asarray(sub["vertices"].values, dtype=np.float32).reshape(-1, 3)
    tri = np.asarray(mesh["faces"].values, dtype=np.int32)
    n_layers = pos.shape[0] // mesh.sizes["vertex"]
    tri = (tri[None] + (np.arange(n_layers) * mesh.sizes["vertex"])[:, None, None]).reshape(-1, 3)
    arrays = [
        nib.gifti.GiftiDataArray(
            pos, intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32"
        ),
        nib.gifti.GiftiDataArray(tri, intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"),
    ]
    if "orientation" in sub:
        ori = np.asarray(sub["orientation"].values, dtype=np.float32).reshape(-1, 3)
        arrays.append(
            nib.gifti.GiftiDataArray(
                ori, intent="NIFTI_INTENT_VECTOR", datatype="NIFTI_TYPE_FLOAT32"
            )
        )
    meta = nib.gifti.GiftiMetaData({"n_layers": str(n_layers)})
    nib.save(nib.gifti.GiftiImage(darrays=arrays, meta=meta), path)
    return path


def read_gifti_mesh(
    path: str | Path, *, n_layers: int | None = None, layers: list[str] | None = None
) -> xr.Dataset:
    """Read a ``.surf.gii`` (one layer or laMEG's multilayer surface) as a mesh dataset.

    Parameters
    ----------
    path : str or Path
    n_layers : int, optional
        Layers stored layer-major in the file; default the ``n_layers``
        metadata written by :func:`write_gifti_mesh`, else 1.
    layers : list of str, optional
        Layer names.

    Returns
    -------
    xarray.Dataset
        Mesh dataset; ``orientation`` from a ``NIFTI_INTENT_VECTOR`` array if present.

    Raises
    ------
    FileFormatError
        If the file is not a GIFTI surface or does not split into layers.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"GIFTI file not found: {path}")
    try:
        image = nib.load(path)
    except Exception as exc:  # nibabel raises various parser errors
        raise FileFormatError(f"cannot read {path} as GIFTI: {exc}") from exc
    if not isinstance(image, nib.gifti.GiftiImage):
        raise FileFormatError(f"{path} is not a GIFTI image")
    by_intent = {nib.nifti1.intent_codes.label[d.intent]: d.data for d in image.darrays}
    if "pointset" not in by_intent or "triangle" not in by_intent:
        raise FileFormatError(
            f"{path} is not a GIFTI surface: needs POINTSET and TRIANGLE arrays, "
            f"found {sorted(by_intent)}"
        )
    pos = np.asarray(by_intent["pointset"], dtype=np.float64)
    tri = np.asarray(by_intent["triangle"], dtype=np.int64)
    if n_layers is None:
        n_layers = int(image.meta.get("n_layers", 1)) if image.meta else 1
    if pos.shape[0] % n_layers or tri.shape[0] % n_layers:
        raise FileFormatError(
            f"{path}: {pos.shape[0]} vertices / {tri.shape[0]} faces do not split into "
            f"{n_layers} layers"
        )
    n_v = pos.shape[0] // n_layers
    ori = by_intent.get("vector")
    return mesh_dataset(
        pos.reshape(n_layers, n_v, 3),
        tri[: tri.shape[0] // n_layers],
        orientation=None if ori is None else np.asarray(ori, float).reshape(n_layers, n_v, 3),
        layers=layers,
    )
