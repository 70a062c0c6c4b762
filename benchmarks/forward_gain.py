"""Benchmark: spherical gain for an fsaverage5-sized 11-layer mesh x 274 channels.

Run by hand: ``python benchmarks/forward_gain.py``. Prints the wall time, the
ratio to an arithmetic floor measured in the same run, and the peak RSS
beyond the output. The floor is the unavoidable work per (channel, source)
entry, done with plain numpy at full vectorisation on one block and scaled
to the whole matrix and both cores: one K=3 matrix product (dipole-sensor
dot products) plus one square root and one division (distance and 1/F).
"""

from __future__ import annotations

import resource
import time

import dask
import numpy as np
import xarray as xr

from laminarray import datasets
from laminarray.forward import helmet_array, sphere_gain

THREADS = 2


def rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def subject() -> tuple[xr.Dataset, xr.Dataset, np.ndarray, str]:
    """fsaverage5 x 11 layers (or a synthetic cortex of its size), 274-channel helmet.

    Returns the mesh, the sensors, the sphere centre (mm) and the mesh name.
    """
    try:
        mesh, name = datasets.fsaverage5_mesh(n_layers=11), "fsaverage5"
    except Exception:  # nilearn missing: a synthetic cortex of the same size
        mesh = datasets.synthetic_cortex(n_vertices=20484, n_layers=11)
        name = "synthetic_cortex(20484)"
    pos = mesh["vertices"].values.reshape(-1, 3)
    center = (pos.max(axis=0) + pos.min(axis=0)) / 2
    reach = float(np.linalg.norm(pos - center, axis=1).max())
    sensors = helmet_array(274, center=center, radius=reach + 30.0)
    return mesh, sensors, center, name


def _floor_seconds(n_points: int, n_sources: int) -> float:
    rng = np.random.default_rng(0)
    block = 8192
    pts, src = rng.normal(size=(n_points, 3)), rng.normal(size=(block, 3))
    start = time.perf_counter()
    dots = pts @ src.T
    np.divide(1.0, np.sqrt(dots * dots + 1.0), out=dots)
    elapsed = time.perf_counter() - start
    return elapsed * n_sources / block / THREADS


def main() -> None:
    mesh, sensors, center, name = subject()
    n_sources = mesh.sizes["layer"] * mesh.sizes["vertex"]
    gain = sphere_gain(mesh, sensors, center=center)
    out = np.ones(gain.shape, gain.dtype)  # touched now: RSS growth below excludes it
    base = rss_mb()
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        dask.array.store(gain.data, out, lock=False)
    elapsed = time.perf_counter() - start
    peak = rss_mb() - base
    floor = _floor_seconds(274, n_sources)
    print(
        f"mesh {name}: {n_sources} sources x {gain.sizes['channel']} channels, "
        f"{gain.data.numblocks[2]} chunks of {gain.chunks[2][0]} vertices"
    )
    print(f"time {elapsed:.2f} s, floor {floor:.2f} s, peak RSS beyond output {peak:.0f} MB")
    print(
        f"forward_gain: seconds={elapsed:.2f} floor_seconds={floor:.2f} "
        f"ratio={elapsed / floor:.1f} peak_mb={peak:.0f} entries={out.size}"
    )


if __name__ == "__main__":
    main()
