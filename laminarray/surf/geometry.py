"""Geometric measures and anatomical predictors of a multilayer mesh (lameg.md §4.4-4.8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .._validation import LaminarrayError, describe
from ..schema import validate_mesh
from ._checks import as_faces, as_vertices
from .topology import _vertex_normals

__all__ = [
    "anatomical_score",
    "distance_to_scalp",
    "interlayer_distance",
    "radiality_to_scalp",
    "thickness",
]


def _vertex_coords(mesh: xr.Dataset) -> dict[str, Any]:
    coords: dict[str, Any] = {"vertex": mesh["vertex"].values}
    if "hemi" in mesh.coords:
        coords["hemi"] = ("vertex", mesh["hemi"].values)
    return coords


def thickness(mesh: xr.Dataset) -> xr.DataArray:
    """Cortical thickness: distance between the pial and white vertex of each column.

    Parameters
    ----------
    mesh : xarray.Dataset
        Mesh dataset; its first layer is pial, its last white.

    Returns
    -------
    xarray.DataArray, dims ``(vertex,)``, mm
        ``||x_pial - x_white||`` (laMEG's ``get_cortical_thickness``).
    """
    mesh = validate_mesh(mesh)
    pos = mesh["vertices"].values
    return xr.DataArray(
        np.linalg.norm(pos[0] - pos[-1], axis=-1),
        dims=("vertex",),
        coords=_vertex_coords(mesh),
        name="thickness",
        attrs={"units": "mm", "long_name": "cortical thickness"},
    )


def interlayer_distance(mesh: xr.Dataset) -> xr.DataArray:
    """Distance between successive layers along each column.

    Returns
    -------
    xarray.DataArray, dims ``(interval, vertex)``, mm
        ``||x_{l+1} - x_l||`` for l = 0..n_layers-2 (laMEG's
        ``get_interlayer_distance`` for every column at once); coords
        ``upper (interval)`` and ``lower (interval)`` name the two layers.
        The sum over ``interval`` is the column path length.
    """
    mesh = validate_mesh(mesh)
    if mesh.sizes["layer"] < 2:
        raise LaminarrayError(
            f"`mesh` needs at least 2 layers for interlayer distances, has {mesh.sizes['layer']}"
        )
    pos = mesh["vertices"].values
    names = mesh["layer"].values
    return xr.DataArray(
        np.linalg.norm(np.diff(pos, axis=0), axis=-1),
        dims=("interval", "vertex"),
        coords={
            "interval": np.arange(len(names) - 1),
            "upper": ("interval", names[:-1]),
            "lower": ("interval", names[1:]),
            **_vertex_coords(mesh),
        },
        name="interlayer_distance",
        attrs={"units": "mm", "long_name": "distance between successive layers"},
    )


def _scalp_arrays(scalp: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)`` of a scalp given as a dataset or a tuple."""
    if isinstance(scalp, xr.Dataset):
        if "scalp_vertices" not in scalp or "scalp_faces" not in scalp:
            raise LaminarrayError(
                "`scalp` dataset must carry `scalp_vertices (scalp_vertex, xyz)` and "
                f"`scalp_faces (scalp_face, corner)`; found {list(scalp.data_vars)}"
            )
        scalp = (scalp["scalp_vertices"].values, scalp["scalp_faces"].values)
    if not isinstance(scalp, tuple | list) or len(scalp) != 2:
        raise LaminarrayError(
            "`scalp` must be a mesh dataset with scalp_vertices/scalp_faces or a "
            f"(vertices (n, 3) mm, faces (m, 3)) tuple; got {describe(scalp)}"
        )
    pos = as_vertices(scalp[0], "scalp vertices")
    return pos, as_faces(scalp[1], len(pos), "scalp faces")


def _select_layer(mesh: xr.Dataset, layer: str | None) -> xr.Dataset:
    if layer is None:
        return mesh
    names = [str(n) for n in mesh["layer"].values]
    if layer not in names:
        raise LaminarrayError(f"`layer` must be one of {names} or None, got {layer!r}")
    return mesh.sel(layer=layer)


def distance_to_scalp(mesh: xr.Dataset, scalp: Any, *, layer: str | None = "pial") -> xr.DataArray:
    """Distance from each source to the nearest scalp vertex (KD-tree).

    Parameters
    ----------
    mesh : xarray.Dataset
        Mesh dataset.
    scalp : xarray.Dataset or (vertices, faces)
        A dataset with ``scalp_vertices``/``scalp_faces`` (e.g. the synthetic
        cortex) or a tuple of arrays in mm, same space as the mesh.
    layer : str or None
        Layer to measure (default ``"pial"``, laMEG's); None for all layers.

    Returns
    -------
    xarray.DataArray, dims ``(vertex,)`` or ``(layer, vertex)``, mm
        Distance to the nearest scalp *vertex* (not triangle), as laMEG.
    """
    mesh = _select_layer(validate_mesh(mesh), layer)
    scalp_pos, _ = _scalp_arrays(scalp)
    pos = mesh["vertices"].values
    dist = cKDTree(scalp_pos).query(pos.reshape(-1, 3))[0].reshape(pos.shape[:-1])
    return xr.DataArray(
        dist,
        dims=mesh["vertices"].dims[:-1],
        coords={k: v for k, v in mesh["vertices"].coords.items() if k != "xyz"},
        name="distance_to_scalp",
        attrs={"units": "mm", "long_name": "distance to the nearest scalp vertex"},
    )


def radiality_to_scalp(
    mesh: xr.Dataset, scalp: Any, *, layer: str | None = "pial"
) -> xr.DataArray:
    """Radiality of each source: ``|cos|`` of the angle to the local scalp normal.

    The scalp normal at a source is the normal of its nearest scalp vertex
    (normalised sum of the unit normals of the incident scalp triangles);
    radiality = ``|n_scalp . orientation|`` in [0, 1], 1 = radial
    (laMEG's ``get_radiality_to_scalp``).

    Parameters
    ----------
    mesh : xarray.Dataset
        Mesh dataset with an ``orientation`` variable.
    scalp : xarray.Dataset or (vertices, faces)
        As in :func:`distance_to_scalp`.
    layer : str or None
        Default ``"pial"``; None for all layers.

    Returns
    -------
    xarray.DataArray, dims ``(vertex,)`` or ``(layer, vertex)``, unitless
    """
    mesh = validate_mesh(mesh)
    if "orientation" not in mesh:
        raise LaminarrayError(
            "`mesh` has no `orientation`; build it with surf.build_laminar_mesh or add one "
            "with mesh.assign(orientation=surf.dipole_orientations(mesh))"
        )
    mesh = _select_layer(mesh, layer)
    scalp_pos, scalp_faces = _scalp_arrays(scalp)
    normals = _vertex_normals(scalp_pos, scalp_faces)
    pos = mesh["vertices"].values
    nearest = cKDTree(scalp_pos).query(pos.reshape(-1, 3))[1].reshape(pos.shape[:-1])
    radiality = np.abs(np.einsum("...x,...x->...", normals[nearest], mesh["orientation"].values))
    return xr.DataArray(
        np.clip(radiality, 0.0, 1.0),
        dims=mesh["vertices"].dims[:-1],
        coords={k: v for k, v in mesh["vertices"].coords.items() if k != "xyz"},
        name="radiality_to_scalp",
        attrs={"units": "1", "long_name": "radiality to the scalp (|cos|)"},
    )


def _zscore(values: np.ndarray, name: str) -> np.ndarray:
    std = values.std()
    if not np.isfinite(std) or std == 0:
        raise LaminarrayError(f"cannot z-score {name}: it is constant or not finite")
    return (values - values.mean()) / std


#: The four predictors of :func:`anatomical_score`: (name, z-scored sign, long name, units).
_PREDICTORS = (
    ("thickness", 1.0, "cortical thickness", "mm"),
    ("lead_field_rms_diff", 1.0, "lead-field RMS difference (white - pial)", None),
    ("radiality", 1.0, "radiality to the scalp (|cos|)", "1"),
    ("distance_to_scalp", -1.0, "distance to the scalp", "mm"),
)


def anatomical_score(
    mesh: xr.Dataset, scalp: Any, lead_field_rms_diff: Any, *, layer: str = "pial"
) -> xr.Dataset:
    """Anatomical predictor of laminar discriminability per column, as laMEG's tutorial.

    ``anatomical_score = z(thickness) + z(lead-field RMS difference) +
    z(radiality) + z(-distance to scalp)``, each term a population z-score
    over columns (``scipy.stats.zscore``'s default, ``ddof=0``) — laMEG's
    tutorial "Anatomical predictors of laminar inference accuracy" exactly
    (its ``z_inv_dist`` is ``zscore(-distances)``, not a z-score of
    ``1/distance``). High scores mark thick, radial, superficial columns whose
    deep and superficial lead fields differ most; within an ROI the column of
    highest score is laMEG's suggested prior location.

    Parameters
    ----------
    mesh : xarray.Dataset
        Mesh dataset with ``orientation`` (laMEG uses link vectors).
    scalp : xarray.Dataset or (vertices, faces)
        As in :func:`distance_to_scalp`.
    lead_field_rms_diff : array or xarray.DataArray, shape (n_vertices,)
        RMS over channels of the white-minus-pial lead-field difference per
        column (laMEG's ``get_lead_field_rms_diff``;
        :func:`laminarray.forward.lead_field_rms_diff`). A DataArray must have
        dim ``vertex``.
    layer : str
        Layer for distance and radiality (default ``"pial"``, as laMEG).

    Returns
    -------
    xarray.Dataset, dims ``(vertex,)``
        ``anatomical_score`` (the sum, unitless); the four predictors
        ``thickness`` (mm), ``lead_field_rms_diff``, ``radiality`` (1),
        ``distance_to_scalp`` (mm); and their z-scored terms ``z_thickness``,
        ``z_lead_field_rms_diff``, ``z_radiality``, ``z_distance_to_scalp``
        (the last of ``-distance``), which sum to the score.

    Examples
    --------
    >>> result = surf.anatomical_score(mesh, scalp, forward.lead_field_rms_diff(gain))
    >>> prior = int(result["anatomical_score"].sel(vertex=roi).idxmax("vertex"))
    """
    mesh = validate_mesh(mesh)
    n_vertices = mesh.sizes["vertex"]
    if isinstance(lead_field_rms_diff, xr.DataArray):
        if lead_field_rms_diff.dims != ("vertex",):
            raise LaminarrayError(
                f"`lead_field_rms_diff` must have dims ('vertex',), got {lead_field_rms_diff.dims}"
            )
        lead_field_rms_diff = lead_field_rms_diff.values
    lf = np.asarray(lead_field_rms_diff, dtype=np.float64)
    if lf.shape != (n_vertices,):
        raise LaminarrayError(
            f"`lead_field_rms_diff` must have shape ({n_vertices},) (one value per column), "
            f"got {lf.shape}"
        )
    values = {
        "thickness": thickness(mesh).values,
        "lead_field_rms_diff": lf,
        "radiality": radiality_to_scalp(mesh, scalp, layer=layer).values,
        "distance_to_scalp": distance_to_scalp(mesh, scalp, layer=layer).values,
    }
    coords = _vertex_coords(mesh)
    variables = {}
    for name, sign, long_name, units in _PREDICTORS:
        attrs = {"long_name": long_name} | ({"units": units} if units else {})
        variables[name] = xr.DataArray(values[name], dims=("vertex",), attrs=attrs)
        variables[f"z_{name}"] = xr.DataArray(
            _zscore(sign * values[name], name),
            dims=("vertex",),
            attrs={"units": "1", "long_name": f"z-score of {'-' if sign < 0 else ''}{name}"},
        )
    score = sum(variables[f"z_{name}"] for name, *_ in _PREDICTORS)
    variables["anatomical_score"] = score.assign_attrs(
        units="1", long_name="anatomical score (sum of the four z-scores)"
    )
    return xr.Dataset(variables, coords=coords)
