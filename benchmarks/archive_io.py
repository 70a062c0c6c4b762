"""Archive I/O benchmark: codec choice on MEG-like float32 data, save/read throughput.

Run by hand: ``python benchmarks/archive_io.py [--trials N]``. Prints, for
each codec, the compression ratio and single-call encode/decode speed on two
kinds of float32 MEG-like data, then the throughput of ``archive.save`` and of
reading the archive back, next to the floor measured in the same run (writing
and reading the same bytes as one raw file), and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import dask
import numpy as np

import laminarray as lam
from laminarray import archive

N_CHANNELS, N_TIMES = 274, 600


def meg_like(n_trials: int, quantised: bool, seed: int = 0) -> np.ndarray:
    """float32 (channel, time, trial) fT: 30 correlated 1/f sources mixed into sensors + noise.

    ``quantised=True`` mimics raw recordings: integer ADC counts times a
    per-channel calibration factor, as MEG systems store them.
    """
    rng = np.random.default_rng(seed)
    sources = np.cumsum(rng.standard_normal((30, N_TIMES, n_trials)), axis=1)
    sources -= sources.mean(axis=1, keepdims=True)
    mixing = rng.standard_normal((N_CHANNELS, 30))
    data = np.einsum("cs,str->ctr", mixing, sources, optimize=True) * 20.0
    data += rng.standard_normal(data.shape) * 5.0
    if quantised:
        calibration = rng.uniform(0.5, 2.0, (N_CHANNELS, 1, 1))
        data = np.round(data / calibration) * calibration
    return data.astype(np.float32)


def _timed(func, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def codec_table(block: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """ratio, encode MB/s, decode MB/s per codec on one ~32 MB chunk (numcodecs, as Zarr uses)."""
    from numcodecs import Blosc, Zstd

    raw = np.ascontiguousarray(block)  # typesize 4: shuffle works on float32 lanes
    mb = raw.nbytes / 1e6
    results = {"none": (1.0, np.inf, np.inf)}
    codecs = {
        "lz4+shuffle": Blosc("lz4", 5, Blosc.SHUFFLE),
        "lz4+bitshuffle": Blosc("lz4", 5, Blosc.BITSHUFFLE),
        "zstd3": Zstd(3),
        "blosc-zstd3+shuffle": Blosc("zstd", 3, Blosc.SHUFFLE),
    }
    for name, codec in codecs.items():
        encoded = codec.encode(raw)
        t_enc = _timed(lambda c=codec: c.encode(raw))
        t_dec = _timed(lambda c=codec, e=encoded: c.decode(e))
        results[name] = (raw.nbytes / len(encoded), mb / t_enc, mb / t_dec)
    return results


def io_floor(nbytes: bytes, directory: Path) -> tuple[float, float]:
    """Raw write and read speed (MB/s) of the same bytes as one file."""
    path = directory / "floor.bin"
    mb = len(nbytes) / 1e6
    t_write = _timed(lambda: path.write_bytes(nbytes), repeat=2)
    t_read = _timed(path.read_bytes, repeat=2)
    path.unlink()
    return mb / t_write, mb / t_read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()

    print(f"data: {N_CHANNELS} channels x {N_TIMES} samples x {args.trials} trials, float32")
    chunk = {q: meg_like(50, q) for q in (False, True)}
    tables = {}
    for quantised, block in chunk.items():
        label = "quantised (ADC counts x calibration)" if quantised else "continuous float"
        tables[quantised] = codec_table(block)
        print(f"\ncodecs on a {block.nbytes / 1e6:.0f} MB chunk of {label} data:")
        for name, (ratio, enc, dec) in tables[quantised].items():
            print(
                f"  {name:22s} ratio {ratio:5.3f}  encode {enc:7.0f} MB/s  decode {dec:7.0f} MB/s"
            )

    data = meg_like(args.trials, quantised=True)
    ds = lam.sensor_dataset(
        data, [f"MEG{i:03d}" for i in range(N_CHANNELS)], np.arange(N_TIMES) / 600
    )
    mb = data.nbytes / 1e6
    workdir = Path(tempfile.mkdtemp(prefix="laminarray-bench-"))
    try:
        floor_write, floor_read = io_floor(data.tobytes(), workdir)
        print(
            f"\nfloor: raw file write {floor_write:.0f} MB/s, read {floor_read:.0f} MB/s ({mb:.0f} MB)"
        )
        speeds = {}
        with dask.config.set(scheduler="threads"):
            for compressor in ("lz4", "zstd", "none"):
                path = workdir / f"{compressor}.zarr"
                t_save = _timed(
                    lambda p=path, c=compressor: archive.save(ds, p, "s/sensor", compressor=c),
                    repeat=2,
                )
                t_read = _timed(
                    lambda p=path: archive.open(p)["s/sensor"]["data"].values, repeat=2
                )
                t_verify = _timed(lambda p=path: archive.verify(p), repeat=1)
                stored = sum(
                    f.stat().st_size
                    for f in (path / "s" / "sensor" / "data").rglob("*")
                    if f.is_file()
                )
                speeds[compressor] = (
                    mb / t_save,
                    mb / t_read,
                    mb / t_verify,
                    data.nbytes / stored,
                )
                print(
                    f"archive {compressor:5s}: save {mb / t_save:6.0f} MB/s, read {mb / t_read:6.0f} MB/s, "
                    f"verify {mb / t_verify:6.0f} MB/s, stored ratio {data.nbytes / stored:.3f}"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")
    lz4, zstd = tables[True]["lz4+shuffle"], tables[True]["zstd3"]  # what "lz4" stores
    print(
        f"archive_io: lz4_ratio={lz4[0]:.3f} lz4_float_ratio={tables[False]['lz4+shuffle'][0]:.3f} "
        f"zstd_ratio={zstd[0]:.3f} lz4_enc_MBps={lz4[1]:.0f} zstd_enc_MBps={zstd[1]:.0f} "
        f"save_lz4_MBps={speeds['lz4'][0]:.0f} read_lz4_MBps={speeds['lz4'][1]:.0f} "
        f"save_none_MBps={speeds['none'][0]:.0f} read_none_MBps={speeds['none'][1]:.0f} "
        f"floor_write_MBps={floor_write:.0f} floor_read_MBps={floor_read:.0f} peak_rss_MB={peak:.0f}"
    )


if __name__ == "__main__":
    main()
