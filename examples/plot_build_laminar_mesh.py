"""
Build a laminar mesh
====================

A laminar mesh holds ``n_layers`` surfaces between the pial and the white
matter surface, with the same vertices on every layer: ``vertex`` is a
cortical column, ``layer`` its depth. Here we build one from the fsaverage5
pial and white surfaces that ship with nilearn (offline), first with
equidistant layers, then with layers at chosen proportional depths.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from laminarray import surf
from laminarray.datasets import fsaverage5_mesh
from laminarray.viz import plot_surface

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Pial and white surfaces
# -----------------------
# ``fsaverage5_mesh`` builds the multilayer mesh of both hemispheres; with two
# layers it is just the pial and white surfaces. ``ds_factor`` keeps a
# fraction of the columns (decimation), which keeps this example fast.

surfaces = fsaverage5_mesh(n_layers=2, ds_factor=0.05 if SMALL else 0.3)
left = surfaces["hemi"].values == "lh"
faces = surfaces["faces"].values
faces = faces[left[faces].all(axis=1)]  # left hemisphere: its vertices come first
pial = surfaces["vertices"].sel(layer="pial").values[left]
white = surfaces["vertices"].sel(layer="white").values[left]
print(f"left hemisphere: {pial.shape[0]} vertices, {faces.shape[0]} faces")

# %%
# Equidistant layers
# ------------------
# ``build_laminar_mesh`` interpolates each column linearly from pial (depth 0)
# to white (depth 1) and computes the dipole orientations (here laMEG's link
# vectors, pointing from pial towards white).

mesh = surf.build_laminar_mesh((pial, faces), (white, faces), n_layers=11, hemi="lh")
print(mesh)
print("layers:", mesh["layer"].values.tolist())

fig = plot_surface(
    mesh,
    mesh["thickness"],
    layer="pial",
    view=["lateral", "medial"],  # thickness is positive: sequential colours by default
    save_to=out("mesh_thickness.png"),
)

# %%
# Layers at chosen depths
# -----------------------
# Any increasing proportional depths work, e.g. laminar boundaries from an
# atlas; the layer names then give the fraction of thickness from white.

depths = np.array([0.0, 0.1, 0.35, 0.6, 1.0])
custom = surf.build_laminar_mesh(
    (pial, faces), (white, faces), n_layers=depths.size, depths=depths, hemi="lh"
)
print("custom layers:", custom["layer"].values.tolist(), "depths:", custom["depth"].values)

# %%
# A cross-section shows the layers of every column between pial and white.

xyz = custom["vertices"].values  # (layer, vertex, xyz), mm
section = np.abs(xyz[0, :, 1] - np.median(xyz[0, :, 1])) < (6.0 if SMALL else 3.0)
fig, ax = plt.subplots(figsize=(6, 4))
for depth, layer in zip(custom["depth"].values, xyz, strict=True):
    ax.scatter(layer[section, 0], layer[section, 2], s=6, color=plt.cm.viridis(depth))
ax.set_xlabel("x (mm)")
ax.set_ylabel("z (mm)")
ax.set_title("coronal slab: layers from pial (dark) to white (light)")
ax.set_aspect("equal")
if OUT:
    fig.savefig(out("mesh_section.png"), dpi=120, bbox_inches="tight")
