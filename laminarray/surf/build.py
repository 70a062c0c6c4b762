"""Building a multilayer (laminar) mesh from pial and white surfaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option
from ..schema import default_layer_names, layer_depths, mesh_dataset, validate_mesh
from .downsample import downsample_mesh
from .io import _surface_pair
from .orientation import ORIENTATION_METHODS, _orientation_attrs, _orientations

__all__ = ["build_laminar_mesh", "interpolate_layers"]


def interpolate_layers(pial: np.ndarray, white: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Positions of intermediate surfaces along each column.

    Parameters
    ----------
    pial, white : ndarray, shape (n_vertices, 3)
        Corresponding pial and white positions (mm).
    depths : ndarray, shape (n_layers,) or (n_layers, n_vertices)
        Relative depth of each layer, 0 = pial, 1 = white (one value per
        layer, or per layer and column for e.g. BigBrain boundaries).

    Returns
    -------
    ndarray, shape (n_layers, n_vertices, 3)
        ``pial + depth * (white - pial)``: linear column interpolation. laMEG
        uses FreeSurfer's ``mris_expand`` (an equidistant expansion of the
        white surface) instead; both keep the vertices' correspondence and
        agree at pial and white.
    """
    depths = np.asarray(depths, dtype=np.float64)
    weights = depths[:, None, None] if depths.ndim == 1 else depths[:, :, None]
    return pial[None] + weights * (white - pial)[None]


def _check_depths(depths: Any, n_layers: int, n_vertices: int) -> np.ndarray:
    values = np.asarray(depths, dtype=np.float64)
    if values.shape not in ((n_layers,), (n_layers, n_vertices)):
        raise LaminarrayError(
            f"`depths` must have shape ({n_layers},) or ({n_layers}, {n_vertices}) "
            f"(n_layers[, n_vertices]), got {values.shape}"
        )
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise LaminarrayError(
            "`depths` must be proportional depths in [0, 1] (0 = pial, 1 = white); "
            f"found range {np.nanmin(values):.3g}..{np.nanmax(values):.3g}"
        )
    if np.any(np.diff(values, axis=0) < 0):
        raise LaminarrayError("`depths` must increase from pial (0) to white (1) along `layer`")
    return values


def _names_for(depths: np.ndarray) -> list[str]:
    """laMEG-style names (fraction of thickness from white) for given layer depths."""
    names = []
    for depth in depths:
        if depth == 0:
            names.append("pial")
        elif depth == 1:
            names.append("white")
        else:
            names.append(f"{1 - depth:.3f}")
    return names


def build_laminar_mesh(
    pial: Any,
    white: Any,
    n_layers: int = 11,
    orientation: str = "link_vector",
    fixed: bool = True,
    *,
    depths: Any = None,
    layer_names: Sequence[str] | None = None,
    flip: bool = False,
    ds_factor: float | None = None,
    hemi: str | None = None,
    volume: Any = None,
    coordinates: str = "scanner",
) -> xr.Dataset:
    """Build a multilayer cortical mesh (``LaminarMesh``) from pial and white surfaces.

    Parameters
    ----------
    pial, white : path, (vertices, faces), or dict {"lh": ..., "rh": ...}
        As in :func:`load_surfaces` (FreeSurfer binary or GIFTI files, arrays,
        one or both hemispheres).
    n_layers : int
        Number of surfaces from pial to white (default 11, laMEG's).
    orientation : {"link_vector", "ds_surf_norm", "orig_surf_norm", "cps"}
        Dipole orientation model (see :func:`dipole_orientations`).
    fixed : bool
        Use the pial orientation on every layer (normal-based models).
    depths : array, shape (n_layers,) or (n_layers, n_vertices), optional
        Proportional depths (0 = pial, 1 = white) of the layers, e.g. BigBrain
        boundaries; per column when 2-D (depths of the full-resolution columns
        when ``ds_factor`` is set). Default: equidistant.
    layer_names : sequence of str, optional
        Default: laMEG's names (``pial, 0.900, ..., white`` for 11 equidistant
        layers; the fraction of thickness from white for given 1-D depths;
        ``pial, layer1, ..., white`` for per-column depths).
    flip : bool
        Orientations white -> pial instead of laMEG's pial -> white.
    ds_factor : float, optional
        Downsample to this fraction of the columns (:func:`downsample_mesh`);
        the normal-based orientations then use the full-resolution surfaces.
    hemi, volume, coordinates
        As in :func:`load_surfaces`.

    Returns
    -------
    xarray.Dataset
        ``vertices (layer, vertex, xyz)`` mm, ``faces (face, corner)``,
        ``orientation (layer, vertex, xyz)``, ``thickness (vertex)`` mm,
        coords ``layer``, ``depth (layer)`` (mean depth for per-column
        depths, which are stored in ``column_depth (layer, vertex)``),
        ``hemi (vertex)``, and ``original_vertex (vertex)`` when downsampled;
        attrs ``orientation_method``, ``orientation_fixed``,
        ``orientation_convention``, ``coordinate_space``,
        ``layer_interpolation``.

    Examples
    --------
    >>> from laminarray.surf._shapes import sphere_mesh
    >>> outer, faces = sphere_mesh(162, radius=80.0)
    >>> inner, _ = sphere_mesh(162, radius=77.5)
    >>> mesh = build_laminar_mesh((outer, faces), (inner, faces), n_layers=3)
    >>> mesh["layer"].values.tolist(), float(mesh["thickness"].mean())
    (['pial', '0.500', 'white'], 2.5)
    """
    check_option("orientation", orientation, ORIENTATION_METHODS)
    if isinstance(n_layers, bool) or not isinstance(n_layers, int | np.integer) or n_layers < 2:
        raise LaminarrayError(f"`n_layers` must be an integer >= 2, got {n_layers!r}")
    n_layers = int(n_layers)
    pos_p, pos_w, faces, hemis, space = _surface_pair(
        pial, white, hemi=hemi, volume=volume, coordinates=coordinates
    )
    if depths is None:
        values = layer_depths(n_layers)
        names = default_layer_names(n_layers)
        how = "linear, equidistant"
    else:
        values = _check_depths(depths, n_layers, len(pos_p))
        names = (
            _names_for(values)
            if values.ndim == 1
            else ["pial", *[f"layer{k}" for k in range(1, n_layers - 1)], "white"]
        )
        how = "linear, given depths"
    if layer_names is not None:
        names = [str(name) for name in layer_names]
    layers = interpolate_layers(pos_p, pos_w, values)
    attrs = {"coordinate_space": space, "layer_interpolation": how}
    mesh = mesh_dataset(
        layers,
        faces,
        layers=names,
        hemi=hemis,
        depth=values if values.ndim == 1 else values.mean(axis=1),
        attrs=attrs,
    )
    if values.ndim == 2:
        mesh = mesh.assign(
            column_depth=(
                ("layer", "vertex"),
                values,
                {"units": "1", "long_name": "relative depth"},
            )
        )
    original = None
    if ds_factor is not None:
        full = mesh
        mesh = downsample_mesh(full, ds_factor)
        original = (full["vertices"].values, full["faces"].values, mesh["original_vertex"].values)
    ori = _orientations(
        mesh["vertices"].values, mesh["faces"].values, orientation, fixed, original
    )
    mesh = mesh.assign(
        orientation=(
            ("layer", "vertex", "xyz"),
            -ori if flip else ori,
            {"units": "1", "long_name": "unit dipole orientation"},
        )
    )
    mesh.attrs.update(_orientation_attrs(orientation, fixed, flip))
    return validate_mesh(mesh)
