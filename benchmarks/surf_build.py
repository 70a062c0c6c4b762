"""Benchmark: the 11-layer fsaverage5 laminar mesh with everything inversions need.

Builds the mesh (layers, link-vector orientations, thickness) from the fsaverage5
pial/white surfaces nilearn ships, its vertex adjacency and the 5 mm geodesic
patch operator QG over all 225k sources (exact geodesics), and reports wall
time, CPU time (this process and its workers), peak RSS, and an arithmetic
floor measured in the same run: evaluating the Gaussian weights and column
sums of the same number of entries plus positioning every layer vertex.

Run by hand: ``python benchmarks/surf_build.py [n_jobs]`` (default 2).
Targets: < 10 s on 2 cores, < 2 GB peak.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

import laminarray as la
from laminarray import surf


def _cpu() -> float:
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _peak_mb() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(me, children) / 1024.0  # Linux reports KiB


def _floor(n_entries: int, mesh) -> float:
    """Seconds for the bare arithmetic: Gaussian + column sums of n_entries, layer positions."""
    rng = np.random.default_rng(0)
    dist = rng.random(n_entries) * 5.0
    columns = np.sort(rng.integers(0, mesh.sizes["layer"] * mesh.sizes["vertex"], n_entries))
    pial, white = mesh["vertices"].values[0], mesh["vertices"].values[-1]
    start = time.perf_counter()
    weights = np.exp(-(dist**2) / (2 * (5.0 / 2.355) ** 2))
    np.bincount(columns, weights)
    pial[None] + mesh["depth"].values[:, None, None] * (white - pial)[None]
    return time.perf_counter() - start


def main(n_jobs: int = 2) -> None:
    t0, c0 = time.perf_counter(), _cpu()
    mesh = la.datasets.fsaverage5_mesh(n_layers=11, orientation="link_vector")
    t_mesh = time.perf_counter() - t0
    thickness = surf.thickness(mesh)
    t1 = time.perf_counter()
    adjacency = surf.adjacency(mesh["faces"].values, mesh.sizes["vertex"])
    t_adj = time.perf_counter() - t1
    t2 = time.perf_counter()
    qg = surf.smoothing_operator(mesh, 5.0, n_jobs=n_jobs)
    t_qg = time.perf_counter() - t2
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    floor = _floor(qg.nnz, mesh)
    n_sources = mesh.sizes["layer"] * mesh.sizes["vertex"]
    load = os.getloadavg()[0]
    print(
        f"mesh: {mesh.sizes['layer']} layers x {mesh.sizes['vertex']} columns = {n_sources} sources"
    )
    print(f"  build (read, layers, orientations, thickness): {t_mesh:.2f} s")
    print(f"  median thickness {float(thickness.median()):.2f} mm")
    print(f"  adjacency: {adjacency.nnz} entries, {t_adj:.2f} s")
    print(
        f"  5 mm patch operator QG: {qg.nnz} entries ({qg.nnz / n_sources:.1f}/column), "
        f"{t_qg:.2f} s with n_jobs={n_jobs}"
    )
    print(
        f"total wall {wall:.2f} s, CPU {cpu:.2f} s (this process + workers), peak RSS {_peak_mb():.0f} MB"
    )
    print(
        f"arithmetic floor {floor:.3f} s -> ratio {wall / floor:.0f}x; load average {load:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"surf_build: n_sources={n_sources} wall_s={wall:.2f} cpu_s={cpu:.2f} qg_s={t_qg:.2f} "
        f"peak_rss_mb={_peak_mb():.0f} floor_s={floor:.3f} n_jobs={n_jobs} load={load:.1f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
