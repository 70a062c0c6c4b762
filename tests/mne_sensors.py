"""Test/benchmark helper: a sensor array of the package's schema from an MNE ``Info``.

Uses MNE's own coil definitions (integration points, orientations and
weights per channel), moved to the MRI frame with ``dev_head_t`` and the
head -> MRI ``trans``, so gains computed here can be compared with
:func:`mne.make_forward_solution` for the same channels. Weights are MNE's
(gradiometer weights per metre), positions in mm.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def sensors_from_info(info, trans, *, accuracy: str = "normal") -> xr.Dataset:
    """Sensor array (MRI frame, mm) of the MEG channels of ``info``."""
    import mne
    from mne.forward._make_forward import _create_meg_coils

    picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=[])
    chs = [info["chs"][p] for p in picks]
    coils = _create_meg_coils(chs, accuracy)
    to_mri = trans["trans"] @ info["dev_head_t"]["trans"]
    n_coils = max(len(c["w"]) for c in coils)
    pos = np.zeros((len(coils), n_coils, 3))
    ori = np.zeros((len(coils), n_coils, 3))
    ori[..., 2] = 1.0
    weights = np.zeros((len(coils), n_coils))
    for i, coil in enumerate(coils):
        k = len(coil["w"])
        pos[i, :k] = 1000.0 * (coil["rmag"] @ to_mri[:3, :3].T + to_mri[:3, 3])
        ori[i, :k] = coil["cosmag"] @ to_mri[:3, :3].T
        weights[i, :k] = coil["w"]
        pos[i, k:] = pos[i, 0]
    kinds = np.array(["grad" if "grad" in t else "mag" for t in info.get_channel_types(picks)])
    return xr.Dataset(
        {
            "coil_position": (("channel", "coil", "xyz"), pos, {"units": "mm"}),
            "coil_orientation": (("channel", "coil", "xyz"), ori, {"units": "1"}),
            "coil_weight": (("channel", "coil"), weights, {"units": "1"}),
        },
        coords={
            "channel": [c["ch_name"] for c in chs],
            "ch_type": ("channel", np.full(len(chs), "MEG")),
            "kind": ("channel", kinds),
            "xyz": ["x", "y", "z"],
        },
        attrs={"kind": "neuromag", "coord_frame": "mri"},
    )


def mne_forward(info, trans, bem_solution, positions_mm: np.ndarray) -> np.ndarray:
    """MNE's free-orientation MEG gain ``(channel, source, 3)`` (MRI-frame axes), fT/nAm (x m for grads)."""
    import mne

    normals = np.tile([0.0, 0.0, 1.0], (len(positions_mm), 1))
    src = mne.setup_volume_source_space(
        pos={"rr": positions_mm / 1000.0, "nn": normals}, verbose=False
    )  # MRI coordinates
    info = mne.pick_info(info, mne.pick_types(info, meg=True, ref_meg=False, exclude=[]))
    with info._unlock():
        info["projs"] = []
        info["comps"] = []
    fwd = mne.make_forward_solution(
        info, trans, src, bem_solution, meg=True, eeg=False, mindist=0.0, verbose=False
    )
    assert fwd["nsource"] == len(positions_mm)
    gain = 1e6 * fwd["sol"]["data"].reshape(len(info["ch_names"]), len(positions_mm), 3)
    # MNE's free orientations are head-frame axes: rotate them to the MRI frame
    return np.einsum("ij,cnj->cni", trans["trans"][:3, :3], gain)
