"""Forward models: sensor arrays, head/MRI transforms, spherical gain matrices, lead fields.

- :mod:`~laminarray.forward.transforms`: :func:`coregister` (rigid, or with a uniform
  scale for template anatomy), :func:`apply_transform`.
- :mod:`~laminarray.forward.sensors`: the sensor schema (:func:`sensors_from_coils`:
  coil integration points and a channels x points weight matrix), :func:`make_sensors`,
  :func:`helmet_array`, :func:`opm_array`, fiducials, SSP projectors (:func:`apply_ssp`).
- :mod:`~laminarray.forward.mne_sensors`: :func:`sensors_from_mne` (every coil type MNE
  describes, CTF compensation folded into the weights, SSP projectors carried).
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
from .mne_sensors import sensors_from_mne
from .sensors import (
    apply_ssp,
    channel_units,
    coil_geometry,
    head_fiducials,
    helmet_array,
    make_fiducials,
    make_sensors,
    opm_array,
    scalp_surface,
    sensors_from_coils,
    ssp_operator,
)
from .sphere import fit_sphere, sphere_gain
from .transforms import (
    apply_transform,
    coregister,
    invert_transform,
    rigid_transform,
    transform_scale,
)

__all__ = [
    "HeadshapeFit",
    "apply_ssp",
    "apply_transform",
    "channel_units",
    "coil_geometry",
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
    "sensors_from_coils",
    "sensors_from_mne",
    "sphere_gain",
    "ssp_operator",
    "transform_scale",
]
