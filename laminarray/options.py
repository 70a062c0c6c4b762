"""Library-wide execution options: ``laminarray.set_options`` and ``get_options``.

One place for the settings every chunking and reporting decision reads, in
the manner of :func:`xarray.set_options`: set globally, or for a block as a
context manager::

    import laminarray as lam

    lam.set_options(progress=True)          # from now on
    with lam.set_options(task_bytes="32 MiB"):
        ...                                 # only inside the block

Options
-------
progress : bool or None
    Show progress on long work (inversions, comparisons over layers, sliding
    windows, gains, conversions, expression search). ``None`` (default):
    shown in an interactive session (a terminal or a notebook), hidden
    otherwise (tests, batch jobs, CI).
task_bytes : int
    Target size in bytes of one dask task's working block (default 64 MiB).
    Strings such as ``"32 MiB"`` are accepted when setting. Every chunking
    decision reads it through :func:`task_budget`, some as a stated multiple
    (the fused window power: 3x; source blocks of ``apply_inverse``: 1x,
    with sensor trial blocks of 1/2x; simulation trials, SPM ``.dat``
    chunks, expression batches: 1x; SPM parity temporal-mode batches and
    rank spectra: 1/2x; expression projector blocks: 1/4x; spherical-head
    gains: 1/8x). Storage chunks of archives do not follow it: they are
    part of the on-disk format (:data:`laminarray.archive.TARGET_CHUNK_BYTES`).
scratch : pathlib.Path or None
    Directory for temporary files of out-of-core work (default: the
    system's temporary directory).
check_plausibility : bool
    Refuse inputs whose values contradict what they declare: a time axis
    labelled seconds with a millisecond step, sensor amplitudes implausible
    in their units, and warn on a patch size beyond the mesh's scale
    (default True; see :mod:`laminarray.plausibility`). Set False for the
    rare legitimate case, preferably for one block only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._validation import LaminarrayError
from .config import parse_bytes

__all__ = ["get_options", "set_options", "show_progress", "task_budget"]

_DEFAULTS: dict[str, Any] = {
    "progress": None,
    "task_bytes": 64 * 2**20,
    "scratch": None,
    "check_plausibility": True,
}
OPTIONS: dict[str, Any] = dict(_DEFAULTS)


def _check_progress(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise LaminarrayError(f"`progress` must be True, False or None; got {value!r}")


def _check_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise LaminarrayError(f"`check_plausibility` must be True or False; got {value!r}")


def _check_task_bytes(value: Any) -> int:
    n = parse_bytes(value, "task_bytes")
    if n < 2**16:
        raise LaminarrayError(f"`task_bytes` must be at least 64 KiB; got {n} bytes")
    return n


def _check_scratch(value: Any) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise LaminarrayError(f"`scratch` must be an existing directory; got {str(path)!r}")
    return path


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "progress": _check_progress,
    "task_bytes": _check_task_bytes,
    "scratch": _check_scratch,
    "check_plausibility": _check_flag,
}


class set_options:
    """Set library options globally or, as a context manager, for a block.

    Parameters
    ----------
    **options
        ``progress`` (bool or None), ``task_bytes`` (int or a string such as
        ``"32 MiB"``), ``scratch`` (directory or None),
        ``check_plausibility`` (bool). See
        :mod:`laminarray.options`.

    Examples
    --------
    >>> import laminarray as lam
    >>> with lam.set_options(progress=False):
    ...     lam.get_options()["progress"]
    False
    """

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(_VALIDATORS))
        if unknown:
            raise LaminarrayError(
                f"unknown option(s) {unknown}; laminarray's options are {sorted(_VALIDATORS)}"
            )
        checked = {key: _VALIDATORS[key](value) for key, value in options.items()}
        self._previous = {key: OPTIONS[key] for key in checked}
        OPTIONS.update(checked)

    def __enter__(self) -> set_options:
        return self

    def __exit__(self, *exc: object) -> None:
        OPTIONS.update(self._previous)


def get_options() -> dict[str, Any]:
    """A copy of the current options (see :mod:`laminarray.options`)."""
    return dict(OPTIONS)


def task_budget(scale: float = 1.0) -> int:
    """Bytes one task of a chunking decision may use: ``scale`` x the ``task_bytes`` option.

    Every chunking decision of the library reads its budget here, so that
    ``set_options(task_bytes=...)`` moves them all together. A module whose
    tasks hold several working arrays, or which must keep many tasks in
    flight, states its budget as a fixed multiple or fraction of
    ``task_bytes`` (e.g. ``3.0``: 192 MiB at the default 64 MiB).

    Parameters
    ----------
    scale : float
        Multiple of ``task_bytes`` (> 0).

    Returns
    -------
    int
        At least 1.
    """
    return max(1, int(OPTIONS["task_bytes"] * scale))


def show_progress(progress: bool | None = None) -> bool:
    """Whether long work should report progress now.

    Parameters
    ----------
    progress : bool, optional
        An explicit per-call choice; wins over the option.

    Returns
    -------
    bool
        ``progress`` if given, else the ``progress`` option, else True only in
        an interactive session (a terminal on stderr or an IPython kernel) and
        never under pytest or with ``CI`` set.
    """
    if progress is not None:
        return progress
    if OPTIONS["progress"] is not None:
        return bool(OPTIONS["progress"])
    if "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("CI"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()
