"""Forward models: sensor arrays, head/MRI transforms, spherical gain matrices, lead fields.

- :mod:`~laminarray.forward.transforms`: :func:`coregister`, :func:`apply_transform`.
- :mod:`~laminarray.forward.sensors`: :func:`make_sensors`, :func:`helmet_array`,
  :func:`opm_array`, fiducials.
- :mod:`~laminarray.forward.head`: :func:`head_model`, :func:`read_head_model` (head
  surfaces and spheres, validated).
- :mod:`~laminarray.forward.gain`: :func:`gain` (single shell, local spheres, sphere, BEM).
- :mod:`~laminarray.forward.sphere`: :func:`sphere_gain` (Sarvas), :func:`fit_sphere`.
- :mod:`~laminarray.forward.leadfield`: :func:`leadfield` (random / compute / load),
  :func:`save_leadfield_npz`.
- :mod:`~laminarray.forward.diagnostics`: :func:`lead_field_rms_diff`, :func:`gain_norms`.
- :mod:`~laminarray.forward.headshape`: :func:`coregister_headshape` (ICP refinement
  of a fiducial fit with digitised head-shape points or a face scan).
"""

from __future__ import annotations

from .diagnostics import gain_norms, lead_field_rms_diff
from .gain import gain
from .head import head_model, read_head_model
from .headshape import HeadshapeFit, coregister_headshape
from .leadfield import leadfield, save_leadfield_npz
from .sensors import (
    head_fiducials,
    helmet_array,
    make_fiducials,
    make_sensors,
    opm_array,
    scalp_surface,
)
from .sphere import fit_sphere, sphere_gain
from .transforms import apply_transform, coregister, invert_transform, rigid_transform

__all__ = [
    "HeadshapeFit",
    "apply_transform",
    "coregister",
    "coregister_headshape",
    "fit_sphere",
    "gain",
    "gain_norms",
    "head_fiducials",
    "head_model",
    "helmet_array",
    "invert_transform",
    "lead_field_rms_diff",
    "leadfield",
    "make_fiducials",
    "make_sensors",
    "opm_array",
    "read_head_model",
    "rigid_transform",
    "save_leadfield_npz",
    "scalp_surface",
    "sphere_gain",
]
