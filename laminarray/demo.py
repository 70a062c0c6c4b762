"""The ``laminarray demo`` pipeline: a list of small steps sharing one context.

Each step is a function ``step(ctx: DemoContext) -> None`` that reads what
earlier steps left in ``ctx.data``, does one thing, stores its result and
logs one line. Later parts of the pipeline (sensors, gain, simulation,
inversion, ROI power...) are appended to :data:`STEPS`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import archive
from .datasets.synthetic import synthetic_cortex, synthetic_head
from .forward import gain as forward_gain
from .forward import helmet_array, lead_field_rms_diff
from .inverse import compare_layers, invert_ebb
from .run import demo_step
from .schema import time_axis
from .simulate import current_density

SUBJECT = "sub-01"
TRUE_LAYER = "pial"
#: The simulated epoch: [TMIN, TMAX) s sampled at SFREQ Hz, t = 0 exactly on a sample.
SFREQ = 600.0
TMIN, TMAX = -0.2, 0.5
TIMES = time_axis(round((TMAX - TMIN) * SFREQ), SFREQ, TMIN)


@dataclasses.dataclass
class DemoContext:
    """State shared by demo steps.

    Attributes
    ----------
    out : Path
        Output directory.
    archive : Path
        The study archive written by the demo (``out / "demo.zarr"``).
    subject : str
        Subject group name (``"sub-01"``).
    data : dict
        Objects produced by the steps, by name (``"mesh"``, ...).
    log : callable
        Prints one line of progress.
    n_vertices : int
        Columns of the synthetic cortex.
    n_trials : int
        Simulated trials.
    """

    out: Path
    archive: Path
    subject: str = SUBJECT
    n_vertices: int = 2000
    n_trials: int = 40
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    log: Callable[[str], None] = print

    def group(self, name: str) -> str:
        """Archive group path of this subject: ``group("mesh")`` -> ``"sub-01/mesh"``."""
        return f"{self.subject}/{name}"


def build_anatomy(ctx: DemoContext) -> None:
    """Build the synthetic folded two-hemisphere cortex (11 layers) and its head model."""
    params = {"n_vertices": ctx.n_vertices, "n_layers": 11, "seed": 0}
    ctx.data["mesh"] = mesh = synthetic_cortex(**params)
    ctx.data["head"] = synthetic_head()
    ctx.data["mesh_parameters"] = params
    thickness = mesh["thickness"].values
    ctx.log(
        f"built synthetic cortex: {mesh.sizes['layer']} layers x {mesh.sizes['vertex']} "
        f"vertices, {mesh.sizes['face']} faces, thickness {thickness.min():.1f}-"
        f"{thickness.max():.1f} mm"
    )


def write_anatomy(ctx: DemoContext) -> None:
    """Write the mesh and the head model to ``/<subject>/mesh`` and ``/<subject>/head``."""
    archive.save(
        ctx.data["mesh"],
        ctx.archive,
        ctx.group("mesh"),
        provenance={
            "function": "laminarray.datasets.synthetic_cortex",
            "parameters": ctx.data["mesh_parameters"],
        },
    )
    archive.save(
        ctx.data["head"],
        ctx.archive,
        ctx.group("head"),
        provenance={"function": "laminarray.datasets.synthetic_head", "parameters": {}},
    )
    ctx.log(f"wrote /{ctx.group('mesh')} and /{ctx.group('head')} to {ctx.archive}")


def compute_forward(ctx: DemoContext) -> None:
    """A 274-channel helmet around the head and the single-shell gain (``/<subject>/forward``)."""
    mesh, head = ctx.data["mesh"], ctx.data["head"]
    ctx.data["sensors"] = sensors = helmet_array(274, head=head)
    ctx.data["gain"] = gain = forward_gain(mesh, sensors, head, model="single_shell").compute()
    archive.save(
        gain.to_dataset(),
        ctx.archive,
        ctx.group("forward"),
        provenance={
            "function": "laminarray.forward.gain",
            "parameters": {"n_channels": 274, "model": "single_shell"},
        },
    )
    ctx.log(f"computed the single-shell gain {dict(gain.sizes)} -> /{ctx.group('forward')}")


def simulate_data(ctx: DemoContext) -> None:
    """Simulate a 20 Hz burst on one column of the true layer at -10 dB SNR (``/<subject>/sensor``)."""
    gain, mesh = ctx.data["gain"], ctx.data["mesh"]
    vertex = int(lead_field_rms_diff(gain).argmax("vertex"))
    times = TIMES
    active = times > 0
    signal = np.sin(2 * np.pi * 20 * times[active]) * np.hanning(active.sum())
    sim = current_density(
        gain,
        mesh,
        vertex,
        TRUE_LAYER,
        signal,
        10.0,
        5.0,
        -10.0,
        times,
        n_trials=ctx.n_trials,
        seed=0,
        woi=(0.0, TMAX),
    )
    ctx.data["sensor"] = sensor = sim.compute()
    ctx.data["true_vertex"] = vertex
    archive.save(sensor, ctx.archive, ctx.group("sensor"))
    ctx.log(
        f"simulated {sensor.sizes['trial']} trials at -10 dB from vertex {vertex} of layer "
        f"{TRUE_LAYER!r} -> /{ctx.group('sensor')}"
    )


def invert(ctx: DemoContext) -> None:
    """EBB inversion over all layers at once (``/<subject>/inverse/ebb``)."""
    inverse = invert_ebb(ctx.data["sensor"], ctx.data["gain"], ctx.data["mesh"])
    archive.save(inverse, ctx.archive, ctx.group("inverse/ebb"))
    ctx.log(
        f"EBB inversion of {inverse.sizes['layer'] * inverse.sizes['vertex']} sources: "
        f"F = {float(inverse['free_energy']):.1f} -> /{ctx.group('inverse/ebb')}"
    )


def compare(ctx: DemoContext) -> None:
    """Invert each layer separately and compare free energies (``results/layer_comparison``)."""
    result = compare_layers(ctx.data["sensor"], ctx.data["gain"], ctx.data["mesh"], method="EBB")
    ctx.data["layer_comparison"] = result
    archive.save(result, ctx.archive, ctx.group("results/layer_comparison"))
    energy = result["free_energy"]
    winner = str(energy["layer"].values[int(energy.argmax("layer"))])
    margin = float(energy.sel(layer="pial") - energy.sel(layer="white"))
    ctx.log(
        f"layer comparison: {winner!r} wins (true layer {TRUE_LAYER!r}); "
        f"F(pial) - F(white) = {margin:.1f}"
    )


def analyse(ctx: DemoContext) -> None:
    """ROI power (pial vs white) and the CSD of the winning column (``results/``)."""
    results = demo_step(ctx.archive, ctx.subject)
    ctx.data.update(results)
    power = results["roi_power"]
    ctx.log(
        f"ROI power: {int(power['roi'].sum())} ROI columns, laminar t = "
        f"{float(power['t']):.2f} (p = {float(power['p']):.3g}); CSD of the winning column "
        f"-> /{ctx.group('results/roi_power')}, /{ctx.group('results/csd')}"
    )


def report_figures(data: dict[str, Any]) -> dict[str, Any]:
    """The demo's figures, by name, from the objects the steps left in ``data``.

    The surface views face the strongest vertex (t-map) and the ROI (ROI
    power); the t-maps show ``|t|`` above the two-sided p < 0.001 critical
    value on the anatomy, with colour limits at the robust percentiles of
    what is drawn (:func:`laminarray.viz.colors.robust_limits`).
    """
    from scipy import stats

    from .viz import plot_csd, plot_layer_comparison, plot_roi_power, plot_surface

    mesh, power = data["mesh"], data["roi_power"]
    t_map = power["t_map"].sel(layer="pial").assign_attrs(long_name="t, pial", units="1")
    critical = float(stats.t.isf(0.0005, int(power["df"].max())))
    return {
        "csd": plot_csd(data["csd"].compute()).figure,
        "layer_comparison": plot_layer_comparison(data["layer_comparison"]).figure,
        "t_map": plot_surface(
            mesh, t_map, layer="pial", view=[None, "dorsal"], norm="TS", threshold=critical
        ),
        "roi_power": plot_roi_power(power, mesh, view=[None, "dorsal"], threshold=critical),
    }


def write_report(ctx: DemoContext) -> None:
    """PNG figures next to the archive: CSD, layer comparison, pial t-map, ROI power."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, figure in report_figures(ctx.data).items():
        paths.append(ctx.out / f"{name}.png")
        figure.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(figure)
    ctx.data["figures"] = paths
    ctx.log("report figures: " + ", ".join(str(p) for p in paths))


#: the demo pipeline, in order
STEPS: list[Callable[[DemoContext], None]] = [
    build_anatomy,
    write_anatomy,
    compute_forward,
    simulate_data,
    invert,
    compare,
    analyse,
    write_report,
]


def run_demo(
    out: str | Path | None = None,
    steps: Sequence[Callable[[DemoContext], None]] | None = None,
    log: Callable[[str], None] = print,
    *,
    small: bool = False,
) -> DemoContext:
    """Run the demo pipeline.

    Parameters
    ----------
    out : str or Path, optional
        Output directory (created); default a new temporary directory.
    steps : sequence of callables, optional
        Steps to run (default :data:`STEPS`).
    log : callable
        Progress printer.
    small : bool
        A quick run (300 columns, 20 trials) for tests; default 2000 columns, 40 trials.

    Returns
    -------
    DemoContext
        With ``ctx.archive`` the archive written and ``ctx.data`` the objects built.
    """
    directory = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="laminarray-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=directory, archive=directory / "demo.zarr", log=log)
    if small:
        ctx.n_vertices, ctx.n_trials = 300, 20
    for step in STEPS if steps is None else steps:
        step(ctx)
    return ctx
