"""laminarray: laminar MEG analysis as labelled, chunked, out-of-core computations.

Sensor data, gain matrices, inverse projectors and source estimates are
labelled ``xarray`` objects with dims ``(layer, vertex, time, trial)``-style
names (see :mod:`laminarray.schema`), stored as Zarr study archives
(:mod:`laminarray.archive`) and computed as Dask graphs.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._lazy import after_import as _after_import
from ._lazy import lazy_attributes as _lazy_attributes
from ._validation import ArchiveError, LaminarrayError, MissingDependencyError, SchemaError
from ._version import __version__
from .options import get_options, set_options

if _TYPE_CHECKING:
    from .config import get_data_path
    from .csd import compute_csd
    from .export import to_dataframe, to_gifti
    from .inverse import apply_inverse
    from .power import roi_power
    from .schema import (
        SCHEMA_VERSION,
        check_consistent,
        default_layer_names,
        gain_dataarray,
        layer_depths,
        mesh_dataset,
        projector_dataarray,
        sensor_dataset,
        source_dataarray,
        validate_gain,
        validate_mesh,
        validate_projector,
        validate_sensor,
        validate_source,
    )
    from .study import MemoryBudgetError, Study, Subject, open_study

__all__ = [  # noqa: RUF022  (the names follow, then the lazily imported functions)
    "SCHEMA_VERSION",
    "ArchiveError",
    "LaminarrayError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "SchemaError",
    "Study",
    "Subject",
    "__version__",
    "check_consistent",
    "default_layer_names",
    "gain_dataarray",
    "get_data_path",
    "get_options",
    "layer_depths",
    "mesh_dataset",
    "open_study",
    "projector_dataarray",
    "sensor_dataset",
    "set_options",
    "source_dataarray",
    "to_dataframe",
    "to_gifti",
    "validate_gain",
    "validate_mesh",
    "validate_projector",
    "validate_sensor",
    "validate_source",
    "apply_inverse",
    "compute_csd",
    "roi_power",
]

_SUBMODULES = (
    "archive",
    "config",
    "csd",
    "datasets",
    "demo",
    "export",
    "expression",
    "forward",
    "inverse",
    "io",
    "options",
    "plausibility",
    "power",
    "rois",
    "run",
    "schema",
    "simulate",
    "stats",
    "study",
    "surf",
    "testing",
    "viz",
)
#: Where each public name is defined: imported on first use, so that ``import
#: laminarray`` (and the ``laminarray`` command) stays quick.
_LOCATIONS = {
    "get_data_path": "config",
    "compute_csd": "csd",
    "to_dataframe": "export",
    "to_gifti": "export",
    "apply_inverse": "inverse",
    "roi_power": "power",
    **{
        name: "schema"
        for name in (
            "SCHEMA_VERSION",
            "check_consistent",
            "default_layer_names",
            "gain_dataarray",
            "layer_depths",
            "mesh_dataset",
            "projector_dataarray",
            "sensor_dataset",
            "source_dataarray",
            "validate_gain",
            "validate_mesh",
            "validate_projector",
            "validate_sensor",
            "validate_source",
        )
    },
    **{name: "study" for name in ("MemoryBudgetError", "Study", "Subject", "open_study")},
}

_attributes = _lazy_attributes(__name__, _LOCATIONS)
# the .lam accessor is registered as soon as xarray is imported (now, if it already is)
_after_import("xarray", lambda: _importlib.import_module(f"{__name__}.accessor"))


def __getattr__(name: str) -> object:
    """Import subpackages lazily: ``laminarray.surf`` works after ``import laminarray``."""
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    return _attributes(name)


def __dir__() -> list[str]:
    """Public names and every submodule, imported or not (for tab completion)."""
    return sorted({*__all__, *_SUBMODULES})
