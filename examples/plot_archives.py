"""
Working with study archives in a notebook
=========================================

A study archive is a Zarr directory holding an ``xarray.DataTree``:
``/<subject>/mesh``, ``sensor``, ``forward``, ``inverse/<name>``,
``results/<name>``. laminarray writes it atomically with checksums; any
xarray user reads it with ``xr.open_datatree`` — lazily: nothing is loaded
until a selection is computed.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from laminarray import archive, open_study
from laminarray.datasets import sample
from laminarray.inverse import invert_ebb

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# Write a subject
# ---------------
# Two conditions, alternating over trials, as a ``condition`` coordinate on
# ``trial``.

subject = sample(
    n_vertices=300 if SMALL else 600,
    n_layers=3 if SMALL else 11,
    n_channels=48 if SMALL else 128,
    n_trials=8 if SMALL else 40,
    sfreq=200.0 if SMALL else 300.0,
)
sensor = subject["sensor"].to_dataset()
conditions = np.where(sensor["trial"].values % 2 == 0, "left", "right")
sensor = sensor.assign_coords(condition=("trial", conditions))
mesh = subject["mesh"].to_dataset()
inverse = invert_ebb(sensor, subject["forward"]["gain"], mesh, patch_size=10.0)

path = os.path.join(tempfile.mkdtemp(), "study.zarr")
archive.save(mesh, path, "sub-01/mesh")
archive.save(sensor, path, "sub-01/sensor")
archive.save(subject["forward"].to_dataset(), path, "sub-01/forward")
archive.save(inverse, path, "sub-01/inverse/ebb")
print(archive.verify(path))

# %%
# Open it with plain xarray
# -------------------------

tree = xr.open_datatree(path, engine="zarr")
print(tree)
data = tree["sub-01/sensor"]["data"]  # dask-backed: nothing read yet
print(data)

# %%
# Select by label (``sel``) or position (``isel``), then compute the small part.

first_trial = data.isel(trial=0).sel(time=slice(0.0, 0.1)).compute()
print("first trial, 0-100 ms:", first_trial.sizes)

# %%
# Average per condition with ``groupby`` and plot the RMS over channels.

evoked = data.groupby("condition").mean("trial")  # (channel, time, condition), lazy
rms = np.sqrt((evoked**2).mean("channel")).compute()
fig, ax = plt.subplots(figsize=(6, 3.5))
for condition in rms["condition"].values:
    ax.plot(rms["time"], rms.sel(condition=condition), label=str(condition))
ax.set_xlabel("time (s)")
ax.set_ylabel(f"RMS over channels ({data.attrs.get('units', 'fT')})")
ax.legend(title="condition")
if OUT:
    fig.savefig(out("archive_evoked.png"), dpi=120, bbox_inches="tight")

# %%
# The study handle
# ----------------
# ``open_study`` reads metadata only; a subject's accessors restrict lazily
# with the same keywords everywhere (``roi=``, ``layers=``, ``vertices=``,
# ``time=``, ``trials=``). Sources are reconstructed from the stored inverse
# (``apply_inverse``) for the selection only.

study = open_study(path)
print(study.metadata.head())  # one row per trial: subject, session, trial, condition, bad
subject_01 = study.subject("sub-01")
vertex = subject.attrs["true_vertex"]
source = subject_01.sources("ebb", vertices=[vertex], layers=["pial", "white"], time=(0.0, 0.1))
print(source)

# coordinates read from the archive are lazy too: load the small one used for grouping
source = source.assign_coords(condition=source["condition"].compute())
per_condition = source.groupby("condition").mean("trial").compute()
table = per_condition.rename("source").to_dataframe().reset_index()
print(table[["layer", "vertex", "time", "condition", "source"]].head())
print(table.groupby(["condition", "layer"])["source"].std())

# %%
# Results go back into the archive next to the data.

summary = (source**2).mean(["time", "trial"]).rename("power").assign_attrs(units="nAm2")
archive.save(summary.to_dataset(), path, "sub-01/results/column_power")
print(xr.open_datatree(path, engine="zarr")["sub-01/results/column_power"])
