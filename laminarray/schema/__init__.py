"""The labelled data model: dimension names, coordinates, units, constructors, validators.

Every object laminarray reads or writes is built by one of the constructors
here and checked by the matching validator at each public boundary:

============================  ===========================================  =========
object                        dims (canonical order, also on disk)          units
============================  ===========================================  =========
sensor data (Dataset)         ``data (channel, time, trial)``               fT / uV
gain (DataArray)              ``(channel, layer, vertex[, xyz])``           fT/nAm
projector (DataArray)         ``(layer, vertex, channel)``                  nAm/fT
source estimate (DataArray)   ``(layer, vertex, time, trial)``              nAm
mesh (Dataset)                ``vertices (layer, vertex, xyz)``, ``faces    mm
                              (face, corner)``, ``orientation (layer,
                              vertex, xyz)``, ``thickness (vertex)``
============================  ===========================================  =========

Validators never compute dask data: finiteness checks on dask-backed data are
opt-in (``check_finite=True``) and lazy (they raise when the data are computed).
Objects whose dims are in another order are transposed, not rejected.

The selection vocabulary every module shares (:mod:`laminarray.schema.selection`):
:func:`select_layers`, :func:`resolve_roi`, :func:`window_mask` /
:func:`window_bounds` (time windows are half-open ``[t0, t1)`` by default),
:func:`as_projector` and :func:`as_str`.
"""

from ._vocabulary import (
    DEFAULT_UNITS,
    FACE_DIMS,
    GAIN_DIMS,
    MESH_VERTEX_DIMS,
    PROJECTOR_DIMS,
    SCHEMA_VERSION,
    SENSOR_DIMS,
    SENSOR_UNITS,
    SOURCE_DIMS,
    XYZ,
    as_str,
    default_layer_names,
    layer_depths,
    sampling_rate,
    time_axis,
)
from .constructors import (
    gain_dataarray,
    mesh_dataset,
    projector_dataarray,
    sensor_dataset,
    source_dataarray,
)
from .selection import (
    as_projector,
    resolve_roi,
    select_layers,
    window_bounds,
    window_mask,
)
from .validators import (
    check_consistent,
    validate_gain,
    validate_mesh,
    validate_projector,
    validate_sensor,
    validate_source,
)

__all__ = [
    "DEFAULT_UNITS",
    "FACE_DIMS",
    "GAIN_DIMS",
    "MESH_VERTEX_DIMS",
    "PROJECTOR_DIMS",
    "SCHEMA_VERSION",
    "SENSOR_DIMS",
    "SENSOR_UNITS",
    "SOURCE_DIMS",
    "XYZ",
    "as_projector",
    "as_str",
    "check_consistent",
    "default_layer_names",
    "gain_dataarray",
    "layer_depths",
    "mesh_dataset",
    "projector_dataarray",
    "resolve_roi",
    "sampling_rate",
    "select_layers",
    "sensor_dataset",
    "source_dataarray",
    "time_axis",
    "validate_gain",
    "validate_mesh",
    "validate_projector",
    "validate_sensor",
    "validate_source",
    "window_bounds",
    "window_mask",
]
