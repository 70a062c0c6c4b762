"""Sample data: a synthetic folded cortex, fsaverage5 and a complete sample subject.

Names are imported lazily from their modules so that optional dependencies
(e.g. ``nilearn`` for fsaverage5) are only needed by the function using them.
"""

from __future__ import annotations

import importlib
from typing import Any

_LOCATIONS = {
    "synthetic_cortex": "synthetic",
    "fsaverage5_mesh": "fsaverage",
    "sample": "sample_subject",
}

__all__ = sorted(_LOCATIONS)


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        module = importlib.import_module(f"{__name__}.{_LOCATIONS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
