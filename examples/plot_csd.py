"""
Current source density across layers
====================================

Source estimates on every layer of one column form a laminar profile; its
current source density (CSD) shows where along the depth current enters
(sinks) and leaves (sources). laMEG computes it with the standard CSD (second
spatial difference) or a kernel CSD (kCSD) with cross-validated
regularisation.
"""

import os

import matplotlib.pyplot as plt

from laminarray.csd import compute_csd
from laminarray.datasets import sample
from laminarray.inverse import apply_inverse, invert_ebb
from laminarray.viz import plot_csd

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Laminar source time series of one column
# ----------------------------------------
# Invert with the multilayer model, then reconstruct only the column of the
# simulated source: ``apply_inverse`` is lazy and selects before computing.

subject = sample(
    n_vertices=300 if SMALL else 600,
    n_layers=7 if SMALL else 11,
    n_channels=48 if SMALL else 128,
    n_trials=6 if SMALL else 20,
    sfreq=200.0 if SMALL else 300.0,
)
mesh = subject["mesh"].to_dataset()
sensor = subject["sensor"].to_dataset()
vertex = subject.attrs["true_vertex"]
inverse = invert_ebb(sensor, subject["forward"]["gain"], mesh, patch_size=10.0)
column = apply_inverse(inverse, sensor, vertices=[vertex]).mean("trial").squeeze("vertex")
column = column.compute()  # (layer, time), nAm
thickness = float(mesh["thickness"].sel(vertex=vertex))
print(f"column {vertex}: thickness {thickness:.2f} mm, {column.sizes['layer']} layers")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name in column["layer"].values[[0, column.sizes["layer"] // 2, -1]]:
    ax.plot(column["time"], column.sel(layer=name), label=str(name))
ax.set_xlabel("time (s)")
ax.set_ylabel(f"source ({column.attrs.get('units', 'nAm')})")
ax.legend(title="layer")
if OUT:
    fig.savefig(out("csd_sources.png"), dpi=120, bbox_inches="tight")

# %%
# Standard and kernel CSD
# -----------------------
# Layers are taken as equidistant electrodes from 0 (pial) to the column's
# thickness (mm). ``plot_csd`` draws sources red and sinks blue, pial on top.

methods = ["StandardCSD"] if SMALL else ["StandardCSD", "KCSD1D"]
fig, axes = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4), squeeze=False)
for ax, method in zip(axes[0], methods, strict=True):
    csd = compute_csd(
        column, thickness, sfreq=float(1 / column["time"].diff("time")[0]), method=method
    )
    plot_csd(csd, ax=ax)
    ax.set_title(method)
fig.tight_layout()
if OUT:
    fig.savefig(out("csd.png"), dpi=120)
