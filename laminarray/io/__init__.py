"""Interoperability I/O: SPM M/EEG datasets, SPM gain and inversion files, GIFTI, MNE, fiducials.

Readers check what they read and raise one :class:`FileFormatError` (a
:class:`~laminarray.LaminarrayError`) naming the file, field, expected and
actual values; sensor data are read lazily (dask over the memory-mapped
``.dat``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import FileFormatError, InversionNotFoundError, MissingFileError
from .spm import read_spm, write_spm

__all__ = [
    "FileFormatError",
    "InversionNotFoundError",
    "MissingFileError",
    "read_spm",
    "write_spm",
]

# name -> submodule providing it (imported on first access)
_LAZY = {
    "read_lameg_sources": "lameg",
    "lameg_to_archive": "lameg",
}


def __getattr__(name: str) -> Any:
    """Import optional or heavy readers on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
