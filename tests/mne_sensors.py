"""Test/benchmark helper: MNE-Python's own forward solution for comparisons.

:func:`mne_forward` runs :func:`mne.make_forward_solution` (MNE's
"accurate" coil integration, as :func:`laminarray.forward.sensors_from_mne`
describes the sensors) for dipoles given in MRI coordinates, and returns the
free-orientation gain with MRI-frame axes in the units of laminarray's
sensor arrays (fT/nAm, fT/mm/nAm for planar gradiometers).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from laminarray import forward


def mri_sensors(info, trans) -> xr.Dataset:
    """The MEG sensor array of ``info`` in MRI coordinates (mm)."""
    head_to_mri = trans["trans"].copy()
    head_to_mri[:3, 3] *= 1000.0  # MNE's translations are in metres
    return forward.apply_transform(head_to_mri, forward.sensors_from_mne(info))


def mne_forward(info, trans, bem_solution, positions_mm: np.ndarray) -> np.ndarray:
    """MNE's free-orientation MEG gain ``(channel, source, 3)``, MRI-frame axes."""
    import mne

    normals = np.tile([0.0, 0.0, 1.0], (len(positions_mm), 1))
    src = mne.setup_volume_source_space(
        pos={"rr": positions_mm / 1000.0, "nn": normals}, verbose=False
    )  # MRI coordinates
    info = mne.pick_info(info, mne.pick_types(info, meg=True, ref_meg=False, exclude=[]))
    with info._unlock():
        info["projs"] = []
    fwd = mne.make_forward_solution(
        info, trans, src, bem_solution, meg=True, eeg=False, mindist=0.0, verbose=False
    )  # MNE's forward integrates its coils at the "accurate" points
    assert fwd["nsource"] == len(positions_mm)
    # T/(A m) -> fT/nAm; T/m/(A m) -> fT/mm/nAm
    per_metre = np.array([ch["unit"] == mne.io.constants.FIFF.FIFF_UNIT_T_M for ch in info["chs"]])
    scale = np.where(per_metre, 1e3, 1e6)[:, None, None]
    gain = scale * fwd["sol"]["data"].reshape(len(info["ch_names"]), len(positions_mm), 3)
    # MNE's free orientations are head-frame axes: rotate them to the MRI frame
    return np.einsum("ij,cnj->cni", trans["trans"][:3, :3], gain)


def sample_subject(realdata, n_sources: int, *, channel_step: int = 1, seed: int = 0):
    """MNE's ``sample``: Neuromag info, trans, 1280-triangle head model, MRI-frame sensors, sources.

    Sources lie 8-20 mm under random inner-skull vertices (where cortex is).

    Returns
    -------
    info, trans, head, sensors, positions (n_sources, 3) mm, rng
    """
    import mne

    from laminarray.forward.head import vertex_normals

    info = mne.io.read_info(realdata / "neuromag" / "sample_audvis_trunc_raw_sss.fif")
    info = mne.pick_info(info, mne.pick_types(info, meg=True, exclude=[])[::channel_step])
    trans = mne.read_trans(realdata / "neuromag" / "sample_audvis_trunc-trans.fif")
    head = forward.head_model(
        inner_skull=realdata / "subjects" / "sample" / "bem" / "sample-1280-bem.fif"
    )
    vertices, faces = head["inner_skull_vertices"].values, head["inner_skull_faces"].values
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vertices), n_sources, replace=False)
    depth = rng.uniform(8.0, 20.0, (n_sources, 1))
    positions = vertices[pick] - depth * vertex_normals(vertices, faces)[pick]
    return info, trans, head, mri_sensors(info, trans), positions, rng
