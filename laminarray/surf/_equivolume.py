"""Kernels of the equivolume (Bok) layer model: vertex areas and per-column depths.

Model (Waehnert et al. 2014, NeuroImage 93:210, after Bok 1929): within a
column the cross-sectional area changes linearly with the relative depth
``rho`` (0 = pial, 1 = white), ``A(rho) = A_p + rho (A_w - A_p)``, where
``A_p`` and ``A_w`` are the column's areas on the pial and white surfaces.
The volume from the pial surface down to ``rho`` is then
``T (A(rho)^2 - A_p^2) / (2 (A_w - A_p))``, so the surface enclosing the
volume fraction ``alpha`` of the column lies where
``A(rho)^2 = alpha A_w^2 + (1 - alpha) A_p^2``:

    rho = (A_p - sqrt(alpha A_w^2 + (1 - alpha) A_p^2)) / (A_p - A_w)
        = alpha (A_p + A_w) / (A_p + sqrt(alpha A_w^2 + (1 - alpha) A_p^2)).

The second (rationalised) form has no cancellation and tends to
``rho = alpha`` (equidistant) as ``A_w -> A_p``; it is the one evaluated.
"""

from __future__ import annotations

import numpy as np

from .topology import _face_normals

#: Recorded in the mesh attrs (``layer_model``) of equivolumetric meshes.
MODEL = (
    "equivolume (Bok; Waehnert et al. 2014, NeuroImage 93:210): column area linear in depth "
    "between the pial and white vertex areas (one third of the incident triangle areas); "
    "rho = alpha (A_p + A_w) / (A_p + sqrt(alpha A_w^2 + (1 - alpha) A_p^2))"
)


def _vertex_areas(pos: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Area of each vertex: one third of the areas of its triangles, shape (n_vertices,), mm²."""
    face_area = 0.5 * np.linalg.norm(_face_normals(pos, tri, unit=False), axis=1)
    return np.bincount(tri.ravel(), np.repeat(face_area / 3.0, 3), minlength=len(pos))


def _equivolume_depths(
    area_pial: np.ndarray, area_white: np.ndarray, fractions: np.ndarray
) -> np.ndarray:
    """Relative depths ``(n_layers, n_vertices)`` enclosing volume ``fractions`` from pial.

    Columns without area on either surface (vertices in no triangle) take the
    equidistant depth ``rho = alpha``.
    """
    alpha = fractions[:, None]
    root = np.sqrt(alpha * area_white**2 + (1.0 - alpha) * area_pial**2)
    denominator = area_pial + root
    usable = denominator > 0
    rho = alpha * (area_pial + area_white) / np.where(usable, denominator, 1.0)
    return np.clip(np.where(usable, rho, alpha), 0.0, 1.0)
