"""Benchmark: laMEG's ROI power comparison on fsaverage5 x 11 layers, against its floor.

Problem (issue 21): fsaverage5 (20484 columns) x 11 layers = 225k sources,
274 MEG channels, 600 samples (600 Hz, -0.5..0.5 s), ``--trials`` epochs;
window of interest [0.1, 0.3) s, baseline [-0.4, -0.2) s; mean Hilbert
envelope (laMEG 0.2.1's defaults). The inverse is random (float32
projector with fsaverage5's vertex labels) with ``--modes`` orthonormal
temporal modes ``S`` (SPM's default: 4), so that sources are laMEG's
``x = W·Y·S·Sᵀ``. The random sensor data are written to a temporary Zarr
store first and read lazily during each run.

Printed, each timed ``--repeats`` times (median, min):

(a) :func:`laminarray.power.roi_power` (everything: window power in the
    inversion's temporal-mode space, t-maps, ROI, laminar test), pial vs
    white and all 11 layers (depth profile);
(b) the mode-space floor, measured in the same run in a child process: read
    the sensor data from the store, ``Y_k·S`` for every trial, ``W·(Y_k·S)``
    for all sources and trials, and the envelope product (analytic modes at
    the window samples, magnitude, window means), in cache-sized numpy
    blocks on as many threads as cores, one BLAS thread each; and the
    ratio (a)/(b);
(c) today's sensor-space path (``algorithm="projection"``: the analytic
    sensor signal at every window sample projected through ``W``), pial vs
    white, once, and the speedup (c)/(a) (``--skip-sensor-space`` skips it);
(d) laMEG 0.2.1's ``roi_power_comparison``: it imports the compiled SPM
    runtime (``spm_standalone``) and MATLAB at module import, so it cannot run
    here; its time on this exact problem measured in issue 21 (474 s at its
    default chunk_size=100, pial vs white, 100 trials) gives the speedup
    (printed for that problem size only);
(e) peak RSS of our process (the floor runs in a child process) and the
    load average, since the machine may be shared.

Run by hand (not collected by pytest), e.g.::

    python benchmarks/roi_power.py --trials 100
    python benchmarks/roi_power.py --trials 400 --skip-sensor-space   # memory flat in trials
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

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
#: laMEG 0.2.1 roi_power_comparison on this problem, default chunk_size=100 (issue 21).
LAMEG_SECONDS = 474.0
ROWS = 512


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _modes(args: argparse.Namespace) -> np.ndarray:
    rng = np.random.default_rng(2)
    return np.linalg.qr(rng.standard_normal((args.samples, args.modes)))[0]


def _projector(args: argparse.Namespace) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((args.layers, args.columns, args.channels), dtype=np.float32)


def _inputs(args: argparse.Namespace, store: str) -> tuple[xr.Dataset, xr.Dataset]:
    times = -0.5 + np.arange(args.samples) / SFREQ
    channels = [f"MEG{i:03d}" for i in range(args.channels)]
    hemi = np.where(np.arange(args.columns) < args.columns // 2, "lh", "rh")
    projector = lam.projector_dataarray(_projector(args), channels, hemi=hemi)
    temporal = xr.DataArray(_modes(args), dims=("time", "temporal_mode"), coords={"time": times})
    inverse = xr.Dataset({"projector": projector, "temporal_projector": temporal})
    data = da.random.default_rng(1).standard_normal(
        (args.channels, args.samples, args.trials), chunks=(-1, -1, 25), dtype=np.float32
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's notes on string dtypes / consolidated metadata
        lam.sensor_dataset(data, channels, times).to_zarr(store, mode="w")
        opened = xr.open_zarr(store)
    sensor = opened.assign_coords({name: opened[name].load() for name in opened.coords})
    return sensor, inverse


#: CPU seconds (all threads) of every timed run of ours, by label.
CPU: dict[str, list[float]] = {}


def _timed(function, repeats: int, label: str) -> list[float]:
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        times.append(time.perf_counter() - start)
        CPU.setdefault(label, []).append(time.process_time() - cpu)
    return times


def _floor_job(args: argparse.Namespace, store: str, n_layers: int) -> tuple[float, float]:
    """Wall and CPU seconds of the mode-space floor (see the module docstring, (b))."""
    weights = _projector(args)[[0, args.layers - 1] if n_layers == 2 else slice(None)]
    weights = weights.reshape(-1, args.channels)
    modes = _modes(args)
    times = -0.5 + np.arange(args.samples) / SFREQ
    masks = [(times >= lo - 1e-9) & (times < hi - 1e-9) for lo, hi in (WOI, BASELINE)]
    analytic = hilbert(modes, axis=0)
    chosen = np.concatenate([analytic[mask] for mask in masks])
    real = np.ascontiguousarray(chosen.real.T, dtype=np.float32)
    imag = np.ascontiguousarray(chosen.imag.T, dtype=np.float32)
    reduce = np.zeros((chosen.shape[0], 2), dtype=np.float32)
    reduce[: masks[0].sum(), 0] = 1 / masks[0].sum()
    reduce[masks[0].sum() :, 1] = 1 / masks[1].sum()
    n_threads = os.cpu_count() or 1

    def envelope(rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.shape[0], 2), dtype=np.float32)
        re = np.empty((ROWS, real.shape[1]), dtype=np.float32)
        im = np.empty_like(re)
        for s in range(0, rows.shape[0], ROWS):
            block = rows[s : s + ROWS]
            r, i = re[: block.shape[0]], im[: block.shape[0]]
            np.matmul(block, real, out=r)
            np.matmul(block, imag, out=i)
            np.square(r, out=r)
            np.square(i, out=i)
            np.add(r, i, out=r)
            np.sqrt(r, out=r)
            np.matmul(r, reduce, out=out[s : s + ROWS])
        return out

    def task(sources: slice, coefficients: np.ndarray) -> np.ndarray:
        a = (weights[sources] @ coefficients).reshape(-1, args.modes, args.trials)
        return envelope(np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(-1, args.modes))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = xr.open_zarr(store)["data"]  # imports and metadata: not part of the floor
    start, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(1, "blas"):
        sensor = stored.values
        coefficients = np.einsum("ctk,tm->cmk", sensor, modes.astype(np.float32))
        coefficients = coefficients.reshape(args.channels, -1)
        step = -(-weights.shape[0] // (4 * n_threads))
        chunks = [slice(s, s + step) for s in range(0, weights.shape[0], step)]
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda sources: task(sources, coefficients), chunks))
    return time.perf_counter() - start, time.process_time() - cpu


def _in_child(function, *arguments):
    """Run in a fresh process so that its memory does not count in our peak RSS."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *arguments).result()


def _ours(sensor, inverse, layers, **kwargs) -> None:
    with dask.config.set(scheduler="threads"):
        roi_power(sensor, inverse, WOI, BASELINE, layers=layers, perc_thresh=75, **kwargs)


def _cpu(times: list[float]) -> str:
    return f"median {statistics.median(times):6.2f} s"


def _summary(times: list[float]) -> str:
    return f"median {statistics.median(times):7.2f} s, min {min(times):7.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--columns", type=int, default=20484, help="vertices per layer")
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument("--channels", type=int, default=274)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--modes", type=int, default=4, help="temporal modes of the inversion")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sensor-space", action="store_true")
    parser.add_argument("--skip-all-layers", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _run(args, f"{tmp}/sensor.zarr")


def _run(args: argparse.Namespace, store: str) -> None:
    sensor, inverse = _inputs(args, store)
    print(
        f"roi_power benchmark: {args.layers} layers x {args.columns} columns, "
        f"{args.channels} channels, {args.samples} samples, {args.trials} trials, "
        f"{args.modes} temporal modes, envelope, woi={WOI} s, baseline={BASELINE} s; "
        f"load average at start {os.getloadavg()} on {os.cpu_count()} cores"
    )
    pair = ("pial", "white")
    floor, ours, every, every_floor = [], [], [], []
    floor_cpu: dict[str, list[float]] = {"pair": [], "all": []}
    for _ in range(args.repeats):  # interleaved, so that load changes bias neither side
        wall, cpu = _in_child(_floor_job, args, store, 2)
        floor.append(wall)
        floor_cpu["pair"].append(cpu)
        ours += _timed(lambda: _ours(sensor, inverse, pair), 1, "pair")
        if not args.skip_all_layers:
            wall, cpu = _in_child(_floor_job, args, store, args.layers)
            every_floor.append(wall)
            floor_cpu["all"].append(cpu)
            every += _timed(lambda: _ours(sensor, inverse, "all"), 1, "all")
    peak = _peak_mb()
    ratio = statistics.median(ours) / statistics.median(floor)
    print(f"(a) roi_power, pial vs white:  {_summary(ours)}, CPU {_cpu(CPU['pair'])}")
    print(
        f"(b) mode-space floor:          {_summary(floor)}, CPU {_cpu(floor_cpu['pair'])}; "
        f"ratio (a)/(b) {ratio:.2f}"
    )
    ratio_all = np.nan
    if every:
        ratio_all = statistics.median(every) / statistics.median(every_floor)
        print(f"(a) roi_power, all layers:     {_summary(every)}, CPU {_cpu(CPU['all'])}")
        print(
            f"(b) mode-space floor:          {_summary(every_floor)}, "
            f"CPU {_cpu(floor_cpu['all'])}; ratio {ratio_all:.2f}"
        )
    print(f"(e) peak RSS of our runs: {peak:.0f} MB")
    sensor_space = np.nan
    if not args.skip_sensor_space:
        (sensor_space,) = _timed(
            lambda: _ours(sensor, inverse, pair, algorithm="projection"), 1, "sensor"
        )
        print(
            f"(c) sensor-space path (algorithm='projection'), pial vs white: "
            f"{sensor_space:7.2f} s; mode space is {sensor_space / min(ours):.1f}x faster"
        )
    full_size = (args.columns, args.layers, args.trials, args.channels) == (20484, 11, 100, 274)
    lameg = LAMEG_SECONDS / min(ours) if full_size else np.nan
    if full_size:
        print(
            f"(d) laMEG 0.2.1 roi_power_comparison (issue 21's measurement, chunk_size=100): "
            f"{LAMEG_SECONDS:.0f} s; mode space is {lameg:.0f}x faster"
        )
    load = os.getloadavg()
    print(f"    load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores")
    print(
        f"roi_power: trials={args.trials} pair_s={min(ours):.2f} "
        f"pair_ratio_to_floor={ratio:.2f} all_layers_s={min(every, default=np.nan):.2f} "
        f"all_ratio_to_floor={ratio_all:.2f} speedup_vs_sensor_space="
        f"{sensor_space / min(ours):.1f} speedup_vs_lameg={lameg:.0f} "
        f"peak_mb={peak:.0f} load1={load[0]:.1f}"
    )


if __name__ == "__main__":
    main()
