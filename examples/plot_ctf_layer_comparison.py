"""
From a CTF recording to a layer comparison
==========================================

A real CTF recording (151 axial gradiometers, right-hand somatosensory evoked
response, stored with 3rd-order synthetic gradient compensation) taken all the
way to a laminar model comparison, with template anatomy (fsaverage5) for a
subject without an MRI:

1. read the recording with MNE-Python and convert it (``io.from_mne``);
2. describe its sensors as MNE's forward model does, with the compensation of
   the stored data folded into the channel weights (``forward.sensors_from_mne``);
3. place the fsaverage5 multilayer mesh in the head frame from the fiducials;
4. compute the gain (a sphere fitted to fsaverage's inner skull) and invert it
   layer by layer (``inverse.compare_layers``).

Without the compensation the gain would be the grade-0 one, several per cent
off for every channel, and the comparison would be made with the wrong model.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np

import laminarray as lam
from laminarray import forward, io
from laminarray.datasets import fsaverage5_mesh
from laminarray.inverse import compare_layers
from laminarray.viz import plot_layer_comparison

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "realdata" / "ctf"
FSAVERAGE = Path(mne.__file__).parent / "data" / "fsaverage"
mne.set_log_level("ERROR")


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# The recording
# -------------
# The file holds two stored trials of 313 samples (1250 Hz), each with 62
# samples before the stimulus. We epoch them around the stimulus and keep the
# MEG channels; ``from_mne`` keeps the head-frame geometry, the fiducials and
# the compensation grade.

raw = mne.io.read_raw_ctf(DATA / "somMDYO-18av.ds")
onsets = np.array([[62, 0, 1], [313 + 62, 0, 1]])
data = io.from_mne(raw, events=onsets, event_id={"right hand": 1}, tmin=-0.049, tmax=0.2)
data = lam.validate_sensor(data.sel(channel=data["ch_type"] == "MEGGRAD"))  # units: fT
print(
    f"{data.sizes['channel']} channels in {data['data'].attrs['units']}, "
    f"compensation grade {data.attrs['compensation_grade']}"
)

# %%
# Sensors as the data were recorded
# ---------------------------------
# Each channel is a weighted sum of coil integration points; with grade-3
# compensation every channel's weights also include the reference coils.

sensors = forward.sensors_from_mne(raw.info)
weights = sensors["coil_weight"].values
print(
    f"{sensors.sizes['coil']} integration points; a channel reads "
    f"{np.count_nonzero(weights[0])} of them (its own 14 and the references')"
)

# %%
# Template anatomy in the head frame
# ----------------------------------
# fsaverage's fiducials (MNE's package data) against the digitised ones give
# the rigid head -> MRI transform; the mesh and fsaverage's inner skull move
# into the head frame with its inverse.

mesh = fsaverage5_mesh(n_layers=2 if SMALL else 11, **({"ds_factor": 0.1} if SMALL else {}))
fiducials, _ = mne.io.read_fiducials(FSAVERAGE / "fsaverage-fiducials.fif")
mri_fiducials = {
    {1: "lpa", 2: "nas", 3: "rpa"}[int(point["ident"])]: point["r"] * 1000 for point in fiducials
}
head_fiducials = {
    name: sensors["fiducials"].sel(fiducial=name).values for name in ("nas", "lpa", "rpa")
}
mri_to_head = forward.invert_transform(forward.coregister(head_fiducials, mri_fiducials))
mesh = forward.apply_transform(mri_to_head, mesh)
inner_skull = mne.read_bem_surfaces(FSAVERAGE / "fsaverage-inner_skull-bem.fif")[0]["rr"] * 1000
center, radius = forward.fit_sphere(forward.apply_transform(mri_to_head, inner_skull))
print(f"sphere: centre {np.round(center, 1)} mm, radius {radius:.1f} mm")

# %%
# Gain and layer comparison
# -------------------------
# The gain is in fT/nAm for the compensated channels. (The sphere only sets the
# centre: Sarvas' field does not depend on its radius, and fsaverage's cortex
# reaches beyond the best-fitting sphere of its non-spherical inner skull.) ``compare_layers`` runs
# one Empirical Bayesian Beamformer inversion per layer on the early response
# and returns the free energies (higher is better).

gain = forward.sphere_gain(mesh, sensors, center=center).compute()
result = compare_layers(data, gain, mesh, method="EBB", patch_size=10.0, woi=(0.0, 0.1))
energy = result["free_energy"]
print(energy.to_series().round(1))

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
evoked = data["data"].mean("trial")
axes[0].plot(data["time"].values * 1000, evoked.values.T, lw=0.5, color="0.3")
axes[0].set(xlabel="time (ms)", ylabel="fT", title="CTF evoked response (grade-3 compensated)")
plot_layer_comparison(energy, ax=axes[1])
delta = float(energy.sel(layer="pial") - energy.sel(layer="white"))
axes[1].set_title(f"F(pial) − F(white) = {delta:.1f}")
fig.tight_layout()
if OUT:
    fig.savefig(out("ctf_layer_comparison.png"), dpi=120)
