"""Sensor arrays: channels as weighted sums of coil integration points.

Every MEG system is described the way FieldTrip and SPM describe it
(``grad.coilpos``, ``grad.coilori``, ``grad.tra``): a list of coil
integration points, each a position and a direction along which the field is
sensed, and a channels x points weight matrix. A sensor array is an
``xarray.Dataset`` over ``channel`` and ``coil``:

=======================================  ============  =================================
variable                                 units         meaning
=======================================  ============  =================================
``coil_position (coil, xyz)``            mm            integration point
``coil_orientation (coil, xyz)``         1             direction sensed at the point
``coil_weight (channel, coil)``          1 or 1/mm     channel = sum of weighted points
``position (channel, xyz)``              mm            channel position
``orientation (channel, xyz)``           1             channel measurement direction
``fiducials (fiducial, xyz)``            mm            ``nas``/``lpa``/``rpa`` (optional)
``ssp_vector (ssp, channel)``            1             SSP projectors (optional)
=======================================  ============  =================================

with coords ``channel`` (labels), ``ch_type`` (``"MEG"``, ``"MEGMAG"``,
``"MEGGRAD"`` for axial gradiometers, ``"MEGPLANAR"`` for planar
gradiometers), ``ch_units`` (``"fT"``, or ``"fT/mm"`` for planar
gradiometers) and, with projectors, ``ssp`` (names) and ``ssp_active``;
attrs ``kind`` and ``coord_frame`` (and ``compensation_grade`` for CTF).

A channel measures ``sum_k coil_weight[c, k] * B(coil_position[k]) .
coil_orientation[k]``. The weights carry everything linear between the
field at the points and the stored signal: integration weights over a coil's
area, the opposite signs of a gradiometer's coils (divided by the baseline
for a planar gradiometer, hence 1/mm) and, for CTF data, the synthetic
gradient compensation (reference channels' coils enter every compensated
channel's row with the compensation weights). Every forward model therefore
computes the field at the points and multiplies by ``coil_weight`` once.

SSP projectors are not folded into the weights: they are carried as
``ssp_vector`` so that the data and the gain get the same projection
(:func:`apply_ssp`), exactly as MNE applies ``info["projs"]`` to both.
:func:`laminarray.forward.apply_transform` moves the whole array rigidly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option, check_positive, describe
from ..schema import XYZ
from ..schema._vocabulary import as_str

__all__ = [
    "apply_ssp",
    "channel_units",
    "coil_geometry",
    "head_fiducials",
    "helmet_array",
    "make_fiducials",
    "make_sensors",
    "opm_array",
    "scalp_surface",
    "sensors_from_coils",
    "ssp_operator",
]

KINDS = ("magnetometer", "gradiometer")
#: channel types of the sensor schema and their units (SPM's vocabulary)
CHANNEL_UNITS = {
    "MEG": "fT",
    "MEGMAG": "fT",
    "MEGGRAD": "fT",
    "MEGPLANAR": "fT/mm",
    "REFMAG": "fT",
    "REFGRAD": "fT",
}


def sensors_from_coils(
    coil_positions: Any,
    coil_orientations: Any,
    tra: Any,
    *,
    labels: Sequence[str] | None = None,
    ch_types: str | Sequence[str] = "MEG",
    ch_units: str | Sequence[str] | None = None,
    positions: Any = None,
    orientations: Any = None,
    fiducials: xr.DataArray | None = None,
    ssp: xr.DataArray | None = None,
    coord_frame: str = "head",
    kind: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a sensor array from coil integration points and a channels x points matrix.

    This is the one constructor of the sensor schema (see the module
    docstring): :func:`make_sensors`, :func:`helmet_array`,
    :func:`opm_array`, :func:`sensors_from_mne` and
    :func:`laminarray.io.read_spm` all build their arrays through it.

    Parameters
    ----------
    coil_positions : array, shape (n_coils, 3)
        Integration points in mm.
    coil_orientations : array, shape (n_coils, 3)
        Directions sensed at the points (normalised here).
    tra : array, shape (n_channels, n_coils)
        Weight of each point in each channel (FieldTrip's ``grad.tra``;
        stored as ``coil_weight``): 1 for a point magnetometer, integration
        weights over a coil, +/- for gradiometer coils (in 1/mm for planar
        gradiometers), compensation weights for CTF reference coils.
    labels : sequence of str, optional
        Unique channel labels (default ``MEG001``, ``MEG002``, ...).
    ch_types : str or sequence of str
        Channel type(s) (``"MEG"``, ``"MEGMAG"``, ``"MEGGRAD"``,
        ``"MEGPLANAR"``, ...).
    ch_units : str or sequence of str, optional
        Units of each channel's signal: default ``"fT/mm"`` for
        ``"MEGPLANAR"`` and ``"fT"`` otherwise.
    positions, orientations : array, shape (n_channels, 3), optional
        Channel positions (mm) and directions. Default: the centroid and the
        mean direction of the points carrying at least half the channel's
        largest positive weight (a gradiometer's near coil).
    fiducials : DataArray (fiducial, xyz), optional
        Head fiducials in mm (see :func:`make_fiducials`).
    ssp : DataArray (ssp, channel), optional
        SSP projection vectors (coord ``ssp_active (ssp)``: already applied to
        the data; default True), stored as ``ssp_vector``; see :func:`apply_ssp`.
    coord_frame : str
        Coordinate frame of every position (attrs, default ``"head"``).
    kind : str, optional
        Free description stored in attrs (default from the channel types:
        ``"magnetometer"``, ``"gradiometer"`` or ``"mixed"``).
    attrs : dict, optional
        Extra attrs (e.g. ``compensation_grade``).

    Returns
    -------
    xarray.Dataset
        The sensor array described in this module's docstring.

    Examples
    --------
    A planar gradiometer of two points 10 mm apart, in fT/mm:

    >>> from laminarray.forward import sensors_from_coils
    >>> sensors = sensors_from_coils(
    ...     [[-5.0, 0, 100], [5.0, 0, 100]], [[0, 0, 1.0], [0, 0, 1.0]], [[-0.1, 0.1]],
    ...     labels=["MEG0113"], ch_types="MEGPLANAR")
    >>> str(sensors["ch_units"].values[0])
    'fT/mm'
    """
    coil_pos = _points(coil_positions, "coil_positions")
    n_coils = coil_pos.shape[0]
    coil_ori = _directions(coil_orientations, "coil_orientations", n_coils)
    weights = np.asarray(tra.toarray() if hasattr(tra, "toarray") else tra, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != n_coils or not np.all(np.isfinite(weights)):
        raise LaminarrayError(
            f"`tra` must be a finite (n_channels, n_coils={n_coils}) weight matrix; "
            f"got {describe(tra)}"
        )
    n_channels = weights.shape[0]
    if labels is None:
        labels = [f"MEG{i + 1:03d}" for i in range(n_channels)]
    names = as_str(labels)
    if names.shape != (n_channels,) or np.unique(names).size != n_channels:
        raise LaminarrayError(
            f"`labels` must be {n_channels} unique channel names; got {describe(labels)}"
        )
    types = _per_channel(ch_types, n_channels, "ch_types")
    if ch_units is None:
        units = np.array([CHANNEL_UNITS.get(t.upper(), "fT") for t in types])
    else:
        units = _per_channel(ch_units, n_channels, "ch_units")
    if positions is None or orientations is None:
        near_pos, near_ori = _near_coils(weights, coil_pos, coil_ori)
    pos = near_pos if positions is None else _points(positions, "positions")
    ori = near_ori if orientations is None else _directions(orientations, "orientations", len(pos))
    if pos.shape != (n_channels, 3) or ori.shape != (n_channels, 3):
        raise LaminarrayError(
            f"`positions` and `orientations` must be ({n_channels}, 3); got {pos.shape} and "
            f"{ori.shape}"
        )
    if kind is None:
        kinds = {"MEGPLANAR": "gradiometer", "MEGGRAD": "gradiometer", "REFGRAD": "gradiometer"}
        found = {kinds.get(t.upper(), "magnetometer") for t in types}
        kind = found.pop() if len(found) == 1 else "mixed"
    ds = xr.Dataset(
        {
            "coil_position": (("coil", "xyz"), coil_pos, _attrs("mm", "coil integration point")),
            "coil_orientation": (
                ("coil", "xyz"),
                coil_ori,
                _attrs("1", "direction sensed at the integration point"),
            ),
            "coil_weight": (
                ("channel", "coil"),
                weights,
                _attrs("1", "weight of each integration point in each channel (tra)"),
            ),
            "position": (("channel", "xyz"), pos, _attrs("mm", "channel position")),
            "orientation": (("channel", "xyz"), ori, _attrs("1", "measurement direction")),
        },
        coords={
            "channel": names,
            "ch_type": ("channel", types),
            "ch_units": ("channel", units),
            "xyz": list(XYZ),
        },
        attrs={"kind": str(kind), "coord_frame": str(coord_frame), **(attrs or {})},
    )
    if fiducials is not None:
        ds["fiducials"] = fiducials
    if ssp is not None:
        ds = _with_ssp(ds, ssp)
    return ds


def coil_geometry(sensors: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays every forward model needs from a sensor array.

    Parameters
    ----------
    sensors : xarray.Dataset
        A sensor array (see :func:`sensors_from_coils`).

    Returns
    -------
    coil_position : ndarray, shape (n_coils, 3)
        mm.
    coil_orientation : ndarray, shape (n_coils, 3)
        Unit vectors.
    coil_weight : ndarray, shape (n_channels, n_coils)
        The channels' weights (the gain is ``coil_weight @ field at the points``).
    """
    needed = ("coil_position", "coil_orientation", "coil_weight")
    if not isinstance(sensors, xr.Dataset) or any(v not in sensors for v in needed):
        raise LaminarrayError(
            "`sensors` must be a sensor array from laminarray.forward.sensors_from_coils "
            f"(or make_sensors/helmet_array/opm_array/sensors_from_mne) with variables "
            f"{list(needed)}; got {describe(sensors)}"
        )
    if sensors["coil_position"].dims != ("coil", "xyz"):
        raise LaminarrayError(
            "`sensors.coil_position` must have dims ('coil', 'xyz'); found "
            f"{sensors['coil_position'].dims}: rebuild the array with sensors_from_coils"
        )
    return (
        sensors["coil_position"].transpose("coil", "xyz").values,
        sensors["coil_orientation"].transpose("coil", "xyz").values,
        sensors["coil_weight"].transpose("channel", "coil").values,
    )


def channel_units(sensors: xr.Dataset) -> str:
    """The units shared by every channel of a sensor array or dataset, else ``"mixed"``.

    Reads the ``ch_units`` coordinate (default ``"fT"`` without one).
    """
    if "ch_units" not in sensors.coords:
        return "fT"
    found = np.unique(as_str(sensors["ch_units"].values))
    return str(found[0]) if found.size == 1 else "mixed"


def ssp_operator(sensors: xr.Dataset, channels: Sequence[str] | None = None) -> xr.DataArray:
    """The SSP projection ``P = I - U U^T`` of a sensor array's projectors.

    As MNE's ``make_projector`` (which the inverse applies to data and gain
    alike): every vector, active (already applied to the data) or not, is restricted to
    ``channels`` and normalised, the orthonormal basis ``U`` of their span is
    taken from an SVD (directions with singular values below 1 % of the
    largest dropped), and ``P`` removes it.

    Parameters
    ----------
    sensors : xarray.Dataset
        A sensor array or a sensor dataset carrying ``ssp_vector (ssp, channel)``.
    channels : sequence of str, optional
        Channels to project (default the array's channels, in order).

    Returns
    -------
    xarray.DataArray
        ``(channel, channel_in)``: apply as ``P @ x`` to data or gain; the
        identity without projectors. ``P`` is idempotent, so data whose
        projectors are already active are unchanged by it. attrs ``ssp_rank`` (number of
        directions removed).
    """
    names = [str(c) for c in (sensors["channel"].values if channels is None else channels)]
    n = len(names)
    basis = np.zeros((n, 0))
    if "ssp_vector" in sensors:
        vectors = sensors["ssp_vector"]
        present = [c for c in names if c in set(as_str(vectors["channel"].values))]
        rows = np.zeros((vectors.sizes["ssp"], n))
        index = [names.index(c) for c in present]
        rows[:, index] = vectors.sel(channel=present).transpose("ssp", "channel").values
        norms = np.linalg.norm(rows, axis=1)
        rows = rows[norms > 0] / norms[norms > 0, None]
        if rows.size:
            u, s, _ = np.linalg.svd(rows.T, full_matrices=False)
            basis = u[:, s > 1e-2 * s[0]]
    operator = np.eye(n) - basis @ basis.T
    return xr.DataArray(
        operator,
        dims=("channel", "channel_in"),
        coords={"channel": names, "channel_in": names},
        attrs={"ssp_rank": int(basis.shape[1]), "long_name": "SSP projection"},
    )


def apply_ssp(obj: xr.DataArray | xr.Dataset, sensors: xr.Dataset) -> Any:
    """Apply a sensor array's SSP projectors to data or a gain (see :func:`ssp_operator`).

    Parameters
    ----------
    obj : xarray.DataArray or Dataset
        Anything with a ``channel`` dim: sensor data, a sensor dataset (its
        ``data`` is projected) or a gain. Lazy inputs stay lazy.
    sensors : xarray.Dataset
        Carrier of ``ssp_vector`` (a sensor array or a sensor dataset).

    Returns
    -------
    same type as ``obj``
        Projected along ``channel`` (coords and attrs kept; attrs gain
        ``ssp_applied = True``).
    """
    if isinstance(obj, xr.Dataset):
        return obj.assign(data=apply_ssp(obj["data"], sensors))
    if not isinstance(obj, xr.DataArray) or "channel" not in obj.dims:
        raise LaminarrayError(f"`obj` must have a `channel` dim; got {describe(obj)}")
    operator = ssp_operator(sensors, [str(c) for c in obj["channel"].values])
    moved = xr.dot(operator, obj.rename(channel="channel_in"), dim="channel_in")
    out = moved.transpose(*obj.dims).assign_coords(
        {k: v for k, v in obj.coords.items() if "channel" in v.dims}
    )
    out.attrs = {**obj.attrs, "ssp_applied": True}
    return out.rename(obj.name)


def make_sensors(
    positions: Any,
    orientations: Any,
    labels: Sequence[str] | None = None,
    kind: str = "magnetometer",
    *,
    baseline: float = 50.0,
    coil_size: float = 0.0,
    fiducials: xr.DataArray | None = None,
    coord_frame: str = "head",
) -> xr.Dataset:
    """Build a sensor array from channel positions (mm) and orientations.

    Parameters
    ----------
    positions : array, shape (n_channels, 3)
        Channel (near-coil) positions in mm.
    orientations : array, shape (n_channels, 3)
        Measurement directions (normalised here), pointing away from the head
        for the usual convention.
    labels : sequence of str, optional
        Channel labels (default ``MEG001``, ``MEG002``, ...).
    kind : {"magnetometer", "gradiometer"}
        Point magnetometers, or first-order axial gradiometers whose far coil
        sits ``baseline`` mm further along the orientation.
    baseline : float
        Gradiometer baseline in mm (default 50, as CTF systems).
    coil_size : float
        Side of a square coil in mm; > 0 integrates each coil over four
        points at ``±coil_size/4`` in its plane (weights 1/4 each) instead
        of one point.
    fiducials : DataArray (fiducial, xyz), optional
        Head fiducials to carry with the array (see :func:`make_fiducials`).
    coord_frame : str
        Name of the coordinate frame of ``positions`` (attrs, default ``"head"``).

    Returns
    -------
    xarray.Dataset
        The sensor array described in this module's docstring.
    """
    check_option("kind", kind, KINDS)
    pos = _points(positions, "positions")
    ori = _directions(orientations, "orientations", pos.shape[0])
    coil_size = check_positive("coil_size", coil_size, allow_zero=True)
    offsets, weights = _coil_offsets(kind, check_positive("baseline", baseline), coil_size)
    frame = _tangent_frames(ori)  # (channel, 3 axes, xyz): two tangents then the normal
    coil_pos = pos[:, None, :] + np.einsum("ka,cax->ckx", offsets, frame)
    coil_ori = np.broadcast_to(ori[:, None, :], coil_pos.shape)
    return sensors_from_coils(
        coil_pos.reshape(-1, 3),
        coil_ori.reshape(-1, 3),
        np.kron(np.eye(pos.shape[0]), weights[None, :]),
        labels=labels,
        positions=pos,
        orientations=ori,
        fiducials=fiducials,
        coord_frame=coord_frame,
        kind=kind,
        attrs={"baseline_mm": float(baseline)},
    )


def make_fiducials(nas: Any, lpa: Any, rpa: Any) -> xr.DataArray:
    """Fiducial points as a labelled ``(fiducial, xyz)`` array in mm.

    Parameters
    ----------
    nas, lpa, rpa : array, shape (3,)
        Nasion, left and right pre-auricular points in mm.

    Returns
    -------
    xarray.DataArray
        Named ``"fiducials"``, coords ``fiducial = ["nas", "lpa", "rpa"]``.
    """
    pts = _points([nas, lpa, rpa], "fiducials")
    return xr.DataArray(
        pts,
        dims=("fiducial", "xyz"),
        coords={"fiducial": ["nas", "lpa", "rpa"], "xyz": list(XYZ)},
        name="fiducials",
        attrs=_attrs("mm", "fiducial position"),
    )


def scalp_surface(scalp_or_mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scalp vertices (mm) and faces from a mesh Dataset or a ``(vertices, faces)`` tuple.

    Returns
    -------
    vertices : ndarray, shape (n, 3), float64
    faces : ndarray, shape (m, 3), int64
    """
    if isinstance(scalp_or_mesh, xr.Dataset):
        if "scalp_vertices" not in scalp_or_mesh or "scalp_faces" not in scalp_or_mesh:
            raise LaminarrayError(
                "the mesh has no scalp: expected variables `scalp_vertices` and `scalp_faces`; "
                f"found {list(scalp_or_mesh.data_vars)}. Pass a (vertices, faces) tuple instead"
            )
        verts = scalp_or_mesh["scalp_vertices"].values
        faces = scalp_or_mesh["scalp_faces"].values
    elif isinstance(scalp_or_mesh, tuple | list) and len(scalp_or_mesh) == 2:
        verts, faces = scalp_or_mesh
    else:
        raise LaminarrayError(
            "`scalp` must be a mesh Dataset with `scalp_vertices`/`scalp_faces` or a "
            f"(vertices, faces) tuple; got {describe(scalp_or_mesh)}"
        )
    verts = _points(verts, "scalp vertices")
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(verts):
        raise LaminarrayError(
            f"scalp faces must be (m, 3) indices into {len(verts)} vertices; got {describe(faces)}"
        )
    return verts, faces.astype(np.int64)


def head_fiducials(scalp_or_mesh: Any) -> xr.DataArray:
    """Approximate fiducials of a head surface: its extreme points front, left and right.

    The nasion is the scalp vertex furthest along +y, the pre-auricular points
    the vertices furthest along -x and +x, each among the vertices within 15 %
    of the head height of the head centre height (so that ear points are at
    ear level). Useful for synthetic subjects; real data carry digitised
    fiducials.

    Returns
    -------
    xarray.DataArray (fiducial, xyz), mm
    """
    verts, _ = scalp_surface(scalp_or_mesh)
    center = (verts.max(axis=0) + verts.min(axis=0)) / 2
    height = np.ptp(verts[:, 2])
    band = verts[np.abs(verts[:, 2] - center[2]) <= 0.15 * height]
    return make_fiducials(
        band[np.argmax(band[:, 1])], band[np.argmin(band[:, 0])], band[np.argmax(band[:, 0])]
    )


def helmet_array(
    n_channels: int = 274,
    *,
    head: Any = None,
    center: Any = None,
    radius: float | None = None,
    gap: float = 25.0,
    max_polar_angle: float = 115.0,
    kind: str = "magnetometer",
    baseline: float = 50.0,
    coil_size: float = 0.0,
) -> xr.Dataset:
    """A generic whole-head (SQUID-like) helmet of radial sensors.

    Channels are spread evenly (a Fibonacci lattice) over a spherical cap
    around ``center``, from the vertex (+z) down to ``max_polar_angle``
    degrees, each oriented radially outwards.

    Parameters
    ----------
    n_channels : int
        Number of channels (default 274, as a CTF system).
    head : mesh Dataset or (vertices, faces), optional
        A head (scalp) surface: the helmet is centred on the least-squares
        sphere of the scalp with radius ``scalp radius + gap``, and the
        array carries the head's fiducials.
    center : array (3,), optional
        Helmet centre in mm (default the scalp sphere centre, else the origin).
    radius : float, optional
        Helmet radius in mm (default scalp radius + ``gap``, else 120).
    gap : float
        Scalp-to-sensor distance in mm used with ``head`` (default 25).
    max_polar_angle : float
        Lowest extent of the helmet, degrees from +z (default 115).
    kind, baseline, coil_size
        As in :func:`make_sensors`.

    Returns
    -------
    xarray.Dataset
        A sensor array (see :func:`make_sensors`).
    """
    if (
        isinstance(n_channels, bool)
        or not isinstance(n_channels, int | np.integer)
        or n_channels < 1
    ):
        raise LaminarrayError(f"`n_channels` must be a positive integer, got {n_channels!r}")
    fiducials = None
    sphere_center, sphere_radius = np.zeros(3), 95.0
    if head is not None:
        from .sphere import fit_sphere

        verts, _ = scalp_surface(head)
        sphere_center, sphere_radius = fit_sphere(verts)
        fiducials = head_fiducials(head)
    center = sphere_center if center is None else _points([center], "center")[0]
    radius = sphere_radius + check_positive("gap", gap) if radius is None else radius
    radius = check_positive("radius", radius)
    cap = np.cos(np.deg2rad(check_positive("max_polar_angle", max_polar_angle)))
    # Fibonacci lattice on the cap: equal-area bands in z, golden-angle azimuths
    k = np.arange(n_channels) + 0.5
    z = 1.0 - k / n_channels * (1.0 - cap)
    rho = np.sqrt(1.0 - z**2)
    phi = k * np.pi * (3.0 - np.sqrt(5.0))
    ori = np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])
    return make_sensors(
        center + radius * ori,
        ori,
        kind=kind,
        baseline=baseline,
        coil_size=coil_size,
        fiducials=fiducials,
    )


def opm_array(
    scalp_or_mesh: Any,
    spacing: float = 35.0,
    offset: float = 6.5,
    wholehead: bool = True,
    axes: int = 1,
    *,
    coil_size: float = 0.0,
) -> xr.Dataset:
    """An on-scalp OPM array with laMEG's parameters.

    Sensors sit ``offset`` mm outside the scalp along its outward normal, at
    least ``spacing`` mm apart (greedy Poisson-disc selection over the offset
    surface's vertices, from the top of the head down, so the layout is
    deterministic). Each sensor measures 1, 2 or 3 orthogonal axes: the
    radial (normal) axis first, then two tangential axes; each axis is one
    channel (labels ``OPM001Z``, ``OPM001Y``, ``OPM001X``).

    Parameters
    ----------
    scalp_or_mesh : mesh Dataset with ``scalp_vertices``/``scalp_faces``, or (vertices, faces)
        The scalp surface in mm.
    spacing : float
        Minimum distance between sensors in mm (laMEG ``sensor_spacing``, default 35).
    offset : float
        Scalp-to-sensor distance in mm (laMEG ``sensor_offset``, default 6.5).
    wholehead : bool
        Cover the whole head (default) or only its upper half (above the
        centre of the scalp's bounding box).
    axes : {1, 2, 3}
        Measurement axes per sensor (laMEG ``axes``).
    coil_size : float
        As in :func:`make_sensors` (0 = point magnetometers).

    Returns
    -------
    xarray.Dataset
        A magnetometer sensor array carrying the head's fiducials.
    """
    check_option("axes", axes, (1, 2, 3))
    spacing = check_positive("spacing", spacing)
    offset = check_positive("offset", offset, allow_zero=True)
    verts, faces = scalp_surface(scalp_or_mesh)
    normals = _outward_normals(verts, faces)
    candidates = verts + offset * normals
    keep = np.ones(len(verts), bool)
    if not wholehead:
        keep = verts[:, 2] >= (verts[:, 2].max() + verts[:, 2].min()) / 2
    order = np.flatnonzero(keep)[np.argsort(-candidates[keep, 2], kind="stable")]
    chosen = _poisson_disc(candidates, order, spacing)
    if chosen.size == 0:
        raise LaminarrayError("no OPM sensor fits on the scalp; check `wholehead` and the scalp")
    frame = _tangent_frames(normals[chosen])  # (sensor, axis, xyz): tangent, tangent, normal
    axis_ori = frame[:, [2, 1, 0][:axes], :]  # radial first
    pos = np.repeat(candidates[chosen], axes, axis=0)
    labels = [f"OPM{i + 1:03d}{name}" for i in range(chosen.size) for name in "ZYX"[:axes]]
    ds = make_sensors(
        pos,
        axis_ori.reshape(-1, 3),
        labels,
        coil_size=coil_size,
        fiducials=head_fiducials((verts, faces)),
    )
    ds.attrs.update(
        {"opm_spacing_mm": spacing, "opm_offset_mm": offset, "wholehead": bool(wholehead)}
    )
    ds.attrs["opm_axes"] = int(axes)
    return ds


# --------------------------------------------------------------------------- helpers


def _per_channel(value: Any, n: int, name: str) -> np.ndarray:
    values = np.full(n, value) if isinstance(value, str) else as_str(value)
    if values.shape != (n,):
        raise LaminarrayError(f"`{name}` must be one string or {n} strings; got {describe(value)}")
    return values.astype(str)


def _near_coils(
    weights: np.ndarray, coil_pos: np.ndarray, coil_ori: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and mean direction of each channel's points of largest positive weight."""
    top = weights.max(axis=1, keepdims=True)
    if np.any(top <= 0):
        bad = int(np.flatnonzero(top[:, 0] <= 0)[0])
        raise LaminarrayError(
            f"channel index {bad} has no positive weight in `tra`; pass `positions=` and "
            "`orientations=` for such channels"
        )
    near = (weights >= 0.5 * top).astype(np.float64)
    near /= near.sum(axis=1, keepdims=True)
    direction = near @ coil_ori
    return near @ coil_pos, direction / np.linalg.norm(direction, axis=1, keepdims=True)


def _with_ssp(ds: xr.Dataset, ssp: xr.DataArray) -> xr.Dataset:
    if not isinstance(ssp, xr.DataArray) or set(ssp.dims) != {"ssp", "channel"}:
        raise LaminarrayError(f"`ssp` must be a DataArray (ssp, channel); got {describe(ssp)}")
    vectors = ssp.reindex(channel=ds["channel"].values, fill_value=0.0)
    active = (
        np.asarray(ssp["ssp_active"].values, bool)
        if "ssp_active" in ssp.coords
        else np.ones(ssp.sizes["ssp"], bool)
    )
    return ds.assign(
        ssp_vector=vectors.transpose("ssp", "channel").assign_attrs(
            units="1", long_name="SSP projection vector"
        )
    ).assign_coords(ssp_active=("ssp", active))


def _attrs(units: str, long_name: str) -> dict[str, str]:
    return {"units": units, "long_name": long_name}


def _points(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 or not np.all(np.isfinite(array)):
        raise LaminarrayError(
            f"`{name}` must be finite (n, 3) positions in mm; got {describe(value)}"
        )
    return array


def _directions(value: Any, name: str, n: int) -> np.ndarray:
    array = _points(value, name)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if array.shape[0] != n or np.any(norms == 0):
        raise LaminarrayError(
            f"`{name}` must be {n} non-zero direction vectors (n, 3); got {describe(value)}"
        )
    return array / norms


def _coil_offsets(kind: str, baseline: float, coil_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Integration points in the local frame (tangent1, tangent2, normal) and weights."""
    if coil_size > 0:
        q = coil_size / 4
        plane = np.array([[q, q, 0], [q, -q, 0], [-q, q, 0], [-q, -q, 0]], float)
        plane_w = np.full(4, 0.25)
    else:
        plane, plane_w = np.zeros((1, 3)), np.ones(1)
    if kind == "magnetometer":
        return plane, plane_w
    far = plane + np.array([0.0, 0.0, baseline])
    return np.concatenate([plane, far]), np.concatenate([plane_w, -plane_w])


def _tangent_frames(normals: np.ndarray) -> np.ndarray:
    """Orthonormal frames (n, 3, 3): rows tangent1, tangent2, normal (right-handed)."""
    helper = np.where(np.abs(normals[:, [0]]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    t1 = np.cross(normals, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(normals, t1)
    return np.stack([t1, t2, normals], axis=1)


def _outward_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals pointing away from the centroid (any face winding)."""
    tri = verts[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = np.einsum("ij,ij->i", face_normals, tri.mean(axis=1) - verts.mean(axis=0))
    face_normals[outward < 0] *= -1
    normals = np.zeros_like(verts)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    radial = verts - verts.mean(axis=0)
    normals = np.where(lengths > 0, normals / np.where(lengths > 0, lengths, 1), radial)
    flip = np.einsum("ij,ij->i", normals, radial) < 0
    normals[flip] *= -1
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _poisson_disc(points: np.ndarray, order: np.ndarray, spacing: float) -> np.ndarray:
    """Greedy selection in ``order`` of points at least ``spacing`` apart."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points[order])
    blocked = np.zeros(order.size, bool)
    chosen = []
    for i in range(order.size):
        if blocked[i]:
            continue
        chosen.append(order[i])
        blocked[tree.query_ball_point(points[order[i]], spacing - 1e-9)] = True
    return np.asarray(chosen, dtype=np.int64)
