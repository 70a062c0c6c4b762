"""Head models: the conductor surfaces (and spheres) a forward model needs.

A head model is a labelled :class:`xarray.Dataset` holding up to three
closed triangle surfaces, nested from the inside out,

- ``inner_skull_vertices (inner_skull_vertex, xyz)`` mm and
  ``inner_skull_faces (inner_skull_face, corner)``: the brain compartment
  (what MEG forward models use);
- ``outer_skull_vertices``/``outer_skull_faces``;
- ``scalp_vertices``/``scalp_faces`` (the head surface: helmets and OPM
  arrays are placed around it, coregistration fits it),

and/or a sphere ``sphere_center (xyz)`` mm with ``sphere_radius`` mm, plus
``conductivity (compartment)`` in S/m for the compartment inside each
surface (brain, skull, scalp) and attrs ``coord_frame``. Positions are
points (``units = "mm"``), so :func:`~laminarray.forward.apply_transform`
moves a head model like any sensor array or mesh.

:func:`head_model` builds and validates one from arrays or files (FreeSurfer
``bem/*.surf``, GIFTI, MNE ``-bem.fif``/``-head.fif``); :func:`read_head_model`
finds the surfaces of a FreeSurfer/MNE subject or a laMEG subject directory.
Every surface is checked: triangles indexing the vertices, a closed
consistently wound surface of genus 0 (each edge shared by two triangles in
opposite directions, total solid angle 4π seen from inside), outward
orientation (inward-wound surfaces are re-wound, nothing else is changed),
and the surfaces nested without touching (every vertex of an inner surface
strictly inside the next surface out).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option, describe, import_optional

__all__ = ["head_model", "points_inside", "read_head_model"]

#: surfaces from the inside out
SURFACES = ("inner_skull", "outer_skull", "scalp")
#: compartment inside each surface
COMPARTMENTS = {"inner_skull": "brain", "outer_skull": "skull", "scalp": "scalp"}
#: S/m, the values MNE-Python and SPM/FieldTrip use by default
DEFAULT_CONDUCTIVITY = {"inner_skull": 0.3, "outer_skull": 0.006, "scalp": 0.3}
#: MNE/FIFF BEM surface ids
_FIF_IDS = {"inner_skull": 1, "outer_skull": 3, "scalp": 4}
#: file names searched by read_head_model, per surface (first match wins)
_FILE_NAMES = {
    "inner_skull": (
        "inner_skull.surf",
        "*_inner_skull_surface",
        "origiskull*.surf.gii",
        "iskull*.surf.gii",
    ),
    "outer_skull": (
        "outer_skull.surf",
        "*_outer_skull_surface",
        "origoskull*.surf.gii",
        "oskull*.surf.gii",
    ),
    "scalp": ("outer_skin.surf", "*_outer_skin_surface", "origscalp*.surf.gii", "scalp*.surf.gii"),
}


def head_model(
    inner_skull: Any = None,
    outer_skull: Any = None,
    scalp: Any = None,
    *,
    sphere: tuple[Any, float] | None = None,
    conductivity: Mapping[str, float] | Sequence[float] | None = None,
    coord_frame: str = "mri",
    coordinates: str = "scanner",
) -> xr.Dataset:
    """Build a validated head model from surfaces and/or a sphere.

    Parameters
    ----------
    inner_skull, outer_skull, scalp : path-like or (vertices, faces), optional
        Each surface as a file or as arrays: ``vertices (n, 3)`` in mm and
        ``faces (m, 3)`` 0-based. Files: FreeSurfer binary surfaces (MNE's
        watershed ``bem/inner_skull.surf``, ``outer_skull.surf``,
        ``outer_skin.surf``), GIFTI (laMEG's ``origiskull_2562.surf.gii``,
        ``origoskull_2562.surf.gii``, ``origscalp_2562.surf.gii``), or MNE FIF
        (``-bem.fif`` holding one or several BEM surfaces, the right one is
        picked by its id; ``-head.fif``; needs ``mne``). MNE's FIF surfaces
        are in metres and converted to mm.
    sphere : (center, radius), optional
        A sphere: centre ``(3,)`` and radius in mm (for ``model="sphere"``
        or when no surface is known).
    conductivity : mapping of surface -> S/m, or sequence, optional
        Conductivity of the compartment inside each surface (a sequence is
        ordered inner skull, outer skull, scalp over the surfaces given);
        default 0.3, 0.006, 0.3 S/m (MNE's and FieldTrip's defaults). MEG
        forward models of a single compartment do not depend on it.
    coord_frame : str
        Name of the coordinate frame (attrs), e.g. ``"mri"`` (FreeSurfer
        surface RAS, the frame of MNE's ``-trans.fif``) or ``"head"``.
    coordinates : {"scanner", "stored"}
        For FreeSurfer/GIFTI files: convert to scanner RAS when the file
        records its volume geometry (as :func:`laminarray.surf.read_surface`),
        or keep the stored coordinates. Use the same as for the cortical
        surfaces. BEM surfaces written by MNE carry no geometry and are kept
        as stored (surface RAS).

    Returns
    -------
    xarray.Dataset
        Variables ``<surface>_vertices (<surface>_vertex, xyz)`` mm,
        ``<surface>_faces (<surface>_face, corner)``, ``conductivity
        (compartment)`` S/m with coord ``surface``, and for a sphere
        ``sphere_center (xyz)`` mm, ``sphere_radius`` mm; attrs ``kind =
        "head_model"``, ``coord_frame``, ``surfaces``.

    Raises
    ------
    LaminarrayError
        If nothing is given, a surface is not a closed genus-0 triangulation,
        or the surfaces are not nested.

    Examples
    --------
    >>> head = head_model(sphere=([0.0, 0.0, 40.0], 80.0))
    >>> float(head["sphere_radius"])
    80.0
    """
    given = {
        name: value
        for name, value in zip(SURFACES, (inner_skull, outer_skull, scalp), strict=True)
        if value is not None
    }
    if not given and sphere is None:
        raise LaminarrayError(
            "a head model needs at least one of `inner_skull=`, `outer_skull=`, `scalp=` or "
            "`sphere=(center_mm, radius_mm)`"
        )
    check_option("coordinates", coordinates, ("scanner", "stored"))
    surfaces = {
        name: _oriented(*_surface(value, name, coordinates), name) for name, value in given.items()
    }
    _check_nested(surfaces)
    ds = xr.Dataset(coords={"xyz": ["x", "y", "z"]})
    for name, (vertices, faces) in surfaces.items():
        ds[f"{name}_vertices"] = (
            (f"{name}_vertex", "xyz"),
            vertices,
            {"units": "mm", "long_name": f"{name.replace('_', ' ')} vertex position"},
        )
        ds[f"{name}_faces"] = (
            (f"{name}_face", "corner"),
            faces,
            {"long_name": f"{name.replace('_', ' ')} triangle vertex indices (0-based)"},
        )
    if surfaces:
        values = _conductivities(conductivity, list(surfaces))
        ds["conductivity"] = xr.DataArray(
            [values[name] for name in surfaces],
            dims="compartment",
            coords={
                "compartment": [COMPARTMENTS[name] for name in surfaces],
                "surface": ("compartment", list(surfaces)),
            },
            attrs={"units": "S/m", "long_name": "conductivity inside each surface"},
        )
    if sphere is not None:
        center, radius = _sphere(sphere)
        ds["sphere_center"] = ("xyz", center, {"units": "mm", "long_name": "sphere centre"})
        ds["sphere_radius"] = ((), radius, {"units": "mm", "long_name": "sphere radius"})
    ds.attrs = {"kind": "head_model", "coord_frame": str(coord_frame), "surfaces": list(surfaces)}
    return ds


def read_head_model(
    path: str | os.PathLike[str],
    *,
    conductivity: Mapping[str, float] | Sequence[float] | None = None,
    coord_frame: str = "mri",
    coordinates: str = "scanner",
) -> xr.Dataset:
    """Read the head surfaces of a subject directory or an MNE BEM file.

    Parameters
    ----------
    path : path-like
        - a FreeSurfer/MNE subject directory or its ``bem/`` folder:
          ``inner_skull.surf``, ``outer_skull.surf``, ``outer_skin.surf``
          (or the ``bem/watershed/<subject>_*_surface`` files);
        - a laMEG subject's ``mri/`` folder (or the subject folder holding
          it): ``origiskull_*.surf.gii``, ``origoskull_*.surf.gii``,
          ``origscalp_*.surf.gii``;
        - an MNE ``-bem.fif`` file (every surface it holds) or ``-head.fif``
          (the scalp).
    conductivity, coord_frame, coordinates
        As in :func:`head_model`.

    Returns
    -------
    xarray.Dataset
        The head model (see :func:`head_model`).
    """
    path = Path(path)
    options = {"conductivity": conductivity, "coord_frame": coord_frame}
    if path.is_file() and path.suffix == ".fif":
        mne = import_optional("mne", "mne", "reading MNE FIF surfaces")
        surfs = mne.read_bem_surfaces(path, verbose=False)
        ids = {int(s["id"]) for s in surfs}
        found = {name: path for name, code in _FIF_IDS.items() if code in ids}
        if not found:
            found = {"scalp": path}
        return head_model(**found, **options)
    if not path.is_dir():
        raise LaminarrayError(f"`path` {str(path)!r} is neither a directory nor a .fif file")
    folders = [path, path / "bem", path / "bem" / "watershed", path / "mri"]
    found = {}
    for name, patterns in _FILE_NAMES.items():
        for folder in folders:
            matches = [m for pattern in patterns for m in sorted(folder.glob(pattern))]
            if matches:
                found[name] = matches[0]
                break
    if not found:
        raise LaminarrayError(
            f"no head surface under {str(path)!r}: looked in {[str(f) for f in folders]} for "
            f"{sorted({p for ps in _FILE_NAMES.values() for p in ps})}"
        )
    return head_model(**found, coordinates=coordinates, **options)


def points_inside(points: Any, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed triangle surface (ray-casting parity).

    A ray from each point along +z crosses a closed surface an odd number of
    times exactly when the point is inside, whatever the surface's shape
    (overhangs and folds included). The crossings are counted against the
    triangles whose xy bounding boxes cover the point's grid cell only
    (a uniform xy grid of about two edge lengths), in the xy projection with
    barycentric edge functions, so the test is exact and costs a few dozen
    triangle tests per point.

    Parameters
    ----------
    points : array, shape (n, 3)
        mm.
    vertices : ndarray, shape (n_vertices, 3)
        mm.
    faces : ndarray, shape (n_faces, 3)

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    tri = vertices[np.asarray(faces, dtype=np.int64)]  # (face, corner, xyz)
    lo, hi = tri[..., :2].min(axis=1), tri[..., :2].max(axis=1)
    cell = 2.0 * float(np.median(np.linalg.norm(tri[:, 1] - tri[:, 0], axis=1)))
    origin = lo.min(axis=0)
    first = np.floor((lo - origin) / cell).astype(np.int64)
    last = np.floor((hi - origin) / cell).astype(np.int64)
    n_cols = int(last[:, 1].max()) + 1
    # (cell, triangle) pairs for every cell a triangle's bounding box touches
    span = last - first + 1
    count = span[:, 0] * span[:, 1]
    owner = np.repeat(np.arange(len(tri)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    cx = first[owner, 0] + offset // span[owner, 1]
    cy = first[owner, 1] + offset % span[owner, 1]
    keys = cx * n_cols + cy
    order = np.argsort(keys, kind="stable")
    keys, owner = keys[order], owner[order]
    inside = np.zeros(len(pts), bool)
    pc = np.floor((pts[:, :2] - origin) / cell).astype(np.int64)
    valid = np.all(pc >= 0, axis=1) & np.all(pc <= last.max(axis=0), axis=1)
    pkeys = np.where(valid, pc[:, 0] * n_cols + pc[:, 1], -1)
    starts = np.searchsorted(keys, pkeys, side="left")
    stops = np.searchsorted(keys, pkeys, side="right")
    for key in np.unique(pkeys[valid & (stops > starts)]):
        which = np.flatnonzero(pkeys == key)
        cand = tri[owner[starts[which[0]] : stops[which[0]]]]  # (t, 3, 3)
        inside[which] = _crossings(pts[which], cand) % 2 == 1
    return inside


def _crossings(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Number of triangles a +z ray from each point crosses (p, t pairs in the xy projection)."""
    px, py, pz = points[:, 0, None], points[:, 1, None], points[:, 2, None]
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]  # (t, 3)
    edge = []
    for i, j in ((1, 2), (2, 0), (0, 1)):  # edge function opposite corner k = 0, 1, 2
        edge.append((x[:, j] - x[:, i]) * (py - y[:, i]) - (y[:, j] - y[:, i]) * (px - x[:, i]))
    e0, e1, e2 = edge
    covered = ((e0 > 0) & (e1 > 0) & (e2 > 0)) | ((e0 < 0) & (e1 < 0) & (e2 < 0))
    total = e0 + e1 + e2
    with np.errstate(divide="ignore", invalid="ignore"):
        height = (e0 * z[:, 0] + e1 * z[:, 1] + e2 * z[:, 2]) / total
    return np.count_nonzero(covered & (height > pz), axis=1)


def solid_angles(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Total solid angle (sr) a triangle surface subtends at each point.

    van Oosterom & Strackee (1983), IEEE Trans. Biomed. Eng. 30:125: for a
    triangle with corners ``r1, r2, r3`` relative to the point,
    ``tan(Ω/2) = r1 . (r2 x r3) / (|r1||r2||r3| + (r1.r2)|r3| + (r1.r3)|r2| + (r2.r3)|r1|)``.

    Returns
    -------
    ndarray, shape (n_points,)
        4π for a point inside a closed outward surface, 0 outside.
    """
    corners = [vertices[faces[:, k]].T for k in range(3)]  # 3 x (xyz, n_faces)
    out = np.empty(len(points))
    step = max(1, 2**18 // max(len(faces), 1))
    for start in range(0, len(points), step):
        p = points[start : start + step]
        (x1, y1, z1), (x2, y2, z2), (x3, y3, z3) = (
            [c[a][None, :] - p[:, a, None] for a in range(3)] for c in corners
        )
        n1, n2, n3 = (
            np.sqrt(x * x + y * y + z * z)
            for x, y, z in ((x1, y1, z1), (x2, y2, z2), (x3, y3, z3))
        )
        triple = x1 * (y2 * z3 - z2 * y3) + y1 * (z2 * x3 - x2 * z3) + z1 * (x2 * y3 - y2 * x3)
        denom = (
            n1 * n2 * n3
            + (x1 * x2 + y1 * y2 + z1 * z2) * n3
            + (x1 * x3 + y1 * y3 + z1 * z3) * n2
            + (x2 * x3 + y2 * y3 + z2 * z3) * n1
        )
        out[start : start + step] = 2.0 * np.arctan2(triple, denom).sum(axis=1)
    return out


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals of an oriented surface, exact for vertices on a sphere.

    Each face contributes ``(e1 x e2) / (|e1|^2 |e2|^2)`` at a corner with
    edges ``e1``, ``e2`` (Max 1999, J. Graphics Tools 4:1): the weighting that
    gives the exact normal for any triangulation of a sphere, and a better
    estimate than area weighting on smooth surfaces.

    Returns
    -------
    ndarray, shape (n_vertices, 3)
    """
    normals = np.zeros_like(vertices, dtype=np.float64)
    tri = vertices[faces]
    for corner in range(3):
        e1 = tri[:, (corner + 1) % 3] - tri[:, corner]
        e2 = tri[:, (corner + 2) % 3] - tri[:, corner]
        weight = np.einsum("fx,fx->f", e1, e1) * np.einsum("fx,fx->f", e2, e2)
        np.add.at(normals, faces[:, corner], np.cross(e1, e2) / weight[:, None])
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def vertex_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """A third of the area of the triangles around each vertex (mm^2)."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    areas = np.zeros(len(vertices))
    for corner in range(3):
        np.add.at(areas, faces[:, corner], area / 3.0)
    return areas


def surface_arrays(head: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (n, 3) mm, faces (m, 3))`` of one surface of a head model.

    Raises
    ------
    LaminarrayError
        If ``head`` is not a head model or lacks the surface.
    """
    check_head(head)
    if f"{name}_vertices" not in head or f"{name}_faces" not in head:
        raise LaminarrayError(
            f"the head model has no {name.replace('_', ' ')} surface (`{name}_vertices`, "
            f"`{name}_faces`); it holds {head.attrs.get('surfaces', [])}"
            + (" and a sphere" if "sphere_center" in head else "")
            + f". Build one with laminarray.forward.head_model({name}=...)"
        )
    return (
        np.asarray(head[f"{name}_vertices"].transpose(..., "xyz").values, dtype=np.float64),
        np.asarray(head[f"{name}_faces"].values, dtype=np.int64),
    )


def check_head(head: Any) -> xr.Dataset:
    """Raise unless ``head`` is a head model Dataset (see :func:`head_model`)."""
    if not isinstance(head, xr.Dataset) or not (
        "sphere_center" in head or any(f"{s}_vertices" in head for s in SURFACES)
    ):
        raise LaminarrayError(
            "`head` must be a head model from laminarray.forward.head_model or "
            f"read_head_model (surfaces and/or a sphere); got {describe(head)}"
        )
    return head


# --------------------------------------------------------------------------- helpers


def _surface(value: Any, name: str, coordinates: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise LaminarrayError(f"`{name}`: surface file not found: {str(path)!r}")
        if path.suffix == ".fif":
            return _read_fif_surface(path, name)
        from ..surf import read_surface

        vertices, faces, _ = read_surface(path, coordinates=coordinates)
        return vertices, faces
    if isinstance(value, tuple | list) and len(value) == 2:
        vertices = np.asarray(value[0], dtype=np.float64)
        faces = np.asarray(value[1])
        if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.all(np.isfinite(vertices)):
            raise LaminarrayError(
                f"`{name}` vertices must be finite (n, 3) positions in mm; got "
                f"{describe(value[0])}"
            )
        if (
            faces.ndim != 2
            or faces.shape[1] != 3
            or not np.issubdtype(faces.dtype, np.integer)
            or faces.min() < 0
            or faces.max() >= len(vertices)
        ):
            raise LaminarrayError(
                f"`{name}` faces must be (m, 3) integer indices into {len(vertices)} vertices; "
                f"got {describe(value[1])}"
            )
        return vertices, faces
    raise LaminarrayError(
        f"`{name}` must be a surface file (.surf, .gii, .fif) or a (vertices, faces) tuple; "
        f"got {describe(value)}"
    )


def _read_fif_surface(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    mne = import_optional("mne", "mne", "reading MNE FIF surfaces")
    surfs = mne.read_bem_surfaces(path, verbose=False)
    if len(surfs) > 1:
        surfs = [s for s in surfs if int(s["id"]) == _FIF_IDS[name]]
        if not surfs:
            raise LaminarrayError(f"`{name}`: {str(path)!r} holds no {name} surface")
    return 1000.0 * np.asarray(surfs[0]["rr"], dtype=np.float64), np.asarray(surfs[0]["tris"])


def _oriented(vertices: np.ndarray, faces: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Check a closed consistently wound genus-0 surface; wind it outward."""
    faces = np.asarray(faces, dtype=np.int64)
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = directed[:, 0] * len(vertices) + directed[:, 1]
    reverse = directed[:, 1] * len(vertices) + directed[:, 0]
    unique_directed = np.unique(keys).size == keys.size
    if not unique_directed or not np.all(np.isin(reverse, keys)):
        raise LaminarrayError(
            f"`{name}` is not a closed, consistently wound triangle surface: every edge must "
            "be shared by exactly two triangles traversing it in opposite directions "
            "(holes, duplicated or flipped triangles found)"
        )
    used = np.unique(faces).size
    euler = used - keys.size // 2 + len(faces)
    if euler != 2:
        raise LaminarrayError(
            f"`{name}` must be a closed surface of genus 0 (Euler characteristic 2); got {euler}"
        )
    tri = vertices[faces]
    volume = np.einsum("fx,fx->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    if volume < 0:
        faces = faces[:, ::-1].copy()
    inner = vertices[faces].mean(axis=(0, 1))
    total = float(solid_angles(inner[None], vertices, faces)[0])
    if not np.isclose(abs(total), 4 * np.pi, atol=1e-3):
        raise LaminarrayError(
            f"`{name}` does not enclose its centroid once (solid angle {total / np.pi:.3f}π sr, "
            "expected 4π): the surface intersects itself or its centroid lies outside it"
        )
    return vertices, faces


def _check_nested(surfaces: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    names = list(surfaces)
    for inner, outer in itertools.pairwise(names):
        inside = points_inside(surfaces[inner][0], *surfaces[outer])
        if not inside.all():
            raise LaminarrayError(
                f"the {inner.replace('_', ' ')} must lie inside the {outer.replace('_', ' ')}: "
                f"{int((~inside).sum())} of its {inside.size} vertices are outside or on it"
            )


def _conductivities(value: Any, names: list[str]) -> dict[str, float]:
    if value is None:
        return {name: DEFAULT_CONDUCTIVITY[name] for name in names}
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise LaminarrayError(
                f"`conductivity` names surfaces {unknown} the head model lacks; it has {names}"
            )
        values = {name: float(value.get(name, DEFAULT_CONDUCTIVITY[name])) for name in names}
    else:
        seq = np.asarray(value, dtype=np.float64).reshape(-1)
        if seq.size != len(names):
            raise LaminarrayError(
                f"`conductivity` must give one value per surface {names}; got {describe(value)}"
            )
        values = dict(zip(names, seq.tolist(), strict=True))
    if not all(np.isfinite(v) and v > 0 for v in values.values()):
        raise LaminarrayError(f"`conductivity` values must be positive S/m; got {values}")
    return values


def _sphere(sphere: Any) -> tuple[np.ndarray, float]:
    try:
        center, radius = sphere
        center = np.asarray(center, dtype=np.float64)
        radius = float(radius)
    except (TypeError, ValueError):
        center, radius = None, np.nan
    if center is None or center.shape != (3,) or not np.all(np.isfinite(center)) or not radius > 0:
        raise LaminarrayError(
            f"`sphere` must be (center (3,) mm, radius > 0 mm); got {describe(sphere)}"
        )
    return center, radius
