"""
Forward model and anatomical predictors
=======================================

Which cortical columns let MEG tell a superficial from a deep source? The
laMEG tutorial answers with anatomy and the forward model: thick columns,
oriented radially to the scalp, close to the sensors, whose lead field changes
most between the pial and the white surface. Here we build a sensor array and
a spherical-head gain matrix for the synthetic cortex, check the head -> MRI
coregistration (fiducials refined with head-shape points), compute the four
predictors, combine them into one anatomical score and pick the best column.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial.transform import Rotation

from laminarray import forward, surf
from laminarray.datasets import synthetic_cortex
from laminarray.viz import plot_coregistration, plot_surface
from laminarray.viz.coregistration import plot_headshape_fit

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Anatomy and sensors
# -------------------
# The synthetic cortex is a folded two-hemisphere multilayer mesh with a scalp
# sphere. ``helmet_array`` places radial magnetometers 25 mm outside the scalp
# and carries the head's fiducials.

mesh = synthetic_cortex(n_vertices=400 if SMALL else 2000, n_layers=3 if SMALL else 11)
sensors = forward.helmet_array(48 if SMALL else 128, head=mesh)
fig = plot_coregistration(
    mesh, sensors, sensors["fiducials"], save_to=out("forward_coregistration.png")
)

# %%
# Head-shape coregistration
# -------------------------
# Fiducials marked on the MRI and digitised on the subject fix the head -> MRI
# transform only to a few mm. ``coregister_headshape`` refines the fiducial fit
# by iterative closest point between many head-shape points (a digitiser or a
# 3-D face scan) and the MRI scalp. A sphere would give the points nothing to
# hold on to against rotations, so here the synthetic scalp is stretched into
# an egg with a nose. The "digitised" points are scalp vertices above the ears,
# moved into head coordinates by a known transform, with 0.3 mm of noise (a
# face scan); the fiducials are marked with 4 mm errors.

centre, radius = forward.fit_sphere(mesh["scalp_vertices"].values)
unit = (mesh["scalp_vertices"].values - centre) / radius
nose = 18.0 * np.exp(-0.5 * (np.arccos(np.clip(unit @ [0.0, 0.97, -0.24], -1, 1)) / 0.25) ** 2)
scalp = (centre + unit * ([80.0, 95.0, 88.0] + nose[:, None]), mesh["scalp_faces"].values)
fid_mri = forward.head_fiducials(scalp)

rng = np.random.default_rng(0)
mri_to_head = forward.invert_transform(
    forward.rigid_transform(
        Rotation.from_euler("xyz", [4.0, -3.0, 8.0], degrees=True).as_matrix(), [3.0, -8.0, 25.0]
    )
)
above_ears = scalp[0][scalp[0][:, 2] > centre[2] - 30.0]
points = forward.apply_transform(mri_to_head, above_ears) + rng.normal(0, 0.3, above_ears.shape)
fid_head = forward.apply_transform(mri_to_head, fid_mri.values) + rng.normal(0, 4.0, (3, 3))
fit = forward.coregister_headshape(points, scalp, fid_head, fid_mri)
print(
    f"{len(points)} points to the scalp: median {np.median(fit.initial_distance):.2f} mm "
    f"after the fiducial fit, {np.median(fit.distance):.2f} mm after ICP "
    f"({fit.n_iterations} iterations)"
)

# %%
# Before (fiducials only) and after ICP, each point coloured by its distance to
# the scalp on one colour scale; stars are the digitised fiducials moved by each
# transform, circles the fiducials marked on the MRI.

fig = plot_headshape_fit(
    fit, scalp, fid_mri=fid_mri, view=["left", "front"], save_to=out("forward_headshape_fit.png")
)

# %%
# Gain matrix
# -----------
# ``sphere_gain`` is the Sarvas spherical-head lead field of every dipole of
# every layer (fixed orientations from the mesh), ``(channel, layer, vertex)``
# in fT/nAm. It is lazy (dask); computing it is one task per vertex chunk.

gain = forward.sphere_gain(mesh, sensors).compute()
print(gain)

# %%
# The four predictors
# -------------------

thickness = surf.thickness(mesh)  # mm
rms_diff = forward.lead_field_rms_diff(gain)  # fT/nAm, white vs pial
radiality = surf.radiality_to_scalp(mesh, mesh)  # |cos| to the scalp normal
distance = surf.distance_to_scalp(mesh, mesh)  # mm

fig, axes = plt.subplots(2, 2, figsize=(8, 6))
for ax, predictor in zip(axes.ravel(), [thickness, rms_diff, radiality, distance], strict=True):
    ax.hist(predictor.values, bins=30, color="tab:gray")
    ax.set_xlabel(f"{predictor.attrs['long_name']} ({predictor.attrs['units']})", fontsize=8)
fig.tight_layout()
if OUT:
    fig.savefig(out("forward_predictors.png"), dpi=120)

# %%
# Combined anatomical score and the best column
# ---------------------------------------------
# The score sums the z-scores of thickness, lead-field RMS difference,
# radiality and negated distance to the scalp (laMEG's tutorial formula); the
# four terms come with it.

score = surf.anatomical_score(mesh, mesh, rms_diff)["anatomical_score"]
best = int(score.idxmax("vertex"))
hemi = str(score["hemi"].sel(vertex=best).values)
print(
    f"best column: vertex {best} ({hemi}), "
    f"score {float(score.max()):.2f}, thickness {float(thickness.sel(vertex=best)):.2f} mm, "
    f"distance to scalp {float(distance.sel(vertex=best)):.1f} mm"
)
position = int(mesh.indexes["vertex"].get_loc(best))
fig = plot_surface(
    mesh,
    score,
    view=["lateral", "dorsal"],
    hemi=hemi,
    markers=[position],
    save_to=out("forward_anatomical_score.png"),
)
