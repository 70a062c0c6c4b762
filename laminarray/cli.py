"""The ``laminarray`` command: ``info``, ``verify``, ``demo`` and ``run``.

Examples
--------
.. code-block:: bash

    laminarray demo --out /tmp/demo        # writes /tmp/demo/demo.zarr
    laminarray info /tmp/demo/demo.zarr    # tree, dims, sizes, chunks, units
    laminarray verify /tmp/demo/demo.zarr  # exit 1 and a report on any problem
    laminarray run /tmp/demo/demo.zarr --woi 0.1 0.3 --baseline -0.2 0 --layers all
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._validation import LaminarrayError
from ._version import __version__

if TYPE_CHECKING:
    import xarray as xr

# The analysis modules are imported by the subcommands that need them, so that
# ``laminarray --help`` and argument errors answer at once.


def describe_tree(tree: xr.DataTree) -> str:
    """Readable summary of an archive tree: groups, variables, dims, sizes, chunks, units."""
    lines = []
    for node in tree.subtree:
        lines.append(node.path)
        attrs = {k: v for k, v in node.attrs.items() if k != "provenance"}
        for key, value in attrs.items():
            lines.append(f"    @{key} = {value}")
        if "provenance" in node.attrs:
            lines.append(f"    @provenance: {node.attrs['provenance'].get('function', '?')}")
        ds = node.to_dataset(inherit=False)
        for name, var in ds.variables.items():
            kind = "coord" if name in ds.coords else "var"
            dims = ", ".join(f"{d}: {n}" for d, n in zip(var.dims, var.shape, strict=True))
            chunks = var.chunks
            chunk_text = (
                "(" + ", ".join(str(max(c)) for c in chunks) + ")" if chunks else "in memory"
            )
            units = var.attrs.get("units", "-")
            size = _size(var.size * var.dtype.itemsize)
            lines.append(
                f"    {kind:5} {name:16} ({dims}) {var.dtype} {size} chunks {chunk_text} "
                f"units {units}"
            )
    return "\n".join(lines)


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


def _info(args: argparse.Namespace) -> int:
    from . import archive

    print(describe_tree(archive.open(args.archive)))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from . import archive

    report = archive.verify(args.archive)
    print(report)
    return 0 if report.ok else 1


def _demo(args: argparse.Namespace) -> int:
    from . import archive
    from .demo import run_demo

    ctx = run_demo(args.out, small=args.small)
    print()
    print(describe_tree(archive.open(ctx.archive)))
    print()
    print(f"open it with: xarray.open_datatree({str(ctx.archive)!r}, engine='zarr')")
    return 0


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``laminarray run <archive>`` to a (sub)parser."""
    parser.add_argument("archive", help="study archive (a .zarr directory)")
    parser.add_argument("--config", help="TOML file of analysis settings (see laminarray.run)")
    parser.add_argument(
        "--subject", action="append", dest="subjects", help="subject (repeatable; default all)"
    )
    parser.add_argument(
        "--inverse", help="inverse name under /<subject>/inverse/ (default: the only one)"
    )
    parser.add_argument(
        "--woi",
        nargs=2,
        type=float,
        metavar=("START", "END"),
        help="window of interest (s, half-open)",
    )
    parser.add_argument(
        "--baseline", nargs=2, type=float, metavar=("START", "END"), help="baseline (s, half-open)"
    )
    parser.add_argument(
        "--perc-thresh", type=float, dest="perc_thresh", help="ROI percentile (0-100)"
    )
    parser.add_argument("--layers", nargs="+", help='layer names to compare, or "all"')
    parser.add_argument("--measure", choices=("envelope", "variance"))
    parser.add_argument("--change", choices=("difference", "relative"))
    parser.add_argument(
        "--roi-mode", dest="roi_mode", choices=("threshold", "restrict_threshold", "direct")
    )
    parser.add_argument(
        "--csd-method", dest="csd_method", choices=("KCSD1D", "StandardCSD", "none")
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="hide the progress bar",
    )


def run_command(args: argparse.Namespace) -> int:
    """Run ``laminarray run`` from parsed arguments (see :func:`add_run_arguments`)."""
    from .run import run_analysis, summarise

    layers = args.layers[0] if args.layers == ["all"] else args.layers
    keys = (
        "subjects",
        "inverse",
        "woi",
        "baseline",
        "perc_thresh",
        "measure",
        "change",
        "roi_mode",
        "csd_method",
        "progress",
    )
    outputs = run_analysis(
        args.archive, args.config, layers=layers, **{key: getattr(args, key) for key in keys}
    )
    print("\n".join(summarise(outputs)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``laminarray`` command."""
    parser = argparse.ArgumentParser(
        prog="laminarray", description="Laminar MEG study archives and demo."
    )
    parser.add_argument("--version", action="version", version=f"laminarray {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="show an archive's groups, dims, chunks and units")
    info.add_argument("archive")
    info.set_defaults(run=_info)
    verify = commands.add_parser(
        "verify", help="re-read every chunk and check checksums and schemas (exit 1 on problems)"
    )
    verify.add_argument("archive")
    verify.set_defaults(run=_verify)
    demo = commands.add_parser("demo", help="build a synthetic subject and write an archive")
    demo.add_argument("--out", default=None, help="output directory (default: a temp dir)")
    demo.add_argument(
        "--small",
        action="store_true",
        help="a quick run on a small cortex (300 columns, 20 trials)",
    )
    demo.set_defaults(run=_demo)
    run = commands.add_parser(
        "run",
        help="ROI power and the CSD of the winning column on an archive (results/ groups)",
        description="Options override the --config TOML file (keys as in laminarray.run).",
    )
    add_run_arguments(run)
    run.set_defaults(run=run_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``laminarray`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = int(args.run(args))
        sys.stdout.flush()
        return status
    except LaminarrayError as exc:
        print(f"laminarray {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (``laminarray info x.zarr | head``): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
