"""The geodesic Gaussian patch (smoothing) operator ``QG`` of SPM's millimetre kernel.

Definition (design note spm_inversion §2.1, SPM's ``spm_eeg_smoothmesh_mm`` as laMEG
drives it with ``patchfwhm = -patch_size``): within one layer, with
``sigma = fwhm / 2.355`` and ``d_ij`` the exact geodesic distance,

``q_ij = exp(-d_ij**2 / (2 sigma**2))`` for ``d_ij <= fwhm`` (inclusive), else 0,

and each **column** ``j`` (the patch centred on vertex ``j``) is divided by
its sum, so columns sum to 1 and ``QG`` is not symmetric. A multilayer mesh
gets the block-diagonal operator over the layer-major flat source axis (no
smoothing across layers). SPM's extra step of zeroing entries below
``exp(-8)`` never applies: at ``d = fwhm``, ``q = exp(-2.77)``.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp
import xarray as xr

from .._validation import LaminarrayError, check_positive
from ..plausibility import check_patch_size
from ..schema import validate_mesh
from ._checks import as_faces, as_vertices
from .geodesic import _local_geodesics
from .topology import _mean_face_size

__all__ = ["FWHM_TO_SIGMA", "smoothing_matrix", "smoothing_operator"]

#: SPM's FWHM / sigma ratio (rounded, as in SPM).
FWHM_TO_SIGMA = 2.355


def smoothing_matrix(vertices: Any, faces: Any, fwhm: float) -> sp.csc_array:
    """Geodesic Gaussian patch operator of one surface (SPM's ``QG``).

    Parameters
    ----------
    vertices : array, shape (n_vertices, 3)
        Positions in mm (one layer).
    faces : array of int, shape (n_faces, 3)
        Triangles (0-based).
    fwhm : float
        Patch full width at half maximum, mm (laMEG's ``patch_size``).

    Returns
    -------
    scipy.sparse.csc_array, shape (n_vertices, n_vertices), float64
        Column ``j`` is the patch centred on vertex ``j``: a Gaussian of the
        exact geodesic distance with ``sigma = fwhm / 2.355``, cut to zero
        beyond ``fwhm``, normalised to sum 1. Use ``.toarray()`` for a
        dense matrix.

    Raises
    ------
    LaminarrayError
        For bad vertices/faces, or an ``fwhm`` more than 100 times larger or
        smaller than the mesh scale (mean square root of face area), as SPM.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.meshgrid(np.arange(4.0) * 3, np.arange(4.0) * 3)
    >>> verts = np.c_[x.ravel(), y.ravel(), np.zeros(16)]
    >>> faces = [[i + 4 * j, i + 1 + 4 * j, i + 5 + 4 * j] for j in range(3) for i in range(3)]
    >>> faces += [[i + 4 * j, i + 5 + 4 * j, i + 4 + 4 * j] for j in range(3) for i in range(3)]
    >>> qg = smoothing_matrix(verts, faces, fwhm=5.0)
    >>> np.allclose(qg.sum(axis=0), 1.0)
    True
    """
    pos = as_vertices(vertices)
    tri = as_faces(faces, len(pos))
    fwhm = check_positive("fwhm", fwhm)
    _check_scale(pos, tri, fwhm)
    return _smoothing_matrix(pos, tri, fwhm)


def _check_scale(pos: np.ndarray, tri: np.ndarray, fwhm: float) -> None:
    if tri.size == 0:
        raise LaminarrayError("`faces` is empty: a smoothing operator needs a triangle mesh")
    scale = _mean_face_size(pos, tri)
    if not scale / 100 <= fwhm <= 100 * scale:
        raise LaminarrayError(
            f"`fwhm` = {fwhm} mm is out of range for this mesh (mean face size {scale:.3g} mm): "
            f"expected between {scale / 100:.3g} and {100 * scale:.3g} mm; check the mesh is in mm"
        )


def _smoothing_matrix(pos: np.ndarray, tri: np.ndarray, fwhm: float) -> sp.csc_array:
    """Trusting kernel of :func:`smoothing_matrix`."""
    n_vertices = len(pos)
    dist = _local_geodesics(pos, tri, fwhm).tocoo()
    sigma = fwhm / FWHM_TO_SIGMA
    weights = np.exp(-(dist.data**2) / (2.0 * sigma**2))
    # Row = patch centre (source); store centres as columns, with the centre itself.
    centre = np.arange(n_vertices)
    qg = sp.csc_array(
        (
            np.concatenate([weights, np.ones(n_vertices)]),
            (np.concatenate([dist.col, centre]), np.concatenate([dist.row, centre])),
        ),
        shape=(n_vertices, n_vertices),
    )
    qg.sum_duplicates()
    qg.data /= np.repeat(qg.sum(axis=0), np.diff(qg.indptr))
    return qg


def smoothing_operator(mesh: xr.Dataset, fwhm: float, *, n_jobs: int = 1) -> sp.csc_array:
    """Block-diagonal geodesic patch operator of a multilayer mesh.

    Parameters
    ----------
    mesh : xarray.Dataset
        A mesh dataset (``vertices (layer, vertex, xyz)`` mm, ``faces``).
    fwhm : float
        Patch FWHM in mm.
    n_jobs : int
        Number of worker processes over layers (``-1``: one per CPU). The
        layers are independent; 1 (default) computes them in this process.

    Returns
    -------
    scipy.sparse.csc_array, shape (n_layers * n_vertices, n_layers * n_vertices)
        On laMEG/SPM's layer-major flat source axis (``source = layer *
        n_vertices + vertex``, i.e. ``mesh.stack(source=("layer", "vertex"))``):
        block ``l`` is :func:`smoothing_matrix` of layer ``l``'s positions with
        the shared faces; no smoothing across layers. Columns sum to 1.
    """
    mesh = validate_mesh(mesh)
    fwhm = check_positive("fwhm", fwhm)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise LaminarrayError(f"`n_jobs` must be a positive integer or -1, got {n_jobs!r}")
    layers = np.asarray(mesh["vertices"].values, dtype=np.float64)
    tri = as_faces(mesh["faces"].values, layers.shape[1], "mesh faces")
    for pos in layers:
        _check_scale(pos, tri, fwhm)
    check_patch_size(fwhm, layers, "fwhm (patch_size)")
    workers = min(len(layers), (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs))
    if workers <= 1:
        blocks = [_smoothing_matrix(pos, tri, fwhm) for pos in layers]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            blocks = list(pool.map(_smoothing_matrix, layers, repeat(tri), repeat(fwhm)))
    return sp.block_diag(blocks, format="csc")
