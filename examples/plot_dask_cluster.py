"""
Running on a Dask cluster
=========================

Every heavy laminarray computation is a Dask graph, so the same code runs with
the local threaded scheduler or on a ``dask.distributed`` cluster: once a
``Client`` exists, computations go to it. Here a tiny ``LocalCluster`` stands
in for a real one (``SLURMCluster``, Kubernetes, Coiled ...); data are read
lazily from a study archive, chunk by chunk, by the workers.
"""

import os
import tempfile
import time

import numpy as np
from distributed import Client, LocalCluster

from laminarray import archive
from laminarray.datasets import sample
from laminarray.inverse import apply_inverse, invert_ebb
from laminarray.power import roi_power
from laminarray.viz import plot_surface

SMALL = os.environ.get("LAMINARRAY_EXAMPLE_SMALL") == "1"  # the test suite's tiny version
OUT = os.environ.get("LAMINARRAY_EXAMPLE_OUT")  # save figures in this directory when set


def out(name):
    """Where to save a figure (None: do not save)."""
    return os.path.join(OUT, name) if OUT else None


# %%
# A study archive to work on
# --------------------------

subject = sample(
    n_vertices=300 if SMALL else 1000,
    n_layers=3 if SMALL else 11,
    n_channels=48 if SMALL else 128,
    n_trials=8 if SMALL else 40,
    sfreq=200.0 if SMALL else 300.0,
)
mesh = subject["mesh"].to_dataset()
path = os.path.join(tempfile.mkdtemp(), "study.zarr")
archive.save(mesh, path, "sub-01/mesh")
archive.save(subject["sensor"].to_dataset(), path, "sub-01/sensor", chunks={"trial": 4})
archive.save(subject["forward"].to_dataset(), path, "sub-01/forward")

# %%
# Start a cluster
# ---------------
# Workers in this process (threads), to keep the example light; on a real
# cluster only this cell changes. (Worker *processes*, ``processes=True``,
# need the script's code under ``if __name__ == "__main__":``.)

cluster = LocalCluster(
    n_workers=1 if SMALL else 2,
    threads_per_worker=1,
    processes=False,
    dashboard_address=":0",
)
client = Client(cluster)
print(client)

# %%
# Lazy inputs, distributed computations
# -------------------------------------
# ``archive.open`` gives dask-backed data; the inversion reduces the data
# chunk-wise, and ``roi_power`` projects and reduces each (vertex, trial) block
# in one task on the workers.

tree = archive.open(path)
sensor = tree["sub-01/sensor"].to_dataset()
print("sensor data chunks:", sensor["data"].chunks)
start = time.perf_counter()
inverse = invert_ebb(sensor, tree["sub-01/forward"]["gain"], mesh, patch_size=10.0)
result = roi_power(sensor, inverse, woi=(0.0, 0.5), baseline=(-0.2, 0.0), vertex_chunk=100)
print(f"inversion and ROI power on the cluster: {time.perf_counter() - start:.1f} s")
print(f"|pial| − |white|: t = {float(result['t']):.2f}, p = {float(result['p']):.3g}")

# %%
# Any xarray reduction of the lazy source estimate runs on the cluster too,
# e.g. the evoked power of every pial source, without ever holding all
# sources in memory.

source = apply_inverse(inverse, sensor, layers="pial")
evoked_power = (source.mean("trial") ** 2).sel(time=slice(0.0, 0.5)).mean("time").compute()
fig = plot_surface(
    mesh,
    np.log10(evoked_power.sel(layer="pial")).assign_attrs(units="log10 nAm²"),
    view=["lateral", "dorsal"],
    norm="N",
    cmap="magma",
    save_to=out("cluster_evoked_power.png"),
)

client.close()
cluster.close()
