"""Reading cortical surfaces (FreeSurfer binary, GIFTI) into a two-layer mesh dataset.

Coordinates: FreeSurfer stores surfaces in "tkRAS" (tkregister) space. Like
laMEG, laminarray converts them to the scanner RAS space of the subject's
``mri/orig.mgz`` (``x_scanner = vox2ras @ inv(vox2ras_tkr) @ x_tk``) whenever
the volume geometry is known: from ``volume=`` (an ``.mgz``/NIfTI volume),
else from the geometry FreeSurfer embeds in binary surfaces (``volume_info``)
and in its GIFTIs (``VolGeom*`` metadata). A GIFTI pointset whose coordinate
system carries a non-identity transform is transformed by it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option, describe
from ..schema import mesh_dataset
from ._checks import as_faces, as_vertices

__all__ = ["load_surfaces", "read_surface"]

HEMIS = ("lh", "rh")
_TK_AXES = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_GIFTI_SUFFIXES = (".gii", ".gii.gz")


def read_surface(
    path: str | os.PathLike[str], *, volume: Any = None, coordinates: str = "scanner"
) -> tuple[np.ndarray, np.ndarray, str]:
    """Read one triangle surface from a FreeSurfer binary file or a GIFTI file.

    Parameters
    ----------
    path : path-like
        ``lh.pial``, ``rh.white``, ... (FreeSurfer binary) or ``*.gii``.
    volume : path-like or nibabel image, optional
        The subject's ``mri/orig.mgz`` (or any volume with the same geometry):
        defines the tkRAS -> scanner RAS transform (overrides the geometry
        embedded in the surface file).
    coordinates : {"scanner", "stored"}
        ``"scanner"`` converts tkRAS to scanner RAS when the volume geometry
        is known; ``"stored"`` keeps the file's coordinates.

    Returns
    -------
    vertices : ndarray, shape (n_vertices, 3), float64
        Positions in mm.
    faces : ndarray of int32, shape (n_faces, 3)
    space : str
        ``"scanner RAS"`` when converted, else ``"as stored"``.
    """
    check_option("coordinates", coordinates, ("scanner", "stored"))
    path = _existing(path)
    if path.name.endswith(_GIFTI_SUFFIXES):
        pos, tri, tk_to_scanner = _read_gifti(path)
    else:
        pos, tri, tk_to_scanner = _read_freesurfer(path)
    if volume is not None:
        tk_to_scanner = _volume_transform(volume)
    pos = as_vertices(pos, f"vertices of {path}")
    tri = as_faces(tri, len(pos), f"faces of {path}")
    if coordinates == "scanner" and tk_to_scanner is not None:
        return pos @ tk_to_scanner[:3, :3].T + tk_to_scanner[:3, 3], tri, "scanner RAS"
    return pos, tri, "as stored"


def _existing(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise LaminarrayError(f"a surface must be a file path, got {describe(path)}")
    path = Path(path)
    if not path.is_file():
        raise LaminarrayError(f"surface file not found: {str(path)!r}")
    return path


def _read_freesurfer(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    from nibabel.freesurfer.io import read_geometry

    try:
        with warnings.catch_warnings():  # nibabel warns when no volume geometry is stored
            warnings.simplefilter("ignore", UserWarning)
            pos, tri, meta = read_geometry(str(path), read_metadata=True)
    except Exception as exc:  # nibabel raises ValueError/struct errors on bad files
        raise LaminarrayError(
            f"could not read {str(path)!r} as a FreeSurfer surface ({exc}); "
            "GIFTI files must end in .gii"
        ) from None
    return pos, tri, _geometry_transform(meta)


def _read_gifti(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    import nibabel as nib

    try:
        image = nib.load(str(path))
        points = image.get_arrays_from_intent("NIFTI_INTENT_POINTSET")
        triangles = image.get_arrays_from_intent("NIFTI_INTENT_TRIANGLE")
    except Exception as exc:
        raise LaminarrayError(f"could not read {str(path)!r} as GIFTI ({exc})") from None
    if not points or not triangles:
        raise LaminarrayError(
            f"{str(path)!r} is not a GIFTI surface: it needs a POINTSET and a TRIANGLE array"
        )
    pointset = points[0]
    pos = np.asarray(pointset.data, dtype=np.float64)
    coordsys = pointset.coordsys
    xform = None if coordsys is None else np.asarray(coordsys.xform, dtype=np.float64)
    if xform is not None and xform.shape == (4, 4) and not np.allclose(xform, np.eye(4)):
        pos = pos @ xform[:3, :3].T + xform[:3, 3]
        return pos, np.asarray(triangles[0].data), None
    return pos, np.asarray(triangles[0].data), _gifti_geometry(dict(pointset.meta))


def _gifti_geometry(meta: Mapping[str, str]) -> np.ndarray | None:
    """Volume geometry FreeSurfer writes into a GIFTI pointset's metadata."""
    keys = ("Width", "Height", "Depth", "Xsize", "Ysize", "Zsize")
    if not all(f"VolGeom{k}" in meta for k in keys):
        return None
    axes = ("X", "Y", "Z", "C")
    vectors = {a: [float(meta[f"VolGeom{a}_{c}"]) for c in "RAS"] for a in axes}
    info = {
        "volume": [float(meta[f"VolGeom{k}"]) for k in keys[:3]],
        "voxelsize": [float(meta[f"VolGeom{k}"]) for k in keys[3:]],
        "xras": vectors["X"],
        "yras": vectors["Y"],
        "zras": vectors["Z"],
        "cras": vectors["C"],
    }
    return _geometry_transform(info)


def _geometry_transform(info: Mapping[str, Any] | None) -> np.ndarray | None:
    """tkRAS -> scanner RAS from a FreeSurfer volume geometry (dims, voxel size, axes, centre)."""
    if not info or "cras" not in info or "volume" not in info:
        return None
    size = np.asarray(info["voxelsize"], dtype=np.float64)
    centre = np.asarray(info["volume"], dtype=np.float64) / 2.0
    axes = np.column_stack([info["xras"], info["yras"], info["zras"]]).astype(np.float64)
    vox2ras = _affine(axes * size, np.asarray(info["cras"], float) - axes * size @ centre)
    vox2tk = _affine(_TK_AXES * size, -(_TK_AXES * size) @ centre)
    return vox2ras @ np.linalg.inv(vox2tk)


def _affine(linear: np.ndarray, shift: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = linear
    out[:3, 3] = shift
    return out


def _volume_transform(volume: Any) -> np.ndarray:
    import nibabel as nib

    image = nib.load(str(_existing(volume))) if isinstance(volume, str | os.PathLike) else volume
    header = getattr(image, "header", None)
    if header is not None and hasattr(header, "get_vox2ras_tkr"):
        return header.get_vox2ras() @ np.linalg.inv(header.get_vox2ras_tkr())
    try:
        mgh = nib.MGHImage(np.zeros(image.shape[:3], np.uint8), image.affine)
    except Exception:
        raise LaminarrayError(
            f"`volume` must be a path to, or a nibabel image of, the subject's orig.mgz; "
            f"got {describe(volume)}"
        ) from None
    return mgh.header.get_vox2ras() @ np.linalg.inv(mgh.header.get_vox2ras_tkr())


# --------------------------------------------------------------------------- both layers


def _infer_hemi(path: Any) -> str | None:
    name = Path(path).name.lower() if isinstance(path, str | os.PathLike) else ""
    for hemi, pattern in (
        ("lh", r"(^lh\.)|(hemi-l[._])|(\.l\.)"),
        ("rh", r"(^rh\.)|(hemi-r[._])|(\.r\.)"),
    ):
        if re.search(pattern, name):
            return hemi
    return None


def _per_hemi(spec: Any, name: str, hemi: str | None) -> dict[str | None, Any]:
    """Normalise a surface argument to ``{hemi: path-or-(vertices, faces)}`` (lh first)."""
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(HEMIS)
        if unknown:
            raise LaminarrayError(f"`{name}` keys must be 'lh'/'rh', got {sorted(unknown)}")
        return {h: spec[h] for h in HEMIS if h in spec}
    if (
        isinstance(spec, list | tuple)
        and spec
        and all(isinstance(s, str | os.PathLike) for s in spec)
    ):
        hemis = [_infer_hemi(s) for s in spec]
        if None in hemis or len(set(hemis)) != len(hemis):
            raise LaminarrayError(
                f"cannot tell the hemisphere of each file in `{name}` ({[str(s) for s in spec]}); "
                "pass a dict like {'lh': 'lh.pial', 'rh': 'rh.pial'}"
            )
        return {h: spec[hemis.index(h)] for h in HEMIS if h in hemis}
    return {hemi if hemi is not None else _infer_hemi(spec): spec}


def _read_any(
    spec: Any, name: str, volume: Any, coordinates: str
) -> tuple[np.ndarray, np.ndarray, str]:
    if isinstance(spec, str | os.PathLike):
        return read_surface(spec, volume=volume, coordinates=coordinates)
    if isinstance(spec, tuple) and len(spec) == 2:
        pos = as_vertices(spec[0], f"{name} vertices")
        return pos, as_faces(spec[1], len(pos), f"{name} faces"), "as given"
    raise LaminarrayError(
        f"`{name}` must be a file path, a (vertices, faces) tuple or a dict of them per "
        f"hemisphere, got {describe(spec)}"
    )


def _surface_pair(
    pial: Any,
    white: Any,
    *,
    hemi: str | None = None,
    volume: Any = None,
    coordinates: str = "scanner",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, str]:
    """Pial and white positions, shared faces and hemisphere labels (both hemispheres combined).

    Returns
    -------
    pial, white : ndarray, shape (n_vertices, 3)
    faces : ndarray of int32, shape (n_faces, 3)
        rh faces offset by the number of lh vertices.
    hemi : ndarray of str, shape (n_vertices,), or None when unknown
    space : str
    """
    if hemi is not None:
        check_option("hemi", hemi, HEMIS)
    pials, whites = _per_hemi(pial, "pial", hemi), _per_hemi(white, "white", hemi)
    if list(pials) != list(whites):
        raise LaminarrayError(
            f"`pial` and `white` must cover the same hemispheres: pial has {list(pials)}, "
            f"white has {list(whites)}"
        )
    pos_p, pos_w, faces, labels, spaces = [], [], [], [], set()
    offset = 0
    for key in pials:
        p, tri_p, space_p = _read_any(pials[key], "pial", volume, coordinates)
        w, tri_w, space_w = _read_any(whites[key], "white", volume, coordinates)
        where = f" ({key})" if key else ""
        if len(p) != len(w):
            raise LaminarrayError(
                f"pial and white surfaces{where} must have the same vertices (one per cortical "
                f"column): pial has {len(p)}, white has {len(w)}"
            )
        if tri_p.shape != tri_w.shape or not np.array_equal(tri_p, tri_w):
            raise LaminarrayError(
                f"pial and white surfaces{where} must share one triangulation: faces differ "
                f"(pial {tri_p.shape[0]} faces, white {tri_w.shape[0]} faces)"
            )
        pos_p.append(p)
        pos_w.append(w)
        faces.append(tri_p + offset)
        labels.append(np.full(len(p), key or ""))
        spaces |= {space_p, space_w}
        offset += len(p)
    hemis = np.concatenate(labels)
    return (
        np.concatenate(pos_p),
        np.concatenate(pos_w),
        np.concatenate(faces).astype(np.int32),
        hemis if np.all(np.isin(hemis, HEMIS)) else None,
        " / ".join(sorted(spaces)),
    )


def load_surfaces(
    pial: Any,
    white: Any,
    *,
    hemi: str | None = None,
    volume: Any = None,
    coordinates: str = "scanner",
) -> xr.Dataset:
    """Load pial and white surfaces (one or both hemispheres) as a two-layer mesh.

    Parameters
    ----------
    pial, white : path, (vertices, faces), or dict {"lh": ..., "rh": ...}
        FreeSurfer binary surfaces (``lh.pial``) or GIFTI (``.gii``), a
        ``(vertices (n, 3) mm, faces (m, 3))`` tuple, a dict of those per
        hemisphere, or a list of paths whose names give the hemisphere
        (``lh.``/``rh.``, BIDS ``hemi-L``/``hemi-R``). Pial and white must
        have the same vertices and triangles (FreeSurfer's do).
    hemi : {"lh", "rh"}, optional
        Hemisphere of a single surface whose file name does not say it.
    volume : path or nibabel image, optional
        The subject's ``mri/orig.mgz`` for the tkRAS -> scanner RAS transform.
    coordinates : {"scanner", "stored"}
        Convert to scanner RAS when the geometry is known (default, as laMEG).

    Returns
    -------
    xarray.Dataset
        A mesh dataset with layers ``pial`` (depth 0) and ``white`` (depth
        1): ``vertices (layer, vertex, xyz)`` mm, ``faces (face, corner)``
        (rh offset by the lh vertex count), ``thickness (vertex)``, a
        ``hemi (vertex)`` coordinate when known; attrs ``coordinate_space``.

    Raises
    ------
    LaminarrayError
        Missing file (named), mismatched vertex counts, different
        triangulations, non-triangular faces, NaN coordinates.
    """
    p, w, faces, hemis, space = _surface_pair(
        pial, white, hemi=hemi, volume=volume, coordinates=coordinates
    )
    return mesh_dataset(
        np.stack([p, w]),
        faces,
        layers=["pial", "white"],
        hemi=hemis,
        depth=[0.0, 1.0],
        attrs={"coordinate_space": space},
    )
