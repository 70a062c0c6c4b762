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

from . import archive
from .datasets.synthetic import synthetic_cortex

SUBJECT = "sub-01"


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
    """

    out: Path
    archive: Path
    subject: str = SUBJECT
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    log: Callable[[str], None] = print

    def group(self, name: str) -> str:
        """Archive group path of this subject: ``group("mesh")`` -> ``"sub-01/mesh"``."""
        return f"{self.subject}/{name}"


def build_anatomy(ctx: DemoContext) -> None:
    """Build the synthetic folded two-hemisphere cortex (11 layers) with its scalp."""
    params = {"n_vertices": 2000, "n_layers": 11, "seed": 0}
    ctx.data["mesh"] = mesh = synthetic_cortex(**params)
    ctx.data["mesh_parameters"] = params
    thickness = mesh["thickness"].values
    ctx.log(
        f"built synthetic cortex: {mesh.sizes['layer']} layers x {mesh.sizes['vertex']} "
        f"vertices, {mesh.sizes['face']} faces, thickness {thickness.min():.1f}-"
        f"{thickness.max():.1f} mm"
    )


def write_anatomy(ctx: DemoContext) -> None:
    """Write the mesh to ``/<subject>/mesh`` of the archive."""
    archive.save(
        ctx.data["mesh"],
        ctx.archive,
        ctx.group("mesh"),
        provenance={
            "function": "laminarray.datasets.synthetic_cortex",
            "parameters": ctx.data["mesh_parameters"],
        },
    )
    ctx.log(f"wrote /{ctx.group('mesh')} to {ctx.archive}")


#: the demo pipeline, in order
STEPS: list[Callable[[DemoContext], None]] = [build_anatomy, write_anatomy]


def run_demo(
    out: str | Path | None = None,
    steps: Sequence[Callable[[DemoContext], None]] | None = None,
    log: Callable[[str], None] = print,
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

    Returns
    -------
    DemoContext
        With ``ctx.archive`` the archive written and ``ctx.data`` the objects built.
    """
    directory = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="laminarray-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=directory, archive=directory / "demo.zarr", log=log)
    for step in STEPS if steps is None else steps:
        step(ctx)
    return ctx
