"""MNE-Python's spherical forward as the reference the sensor and gain tests compare with."""

from __future__ import annotations

import numpy as np


def mne_sphere_forward(mne, info, dipoles, r0=(0.0, 0.0, 0.0)):
    """MNE's free-orientation MEG forward of a sphere centred at ``r0`` (mm) for dipoles
    at ``dipoles`` (mm, head frame): channel names and (channel, dipole, xyz) in
    fT/nAm (fT/mm/nAm for planar gradiometers)."""
    src = mne.setup_volume_source_space(
        pos={"rr": dipoles / 1000, "nn": np.tile([0, 0, 1.0], (len(dipoles), 1))}
    )
    fwd = mne.make_forward_solution(
        info,
        trans=None,
        src=src,
        bem=mne.make_sphere_model(r0=np.asarray(r0) / 1000, head_radius=None),
        meg=True,
        eeg=False,
    )
    names = list(fwd["sol"]["row_names"])
    planar = [
        info["chs"][info["ch_names"].index(n)]["unit"] == mne.io.constants.FIFF.FIFF_UNIT_T_M
        for n in names
    ]
    # T/(A m) -> fT/nAm is 1e6; T/m/(A m) -> fT/mm/nAm is 1e3
    scale = np.where(planar, 1e3, 1e6)
    return names, fwd["sol"]["data"].reshape(len(names), len(dipoles), 3) * scale[:, None, None]
