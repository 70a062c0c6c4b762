"""Benchmark: laMEG's ROI power comparison on fsaverage5 x 11 layers, fused vs floor vs direct.

Problem (issue 7 item 5): fsaverage5 (20484 columns) x 11 layers = 225k
sources, 274 MEG channels, 600 samples (600 Hz, -0.5..0.5 s), ``--trials``
epochs; window of interest [0.1, 0.3) s, baseline [-0.4, -0.2) s; all 11
layers (depth profile) so that every one of the 225k sources is processed.
The projector is random (float32) with fsaverage5's vertex labels (20484
columns, lh then rh); the random sensor data are written to a temporary Zarr
store first and read lazily, trial chunk by trial chunk, during our run (they
are never all in memory).

Printed:

(a) our wall time for :func:`laminarray.power.roi_power` (everything: window
    power, t-maps, ROI, laminar tests);
(b) the GEMM floor measured in the same run: float32 numpy matmuls of the
    same total shape ``(225k x 274) @ (274 x 600·trials)`` (in blocks, into a
    reused output buffer), measured just before and just after (a) and
    averaged (the machine may be shared), and the ratio (a)/(b); CPU times
    are printed too;
(c) peak RSS of our process (the floor and the direct approach run in child
    processes);
(d) the straightforward approach a user would write: per chunk of sources,
    materialise the source time series with numpy (one matmul for all trials),
    Hilbert envelope / variance, window means; timed on ``--direct-fraction``
    of the chunks and extrapolated linearly (it is linear in the number of
    chunks); and the speed ratio (d)/(a).

Run by hand (not collected by pytest), e.g.::

    python benchmarks/roi_power.py --trials 100
    python benchmarks/roi_power.py --trials 400 --columns 2048   # a 10% quick run
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy.signal import hilbert
from threadpoolctl import threadpool_limits

import laminarray as lam
from laminarray.power import roi_power

SFREQ = 600.0
WOI, BASELINE = (0.1, 0.3), (-0.4, -0.2)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _inputs(args: argparse.Namespace, store: str):
    times = -0.5 + np.arange(args.samples) / SFREQ
    channels = [f"MEG{i:03d}" for i in range(args.channels)]
    rng = np.random.default_rng(0)
    projector = rng.standard_normal((args.layers, args.columns, args.channels), dtype=np.float32)
    hemi = np.where(np.arange(args.columns) < args.columns // 2, "lh", "rh")
    projector = lam.projector_dataarray(projector, channels, hemi=hemi)
    data = da.random.default_rng(1).standard_normal(
        (args.channels, args.samples, args.trials),
        chunks=(-1, -1, args.trial_chunk),
        dtype=np.float32,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's notes on string dtypes / consolidated metadata
        lam.sensor_dataset(data, channels, times).to_zarr(store, mode="w")
        opened = xr.open_zarr(store)
    sensor = opened.assign_coords({name: opened[name].load() for name in opened.coords})
    return sensor, projector, times


def _ours(sensor, projector, args) -> tuple[float, float]:
    """Wall and CPU seconds of roi_power (threaded scheduler, one BLAS thread per dask thread)."""
    start, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(1, "blas"), dask.config.set(scheduler="threads"):
        roi_power(
            sensor, projector, WOI, BASELINE, measure=args.measure, layers="all", perc_thresh=75
        )
    return time.perf_counter() - start, time.process_time() - cpu


def _gemm_floor(weights: np.ndarray, sensor: np.ndarray, block: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``weights @ sensor`` (all trials), in blocks of sources x trials."""
    n_trials = sensor.shape[2]
    step = 25
    batches = [
        np.ascontiguousarray(sensor[:, :, k : k + step]).reshape(sensor.shape[0], -1)
        for k in range(0, n_trials, step)
    ]
    out = np.empty((block, batches[0].shape[1]), dtype=np.float32)
    elapsed = cpu = 0.0
    for s in range(0, weights.shape[0], block):
        rows = weights[s : s + block]
        for batch in batches:
            target = out[: rows.shape[0], : batch.shape[1]]
            start, cpu_start = time.perf_counter(), time.process_time()
            np.matmul(rows, batch, out=target)
            elapsed += time.perf_counter() - start
            cpu += time.process_time() - cpu_start
    return elapsed, cpu


def _direct(weights, sensor, times, measure, block, fraction) -> float:
    """Straightforward numpy: materialise each chunk's source time series, then reduce."""
    in_woi = (times >= WOI[0]) & (times < WOI[1])
    in_base = (times >= BASELINE[0]) & (times < BASELINE[1])
    n_channels, n_times, n_trials = sensor.shape
    flat = sensor.reshape(n_channels, -1)
    starts = list(range(0, weights.shape[0], block))
    chosen = starts[:: max(1, round(1 / fraction))]
    elapsed = 0.0
    for s in chosen:
        start = time.perf_counter()
        x = (weights[s : s + block] @ flat).reshape(-1, n_times, n_trials)
        if measure == "envelope":
            amp = np.abs(hilbert(x, axis=1))
            power = amp[:, in_woi].mean(1), amp[:, in_base].mean(1)
        else:
            power = x[:, in_woi].var(1), x[:, in_base].var(1)
        _ = power[0] - power[1]
        elapsed += time.perf_counter() - start
    return elapsed * len(starts) / len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="epochs (100..1000)")
    parser.add_argument("--columns", type=int, default=20484, help="vertices per layer")
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument("--channels", type=int, default=274)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--measure", choices=("envelope", "variance"), default="envelope")
    parser.add_argument("--trial-chunk", type=int, default=25)
    parser.add_argument("--direct-fraction", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _run(args, f"{tmp}/sensor.zarr")


def _numpy_inputs(args: argparse.Namespace, store: str):
    """The same projector (regenerated) and sensor data (read from the store) as numpy arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = xr.open_zarr(store)["data"].values
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((args.layers, args.columns, args.channels), dtype=np.float32)
    return weights.reshape(-1, args.channels), data


def _floor_job(args: argparse.Namespace, store: str) -> tuple[float, float]:
    weights, data = _numpy_inputs(args, store)
    return _gemm_floor(weights, data, block=2048)


def _direct_job(args: argparse.Namespace, store: str, times: np.ndarray) -> float:
    weights, data = _numpy_inputs(args, store)
    return _direct(weights, data, times, args.measure, 256, args.direct_fraction)


def _in_child(function, *arguments):
    """Run in a fresh process so that its memory does not count in our peak RSS."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *arguments).result()


def _run(args: argparse.Namespace, store: str) -> None:
    sensor, projector, times = _inputs(args, store)
    n_sources = args.layers * args.columns
    print(
        f"roi_power benchmark: {args.layers} layers x {args.columns} columns = {n_sources} "
        f"sources, {args.channels} channels, {args.samples} samples, {args.trials} trials, "
        f"measure={args.measure}, woi={WOI} s, baseline={BASELINE} s"
    )
    # the floor is measured just before and just after our run (in a child process) and
    # averaged, so that a change of machine load during the run biases neither way
    before = _in_child(_floor_job, args, store)
    ours, ours_cpu = _ours(sensor, projector, args)
    peak = _peak_mb()
    print(f"(a) laminarray roi_power (all layers): {ours:8.2f} s (CPU {ours_cpu:.1f} s)")
    print(f"(c) peak RSS of our run (floor and direct run in child processes): {peak:.0f} MB")
    after = _in_child(_floor_job, args, store)
    floor, floor_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    print(
        f"(b) GEMM floor (float32 numpy matmul, same total shape): {floor:8.2f} s "
        f"(CPU {floor_cpu:.1f} s; {before[0]:.1f} s before and {after[0]:.1f} s after our run)"
    )
    print(
        f"    ratio to the GEMM floor: {ours / floor:.2f} (CPU time ratio {ours_cpu / floor_cpu:.2f})"
    )
    direct = _in_child(_direct_job, args, store, times)
    print(
        f"(d) straightforward numpy (materialise per chunk of 256 sources; timed on "
        f"{args.direct_fraction:.0%} of the chunks, extrapolated): {direct:8.2f} s"
    )
    print(f"    speedup vs straightforward: {direct / ours:.1f}x")
    print(
        f"    load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} cores"
    )
    print(
        f"roi_power: trials={args.trials} ratio_to_gemm={ours / floor:.2f} "
        f"peak_mb={peak:.0f} speedup_vs_direct={direct / ours:.1f}"
    )


if __name__ == "__main__":
    main()
