"""The library's BLAS thread policy: one BLAS thread per dask thread.

laminarray parallelises over dask tasks (vertex chunks x trial chunks, one
per core by default). A multi-threaded BLAS inside every task oversubscribes
the cores, and for the small or skinny products of the block kernels (inner
size 4 for temporal-mode coefficients, a few hundred rows for ReML) its
threads mostly spin: measured 6x slower for the temporal-mode envelope
kernel and ~15 % slower for ROI power's sensor-space path on 2 cores. So every
block kernel runs its BLAS single-threaded, and the parallelism comes from
the dask threads (or workers).

BLAS thread counts are process-wide, while kernels run concurrently on
several threads: :func:`single_blas_thread` therefore counts the blocks
inside it and restores the previous limits only when the last one leaves.
threadpoolctl (>= 3.6) lets only one "controlling" thread change OpenBLAS's
limits and silently ignores the others, so the thread that sets or restores
the limits takes control first and gives it back afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import threadpoolctl
from threadpoolctl import ThreadpoolController

__all__ = ["blas_task", "single_blas_thread"]

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "limiter": None}


@functools.cache
def _controller() -> ThreadpoolController:
    """The loaded BLAS libraries (inspected once: it walks the loaded shared objects)."""
    return ThreadpoolController()


def _release_openblas() -> None:
    """Let the next thread that sets OpenBLAS limits control them (threadpoolctl >= 3.6)."""
    release = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    if release is not None:
        release()


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread inside the block; re-entrant and thread-safe.

    The first block entered (on any thread) limits every loaded BLAS to one
    thread; the limits are restored when the last block has left.
    """
    with _LOCK:
        if _STATE["depth"] == 0:
            _release_openblas()
            _STATE["limiter"] = _controller().limit(limits=1, user_api="blas")
            _release_openblas()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _release_openblas()
                _STATE["limiter"].restore_original_limits()
                _release_openblas()
                _STATE["limiter"] = None


def _call(kernel: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with single_blas_thread():
        return kernel(*args, **kwargs)


def blas_task(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``kernel`` wrapped to run under :func:`single_blas_thread` (picklable for distributed).

    Parameters
    ----------
    kernel : callable
        A module-level block function given to ``map_blocks``/``blockwise``.

    Returns
    -------
    callable
        Same signature and result.
    """
    return functools.partial(_call, kernel)
