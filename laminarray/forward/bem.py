"""Single-compartment BEM forward model through MNE-Python (extra ``bem``).

MEG needs only the brain compartment: the skull is a poor conductor, so
almost no volume current crosses it and the field outside the head is
shaped by the inner skull alone (a single-layer BEM; Hämäläinen & Sarvas
1989). MNE-Python's BEM (linear collocation with the isolated-problem
approach) solves exactly that: :func:`mne.make_bem_model` on the head
model's inner skull, :func:`mne.make_bem_solution`, then
:func:`mne.make_forward_solution` for the dipoles, with every coil
integration point of the sensor array given to MNE as a point magnetometer
(so any array of the package's sensor schema goes through, and the channels
are formed here with the array's own integration weights).

Why MNE-Python rather than OpenMEEG: MNE-Python is already laminarray's
bridge to MEG files (the ``mne`` extra), installs from PyPI everywhere
without compilers, is the reference users compare against, and solves the
single-compartment problem MEG needs; MNE's OpenMEEG interface handles
three-layer (EEG) models only. The BEM solution (the expensive, ``O(N^3)``
part in the number of surface vertices) is computed once per gain; each
dask chunk then asks MNE for its dipoles' fields.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, import_optional
from ._assembly import weight_operator
from .head import surface_arrays

__all__ = ["BemKernel", "bem_kernel"]

#: 1 T / (A m) in fT / nAm
_SI_TO_FT_PER_NAM = 1e6


class BemKernel:
    """Channel-level BEM field of dipoles (a :mod:`._assembly` kernel)."""

    def __init__(self, solution: Any, info: Any, weights: np.ndarray) -> None:
        self.solution = solution
        self.info = info
        self.used = np.any(weights != 0, axis=0)  # integration points given to MNE
        self.weights = weight_operator(weights[:, self.used])

    def __call__(self, dipoles: np.ndarray, moments: np.ndarray | None) -> np.ndarray:
        """``(n_channels, n[, 3])`` fT/nAm for dipoles ``(n, 3)`` mm."""
        import mne

        normals = np.zeros_like(dipoles)
        normals[:, 2] = 1.0
        src = mne.setup_volume_source_space(
            pos={"rr": dipoles / 1000.0, "nn": normals}, verbose=False
        )
        fwd = mne.make_forward_solution(
            self.info,
            mne.transforms.Transform("head", "mri"),
            src,
            self.solution,
            meg=True,
            eeg=False,
            mindist=0.0,
            verbose=False,
        )
        if fwd["nsource"] != len(dipoles):
            raise LaminarrayError(
                f"MNE dropped {len(dipoles) - fwd['nsource']} dipoles as outside the inner skull"
            )
        field = fwd["sol"]["data"] * _SI_TO_FT_PER_NAM  # (used point, dipole * 3)
        channels = (self.weights @ field).reshape(-1, len(dipoles), 3)
        if moments is None:
            return channels
        return np.einsum("cnx,nx->cn", channels, moments)


def bem_kernel(
    head: xr.Dataset, coil_pos: np.ndarray, coil_ori: np.ndarray, weights: np.ndarray
) -> tuple[BemKernel, dict[str, Any]]:
    """Solve the single-compartment BEM of a head model's inner skull for a sensor array.

    Parameters
    ----------
    head : xarray.Dataset
        Head model with an inner skull surface.
    coil_pos, coil_ori : ndarray, shape (n_coils, 3)
        Coil integration points (mm) and sensed directions.
    weights : ndarray, shape (n_channels, n_coils)
        The channels' weights of the points.

    Returns
    -------
    kernel : BemKernel
    attrs : dict
        ``forward_model``, ``conductivity_S_per_m``, ``surface_vertices``.
    """
    mne = import_optional("mne", "bem", "the BEM forward model")
    vertices, faces = surface_arrays(head, "inner_skull")
    sigma = 0.3
    if "conductivity" in head and "inner_skull" in list(head["surface"].values):
        sigma = float(
            head["conductivity"].values[list(head["surface"].values).index("inner_skull")]
        )
    with tempfile.TemporaryDirectory() as tmp:
        bem_dir = Path(tmp) / "head" / "bem"
        bem_dir.mkdir(parents=True)
        import nibabel as nib

        nib.freesurfer.write_geometry(str(bem_dir / "inner_skull.surf"), vertices, faces)
        model = mne.make_bem_model(
            "head", ico=None, conductivity=(sigma,), subjects_dir=tmp, verbose=False
        )
    solution = mne.make_bem_solution(model, verbose=False)
    used = np.any(weights != 0, axis=0)
    info = _point_magnetometers(mne, coil_pos[used], coil_ori[used])
    attrs = {
        "forward_model": "single-compartment BEM (MNE-Python)",
        "conductivity_S_per_m": sigma,
        "surface_vertices": len(vertices),
    }
    return BemKernel(solution, info, weights), attrs


def _point_magnetometers(mne: Any, positions: np.ndarray, orientations: np.ndarray) -> Any:
    """An MNE ``Info`` with one point magnetometer per integration point (all frames identical)."""
    from mne.io.constants import FIFF

    names = [f"P{i:05d}" for i in range(len(positions))]
    info = mne.create_info(names, 1000.0, "mag")
    with info._unlock():
        info["dev_head_t"] = mne.transforms.Transform("meg", "head")
        for ch, pos, ez in zip(info["chs"], positions, orientations, strict=True):
            helper = np.array([1.0, 0, 0]) if abs(ez[0]) < 0.9 else np.array([0, 1.0, 0])
            ex = np.cross(helper, ez)
            ex /= np.linalg.norm(ex)
            ey = np.cross(ez, ex)
            ch["loc"] = np.concatenate([pos / 1000.0, ex, ey, ez])
            ch["coil_type"] = FIFF.FIFFV_COIL_POINT_MAGNETOMETER
            ch["coord_frame"] = FIFF.FIFFV_COORD_DEVICE
    return info
