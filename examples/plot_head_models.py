"""
Realistic head models
=====================

A laminar analysis compares gain differences of a few per cent between the
pial and the white surface, so the forward model must be more accurate than
that. Here we read a subject's head surfaces the way FreeSurfer and MNE
write them (``bem/inner_skull.surf``; MNE's fsaverage head when ``mne`` is
installed), build the single-shell (Nolte 2003, SPM's default), local-spheres
and single-sphere gains of a cortical mesh inside it, and see how far the
sphere is from the single shell compared with the pial-white difference.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np

from laminarray import forward
from laminarray.datasets import synthetic_cortex, synthetic_head

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Head surfaces from a FreeSurfer/MNE subject directory
# -----------------------------------------------------
# ``mne watershed_bem`` writes ``<subject>/bem/inner_skull.surf``,
# ``outer_skull.surf`` and ``outer_skin.surf``; ``read_head_model`` finds
# them (and laMEG's ``mri/origiskull_2562.surf.gii``, or MNE's ``-bem.fif``).
# To stay self-contained we write the synthetic subject's surfaces there
# first, exactly as FreeSurfer would.

synthetic = synthetic_head()
subject = Path(tempfile.mkdtemp()) / "sub-01"
(subject / "bem").mkdir(parents=True)
for name, file in (("inner_skull", "inner_skull.surf"), ("scalp", "outer_skin.surf")):
    nib.freesurfer.write_geometry(
        str(subject / "bem" / file),
        synthetic[f"{name}_vertices"].values,
        synthetic[f"{name}_faces"].values.astype(np.int32),
    )
head = forward.read_head_model(subject)
print(head)

# %%
# Gains in three head models
# --------------------------
# ``forward.gain`` checks that the cortex is inside the inner skull and the
# sensors outside it, and returns a lazy ``(channel, layer, vertex)`` gain
# whose attrs name the model.

mesh = synthetic_cortex(n_vertices=300 if SMALL else 2000, n_layers=2 if SMALL else 11)
sensors = forward.helmet_array(64 if SMALL else 274, head=head)
gains = {
    model: forward.gain(mesh, sensors, head, model=model).compute()
    for model in ("single_shell", "local_spheres", "sphere")
}
for model, gain in gains.items():
    print(f"{model:14s} {gain.attrs['forward_model']}")

# %%
# Model error against the laminar signal
# --------------------------------------
# Per column: the relative difference of each simpler model from the single
# shell, next to the relative difference between the pial and the white
# lead field of the same column (what a laminar comparison must resolve).


def relative(a, b):
    """|a - b| / |b| over channels, per (layer, vertex)."""
    return np.linalg.norm(a - b, axis=0) / np.linalg.norm(b, axis=0)


shell = gains["single_shell"].values
layer_gap = relative(shell[:, -1], shell[:, 0])
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(0, 1, 41)
ax.hist(layer_gap, bins, alpha=0.6, label="pial vs white (single shell)")
for model in ("local_spheres", "sphere"):
    ax.hist(relative(gains[model].values[:, 0], shell[:, 0]), bins, alpha=0.6, label=model)
ax.set_xlabel("relative lead-field difference per column")
ax.set_ylabel("columns")
ax.legend()
fig.tight_layout()
if out("head_models.png"):
    fig.savefig(out("head_models.png"), dpi=80)
