"""Multilayer cortical surfaces: build, load, measure and smooth laminar meshes.

A laminar mesh (``LaminarMesh``) is a mesh dataset (see
:func:`laminarray.mesh_dataset`): ``vertices (layer, vertex, xyz)`` in mm,
shared ``faces (face, corner)``, ``orientation (layer, vertex, xyz)`` and
``thickness (vertex)``; the same ``vertex`` is the same cortical column on
every layer. See docs/surfaces.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from .build import build_laminar_mesh, interpolate_layers
from .downsample import downsample_mesh, interpolate
from .fsaverage import fsaverage_to_native, native_to_fsaverage, sample_fsaverage, sphere_nearest
from .geodesic import geodesic_distances
from .geometry import (
    anatomical_score,
    distance_to_scalp,
    interlayer_distance,
    radiality_to_scalp,
    thickness,
)
from .io import load_surfaces, read_surface
from .orientation import ORIENTATION_METHODS, dipole_orientations
from .smoothing import FWHM_TO_SIGMA, smoothing_matrix, smoothing_operator
from .topology import adjacency, vertex_normals

#: Names provided by sibling modules owned elsewhere, imported on first use.
_LAZY = {"laminar_weights": "laminae", "to_laminae": "laminae"}

__all__ = [
    "FWHM_TO_SIGMA",
    "ORIENTATION_METHODS",
    "adjacency",
    "anatomical_score",
    "build_laminar_mesh",
    "dipole_orientations",
    "distance_to_scalp",
    "downsample_mesh",
    "fsaverage_to_native",
    "geodesic_distances",
    "interlayer_distance",
    "interpolate",
    "interpolate_layers",
    "load_surfaces",
    "native_to_fsaverage",
    "radiality_to_scalp",
    "read_surface",
    "sample_fsaverage",
    "smoothing_matrix",
    "smoothing_operator",
    "sphere_nearest",
    "thickness",
    "vertex_normals",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
