"""Exact polyhedral geodesic distances on a triangle mesh.

Single-source distances use tvb-gdist (Kirsanov's implementation of the exact
algorithm of Mitchell, Mount and Papadimitriou, the algorithm of SPM's
``spm_mesh_geodesic``).

All pairs within a short distance (what the patch operator needs) use a
vectorised exact method of our own, because tvb-gdist's all-pairs routine
costs ~40 us per source plus a scan of the whole mesh per source (about 9 s
for one fsaverage5 hemisphere). It rests on two facts about shortest paths
on a polyhedral surface:

1. between bends a shortest path is a straight line in the planar unfolding
   of the strip of faces it crosses;
2. it bends only at saddle vertices (total angle >= 2 pi) or boundary
   vertices.

Step 1 propagates, for every source vertex at once, "windows" (an interval
of an edge lit by straight rays from the unfolded source image) face by face
in 2-D edge frames, splitting them at each opposite vertex and recording the
straight distance to every vertex a window lights, until the window is
farther than ``max_distance``. Windows are never merged, so every straight
strip path is found. Step 2 relaxes ``d(s, t) = min(d(s, t), d(s, v) +
d(v, t))`` over saddle and boundary vertices ``v`` (and flat ones, which
collinear paths through a vertex need) until nothing changes. The result
equals tvb-gdist's ``local_gdist_matrix`` to rounding (tested on curved and
irregular meshes, including fsaverage5).
"""

from __future__ import annotations

from typing import Any

import gdist
import numpy as np
import scipy.sparse as sp
import xarray as xr

from .._validation import check_positive
from ._checks import as_faces, as_vertex_index, as_vertices

__all__ = ["geodesic_distances"]

#: Tolerance (radians) below 2 pi at which a vertex may still be passed through.
_FLAT_TOLERANCE = 1e-9


def geodesic_distances(
    vertices: Any, faces: Any, source: Any, max_distance: float | None = None
) -> xr.DataArray:
    """Exact geodesic distances over a triangle mesh from one vertex.

    Parameters
    ----------
    vertices : array, shape (n_vertices, 3)
        Positions in mm.
    faces : array of int, shape (n_faces, 3)
        Triangles (0-based).
    source : int or array of int
        Source vertex; with several, the distance to the nearest of them.
    max_distance : float, optional
        Stop propagating beyond this distance (mm); farther vertices get
        ``inf``. Default: the whole mesh.

    Returns
    -------
    xarray.DataArray, dims ``(vertex,)``, float64, mm
        Distance along the surface (``inf`` where unreachable or beyond
        ``max_distance``). Matches SPM's ``spm_mesh_geodesic`` to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> verts = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0]], float)
    >>> geodesic_distances(verts, [[0, 1, 2]], 1).values
    array([3., 0., 5.])
    """
    pos = as_vertices(vertices)
    tri = as_faces(faces, len(pos))
    src = as_vertex_index(source, len(pos))
    limit = np.inf if max_distance is None else check_positive("max_distance", max_distance)
    # gdist reports a distance equal to its stop distance as inf: stop a little farther.
    stop = 1e100 if np.isinf(limit) else limit * (1 + 1e-9)
    dist = gdist.compute_gdist(pos, tri, source_indices=src, max_distance=stop)
    dist = np.where((dist >= 1e99) | (dist > limit), np.inf, dist)
    dist[src] = 0.0
    return xr.DataArray(
        dist,
        dims=("vertex",),
        coords={"vertex": np.arange(len(pos))},
        name="geodesic_distance",
        attrs={"units": "mm", "long_name": "geodesic distance"},
    )


def _face_neighbours(tri: np.ndarray, n_vertices: int) -> np.ndarray:
    """Face across the edge opposite each corner, ``(n_faces, 3)``; -1 on boundary/non-manifold."""
    n_faces = len(tri)
    first, second = np.roll(tri, -1, axis=1).ravel(), np.roll(tri, -2, axis=1).ravel()
    keys = np.minimum(first, second).astype(np.int64) * n_vertices + np.maximum(first, second)
    faces = np.repeat(np.arange(n_faces), 3)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    unique, start, counts = np.unique(sorted_keys, return_index=True, return_counts=True)
    slot = np.searchsorted(unique, keys)
    pair_start = start[slot]
    manifold = counts[slot] == 2
    partner = np.where(
        faces[order[pair_start]] == faces,
        faces[order[np.minimum(pair_start + 1, len(keys) - 1)]],
        faces[order[pair_start]],
    )
    return np.where(manifold, partner, -1).reshape(n_faces, 3)


def _passable(pos: np.ndarray, tri: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Vertices a shortest path may pass through: saddle, flat or boundary vertices."""
    corners = pos[tri]
    angles = np.empty(tri.shape)
    for k in range(3):
        u = corners[:, (k + 1) % 3] - corners[:, k]
        v = corners[:, (k + 2) % 3] - corners[:, k]
        cross = np.linalg.norm(np.cross(u, v), axis=1)
        angles[:, k] = np.arctan2(cross, np.einsum("ij,ij->i", u, v))
    total = np.bincount(tri.ravel(), angles.ravel(), minlength=len(pos))
    boundary = np.zeros(len(pos), bool)
    open_corner = neighbours < 0  # the edge opposite this corner is a boundary
    for k in (1, 2):
        boundary[np.roll(tri, -k, axis=1)[open_corner]] = True
    return boundary | (total >= 2 * np.pi - _FLAT_TOLERANCE)


def _corner_frames(pos: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the edge opposite each corner (from the next corner to the one after): its
    length and the 2-D position (x along the edge, y > 0) of the corner, ``(n_faces, 3)`` each."""
    start, end, apex = (pos[np.roll(tri, -k, axis=1)] for k in (1, 2, 0))
    edge = end - start
    length = np.sqrt(np.einsum("fcx,fcx->fc", edge, edge))
    to_apex = apex - start
    x = np.einsum("fcx,fcx->fc", to_apex, edge) / length
    y = np.sqrt(np.maximum(np.einsum("fcx,fcx->fc", to_apex, to_apex) - x**2, 0.0))
    return length, x, y


def _neighbour_corners(tri: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Corner of the neighbouring face opposite the shared edge, ``(n_faces, 3)``; -1 if none."""
    has = neighbours >= 0
    other = tri[np.where(has, neighbours, 0)]  # (n_faces, 3, 3)
    on_edge = np.stack(
        [np.roll(tri, -1, axis=1), np.roll(tri, -2, axis=1)], axis=-1
    )  # (n_faces, 3, 2)
    apex = (other[..., :, None] != on_edge[..., None, :]).all(axis=-1)
    return np.where(has, np.argmax(apex, axis=-1), -1)


def _distance_to_interval(sx, sy, a, b):
    """Distance from (sx, sy) to the segment [a, b] of the x axis."""
    return np.hypot(np.maximum(np.maximum(a - sx, 0.0), sx - b), sy)


def _direct_distances(
    pos: np.ndarray, tri: np.ndarray, neighbours: np.ndarray, limit: float
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Straight (unfolded) distances <= limit from every vertex, by window propagation.

    A window is (source, face entered ``g``, entry edge = the edge opposite
    corner ``j`` of ``g`` traversed p1 -> p2 (``forward``: p1 is corner j+1),
    source image (sx, sy) with sy < 0 and lit interval [a, b] along the
    edge), in the 2-D frame of the entry edge with y pointing into ``g``.
    """
    lengths, apex_x, apex_y = _corner_frames(pos, tri)
    across = _neighbour_corners(tri, neighbours)
    n_faces = len(tri)
    face = np.repeat(np.arange(n_faces), 3)
    corner = np.tile(np.arange(3), n_faces)
    src = tri.ravel()
    rows, cols, dists = [], [], []
    for step in (1, 2):  # the two edges at each corner
        d = np.linalg.norm(pos[tri[face, (corner + step) % 3]] - pos[src], axis=1)
        near = d <= limit
        rows.append(src[near])
        cols.append(tri[face, (corner + step) % 3][near])
        dists.append(d[near])

    def enter(src, g, c, e1, sx, sy, a, b):
        """Windows crossing the edge opposite corner c of g (which has a neighbour)."""
        keep = (b > a) & (sy < 0) & (_distance_to_interval(sx, sy, a, b) <= limit)
        g, c = g[keep], c[keep]
        new_g, new_j = neighbours[g, c], across[g, c]
        forward = tri[new_g, (new_j + 1) % 3] == e1[keep]
        return [src[keep], new_g, new_j, forward, sx[keep], sy[keep], a[keep], b[keep]]

    inner = neighbours.ravel() >= 0
    state = enter(
        src[inner],
        face[inner],
        corner[inner],
        tri[face, (corner + 1) % 3][inner],
        apex_x.ravel()[inner],
        -apex_y.ravel()[inner],
        np.zeros(int(inner.sum())),
        lengths.ravel()[inner],
    )
    while state[0].size:
        src, g, j, forward, sx, sy, a, b = state
        length, ry = lengths[g, j], apex_y[g, j]
        rx = np.where(forward, apex_x[g, j], length - apex_x[g, j])
        r = tri[g, j]
        corner_p1 = np.where(forward, (j + 1) % 3, (j + 2) % 3)
        corner_p2 = 3 - j - corner_p1
        x_hit = sx - (rx - sx) * sy / (ry - sy)  # where the ray to r crosses the entry edge
        d = np.hypot(rx - sx, ry - sy)
        lit = (x_hit >= a) & (x_hit <= b) & (d <= limit)
        rows.append(src[lit])
        cols.append(r[lit])
        dists.append(d[lit])
        # Exit edges in the entry frame: left p1 (0, 0) -> r, right r -> p2 (length, 0).
        # A ray from S through (x, 0) meets the exit edge Q1 + v (Q2 - Q1) at
        # v = ((sx - q1x) sy + (sy - q1y)(x - sx)) / ((x - sx) dy + sy dx).
        pieces = []
        for side in ("left", "right"):
            if side == "left":
                lo, hi, opposite = a, np.minimum(b, x_hit), corner_p2
            else:
                lo, hi, opposite = np.maximum(a, x_hit), b, corner_p1
            live = (hi > lo) & (neighbours[g, opposite] >= 0)
            lo, hi, sx_, sy_, rx_, ry_ = lo[live], hi[live], sx[live], sy[live], rx[live], ry[live]
            if side == "left":
                q1x, q1y, dx, dy = 0.0, 0.0, rx_, ry_
                e1 = tri[g[live], corner_p1[live]]
            else:
                q1x, q1y, dx, dy = rx_, ry_, length[live] - rx_, -ry_
                e1 = r[live]
            edge = np.hypot(dx, dy)
            offset_x, offset_y = sx_ - q1x, sy_ - q1y
            v_lo = (offset_x * sy_ + offset_y * (lo - sx_)) / ((lo - sx_) * dy + sy_ * dx)
            v_hi = (offset_x * sy_ + offset_y * (hi - sx_)) / ((hi - sx_) * dy + sy_ * dx)
            v_lo, v_hi = np.clip(v_lo, 0.0, 1.0), np.clip(v_hi, 0.0, 1.0)
            along = (offset_x * dx + offset_y * dy) / edge
            new_sy = -np.abs(dx * offset_y - dy * offset_x) / edge
            new_a = np.minimum(v_lo, v_hi) * edge
            new_b = np.maximum(v_lo, v_hi) * edge
            pieces.append(
                enter(src[live], g[live], opposite[live], e1, along, new_sy, new_a, new_b)
            )
        state = [np.concatenate(parts) for parts in zip(*pieces, strict=True)]
    return rows, cols, dists


def _shortest(rows: np.ndarray, cols: np.ndarray, dists: np.ndarray, n: int) -> sp.csr_array:
    """Keep the smallest distance of each (row, col) pair; drop the diagonal."""
    keys = rows.astype(np.int64) * n + cols
    off = rows != cols
    keys, dists = keys[off], dists[off]
    order = np.argsort(keys, kind="stable")
    keys, dists = keys[order], dists[order]
    if keys.size == 0:
        return sp.csr_array((n, n))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    best = np.minimum.reduceat(dists, starts)
    keys = keys[starts]
    return sp.csr_array((best, (keys // n, keys % n)), shape=(n, n))


def _relax_through(dist: sp.csr_array, passable: np.ndarray, limit: float) -> sp.csr_array:
    """Shortest paths bending at ``passable`` vertices: min(d(s,t), d(s,v) + d(v,t))."""
    n = dist.shape[0]
    while True:
        coo = dist.tocoo()
        # a leg s -> v can only help if adding v's shortest onward leg stays within the limit
        shortest_leg = np.full(n, np.inf)
        filled = np.diff(dist.indptr) > 0
        shortest_leg[filled] = np.minimum.reduceat(dist.data, dist.indptr[:-1][filled])
        via = passable[coo.col] & (coo.data + shortest_leg[coo.col] <= limit)
        s, v, d1 = coo.row[via], coo.col[via], coo.data[via]
        counts = dist.indptr[v + 1] - dist.indptr[v]
        offsets = np.repeat(dist.indptr[v] - np.cumsum(counts) + counts, counts) + np.arange(
            counts.sum()
        )
        s, d = np.repeat(s, counts), np.repeat(d1, counts) + dist.data[offsets]
        t = dist.indices[offsets]
        ok = (d <= limit) & (t != s)
        if not np.any(ok):
            return dist
        current = dist[s[ok], t[ok]]
        better = (current == 0) | (d[ok] < current * (1 - 1e-14))
        if not np.any(better):
            return dist
        merged = _shortest(
            np.r_[coo.row, s[ok][better]],
            np.r_[coo.col, t[ok][better]],
            np.r_[coo.data, d[ok][better]],
            n,
        )
        dist = merged


def _local_geodesics(pos: np.ndarray, tri: np.ndarray, max_distance: float) -> sp.csr_array:
    """All vertex pairs with ``0 < geodesic distance <= max_distance`` (exact).

    Returns
    -------
    scipy.sparse.csr_array, shape (n_vertices, n_vertices)
        Row = source, column = target; the diagonal is not stored.
    """
    n_vertices = len(pos)
    neighbours = _face_neighbours(tri, n_vertices)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows, cols, dists = _direct_distances(pos, tri, neighbours, max_distance)
    direct = _shortest(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(dists), n_vertices
    )
    return _relax_through(direct, _passable(pos, tri, neighbours), max_distance)
