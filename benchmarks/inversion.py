"""Benchmark of the inversions at full scale (issue 6, performance section).

EBB on fsaverage5 x 11 layers (225,324 sources) x 274 channels x 600 samples x
200 trials, with the per-stage breakdown (modes, priors, ReML, projector) and
peak RSS; one single-layer inversion and the 11-layer comparison; MSP with 512
patches. Each part runs in its own process so that its peak RSS is its own.

The gain and data are random (timing does not depend on their values); the
patch operator is the real geodesic one of fsaverage5 when
``laminarray.datasets.fsaverage5_mesh`` and ``laminarray.surf`` work here,
otherwise a random sparse operator with the same number of non-zeros per
column (reported). The GEMM floor is one ``(274 x 225k) @ (225k x 274)``
product, the size of one pass over the lead field.

Run: ``python benchmarks/inversion.py`` (targets: EBB < 20 s and < 3 GB; the
comparison < 11x one layer; MSP 512 patches < 60 s).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_CHANNELS, N_TIMES, N_TRIALS, N_LAYERS = 274, 600, 200, 11
SFREQ = 600.0
CACHE = Path(tempfile.gettempdir()) / "laminarray_bench_fsaverage5_qg5mm.npz"


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _smoothing(n_vertices: int) -> tuple[sp.csc_array, str]:
    """Per-layer patch operator: fsaverage5 geodesic (cached) or a random stand-in."""
    if CACHE.exists():
        qg = sp.load_npz(CACHE)
        if qg.shape == (n_vertices, n_vertices):
            return sp.csc_array(qg), "fsaverage5 geodesic (cached)"
    try:
        import laminarray as lam
        from laminarray.surf.smoothing import smoothing_operator

        mesh = lam.datasets.fsaverage5_mesh(n_layers=2).isel(layer=[0])
        start = time.perf_counter()
        qg = sp.csc_array(smoothing_operator(mesh, 5.0))
        print(f"  built the fsaverage5 5 mm patch operator in {time.perf_counter() - start:.1f} s")
        sp.save_npz(CACHE, sp.csc_matrix(qg))
        return qg, "fsaverage5 geodesic"
    except Exception as exc:
        print(f"  fsaverage5 patch operator unavailable ({type(exc).__name__}: {exc})")
    rng = np.random.default_rng(0)
    per_col = 7
    rows = (np.arange(n_vertices)[:, None] + rng.integers(-50, 50, (n_vertices, per_col))) % (
        n_vertices
    )
    rows[:, 0] = np.arange(n_vertices)
    cols = np.repeat(np.arange(n_vertices), per_col)
    qg = sp.csc_array((rng.uniform(0.1, 1, rows.size), (rows.ravel(), cols)), (n_vertices,) * 2)
    qg.sum_duplicates()
    qg.data /= np.repeat(np.asarray(qg.sum(axis=0)).ravel(), np.diff(qg.indptr))
    return qg, "random stand-in (7 nnz/column)"


def _inputs(n_layers: int):
    import laminarray as lam

    n_vertices = 20484
    qg, kind = _smoothing(n_vertices)
    rng = np.random.default_rng(1)
    channels = [f"MEG{i:03d}" for i in range(N_CHANNELS)]
    gain = lam.gain_dataarray(
        rng.standard_normal((N_CHANNELS, n_layers, n_vertices), dtype=np.float32), channels
    )
    times = -0.2 + np.arange(N_TIMES) / SFREQ
    data = rng.standard_normal((N_CHANNELS, N_TIMES, N_TRIALS), dtype=np.float32)
    sensor = lam.sensor_dataset(data, channels, times)
    return sensor, gain, qg, kind


def _part(name: str) -> dict:
    """Run one part in this process and return its figures.

    Single inversions run the body of ``invert_ebb``/``invert_msp``
    (validate -> invert -> label) step by step to record the stage timings.
    """
    from laminarray.inverse import compare_layers
    from laminarray.inverse._inputs import prepare
    from laminarray.inverse._run import run, to_dataset
    from laminarray.inverse.settings import InversionSettings

    n_layers = 1 if name == "layer" else N_LAYERS
    sensor, gain, qg, kind = _inputs(n_layers)
    out: dict = {"smoothing": kind, "sources": int(gain.sizes["layer"] * gain.sizes["vertex"])}
    start = time.perf_counter()
    if name == "compare":
        res = compare_layers(sensor, gain, smoothing=qg)
        out["F"] = res.free_energy.values.tolist()
    else:
        method = "MSP" if name == "msp" else "EBB"
        settings = InversionSettings(method=method, n_spatial_modes="all", n_patches=512)
        problem = prepare(sensor, gain, None, qg, 5.0, None)
        validated = time.perf_counter()
        result = run(problem, settings)
        labelled = time.perf_counter()
        inv = to_dataset(problem, settings, result)
        out["stages"] = {
            "validate": validated - start,
            **result.timings,
            "label": time.perf_counter() - labelled,
        }
        out["F"] = float(inv.free_energy)
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_gb"] = _peak_rss_gb()
    return out


def _gemm_floor() -> float:
    rng = np.random.default_rng(2)
    lead = rng.standard_normal((N_CHANNELS, N_LAYERS * 20484))
    lead @ lead.T
    start = time.perf_counter()
    lead @ lead.T
    return time.perf_counter() - start


def _run_part(name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--part", name], capture_output=True, text=True, check=False
    )
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            print(line)
    if proc.returncode:
        print(proc.stderr[-3000:])
        raise SystemExit(f"part {name} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    print(
        f"inversion benchmark: {N_CHANNELS} channels x {N_TIMES} samples x {N_TRIALS} trials, "
        f"fsaverage5 x {N_LAYERS} layers"
    )
    floor = _gemm_floor()
    print(f"GEMM floor (274 x 225k x 274, float64): {floor:.2f} s")
    parts = {name: _run_part(name) for name in ("ebb", "layer", "compare", "msp")}
    for name, res in parts.items():
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in res.get("stages", {}).items())
        print(
            f"{name:8s} {res['sources']:7d} sources: public call {res['seconds']:.2f} s, "
            f"peak RSS {res['peak_rss_gb']:.2f} GB"
            + (f"; stages: {stages}" if stages else "")
            + f"  [{res['smoothing']}]"
        )
    ebb, layer, comp, msp = (parts[k] for k in ("ebb", "layer", "compare", "msp"))
    ratio = comp["seconds"] / layer["seconds"]
    print(
        f"11-layer comparison / single-layer inversion = {ratio:.1f} (target < 11); "
        f"EBB / GEMM floor = {ebb['seconds'] / floor:.1f}"
    )
    print(
        f"inversion: ebb_s={ebb['seconds']:.2f} ebb_rss_gb={ebb['peak_rss_gb']:.2f} "
        f"layer_s={layer['seconds']:.2f} compare11_s={comp['seconds']:.2f} "
        f"compare_ratio={ratio:.1f} msp512_s={msp['seconds']:.2f} "
        f"msp_rss_gb={msp['peak_rss_gb']:.2f} gemm_floor_s={floor:.2f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--part":
        print(json.dumps(_part(sys.argv[2])))
    else:
        main()
