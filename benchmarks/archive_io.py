"""Archive I/O benchmark: write protocols (before/after, durable, Icechunk) and codecs.

Run by hand: ``python benchmarks/archive_io.py [--trials N] [--codecs]``.
Measures, each in its own process on the same MEG-like float32 data, the
throughput of save, append (20 trials), open + read and verify, and crash
safety (a replacing save SIGKILLed at random moments, then read back):

- ``baseline``: laminarray from ``--baseline`` (default git ``main``), today's code;
- ``new``: this working tree; ``durable``: the same with ``durable=True``;
- ``icechunk``: the same data through Icechunk's transactional store (when installed).

next to the floor measured in the same run (writing and reading the same
bytes as one raw file). ``--codecs`` adds the compression comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
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


WORKER = """
import json, os, signal, sys, time, tempfile, shutil
from pathlib import Path
import numpy as np
sys.path.insert(0, {bench_dir!r})
from archive_io import meg_like, N_CHANNELS, N_TIMES
import dask
import laminarray as lam
from laminarray import archive

impl, n_trials, repeat, workdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
data = meg_like(n_trials, quantised=True)
ds = lam.sensor_dataset(data, [f"MEG{{i:03d}}" for i in range(N_CHANNELS)], np.arange(N_TIMES) / 600)
extra = lam.sensor_dataset(data[..., :20], ds.channel.values, ds.time.values,
                           trials=np.arange(n_trials, n_trials + 20))
mb, extra_mb = data.nbytes / 1e6, extra["data"].nbytes / 1e6

def best(func, setup=lambda: None):
    times = []
    for _ in range(repeat):
        setup()
        start = time.perf_counter(); func(); times.append(time.perf_counter() - start)
    return min(times)

def fresh(name):
    path = workdir / name
    shutil.rmtree(path, ignore_errors=True)
    return path

if impl == "icechunk":
    import icechunk, xarray as xr
    def save(path, obj, **kw):
        if path.exists():
            repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
        else:
            repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(path)))
        session = repo.writable_session("main")
        # threads share the session: no pickling needed (to_icechunk is for distributed)
        obj.to_zarr(session.store, group="s/sensor", zarr_format=3, consolidated=False, **kw)
        session.commit("save")
    def do_save(path): save(path, ds, mode="w")
    def do_append(path): save(path, extra, append_dim="trial")
    def do_open(path):
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
        tree = xr.open_datatree(repo.readonly_session("main").store, engine="zarr",
                                consolidated=False)
        return tree["s/sensor"]["data"].values
    do_verify = None
else:
    durable = impl == "durable"
    kwargs = {{"durable": True}} if durable else {{}}
    def do_save(path): archive.save(ds, path, "s/sensor", **kwargs)
    def do_append(path): archive.append(extra, path, "s/sensor", **kwargs)
    def do_open(path): return archive.open(path)["s/sensor"]["data"].values
    def do_verify(path): archive.verify(path)

out = {{}}
with dask.config.set(scheduler="threads"):
    out["save"] = mb / best(lambda: do_save(fresh("save")))
    path = workdir / "append"
    out["append"] = extra_mb / best(lambda: do_append(path), lambda: do_save(fresh("append")))
    path = fresh("open"); do_save(path)
    out["open"] = mb / best(lambda: do_open(path))
    if do_verify is not None:
        out["verify"] = mb / best(lambda: do_verify(path))

    # crash safety: kill a replacing save at random moments, then read
    rng = np.random.default_rng(0)
    good = 0
    n_kills = int(sys.argv[5])
    first = do_open(path).copy()
    for k in range(n_kills):
        pid = os.fork()
        if pid == 0:
            try:
                save_new = ds.copy(data={{"data": ds["data"].values + 1}})
                if impl == "icechunk":
                    save(path, save_new, mode="w")
                else:
                    archive.save(save_new, path, "s/sensor", **kwargs)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, out and mb / out["save"]))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        try:
            back = do_open(path)
            good += bool(np.array_equal(back, first) or np.array_equal(back, first + 1))
            first = back
        except Exception:
            pass
    out["crash_ok"] = f"{{good}}/{{n_kills}}"
print(json.dumps(out))
"""


def measure(impl: str, code: Path, args: argparse.Namespace, workdir: Path) -> dict:
    """Run the worker for ``impl`` (``baseline``, ``new``, ``durable``, ``icechunk``) in a subprocess."""
    script = workdir / "worker.py"
    script.write_text(WORKER.format(bench_dir=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            impl,
            str(args.trials),
            str(args.repeat),
            str(workdir),
            str(args.kills),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def protocol_table(args: argparse.Namespace, workdir: Path) -> dict[str, dict]:
    """save/append/open/verify MB/s and crash safety: today's main, this tree, durable, Icechunk."""
    here = Path(__file__).resolve().parent.parent
    baseline = workdir / "baseline-code"
    baseline.mkdir()
    archived = subprocess.run(
        ["git", "-C", str(here), "archive", args.baseline, "laminarray"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(baseline)], input=archived, check=True)
    impls = {"baseline": baseline, "new": here, "durable": here}
    if importlib.util.find_spec("icechunk") is not None:
        impls["icechunk"] = here
    results: dict[str, dict] = {}
    for round_ in range(args.rounds):  # interleaved: the machine's load drifts
        for impl, code in impls.items():
            scratch = workdir / f"{impl}-{round_}"
            scratch.mkdir()
            found = measure(impl, code, args, scratch)
            print(f"  {impl:9s} {found}", flush=True)
            best = results.setdefault(impl, found)
            for key, value in found.items():
                if isinstance(value, float):
                    best[key] = max(best.get(key, 0.0), value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10, help="random kills per implementation")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    parser.add_argument("--baseline", default="main", help="git revision measured as 'before'")
    parser.add_argument("--codecs", action="store_true", help="also the codec comparison")
    args = parser.parse_args()

    print(f"data: {N_CHANNELS} channels x {N_TIMES} samples x {args.trials} trials, float32")
    data = meg_like(args.trials, quantised=True)
    mb = data.nbytes / 1e6
    workdir = Path(tempfile.mkdtemp(prefix="laminarray-bench-"))
    try:
        floor_write, floor_read = io_floor(data.tobytes(), workdir)
        print(
            f"floor: raw file write {floor_write:.0f} MB/s, read {floor_read:.0f} MB/s "
            f"({mb:.0f} MB); load average {os.getloadavg()[0]:.1f}"
        )
        if args.codecs:
            codec_report(args, data, workdir)
        print("\nwrite protocols (MB/s; crash_ok = reads complete after random kills):")
        results = protocol_table(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    new, old = results["new"], results["baseline"]
    fields = [
        f"{k}_{impl}_MBps={v[k]:.0f}"
        for impl, v in results.items()
        for k in ("save", "append", "open", "verify")
        if isinstance(v.get(k), float)
    ]
    fields += [f"crash_ok_{impl}={v.get('crash_ok')}" for impl, v in results.items()]
    print(
        f"archive_io: save_ratio_new_vs_baseline={new['save'] / old['save']:.2f} "
        f"durable_save_ratio={results['durable']['save'] / new['save']:.2f} "
        f"save_floor_ratio={new['save'] / floor_write:.2f} "
        + " ".join(fields)
        + f" floor_write_MBps={floor_write:.0f} peak_rss_MB={peak:.0f}"
    )


def codec_report(args: argparse.Namespace, data: np.ndarray, workdir: Path) -> None:
    """Compression ratio and speed per codec, and archive throughput per compressor."""
    chunk = {q: meg_like(50, q) for q in (False, True)}
    for quantised, block in chunk.items():
        label = "quantised (ADC counts x calibration)" if quantised else "continuous float"
        print(f"\ncodecs on a {block.nbytes / 1e6:.0f} MB chunk of {label} data:")
        for name, (ratio, enc, dec) in codec_table(block).items():
            print(
                f"  {name:22s} ratio {ratio:5.3f}  encode {enc:7.0f} MB/s  decode {dec:7.0f} MB/s"
            )
    ds = lam.sensor_dataset(
        data, [f"MEG{i:03d}" for i in range(N_CHANNELS)], np.arange(N_TIMES) / 600
    )
    mb = data.nbytes / 1e6
    with dask.config.set(scheduler="threads"):
        for compressor in ("lz4", "zstd", "none"):
            path = workdir / f"{compressor}.zarr"
            t_save = _timed(
                lambda p=path, c=compressor: archive.save(ds, p, "s/sensor", compressor=c),
                repeat=2,
            )
            t_read = _timed(lambda p=path: archive.open(p)["s/sensor"]["data"].values, repeat=2)
            stored = sum(
                f.stat().st_size
                for f in (path / "s" / "sensor" / "data").rglob("*")
                if f.is_file()
            )
            print(
                f"archive {compressor:5s}: save {mb / t_save:6.0f} MB/s, read {mb / t_read:6.0f} "
                f"MB/s, stored ratio {data.nbytes / stored:.3f}"
            )


if __name__ == "__main__":
    main()
