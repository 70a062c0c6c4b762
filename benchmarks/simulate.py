"""Benchmark: simulate 200 trials x 600 samples for a 274-channel array on a 225k-source mesh.

Run by hand: ``python benchmarks/simulate.py``. The gain is the lazy
spherical gain of an fsaverage5-sized 11-layer mesh (only the chunk holding
the patch is computed). Prints the wall time to build and compute the
simulated data, the floor measured in the same run (drawing the same number
of standard-normal samples and one projection GEMM with numpy), and peak RSS.
"""

from __future__ import annotations

import time

import dask
import numpy as np
from forward_gain import rss_mb, subject

from laminarray.forward import sphere_gain
from laminarray.simulate import current_density

N_TRIALS, N_TIMES, SFREQ = 200, 600, 600.0


def main() -> None:
    mesh, sensors, center, name = subject()
    gain = sphere_gain(mesh, sensors, center=center)
    times = np.arange(N_TIMES) / SFREQ - 0.2
    active = times > 0
    signal = np.sin(2 * np.pi * 20 * times[active])
    base = rss_mb()
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        sim = current_density(
            gain,
            mesh,
            1000,
            "white",
            signal,
            10.0,
            5.0,
            -10.0,
            times,
            n_trials=N_TRIALS,
            seed=0,
            woi=(0.0, 1.0),
        )
        data = sim["data"].values
    elapsed = time.perf_counter() - start
    peak = rss_mb() - base
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    noise = rng.standard_normal((274, N_TIMES * N_TRIALS), dtype=np.float32)
    np.outer(rng.standard_normal(274), signal)
    floor = time.perf_counter() - start
    del noise
    print(f"mesh {name}; data {data.shape} {data.dtype} ({data.nbytes / 2**20:.0f} MB)")
    print(f"time {elapsed:.2f} s, floor {floor:.2f} s, peak RSS growth {peak:.0f} MB")
    print(
        f"simulate: seconds={elapsed:.2f} floor_seconds={floor:.2f} "
        f"ratio={elapsed / floor:.1f} peak_mb={peak:.0f} trials={N_TRIALS} samples={N_TIMES}"
    )


if __name__ == "__main__":
    main()
