"""Building a multilayer (laminar) mesh from pial and white surfaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option
from ..schema import default_layer_names, layer_depths, mesh_dataset, validate_mesh
from ._checks import as_faces, as_vertices
from ._correspondence import rows_in
from ._equivolume import MODEL, _equivolume_depths, _vertex_areas
from .downsample import downsample_mesh
from .io import _surface_pair
from .medial import remove_medial_wall
from .orientation import ORIENTATION_METHODS, _orientation_attrs, _orientations

__all__ = ["SPACINGS", "build_laminar_mesh", "equivolumetric_depths", "interpolate_layers"]

#: Layer spacing models of :func:`build_laminar_mesh`.
SPACINGS = ("equidistant", "equivolumetric")


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


def _check_depths(
    depths: Any, n_layers: int | None, n_vertices: int | None, name: str = "depths"
) -> np.ndarray:
    """Proportional depths in [0, 1], increasing along the first axis.

    Shape ``(n_layers,)`` or, when ``n_vertices`` is given, ``(n_layers,
    n_vertices)``; ``n_layers=None`` accepts any number (>= 1) of layers.
    """
    values = np.asarray(depths, dtype=np.float64)
    n = values.shape[0] if n_layers is None and values.ndim else n_layers
    shapes = [(n,)] + ([(n, n_vertices)] if n_vertices is not None else [])
    if values.shape not in shapes or not values.size:
        expected = " or ".join(str(shape) for shape in shapes)
        raise LaminarrayError(
            f"`{name}` must have shape {expected} (n_layers[, n_vertices]), got {values.shape}"
        )
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise LaminarrayError(
            f"`{name}` must be proportional depths in [0, 1] (0 = pial, 1 = white); "
            f"found range {np.nanmin(values):.3g}..{np.nanmax(values):.3g}"
        )
    if np.any(np.diff(values, axis=0) < 0):
        raise LaminarrayError(f"`{name}` must increase from pial (0) to white (1) along `layer`")
    return values


def equivolumetric_depths(pial: Any, white: Any, faces: Any, fractions: Any) -> np.ndarray:
    """Per-column relative depths of surfaces enclosing given fractions of the column volume.

    The equivolume model of Bok as formulated by Waehnert et al. (2014,
    NeuroImage 93:210): a column's cross-sectional area varies linearly with
    depth between its area ``A_p`` on the pial and ``A_w`` on the white
    surface (vertex area = one third of the incident triangle areas), so the
    surface enclosing the volume fraction ``alpha`` (from pial) lies at

    ``rho = alpha (A_p + A_w) / (A_p + sqrt(alpha A_w^2 + (1 - alpha) A_p^2))``,

    i.e. ``(A_p - sqrt(...)) / (A_p - A_w)``; ``rho = alpha`` where
    ``A_p = A_w``. In gyral crowns (``A_p > A_w``) the layers crowd towards
    pial, in sulcal fundi towards white.

    Parameters
    ----------
    pial, white : array, shape (n_vertices, 3)
        Corresponding pial and white positions (mm).
    faces : array of int, shape (n_faces, 3)
        Triangles shared by both surfaces.
    fractions : array, shape (n_layers,)
        Volume fractions in [0, 1], increasing (0 = pial, 1 = white).

    Returns
    -------
    ndarray, shape (n_layers, n_vertices), float64
        Relative depths (0 = pial, 1 = white) along each column, for
        :func:`interpolate_layers`; monotonic along layers, 0 and 1 at
        fractions 0 and 1.

    Examples
    --------
    >>> from laminarray.surf._shapes import sphere_mesh
    >>> outer, faces = sphere_mesh(162, radius=80.0)
    >>> inner, _ = sphere_mesh(162, radius=40.0)
    >>> equivolumetric_depths(outer, inner, faces, [0.0, 0.5, 1.0])[:, 0].round(3).tolist()
    [0.0, 0.362, 1.0]
    """
    pos_p = as_vertices(pial, "pial")
    pos_w = as_vertices(white, "white")
    if pos_p.shape != pos_w.shape:
        raise LaminarrayError(
            f"`pial` and `white` must have the same vertices (one per column): pial has "
            f"{len(pos_p)}, white has {len(pos_w)}"
        )
    tri = as_faces(faces, len(pos_p))
    fractions = _check_depths(fractions, None, None, "fractions")
    return _equivolume_depths(_vertex_areas(pos_p, tri), _vertex_areas(pos_w, tri), fractions)


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
    spacing: str = "equidistant",
    layer_names: Sequence[str] | None = None,
    flip: bool = False,
    medial_wall: Any = None,
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
    spacing : {"equidistant", "equivolumetric"}
        How the layer fractions (``depths`` when 1-D, else equidistant) are
        measured along each column: as fractions of its thickness
        (``"equidistant"``, laMEG's), or of its volume (``"equivolumetric"``:
        the layer at fraction ``f`` encloses the fraction ``f`` of the column
        volume from pial, Bok's model, see :func:`equivolumetric_depths`; the
        per-column depths are stored in ``column_depth``). Per-column
        ``depths`` need ``"equidistant"``.
    layer_names : sequence of str, optional
        Default: laMEG's names (``pial, 0.900, ..., white`` for 11 equidistant
        layers; the fraction of thickness -- of volume when equivolumetric --
        from white for given 1-D depths; ``pial, layer1, ..., white`` for
        per-column depths).
    flip : bool
        Orientations white -> pial instead of laMEG's pial -> white.
    medial_wall : path, array, tuple or dict {"lh": ..., "rh": ...}, optional
        FreeSurfer parcellation(s) (``?h.aparc.annot``) of the surfaces:
        remove the medial-wall columns (label index <= 0 or ``unknown``,
        laMEG's ``nodeep`` stage) after building the layers and before
        downsampling (:func:`remove_medial_wall`).
    ds_factor : float, optional
        Downsample to this fraction of the columns (:func:`downsample_mesh`);
        the normal-based orientations then use the full-resolution surfaces
        (after the medial-wall cut).
    hemi, volume, coordinates
        As in :func:`load_surfaces`.

    Returns
    -------
    xarray.Dataset
        ``vertices (layer, vertex, xyz)`` mm, ``faces (face, corner)``,
        ``orientation (layer, vertex, xyz)``, ``thickness (vertex)`` mm,
        coords ``layer``, ``depth (layer)`` (mean depth for per-column
        depths, which are stored in ``column_depth (layer, vertex)``),
        ``hemi (vertex)``, ``volume_fraction (layer)`` when equivolumetric,
        and ``original_vertex (vertex)`` (index into the full-resolution
        surfaces) when downsampled or cut; attrs ``orientation_method``,
        ``orientation_fixed``, ``orientation_convention``,
        ``coordinate_space``, ``layer_interpolation``, ``layer_spacing``
        (and ``layer_model`` when equivolumetric).

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
    check_option("spacing", spacing, SPACINGS)
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
    attrs = {"coordinate_space": space, "layer_spacing": spacing}
    fractions = None
    if spacing == "equivolumetric":
        if values.ndim == 2:
            raise LaminarrayError(
                "per-column `depths` are already depths along each column: use "
                "spacing='equidistant' with them, or give 1-D volume fractions"
            )
        fractions = values
        values = _equivolume_depths(
            _vertex_areas(pos_p, faces), _vertex_areas(pos_w, faces), values
        )
        how = "linear, equivolumetric"
        attrs["layer_model"] = MODEL
    if layer_names is not None:
        names = [str(name) for name in layer_names]
    layers = interpolate_layers(pos_p, pos_w, values)
    attrs["layer_interpolation"] = how
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
    if fractions is not None:
        mesh = mesh.assign_coords(
            volume_fraction=(
                "layer",
                fractions,
                {"units": "1", "long_name": "fraction of the column volume from pial"},
            )
        )
    if medial_wall is not None:
        mesh = remove_medial_wall(mesh, medial_wall)
    original = None
    if ds_factor is not None:
        full = mesh
        mesh = downsample_mesh(full, ds_factor)
        original = (full["vertices"].values, full["faces"].values, rows_in(full, mesh))
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
