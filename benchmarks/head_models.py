"""Verification: realistic head models against MNE's single-layer BEM, and the layer verdict.

Run by hand: ``python benchmarks/head_models.py`` (needs ``mne``).

1. Real anatomy: MNE's ``sample`` subject (tests/data/realdata): the
   1280-triangle inner skull, its BEM solution, the Neuromag 306-channel
   sensors (MNE's coil integration points) moved to MRI coordinates with the
   recording's ``dev_head_t`` and the subject's ``-trans.fif``, and sources
   8-20 mm under the inner skull (random positions, random orientations).
   Reference: :func:`mne.make_forward_solution` with that BEM. Printed per
   model and sensor type: median and 90th percentile over sources of the
   relative error ``|g - g_bem| / |g_bem|`` over channels, and the median
   topography correlation.
2. Layer verdict: the synthetic two-layer cortex (pial, white) in its
   ellipsoidal head; data simulated with the BEM gain (a patch on the pial
   or the white layer, 0 dB and -10 dB), layers compared with EBB using the
   single-shell or the sphere gain (or the BEM gain itself); printed: the
   fraction of simulations whose winning layer is the true one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from laminarray import forward, inverse, simulate
from laminarray.datasets import synthetic_cortex, synthetic_head
from laminarray.schema import mesh_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
REALDATA = ROOT / "tests" / "data" / "realdata"
MODELS = ("bem", "single_shell", "local_spheres", "sphere")


def real_anatomy(n_sources: int = 300) -> dict[str, tuple[float, float, float]]:
    """Errors of every model against MNE's make_forward_solution on the sample subject."""
    import mne
    from mne_sensors import mne_forward, sample_subject

    info, trans, head, sensors, positions, rng = sample_subject(REALDATA, n_sources)
    bem = REALDATA / "subjects" / "sample" / "bem"
    moments = rng.standard_normal((n_sources, 3))
    moments /= np.linalg.norm(moments, axis=1, keepdims=True)
    mesh = mesh_dataset(positions[None], np.zeros((1, 3), np.int64), orientation=moments[None])
    solution = mne.read_bem_solution(bem / "sample-1280-bem-sol.fif", verbose=False)
    reference = np.einsum("cnx,nx->cn", mne_forward(info, trans, solution, positions), moments)
    kinds = np.where(
        np.char.find(sensors["ch_type"].values.astype(str), "PLANAR") >= 0, "grad", "mag"
    )
    figures = {}
    for model in MODELS:
        start = time.perf_counter()
        gain = forward.gain(mesh, sensors, head, model=model).values[:, 0]
        seconds = time.perf_counter() - start
        for kind in ("mag", "grad"):
            a, b = gain[kinds == kind], reference[kinds == kind]
            error = np.linalg.norm(a - b, axis=0) / np.linalg.norm(b, axis=0)
            corr = [np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(n_sources)]
            figures[f"{model}/{kind}"] = (
                float(np.median(error)),
                float(np.percentile(error, 90)),
                float(np.median(corr)),
            )
            print(
                f"{model:14s} {kind:4s} median {figures[f'{model}/{kind}'][0]:.3g} "
                f"p90 {figures[f'{model}/{kind}'][1]:.3g} corr {figures[f'{model}/{kind}'][2]:.5f}"
                f"  ({seconds:.1f} s, {n_sources} sources)"
            )
    return figures


def layer_verdicts(n_columns: int = 16) -> dict[str, float]:
    """Fraction of correct pial/white verdicts on BEM-simulated data per inversion gain."""
    mesh = synthetic_cortex(n_vertices=400, n_layers=2)
    head = synthetic_head()
    sensors = forward.helmet_array(128, head=head)
    gains = {m: forward.gain(mesh, sensors, head, model=m).compute() for m in MODELS}
    columns = np.argsort(-forward.lead_field_rms_diff(gains["bem"]).values)[:n_columns]
    times = np.arange(-0.1, 0.3, 1 / 400)
    signal = np.sin(2 * np.pi * 20 * times[times > 0])
    figures = {}
    for snr in (0.0, -10.0):
        hits = dict.fromkeys(("bem", "single_shell", "sphere"), 0)
        total = 0
        for vertex in columns:
            for layer in ("pial", "white"):
                sim = simulate.current_density(
                    gains["bem"], mesh, int(mesh["vertex"].values[vertex]), layer, signal, 20.0,
                    5.0, snr, times, n_trials=10, seed=int(vertex), woi=(0.0, 0.3),
                    dtype=np.float64,
                )  # fmt: skip
                total += 1
                for model in hits:
                    comparison = inverse.compare_layers(
                        sim, gains[model], mesh, patch_size=5.0, woi=(0.0, 0.3)
                    )
                    best = str(
                        comparison["layer"].values[np.argmax(comparison["free_energy"].values)]
                    )
                    hits[model] += best == layer
        for model, count in hits.items():
            figures[f"{model}/{snr:g}dB"] = count / total
            print(
                f"layer verdict {snr:+.0f} dB, inverted with {model:12s}: {count}/{total} correct"
            )
    return figures


def main() -> None:
    start = time.perf_counter()
    errors = real_anatomy()
    verdicts = layer_verdicts()
    elapsed = time.perf_counter() - start
    summary = " ".join(
        [f"{k.replace('/', '_')}_median={v[0]:.3g}" for k, v in errors.items()]
        + [f"verdict_{k.replace('/', '_')}={v:.2f}" for k, v in verdicts.items()]
    )
    print(f"head_models: seconds={elapsed:.0f} load={os.getloadavg()[0]:.1f} {summary}")


if __name__ == "__main__":
    main()
