"""Forward models: sensor arrays, head/MRI transforms, spherical gain matrices, lead fields.

- :mod:`~laminarray.forward.transforms`: :func:`coregister`, :func:`apply_transform`.
- ``coregister_headshape`` (head-shape ICP) is imported lazily from
  :mod:`laminarray.forward.headshape` when that module is installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from .transforms import apply_transform, coregister, invert_transform, rigid_transform

_LAZY = {"coregister_headshape": "headshape"}

__all__ = [
    "apply_transform",
    "coregister",
    "coregister_headshape",
    "invert_transform",
    "rigid_transform",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
