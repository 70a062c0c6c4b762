"""Mesh topology and per-face/per-vertex geometry: adjacency, edges, normals."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._checks import as_faces, as_vertices

__all__ = ["adjacency", "vertex_normals"]


def adjacency(faces: Any, n_vertices: int) -> sp.csr_array:
    """Vertex adjacency of a triangle mesh as a sparse matrix.

    Parameters
    ----------
    faces : array of int, shape (n_faces, 3)
        Triangles (0-based vertex indices).
    n_vertices : int
        Number of vertices (isolated vertices get an empty row).

    Returns
    -------
    scipy.sparse.csr_array, shape (n_vertices, n_vertices), float64
        Symmetric, ``1.0`` where two vertices share an edge, no diagonal
        (SPM's order-0 ``spm_mesh_distmtx`` adjacency).

    Examples
    --------
    >>> adjacency([[0, 1, 2], [1, 2, 3]], 4).toarray().astype(int)
    array([[0, 1, 1, 0],
           [1, 0, 1, 1],
           [1, 1, 0, 1],
           [0, 1, 1, 0]])
    """
    tri = as_faces(faces, int(n_vertices))
    return _adjacency(tri, int(n_vertices))


def _adjacency(tri: np.ndarray, n_vertices: int) -> sp.csr_array:
    rows, cols = _edges(tri).T
    data = np.ones(2 * rows.size)
    return sp.csr_array(
        (data, (np.r_[rows, cols], np.r_[cols, rows])), shape=(n_vertices, n_vertices)
    )


def _edges(tri: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(n_edges, 2)`` (smaller index first)."""
    pairs = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]).astype(np.int64)
    pairs.sort(axis=1)
    span = int(pairs.max()) + 1 if pairs.size else 1
    keys = np.unique(pairs[:, 0] * span + pairs[:, 1])
    return np.stack([keys // span, keys % span], axis=1)


def _face_longest_edge(pos: np.ndarray, tri: np.ndarray) -> np.ndarray:
    corners = pos[tri]
    sides = corners - np.roll(corners, 1, axis=1)
    return np.sqrt(np.einsum("fcx,fcx->fc", sides, sides)).max(axis=1)


def _face_normals(pos: np.ndarray, tri: np.ndarray, *, unit: bool = True) -> np.ndarray:
    """Face normals ``(b - a) x (c - a)`` of faces ``(a, b, c)``; unit length if ``unit``."""
    a, b, c = (pos[tri[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)
    return _normalize(normals) if unit else normals


def _normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors; vectors of (near-)zero length are left unchanged."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=vectors.copy(), where=norms > np.finfo(float).eps)


def _vertex_normals(pos: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Normalised sum of the unit normals of the faces around each vertex (not area weighted)."""
    face_n = _face_normals(pos, tri)
    index = tri.ravel()
    summed = np.stack(
        [
            np.bincount(index, weights=np.repeat(face_n[:, c], 3), minlength=len(pos))
            for c in range(3)
        ],
        axis=1,
    )
    return _normalize(summed)


def vertex_normals(vertices: Any, faces: Any) -> np.ndarray:
    """Vertex normals: normalised sum of the unit normals of incident faces.

    The direction follows the winding of ``faces`` (counter-clockwise seen
    from outside gives outward normals, FreeSurfer's convention). Faces are
    weighted equally, not by area (laMEG's convention).

    Parameters
    ----------
    vertices : array, shape (n_vertices, 3)
        Positions in mm.
    faces : array of int, shape (n_faces, 3)

    Returns
    -------
    ndarray, shape (n_vertices, 3)
        Unit vectors (zero for vertices in no face).
    """
    pos = as_vertices(vertices)
    return _vertex_normals(pos, as_faces(faces, len(pos)))


def _mean_face_size(pos: np.ndarray, tri: np.ndarray) -> float:
    """Mean over faces of the square root of the face area (mm); SPM's mesh scale ``h``."""
    areas = 0.5 * np.linalg.norm(_face_normals(pos, tri, unit=False), axis=1)
    return float(np.mean(np.sqrt(areas)))
