"""Small meshes with known geometry (spheres, flat sheets) for examples and tests."""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from .topology import _face_normals


def sphere_mesh(
    n_vertices: int = 642, radius: float = 1.0, center: tuple[float, float, float] = (0, 0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulated sphere with near-uniform vertices (Fibonacci lattice).

    Parameters
    ----------
    n_vertices : int
        Number of vertices.
    radius : float
        Radius (mm).
    center : 3 floats
        Centre (mm).

    Returns
    -------
    vertices : ndarray, shape (n_vertices, 3)
    faces : ndarray of int32, shape (2 * n_vertices - 4, 3)
        Wound counter-clockwise seen from outside (outward normals). The
        vertex order depends only on ``n_vertices``, so spheres of different
        radii share faces and correspond vertex by vertex.
    """
    k = np.arange(n_vertices) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / n_vertices)
    azimuth = np.pi * (1.0 + 5.0**0.5) * k
    unit = np.c_[np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)]
    faces = ConvexHull(unit).simplices.astype(np.int32)
    inward = np.einsum("fx,fx->f", _face_normals(unit, faces), unit[faces].mean(axis=1)) < 0
    faces[inward] = faces[inward][:, ::-1]
    return unit * radius + np.asarray(center, float), faces


def flat_sheet(
    n_x: int = 10, n_y: int = 10, spacing: float = 3.0, z: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Regular triangulated grid in the plane ``z`` (the golden fixture's layout).

    Returns
    -------
    vertices : ndarray, shape (n_x * n_y, 3)
        Centred on the origin in x and y, mm.
    faces : ndarray of int32, shape (2 * (n_x - 1) * (n_y - 1), 3)
        Counter-clockwise seen from +z (normals +z).
    """
    x = (np.arange(n_x) - (n_x - 1) / 2) * spacing
    y = (np.arange(n_y) - (n_y - 1) / 2) * spacing
    gx, gy = np.meshgrid(x, y)
    vertices = np.c_[gx.ravel(), gy.ravel(), np.full(gx.size, float(z))]
    i, j = np.meshgrid(np.arange(n_x - 1), np.arange(n_y - 1))
    a = (j * n_x + i).ravel()
    faces = np.concatenate([np.c_[a, a + 1, a + n_x + 1], np.c_[a, a + n_x + 1, a + n_x]])
    return vertices, faces.astype(np.int32)
