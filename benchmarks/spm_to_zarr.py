"""Benchmark: SPM M/EEG dataset (274 ch x 600 samples x 1000 trials, float32, ~657 MB) -> Zarr.

Streams ``laminarray.io.read_spm`` (dask over the ``.dat``, read chunk by
chunk) into ``laminarray.archive.save`` and compares its throughput with the
machine's sequential copy throughput of the same ``.dat`` (read + write +
fsync of the same bytes) measured in the same run. Copies and conversions
alternate for ``--rounds`` rounds, each from a cold page cache after a
``sync``, and the medians are compared, so that a noisy neighbour on a shared
machine affects both alike. Peak memory is the process's maximum RSS
(``resource.getrusage``). Run by hand:

    python benchmarks/spm_to_zarr.py [--trials 1000] [--rounds 3]
    BENCH_COMPRESSOR=lz4 python benchmarks/spm_to_zarr.py   # another codec
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import laminarray as la
from laminarray.archive import save
from laminarray.io import read_spm, write_spm

#: archive compressor to measure (BENCH_COMPRESSOR=none|lz4|zstd; unset: save's default)
SAVE_KWARGS = (
    {"compressor": os.environ["BENCH_COMPRESSOR"]} if "BENCH_COMPRESSOR" in os.environ else {}
)
CHUNK_BYTES = 16 * 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _make_dataset(folder: Path, n_channels: int, n_samples: int, n_trials: int) -> Path:
    """Write the test dataset with the streaming writer (random data, 50 trials per block)."""
    data = da.random.default_rng(0).standard_normal(
        (n_channels, n_samples, n_trials), chunks=(n_channels, n_samples, 50), dtype=np.float32
    )
    ds = la.sensor_dataset(
        data, [f"MEG{i:03d}" for i in range(n_channels)], -0.1 + np.arange(n_samples) / 600.0
    )
    with dask.config.set(scheduler="synchronous"):
        return write_spm(ds, folder / "spmeeg_bench.mat", chunk_bytes=16 * 2**20)


def _drop_cache(path: Path) -> None:
    """Ask the kernel to forget the file's cached pages (best effort, no root needed)."""
    if hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _timed_copy(dat: Path, folder: Path) -> float:
    """Seconds to copy ``dat`` from disk and flush the copy (read + write + fsync)."""
    os.sync()
    _drop_cache(dat)
    start = time.perf_counter()
    shutil.copyfile(dat, folder / "copy.dat")
    with open(folder / "copy.dat", "rb+") as fh:
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - start
    (folder / "copy.dat").unlink()
    return seconds


def _timed_conversion(mat: Path, store: Path) -> tuple[float, float, int]:
    """Seconds and CPU seconds of ``read_spm`` + ``archive.save`` from a cold cache, trials per chunk."""
    shutil.rmtree(store, ignore_errors=True)
    os.sync()
    _drop_cache(mat.with_suffix(".dat"))
    start, cpu_start = time.perf_counter(), time.process_time()
    ds = read_spm(mat, chunk_bytes=CHUNK_BYTES)
    trials_per_chunk = ds["data"].data.chunks[2][0]
    with dask.config.set(scheduler="threads"):
        save(ds, store, "sub-01/sensor", chunks={"trial": trials_per_chunk}, **SAVE_KWARGS)
    return time.perf_counter() - start, time.process_time() - cpu_start, trials_per_chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=274)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="copy + conversion rounds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir="/tmp", prefix="spm_to_zarr_") as tmp:
        folder = Path(tmp)
        mat = _make_dataset(folder, args.channels, args.samples, args.trials)
        dat = mat.with_suffix(".dat")
        nbytes = dat.stat().st_size
        rss_after_make = _peak_rss_mb()

        start = time.perf_counter()
        read_spm(mat, chunk_bytes=CHUNK_BYTES)  # the header alone (the .dat is not read)
        header_s = time.perf_counter() - start

        copies, conversions, cpus = [], [], []
        for _ in range(args.rounds):  # interleaved, so both see the same machine state
            copies.append(_timed_copy(dat, folder))
            seconds, cpu, trials_per_chunk = _timed_conversion(mat, folder / "study.zarr")
            conversions.append(seconds)
            cpus.append(cpu)
        stored = sum(f.stat().st_size for f in (folder / "study.zarr").rglob("*") if f.is_file())
    copy_s, convert_s = statistics.median(copies), statistics.median(conversions)
    copy_mbps = nbytes / copy_s / 1e6
    convert_mbps = nbytes / convert_s / 1e6
    ratio = convert_mbps / copy_mbps
    ratios = [c / v for c, v in zip(copies, conversions, strict=True)]
    peak = _peak_rss_mb()
    print(
        f"dataset: {args.channels} ch x {args.samples} samples x {args.trials} trials float32 "
        f"= {nbytes / 1e6:.0f} MB; {trials_per_chunk} trials per chunk; compressor "
        f"{SAVE_KWARGS.get('compressor', 'default')}; {args.rounds} rounds "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(
        "sequential copy of the .dat (read + write + fsync), s: "
        + ", ".join(f"{c:.2f}" for c in copies)
        + f"; median {copy_s:.2f} s = {copy_mbps:.0f} MB/s"
    )
    print(
        "SPM -> Zarr (read_spm + archive.save), s: "
        + ", ".join(f"{c:.2f}" for c in conversions)
        + f"; median {convert_s:.2f} s = {convert_mbps:.0f} MB/s = {100 * ratio:.0f}% of copy "
        f"(per round {', '.join(f'{r:.2f}' for r in ratios)}); archive {stored / 1e6:.0f} MB; "
        f"CPU {statistics.median(cpus):.2f} s on {os.cpu_count()} cores"
    )
    print(f"of which reading the SPM header (D.channels, D.trials...): {header_s:.2f} s")
    print(f"peak RSS {peak:.0f} MB (after writing the test dataset: {rss_after_make:.0f} MB)")
    print(
        f"spm_to_zarr: mb={nbytes / 1e6:.0f} copy_mbps={copy_mbps:.0f} "
        f"convert_mbps={convert_mbps:.0f} ratio={ratio:.2f} min_round_ratio={min(ratios):.2f} "
        f"cpu_s={statistics.median(cpus):.1f} header_s={header_s:.2f} peak_rss_mb={peak:.0f} "
        f"ok={ratio >= 0.5 and peak < 500}"
    )


if __name__ == "__main__":
    main()
