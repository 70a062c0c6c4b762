"""Benchmark: expression grid search on fsaverage5 x 11 layers, 274 channels, 10 min of data.

Issue 10's size: one transform, 100 latencies, 225k sources (20484 vertices x
11 layers), 274 channels, 10 minutes recorded at 1000 Hz and searched at
200 Hz, 400 splits of 1 s. The projector is random (only its shape matters)
and lazy, chunked along vertex; the sensor data are random, lazy and chunked
along time.

Prints our time, the floor (the projection GEMM plus the source FFTs the
method needs, measured in this run with one block per core at once, before
and after the search, and scaled to the source count) and their ratio, and
the peak RSS. BLAS runs one thread per dask thread. By default
a fraction of the vertices is searched and the full-size time is
extrapolated linearly in the number of sources (the sensor-side cost,
filtering and cutting the recording into splits, is measured separately and
added once); ``--fraction 1`` runs the full size.

Run: ``python benchmarks/expression.py [--fraction 0.02]``.
"""

from __future__ import annotations

import os

# one BLAS thread per dask thread: no oversubscription, and a floor that adds up per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
import scipy.fft
import xarray as xr

import laminarray as lam
from laminarray.expression import gridsearch
from laminarray.expression.gridsearch import _segments, _sensor_data

N_VERTICES, N_LAYERS, N_CHANNELS = 20484, 11, 274
SFREQ, TR_SFREQ, MINUTES = 1000.0, 200.0, 10.0
N_SPLITS, N_LATENCIES = 400, 100
LATENCIES = np.round(np.arange(N_LATENCIES) * 0.005 - 0.1, 3)


def _inputs(n_vertices: int, vertex_chunk: int):
    times = np.arange(int(MINUTES * 60 * SFREQ)) / SFREQ - 0.5  # 0.5 s before stimulus onset
    channels = [f"MEG{i:04d}" for i in range(N_CHANNELS)]
    rng = da.random.default_rng(0)
    data = rng.standard_normal(
        (N_CHANNELS, times.size, 1), chunks=(-1, 60_000, 1), dtype=np.float32
    )
    sensor = lam.sensor_dataset(data, channels, times)
    values = rng.standard_normal(
        (N_LAYERS, n_vertices, N_CHANNELS), chunks=(-1, vertex_chunk, -1), dtype=np.float32
    )
    projector = lam.projector_dataarray(values, channels)
    n_tr = int(MINUTES * 60 * TR_SFREQ)
    transform = xr.DataArray(
        np.random.default_rng(1).standard_normal(n_tr),
        dims="time",
        coords={"time": np.arange(n_tr) / TR_SFREQ},
        name="loudness",
    )
    return sensor, projector, transform


def _floor_block(
    block: np.ndarray, flat: np.ndarray, splits: int, n_fft: int
) -> tuple[float, float]:
    """Seconds of one projection GEMM and of its FFTs (rFFT + 2 inverse rFFTs)."""
    start = time.perf_counter()
    x = (block @ flat).reshape(block.shape[0], splits, -1)
    gemm = time.perf_counter() - start
    start = time.perf_counter()
    spectrum = scipy.fft.rfft(x, n=n_fft, axis=-1)
    for _ in range(2):  # the true pairing and one derangement
        scipy.fft.irfft(spectrum, n=n_fft, axis=-1)
    return gemm, time.perf_counter() - start


def _floor_per_source(
    segments: np.ndarray, n_cores: int, n_block: int = 512
) -> tuple[float, float]:
    """Machine seconds per source of the projection GEMM and of the source FFTs.

    ``n_cores`` threads each project and transform their own block at the
    same time (the same parallelism, and contention, as the search); best of
    three, on a few splits of the segments, scaled to all splits.
    """
    rng = np.random.default_rng(2)
    block = rng.standard_normal((n_block, N_CHANNELS)).astype(np.float32)
    n_fft = scipy.fft.next_fast_len(segments.shape[-1], real=True)
    splits = segments.shape[1]
    flat = np.ascontiguousarray(segments).reshape(N_CHANNELS, -1)
    best = (np.inf, np.inf)
    with ThreadPoolExecutor(n_cores) as pool:
        for _ in range(3):
            runs = list(
                pool.map(lambda _: _floor_block(block, flat, splits, n_fft), range(n_cores))
            )
            gemm, fft = (max(values) for values in zip(*runs, strict=True))
            best = (min(best[0], gemm), min(best[1], fft))
    scale = N_SPLITS / (splits * n_block * n_cores)
    return best[0] * scale, best[1] * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.02, help="fraction of the vertices")
    parser.add_argument("--vertex-chunk", type=int, default=256)
    args = parser.parse_args()
    n_vertices = max(1, round(args.fraction * N_VERTICES))
    n_sources = n_vertices * N_LAYERS
    n_cores = os.cpu_count() or 1
    # at least 4 tasks per core, as at full size (80 chunks of 256 vertices)
    vertex_chunk = min(args.vertex_chunk, -(-n_vertices // (4 * n_cores)))
    sensor, projector, transform = _inputs(n_vertices, vertex_chunk)

    with dask.config.set(scheduler="threads", num_workers=n_cores):
        start = time.perf_counter()
        segments = _segments(
            _sensor_data(sensor, projector),
            np.arange(N_SPLITS) * 1.0 + LATENCIES.min(),
            int(TR_SFREQ) + N_LATENCIES - 1,
            TR_SFREQ,
        )
        segments = np.asarray(segments.compute())
        sensor_side = time.perf_counter() - start
        n_samples = segments.shape[-1]
        segments = segments[:, :16].copy()  # all the floor needs: keep RSS to the search's own

        before = _floor_per_source(segments, n_cores)
        start = time.perf_counter()
        es = gridsearch(sensor, projector, transform, LATENCIES, n_splits=N_SPLITS)
        log_p = es["log_p"].compute()
        ours = time.perf_counter() - start
    assert log_p.shape == (1, N_LAYERS, n_vertices, N_LATENCIES)

    gemm, fft = (
        np.mean(v) for v in zip(before, _floor_per_source(segments, n_cores), strict=True)
    )
    floor = (gemm + fft) * n_sources
    per_source = (ours - sensor_side) / n_sources
    full_sources = N_VERTICES * N_LAYERS
    full_time = sensor_side + per_source * full_sources
    full_floor = (gemm + fft) * full_sources
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    series_gb = full_sources * N_SPLITS * n_samples * 4 / 1e9
    print(f"sources searched: {n_sources} of {full_sources} ({n_vertices} vertices x {N_LAYERS})")
    print(f"sensor side (filter 1000->200 Hz, cut {N_SPLITS} splits): {sensor_side:.1f} s")
    print(f"grid search (incl. sensor side): {ours:.1f} s on {n_cores} threads; floor "
          f"(GEMM {gemm * 1e3:.2f} + FFT {fft * 1e3:.2f} ms per source on {n_cores} threads, mean of "
          f"before and after) {floor:.1f} s; ratio {ours / floor:.2f}, sources only "
          f"{(ours - sensor_side) / floor:.2f}")  # fmt: skip
    print(f"full size extrapolated: {full_time:.0f} s (floor {full_floor:.0f} s); "
          f"source time series never materialised ({series_gb:.0f} GB at float32)")  # fmt: skip
    print(f"peak RSS {rss_mb:.0f} MB (projector chunk "
          f"{N_LAYERS * vertex_chunk * N_CHANNELS * 4 / 2**20:.1f} MB, "
          f"segments {N_CHANNELS * N_SPLITS * n_samples * 4 / 2**20:.0f} MB)")  # fmt: skip
    print(
        f"expression: sources={n_sources} time_s={ours:.1f} floor_s={floor:.1f} "
        f"ratio={ours / floor:.2f} ratio_sources={(ours - sensor_side) / floor:.2f} "
        f"full_extrapolated_s={full_time:.0f} "
        f"full_floor_s={full_floor:.0f} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
