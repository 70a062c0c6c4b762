"""Multilayer cortical surfaces: build, load, measure and smooth laminar meshes.

A laminar mesh (``LaminarMesh``) is a mesh dataset (see
:func:`laminarray.mesh_dataset`): ``vertices (layer, vertex, xyz)`` in mm,
shared ``faces (face, corner)``, ``orientation (layer, vertex, xyz)`` and
``thickness (vertex)``; the same ``vertex`` is the same cortical column on
every layer. See docs/surfaces.md.
"""

from __future__ import annotations

from .build import SPACINGS, build_laminar_mesh, equivolumetric_depths, interpolate_layers
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
from .laminae import (
    LAMINAE,
    bigbrain_boundaries,
    calc_prop,
    laminar_weights,
    read_bigbrain_boundaries,
    to_laminae,
)
from .medial import medial_wall_mask, remove_medial_wall
from .orientation import ORIENTATION_METHODS, dipole_orientations
from .smoothing import FWHM_TO_SIGMA, smoothing_matrix, smoothing_operator
from .topology import adjacency, vertex_normals

__all__ = [
    "FWHM_TO_SIGMA",
    "LAMINAE",
    "ORIENTATION_METHODS",
    "SPACINGS",
    "adjacency",
    "anatomical_score",
    "bigbrain_boundaries",
    "build_laminar_mesh",
    "calc_prop",
    "dipole_orientations",
    "distance_to_scalp",
    "downsample_mesh",
    "equivolumetric_depths",
    "fsaverage_to_native",
    "geodesic_distances",
    "interlayer_distance",
    "interpolate",
    "interpolate_layers",
    "laminar_weights",
    "load_surfaces",
    "medial_wall_mask",
    "native_to_fsaverage",
    "radiality_to_scalp",
    "read_bigbrain_boundaries",
    "read_surface",
    "remove_medial_wall",
    "sample_fsaverage",
    "smoothing_matrix",
    "smoothing_operator",
    "sphere_nearest",
    "thickness",
    "to_laminae",
    "vertex_normals",
]
