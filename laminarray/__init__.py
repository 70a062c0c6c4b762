"""laminarray: laminar MEG analysis as labelled, chunked, out-of-core computations.

Sensor data, gain matrices, inverse projectors and source estimates are
labelled ``xarray`` objects with dims ``(layer, vertex, time, trial)``-style
names (see :mod:`laminarray.schema`), stored as Zarr study archives
(:mod:`laminarray.archive`) and computed as Dask graphs.
"""

import importlib
from typing import Any

from . import accessor as _accessor  # noqa: F401  (registers the .lam accessor)
from ._lazy import lazy_attributes
from ._validation import ArchiveError, LaminarrayError, MissingDependencyError, SchemaError
from ._version import __version__
from .config import get_data_path
from .export import to_dataframe, to_gifti
from .options import get_options, set_options
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

__all__ = [
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
_FUNCTIONS = {"roi_power": "power", "compute_csd": "csd", "apply_inverse": "inverse"}

_attributes = lazy_attributes(__name__, _FUNCTIONS)


def __getattr__(name: str) -> Any:
    """Import subpackages lazily: ``laminarray.surf`` works after ``import laminarray``."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    return _attributes(name)
