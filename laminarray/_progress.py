"""Progress lines on stderr for long work that is not one dask computation.

Dask computations report through :func:`laminarray._compute.compute` (dask's
progress bar, or distributed's with a client). Loops and multi-stage
functions (an inversion's folds and stages, a conversion's groups) use
:class:`Progress`: one compact line on stderr, rewritten in place, e.g.::

    invert_ebb: fold 1/1 fit  2.4 s

Whether anything is shown is decided once, by
:func:`laminarray.options.show_progress` (a ``progress=`` keyword wins over the
``progress`` option; silent under pytest and CI unless asked).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from .options import show_progress

__all__ = ["Progress"]


class Progress:
    """A one-line progress report on stderr: ``label: step done/total unit  elapsed``.

    Parameters
    ----------
    label : str
        The work reported on, e.g. the function name.
    total : int, optional
        Number of steps, when known.
    unit : str
        What a step is (``"layers"``, ``"windows"``, ``"groups"``...).
    progress : bool, optional
        Per-call choice (see :func:`laminarray.options.show_progress`).

    Examples
    --------
    >>> with Progress("compare_layers", 3, "layers", progress=False) as bar:
    ...     for _ in range(3):
    ...         bar.advance()
    """

    def __init__(
        self, label: str, total: int | None = None, unit: str = "", *, progress: bool | None = None
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.enabled = show_progress(progress)
        self.done = 0
        self.stage = ""
        self._start = time.perf_counter()
        self._width = 0

    def __enter__(self) -> Progress:
        self._write()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stage = "done" if exc_type is None else "failed"
        self._write(end="\n")

    def advance(self, steps: int = 1, stage: str = "") -> None:
        """Count ``steps`` finished steps and show the current ``stage``."""
        self.done += steps
        self.stage = stage
        self._write()

    def set_stage(self, stage: str) -> None:
        """Show what is being done now (e.g. ``"fit"``) without counting a step."""
        self.stage = stage
        self._write()

    def _write(self, end: str = "") -> None:
        if not self.enabled:
            return
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        elapsed = time.perf_counter() - self._start
        text = f"{self.label}: {count} {self.unit} {self.stage}".rstrip()
        text = f"{text}  {elapsed:.1f} s"
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        sys.stderr.write(f"\r{text}{padding}{end}")
        sys.stderr.flush()
