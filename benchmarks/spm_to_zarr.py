"""Benchmark: SPM M/EEG dataset (274 ch x 600 samples x 1000 trials, float32, ~657 MB) -> Zarr.

Streams ``laminarray.io.read_spm`` (dask over the memory-mapped ``.dat``)
into ``laminarray.archive.save`` and compares its throughput with the
machine's sequential copy throughput of the same ``.dat`` measured in the same
run (read + write of the same bytes, as the conversion does). Peak memory is
the process's maximum RSS (``resource.getrusage``). Run by hand:

    /work/venv/bin/python benchmarks/spm_to_zarr.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import laminarray as la
from laminarray.archive import save
from laminarray.io import read_spm, write_spm

#: archive compressor to measure (BENCH_COMPRESSOR=none|lz4|zstd; default the archive default)
COMPRESSOR = os.environ.get("BENCH_COMPRESSOR", "lz4")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=274)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir="/tmp", prefix="spm_to_zarr_") as tmp:
        folder = Path(tmp)
        mat = _make_dataset(folder, args.channels, args.samples, args.trials)
        dat = mat.with_suffix(".dat")
        nbytes = dat.stat().st_size
        rss_after_make = _peak_rss_mb()

        _drop_cache(dat)
        start = time.perf_counter()
        shutil.copyfile(dat, folder / "copy.dat")
        with open(folder / "copy.dat", "rb+") as fh:
            os.fsync(fh.fileno())
        copy_s = time.perf_counter() - start
        (folder / "copy.dat").unlink()

        _drop_cache(dat)
        start = time.perf_counter()
        lazy = read_spm(mat, chunk_bytes=CHUNK_BYTES)
        header_s = time.perf_counter() - start
        with dask.config.set(scheduler="threads"):
            lazy["data"].data.map_blocks(np.ascontiguousarray).sum(dtype=np.float64).compute()
        read_s = time.perf_counter() - start

        _drop_cache(dat)
        start, cpu_start = time.perf_counter(), time.process_time()
        ds = read_spm(mat, chunk_bytes=CHUNK_BYTES)
        trials_per_chunk = ds["data"].data.chunks[2][0]
        with dask.config.set(scheduler="threads"):
            save(
                ds,
                folder / "study.zarr",
                "sub-01/sensor",
                chunks={"trial": trials_per_chunk},
                compressor=COMPRESSOR,
            )
        convert_s = time.perf_counter() - start
        convert_cpu = time.process_time() - cpu_start

        stored = sum(f.stat().st_size for f in (folder / "study.zarr").rglob("*") if f.is_file())
    copy_mbps = nbytes / copy_s / 1e6
    convert_mbps = nbytes / convert_s / 1e6
    ratio = convert_mbps / copy_mbps
    peak = _peak_rss_mb()
    print(
        f"dataset: {args.channels} ch x {args.samples} samples x {args.trials} trials float32 "
        f"= {nbytes / 1e6:.0f} MB; {trials_per_chunk} trials per chunk"
    )
    print(
        f"sequential copy of the .dat (read + write + fsync): {copy_s:.2f} s = {copy_mbps:.0f} MB/s"
    )
    print(
        f"SPM -> Zarr (read_spm + archive.save, lz4 + crc32c): {convert_s:.2f} s = "
        f"{convert_mbps:.0f} MB/s = {100 * ratio:.0f}% of copy; archive {stored / 1e6:.0f} MB; "
        f"CPU {convert_cpu:.2f} s on {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"read_spm alone (header {header_s:.2f} s + every chunk read into C order): "
        f"{read_s:.2f} s = {nbytes / read_s / 1e6:.0f} MB/s = {copy_s / read_s * 100:.0f}% of copy"
    )
    print(f"peak RSS {peak:.0f} MB (after writing the test dataset: {rss_after_make:.0f} MB)")
    print(
        f"spm_to_zarr: mb={nbytes / 1e6:.0f} copy_mbps={copy_mbps:.0f} convert_mbps={convert_mbps:.0f} "
        f"ratio={ratio:.2f} cpu_s={convert_cpu:.1f} read_ratio={copy_s / read_s:.2f} peak_rss_mb={peak:.0f} ok={ratio >= 0.5 and peak < 500}"
    )


if __name__ == "__main__":
    main()
