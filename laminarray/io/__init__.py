"""Interoperability I/O: SPM M/EEG datasets, SPM gain and inversion files, GIFTI, MNE,
fiducials, CaliBrain lead fields, kymata expression sets.

Readers check what they read and raise one :class:`FileFormatError` (a
:class:`~laminarray.LaminarrayError`) naming the file, field, expected and
actual values; sensor data are read lazily (dask over the
``.dat``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .calibrain import (
    calibrain_leadfield_path,
    read_calibrain_leadfield,
    write_calibrain_leadfield,
)
from .errors import FileFormatError, InversionNotFoundError, MissingFileError
from .fiducials import read_fiducials
from .gifti import read_gifti_mesh, write_gifti_mesh, write_gifti_values
from .kymata import read_nkg, write_nkg
from .mne import forward_to_gain, from_mne, source_to_stc, to_mne_epochs, to_mne_evoked
from .opm import read_opm_positions
from .spm import read_spm, read_spm_sensors, write_spm
from .spm_gain import read_spm_gain, spm_gain_path, write_spm_gain
from .spm_inversion import (
    check_inversion_exists,
    n_inversions,
    read_spm_inversion,
    read_spm_inversion_mesh,
)

__all__ = [
    "FileFormatError",
    "InversionNotFoundError",
    "MissingFileError",
    "calibrain_leadfield_path",
    "check_inversion_exists",
    "forward_to_gain",
    "from_mne",
    "lameg_to_archive",
    "n_inversions",
    "read_calibrain_leadfield",
    "read_fiducials",
    "read_gifti_mesh",
    "read_lameg_dataset",
    "read_lameg_sources",
    "read_nkg",
    "read_opm_positions",
    "read_spm",
    "read_spm_gain",
    "read_spm_inversion",
    "read_spm_inversion_mesh",
    "read_spm_sensors",
    "source_to_stc",
    "spm_gain_path",
    "to_mne_epochs",
    "to_mne_evoked",
    "write_calibrain_leadfield",
    "write_gifti_mesh",
    "write_gifti_values",
    "write_nkg",
    "write_spm",
    "write_spm_gain",
]

# name -> submodule providing it (imported on first access)
_LAZY = {
    "read_lameg_dataset": "lameg",
    "read_lameg_sources": "lameg",
    "lameg_to_archive": "lameg",
}


def __getattr__(name: str) -> Any:
    """Import optional or heavy readers on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
