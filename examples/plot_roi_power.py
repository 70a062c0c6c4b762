"""
ROI power: which layer's power changes?
=======================================

laMEG's ROI power comparison: invert once with the multilayer model, compute
every source's power (mean Hilbert envelope) in a window of interest and a
baseline, t-test the change over trials at every vertex, take the vertices
above the 75th percentile of the pial or white t-map as the region of interest
(ROI), and test over trials whether the ROI's power changes more on the pial
or on the white surface. Everything is one dask graph that never materialises
the source estimate.
"""

import os

from laminarray.datasets import sample
from laminarray.inverse import invert_ebb
from laminarray.power import roi_power
from laminarray.viz.power import plot_roi_power

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Data and inversion
# ------------------
# A 20 Hz burst from 0 to 0.5 s on the pial layer; one EBB inversion over all
# layers at once (the multilayer source space).

subject = sample(
    n_vertices=300 if SMALL else 600,
    n_layers=3 if SMALL else 11,
    n_channels=48 if SMALL else 128,
    n_trials=8 if SMALL else 30,
    sfreq=200.0 if SMALL else 300.0,
)
mesh = subject["mesh"].to_dataset()
sensor = subject["sensor"].to_dataset()
inverse = invert_ebb(sensor, subject["forward"]["gain"], mesh, patch_size=10.0)
print(f"inverse: {inverse['projector'].sizes}, free energy {float(inverse['free_energy']):.1f}")

# %%
# ROI power comparison
# --------------------
# Windows are in seconds, half-open ``[start, end)``.

result = roi_power(sensor, inverse, woi=(0.0, 0.5), baseline=(-0.2, 0.0))
print(result)
print(
    f"ROI of {int(result['roi'].sum())} columns (true source at vertex "
    f"{subject.attrs['true_vertex']}: in ROI = "
    f"{bool(result['roi'].sel(vertex=subject.attrs['true_vertex']))}); "
    f"|pial| − |white|: t({int(result['df'])}) = {float(result['t']):.2f}, "
    f"p = {float(result['p']):.3g}"
)

# %%
# The pial t-map with the ROI outlined, and each trial's ROI power change on
# both surfaces.

fig = plot_roi_power(result, mesh, view=["lateral", "dorsal"], save_to=out("roi_power.png"))

# %%
# A depth profile: every layer against white (the ROI is then the union over
# all layers' t-maps).

if not SMALL:
    profile = roi_power(sensor, inverse, woi=(0.0, 0.5), baseline=(-0.2, 0.0), layers="all")
    fig = plot_roi_power(profile, save_to=out("roi_power_profile.png"))
