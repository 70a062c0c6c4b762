"""A deterministic synthetic folded cortex: two hemispheres, layers, and a scalp sphere.

The anatomy is built analytically, so it needs no download and any size is
cheap:

1. each hemisphere starts as an ellipsoid triangulated from a Fibonacci
   lattice on the unit sphere (convex hull, faces oriented outward);
2. the white surface is the ellipsoid displaced along its radius by a smooth
   random field of plane waves on the sphere (crests = gyri, troughs = sulci);
3. the thickness is larger on gyral crowns than in sulcal fundi (as in real
   cortex) and lies in 1.5-4.5 mm;
4. the pial surface is the white surface moved outward by the thickness along
   the white surface's vertex normals; the layers are equidistant between
   pial (depth 0) and white (depth 1), with the same vertex index on every
   layer (one cortical column);
5. a scalp sphere encloses the brain.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.spatial import ConvexHull

from .. import schema
from .._validation import LaminarrayError

__all__ = ["synthetic_cortex", "synthetic_head"]

#: hemisphere centres (mm, RAS) and white-surface ellipsoid semi-axes (mm)
_HEMI_CENTRES = {"lh": (-38.0, 0.0, 15.0), "rh": (38.0, 0.0, 15.0)}
_SEMI_AXES = np.array([28.0, 62.0, 45.0])
_FOLD_AMPLITUDE_MM = 6.0
_N_WAVES = 12
_WAVE_NUMBER = 12.0  # rad per unit sphere radius: ~24 mm between gyri
_THICKNESS_RANGE_MM = (1.5, 4.5)
_HEAD_CENTRE_MM = (0.0, 0.0, 15.0)
_HEAD_RADIUS_MM = 92.0
_N_SCALP_VERTICES = 642
#: inner-skull ellipsoid semi-axes (mm): >= 4 mm around the cortex, inside the scalp
_INNER_SKULL_SEMI_AXES = np.array([86.0, 88.0, 76.0])


def synthetic_cortex(n_vertices: int = 4000, n_layers: int = 11, seed: int = 0) -> xr.Dataset:
    """Build a folded two-hemisphere multilayer cortex with a scalp sphere.

    Parameters
    ----------
    n_vertices : int
        Vertices per layer, both hemispheres together (>= 40); the left
        hemisphere gets ``ceil(n_vertices / 2)``. A few hundred to tens of
        thousands build in well under a second.
    n_layers : int
        Number of equidistant layers from pial to white (>= 2).
    seed : int
        Seed of the folding pattern; the same arguments always give the same
        anatomy.

    Returns
    -------
    xarray.Dataset
        A mesh dataset (see :func:`laminarray.schema.mesh_dataset`):
        ``vertices (layer, vertex, xyz)`` mm, ``faces (face, corner)``,
        ``thickness (vertex)`` mm, ``orientation (layer, vertex, xyz)`` (unit
        link vectors pointing from pial to white, the same on every layer),
        coords ``layer``, ``depth``, ``vertex``, ``hemi``; plus
        ``scalp_vertices (scalp_vertex, xyz)`` mm and
        ``scalp_faces (scalp_face, corner)``. Its head model is
        :func:`synthetic_head`.

    Examples
    --------
    >>> mesh = synthetic_cortex(n_vertices=1000, n_layers=5)
    >>> mesh.sizes["layer"], mesh.sizes["vertex"]
    (5, 1000)
    """
    if isinstance(n_vertices, bool) or not isinstance(n_vertices, int | np.integer):
        raise LaminarrayError(f"`n_vertices` must be an integer, got {n_vertices!r}")
    if n_vertices < 40:
        raise LaminarrayError(f"`n_vertices` must be >= 40, got {n_vertices}")
    if isinstance(n_layers, bool) or not isinstance(n_layers, int | np.integer) or n_layers < 2:
        raise LaminarrayError(f"`n_layers` must be an integer >= 2, got {n_layers!r}")
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((_N_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    phases = rng.uniform(0.0, 2.0 * np.pi, _N_WAVES)

    n_lh = (int(n_vertices) + 1) // 2
    white, pial, faces, hemi = [], [], [], []
    offset = 0
    for name, count in (("lh", n_lh), ("rh", int(n_vertices) - n_lh)):
        w, p, f = _hemisphere(count, np.asarray(_HEMI_CENTRES[name]), directions, phases)
        white.append(w)
        pial.append(p)
        faces.append(f + offset)
        hemi += [name] * count
        offset += count
    white_pos, pial_pos = np.concatenate(white), np.concatenate(pial)
    depths = schema.layer_depths(int(n_layers))
    positions = pial_pos[None] + depths[:, None, None] * (white_pos - pial_pos)[None]
    link = white_pos - pial_pos
    link /= np.linalg.norm(link, axis=1, keepdims=True)
    orientation = np.broadcast_to(link, positions.shape).copy()

    mesh = schema.mesh_dataset(
        positions,
        np.concatenate(faces).astype(np.int64),
        orientation=orientation,
        hemi=np.array(hemi),
        attrs={"source": f"laminarray.datasets.synthetic_cortex(seed={seed})"},
    )
    scalp_pos, scalp_faces = _sphere(_N_SCALP_VERTICES)
    return mesh.assign(
        scalp_vertices=(
            ("scalp_vertex", "xyz"),
            np.asarray(_HEAD_CENTRE_MM) + _HEAD_RADIUS_MM * scalp_pos,
            {"units": "mm", "long_name": "scalp vertex position"},
        ),
        scalp_faces=(
            ("scalp_face", "corner"),
            scalp_faces,
            {"long_name": "scalp triangle vertex indices (0-based)"},
        ),
    )


def synthetic_head(n_vertices: int = 642) -> xr.Dataset:
    """The head model of :func:`synthetic_cortex`: an ellipsoidal inner skull in a scalp sphere.

    The inner skull is an ellipsoid (semi-axes 86, 88, 76 mm, at least 4 mm
    around the cortex of any seed), so realistic-head models differ from the
    sphere as they do in a real head; the scalp is the 92 mm sphere the
    helmet and OPM arrays are placed around.

    Parameters
    ----------
    n_vertices : int
        Vertices of each surface (>= 240, enough for a single-shell
        expansion of order 10).

    Returns
    -------
    xarray.Dataset
        A head model (:func:`laminarray.forward.head_model`), frame ``"mri"``.

    Examples
    --------
    >>> head = synthetic_head()
    >>> head.attrs["surfaces"]
    ['inner_skull', 'scalp']
    """
    from ..forward.head import head_model

    if isinstance(n_vertices, bool) or not isinstance(n_vertices, int | np.integer):
        raise LaminarrayError(f"`n_vertices` must be an integer, got {n_vertices!r}")
    if n_vertices < 240:
        raise LaminarrayError(f"`n_vertices` must be >= 240, got {n_vertices}")
    unit, faces = _sphere(int(n_vertices))
    centre = np.asarray(_HEAD_CENTRE_MM)
    return head_model(
        inner_skull=(centre + unit * _INNER_SKULL_SEMI_AXES, faces),
        scalp=(centre + unit * _HEAD_RADIUS_MM, faces),
    )


def _hemisphere(
    n: int, centre: np.ndarray, directions: np.ndarray, phases: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """White and pial positions (n, 3) mm and outward faces (m, 3) of one hemisphere."""
    unit, faces = _sphere(n)
    # smooth folding field in [-1, 1]: mean of plane waves on the sphere
    field = np.cos(_WAVE_NUMBER * unit @ directions.T + phases).mean(axis=1)
    field /= np.abs(field).max()
    white = centre + unit * (_SEMI_AXES + _FOLD_AMPLITUDE_MM * field[:, None])
    lo, hi = _THICKNESS_RANGE_MM
    thickness = (lo + hi) / 2 + (hi - lo) / 2 * np.tanh(1.5 * field) / np.tanh(1.5)
    pial = white + thickness[:, None] * _vertex_normals(white, faces)
    return white, pial, faces


def _sphere(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fibonacci-lattice unit sphere: positions (n, 3) and outward faces (2n - 4, 3)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(1.0 - z**2)
    theta = np.pi * (1.0 + np.sqrt(5.0)) * k
    unit = np.column_stack([r * np.cos(theta), r * np.sin(theta), z])
    faces = ConvexHull(unit).simplices.astype(np.int64)
    a, b, c = (unit[faces[:, i]] for i in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    faces[inward] = faces[inward][:, ::-1]
    return unit, faces


def _vertex_normals(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (n, 3) of a consistently oriented mesh."""
    a, b, c = (pos[faces[:, i]] for i in range(3))
    face_normals = np.cross(b - a, c - a)  # length = 2 * area
    normals = np.zeros_like(pos)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)
