"""Multilayer cortical surfaces: build, load, measure and smooth laminar meshes.

A laminar mesh (``LaminarMesh``) is a mesh dataset (see
:func:`laminarray.mesh_dataset`): ``vertices (layer, vertex, xyz)`` in mm,
shared ``faces (face, corner)``, ``orientation (layer, vertex, xyz)`` and
``thickness (vertex)``; the same ``vertex`` is the same cortical column on
every layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from .geodesic import geodesic_distances
from .smoothing import smoothing_matrix, smoothing_operator
from .topology import adjacency, vertex_normals

#: Names provided by sibling modules owned elsewhere, imported on first use.
_LAZY = {"laminar_weights": "laminae", "to_laminae": "laminae"}

__all__ = [
    "adjacency",
    "geodesic_distances",
    "smoothing_matrix",
    "smoothing_operator",
    "vertex_normals",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
