"""One entry point for MEG gain matrices in a head model: :func:`gain`.

=================  ===========================================  ==========================
``model``          what                                         laMEG / SPM name
=================  ===========================================  ==========================
``single_shell``   Nolte 2003: sphere + spherical-harmonic      ``'Single Shell'`` (SPM's
                   correction fitted to the inner skull         default for MEG)
                   (:mod:`~laminarray.forward.nolte`)
``local_spheres``  Huang et al. 1999: one sphere per channel    ``'MEG Local Spheres'``
                   fitted to the inner skull near it
                   (:mod:`~laminarray.forward.local_spheres`)
``sphere``         Sarvas 1987: one sphere                      ``'Single Sphere'``
                   (:func:`~laminarray.forward.sphere_gain`)
``bem``            single-compartment boundary elements         ``'MEG OpenMEEG BEM'``
                   through MNE-Python (extra ``bem``)
                   (:mod:`~laminarray.forward.bem`)
=================  ===========================================  ==========================

Every model returns the same lazy, labelled gain ``(channel, layer,
vertex[, xyz])`` in fT/nAm, chunked along ``vertex``, whose attrs name the
model and its parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option
from ..schema import validate_mesh
from ._assembly import lazy_gain
from .head import check_head, points_inside, surface_arrays
from .sensors import coil_geometry
from .sphere import SphereKernel, fit_sphere, sphere_gain

__all__ = ["MODELS", "gain"]

MODELS = ("single_shell", "local_spheres", "sphere", "bem")


def gain(
    mesh: xr.Dataset,
    sensors: xr.Dataset,
    head: xr.Dataset,
    *,
    model: str = "single_shell",
    orientation: str = "fixed",
    reduce_rank: bool = False,
    order: int = 10,
    local_radius: float = 85.0,
    chunks: int | None = None,
    dtype: Any = np.float64,
) -> xr.DataArray:
    """MEG gain matrix of a multilayer mesh in a head model.

    Parameters
    ----------
    mesh : xarray.Dataset
        Multilayer mesh (``vertices (layer, vertex, xyz)`` mm, and
        ``orientation`` for a fixed-orientation gain).
    sensors : xarray.Dataset
        Sensor array (any array of the package's sensor schema: coil
        integration points, orientations and per-channel weights).
    head : xarray.Dataset
        Head model from :func:`~laminarray.forward.head_model` /
        :func:`~laminarray.forward.read_head_model`. ``mesh``, ``sensors``
        and ``head`` must be in the same coordinate frame (mm; move them
        with :func:`~laminarray.forward.apply_transform`).
    model : {"single_shell", "local_spheres", "sphere", "bem"}
        Forward model (module docstring). ``"single_shell"``,
        ``"local_spheres"`` and ``"bem"`` need the inner skull;
        ``"sphere"`` uses the head model's sphere, else the least-squares
        sphere of its inner skull (else of its scalp); Sarvas' field does not
        depend on the radius, so sources need only be inside the surface.
    orientation : {"fixed", "free"}
        Fixed (the mesh's orientations) or free (trailing ``xyz`` dim).
    reduce_rank : bool
        Project each dipole's lead field onto its two strongest directions
        (drop the weakest, quasi-radial one) before fixing the orientation,
        as SPM does for MEG (FieldTrip's ``reducerank = 2``). Default False:
        the gain is the field the dipole produces in the model, as MNE-Python
        computes it; pass True to reproduce SPM/laMEG gains (for the sphere
        it changes nothing but rounding).
    order : int
        ``single_shell``: spherical-harmonic expansion order (default 10, SPM's).
    local_radius : float
        ``local_spheres``: radius (mm) around each channel of the inner-skull
        patch its sphere is fitted to (default 85, SPM/FieldTrip's).
    chunks : int, optional
        Vertices per dask chunk (default ~8 MB of output per chunk).
    dtype : numpy dtype
        Output dtype (computation is float64).

    Returns
    -------
    xarray.DataArray
        Lazy ``gain (channel, layer, vertex[, xyz])`` fT/nAm, coords
        ``source_x/y/z (layer, vertex)`` mm, attrs ``forward_model``, the
        model's parameters, ``orientation``, ``reduce_rank``, ``sensor_kind``.

    Raises
    ------
    LaminarrayError
        If the head model lacks the surface the model needs, a source lies
        outside the inner skull (or sphere), or a sensor inside it.

    Examples
    --------
    >>> from laminarray import forward
    >>> from laminarray.datasets import synthetic_cortex, synthetic_head
    >>> mesh, head = synthetic_cortex(n_vertices=200, n_layers=2), synthetic_head()
    >>> sensors = forward.helmet_array(64, head=head)
    >>> g = forward.gain(mesh, sensors, head, model="single_shell")
    >>> g.dims, g.attrs["forward_model"]
    (('channel', 'layer', 'vertex'), 'single shell (Nolte 2003)')
    """
    check_option("model", model, MODELS)
    check_option("orientation", orientation, ("fixed", "free"))
    mesh = validate_mesh(mesh)
    head = check_head(head)
    options = {"orientation": orientation, "reduce_rank": bool(reduce_rank), "chunks": chunks}
    if model == "sphere" and "sphere_center" in head:
        center, radius = head["sphere_center"].values, float(head["sphere_radius"])
        result = sphere_gain(mesh, sensors, center, radius, dtype=dtype, **options)
        return result.assign_attrs(head_coord_frame=str(head.attrs.get("coord_frame", "")))
    coil_pos, coil_ori, weights = coil_geometry(sensors)
    conductor = "inner_skull" if model != "sphere" or "inner_skull_vertices" in head else "scalp"
    _check_inside(mesh, coil_pos, head, conductor)
    if model == "sphere":
        vertices, _ = surface_arrays(head, conductor)
        center, radius = fit_sphere(vertices)
        kernel: Any = SphereKernel(center, coil_pos, coil_ori, weights)
        attrs = {
            "forward_model": "single sphere (Sarvas)",
            "sphere_center_mm": [float(c) for c in center],
            "sphere_radius_mm": float(radius),
            "sphere_fitted_to": conductor,
        }
    elif model == "single_shell":
        from .nolte import nolte_kernel

        kernel, attrs = nolte_kernel(head, coil_pos, coil_ori, weights, order=order)
    elif model == "local_spheres":
        from .local_spheres import local_spheres_kernel

        kernel, attrs = local_spheres_kernel(head, coil_pos, coil_ori, weights, local_radius)
    else:
        from .bem import bem_kernel

        kernel, attrs = bem_kernel(head, coil_pos, coil_ori, weights)
    attrs["head_coord_frame"] = str(head.attrs.get("coord_frame", ""))
    return lazy_gain(mesh, sensors, kernel, dtype=dtype, attrs=attrs, **options)


def _check_inside(
    mesh: xr.Dataset, coil_pos: np.ndarray, head: xr.Dataset, conductor: str
) -> None:
    """Every source strictly inside the conductor surface, every coil point outside it."""
    vertices, faces = surface_arrays(head, conductor)
    where = conductor.replace("_", " ")
    coils_in = points_inside(coil_pos, vertices, faces)
    if coils_in.any():
        raise LaminarrayError(
            f"{int(coils_in.sum())} coil integration points lie inside the {where}: are the "
            "sensors and the head model in the same coordinate frame (mm)?"
        )
    positions = mesh["vertices"].transpose("layer", "vertex", "xyz").values.reshape(-1, 3)
    inside = points_inside(positions, vertices, faces)
    if not inside.all():
        layer, vertex = np.unravel_index(np.flatnonzero(~inside)[0], mesh["vertices"].shape[:2])
        raise LaminarrayError(
            f"{int((~inside).sum())} sources lie outside the {where} (first: layer "
            f"{mesh['layer'].values[layer]!r}, vertex {mesh['vertex'].values[vertex]}): are the "
            "mesh and the head model in the same coordinate frame (mm)?"
        )
