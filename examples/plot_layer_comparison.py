"""
Simulate, invert and compare layers
===================================

The core laminar MEG experiment: simulate a source on one layer, invert the
sensor data with every layer's forward model in turn, and compare the models
by their free energy. The layer whose model has the highest free energy
explains the data best; a difference above 3 (odds ~20:1) is conventionally
called significant.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from laminarray import simulate
from laminarray.datasets import sample
from laminarray.inverse import compare_layers
from laminarray.viz import plot_layer_comparison

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# A sample subject
# ----------------
# ``sample`` generates anatomy, a helmet, the gain matrix and trials of a 20 Hz
# burst from a patch on the pial layer (ground truth in the attrs).

subject = sample(
    n_vertices=300 if SMALL else 600,
    n_layers=3 if SMALL else 11,
    n_channels=48 if SMALL else 128,
    n_trials=6 if SMALL else 20,
    sfreq=200.0 if SMALL else 300.0,
)
mesh = subject["mesh"].to_dataset()
gain = subject["forward"]["gain"]
pial_data = subject["sensor"].to_dataset()
vertex = subject.attrs["true_vertex"]
print(f"simulated source: vertex {vertex} on layer {subject.attrs['true_layer']!r}")

# %%
# The same source on the white surface
# ------------------------------------
# ``simulate.current_density`` projects a Gaussian patch through the gain and
# adds noise at an SNR in dB (SPM's definition).

times = pial_data["time"].values
burst = np.where(times > 0, np.sin(2 * np.pi * 20.0 * times), 0.0)
white_data = simulate.current_density(
    gain,
    mesh,
    vertex,
    "white",
    burst,
    10.0,  # nAm
    5.0,  # patch FWHM, mm
    -10.0,  # SNR, dB
    times,
    n_trials=pial_data.sizes["trial"],
    seed=1,
).compute()

# %%
# Invert with every layer's model
# -------------------------------
# ``compare_layers`` runs one Empirical Bayesian Beamformer inversion per layer
# (with all spatial modes, so free energies are comparable). The mesh is coarse
# (about 6 mm between vertices), hence a 10 mm smoothing patch.

results = {
    name: compare_layers(data, gain, mesh, method="EBB", patch_size=10.0, woi=(-0.2, 0.5))
    for name, data in (("pial", pial_data), ("white", white_data))
}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (name, result) in zip(axes, results.items(), strict=True):
    energy = result["free_energy"]  # cv_error is NaN without cross-validation folds
    plot_layer_comparison(energy, ax=ax)
    winner = str(energy.idxmax("layer").values)
    delta = float(energy.sel(layer="pial") - energy.sel(layer="white"))
    ax.set_title(f"source on {name}: best model {winner}\nF(pial) − F(white) = {delta:.1f}")
fig.tight_layout()
if OUT:
    fig.savefig(out("layer_comparison.png"), dpi=120)
print(results["pial"])
