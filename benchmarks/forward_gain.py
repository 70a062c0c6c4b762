"""Benchmark: a gain matrix for an fsaverage5-sized 11-layer mesh x 274 channels.

Run by hand: ``python benchmarks/forward_gain.py [--model single_shell]``.
Prints the wall time, the ratio to an arithmetic floor measured in the same
run, the ratio to the spherical gain computed in the same run (for a
realistic model), and the peak RSS beyond the output. The floor is the
unavoidable work per (channel, source) entry, done with plain numpy at full
vectorisation on one block and scaled to the whole matrix and both cores:
one K=3 matrix product (dipole-sensor dot products) plus one square root and
one division (distance and 1/F).

With ``nilearn`` and ``mne`` installed the mesh is fsaverage5 in MNE's
fsaverage head (inner skull and scalp); otherwise a synthetic cortex of the
same size in its synthetic head. The time of a realistic model includes its
set-up (checking every source is inside the inner skull, fitting the model).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import dask
import numpy as np
import xarray as xr

from laminarray import datasets, forward

THREADS = 2


def rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def subject() -> tuple[xr.Dataset, xr.Dataset, xr.Dataset, str]:
    """fsaverage5 x 11 layers in fsaverage's head (or synthetic), 274-channel helmet."""
    try:
        mesh, head = datasets.fsaverage5_mesh(n_layers=11), datasets.fsaverage_head()
        name = "fsaverage5"
    except Exception:  # nilearn or mne missing: a synthetic cortex of the same size
        mesh, head = datasets.synthetic_cortex(20484, 11), datasets.synthetic_head()
        name = "synthetic_cortex(20484)"
    return mesh, forward.helmet_array(274, head=head), head, name


def _floor_seconds(n_points: int, n_sources: int) -> float:
    rng = np.random.default_rng(0)
    block = 8192
    pts, src = rng.normal(size=(n_points, 3)), rng.normal(size=(block, 3))
    start = time.perf_counter()
    dots = pts @ src.T
    np.divide(1.0, np.sqrt(dots * dots + 1.0), out=dots)
    elapsed = time.perf_counter() - start
    return elapsed * n_sources / block / THREADS


def _timed(mesh: xr.Dataset, sensors: xr.Dataset, head: xr.Dataset, model: str) -> tuple:
    start = time.perf_counter()
    gain = forward.gain(mesh, sensors, head, model=model)
    out = np.ones(gain.shape, gain.dtype)  # touched now: RSS growth below excludes it
    setup = time.perf_counter() - start
    base = rss_mb()
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        dask.array.store(gain.data, out, lock=False)
    return gain, time.perf_counter() - start, setup, rss_mb() - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sphere", choices=forward.gain.__globals__["MODELS"])
    args = parser.parse_args()
    mesh, sensors, head, name = subject()
    n_sources = mesh.sizes["layer"] * mesh.sizes["vertex"]
    floor = _floor_seconds(274, n_sources)
    _, sphere_s, _, sphere_mb = _timed(mesh, sensors, head, "sphere")
    gain, elapsed, setup, peak = _timed(mesh, sensors, head, args.model)
    print(
        f"mesh {name}: {n_sources} sources x {gain.sizes['channel']} channels, "
        f"{gain.data.numblocks[2]} chunks of {gain.chunks[2][0]} vertices, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{args.model}: time {elapsed:.2f} s (set-up {setup:.2f} s), sphere {sphere_s:.2f} s, "
        f"floor {floor:.2f} s, peak RSS beyond output {peak:.0f} MB (sphere {sphere_mb:.0f} MB)"
    )
    print(
        f"forward_gain: model={args.model} seconds={elapsed:.2f} setup_seconds={setup:.2f} "
        f"sphere_seconds={sphere_s:.2f} ratio_to_sphere={elapsed / sphere_s:.1f} "
        f"floor_seconds={floor:.2f} ratio={elapsed / floor:.1f} peak_mb={peak:.0f} "
        f"entries={gain.size}"
    )


if __name__ == "__main__":
    main()
