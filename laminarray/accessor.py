"""The ``.lam`` accessor on xarray objects: notebook-friendly delegation only.

Every method calls a public laminarray function with the object as its first
argument (``mesh.lam.thickness()`` is ``laminarray.surf.thickness(mesh)``);
no logic lives here. The delegated module is imported on first use, so the
accessor costs nothing at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import xarray as xr


def _delegate(path: str) -> Callable[..., Any]:
    """A method calling ``laminarray.<path>(self._obj, *args, **kwargs)``."""
    module, name = path.rsplit(".", 1)

    def method(self: _LaminarAccessor, *args: Any, **kwargs: Any) -> Any:
        function = getattr(importlib.import_module(f"laminarray.{module}"), name)
        return function(self._obj, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = (
        f"Call :func:`laminarray.{path}` with this object first; see its documentation."
    )
    return method


class _LaminarAccessor:
    """Operations shared by Dataset and DataArray."""

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    # archives and export
    save = _delegate("archive.save")
    append = _delegate("archive.append")
    apply_transform = _delegate("forward.apply_transform")


@xr.register_dataset_accessor("lam")
class DatasetAccessor(_LaminarAccessor):
    """``ds.lam``: laminarray operations on a Dataset (sensor data, meshes, results)."""

    # validation
    validate_sensor = _delegate("schema.validate_sensor")
    validate_mesh = _delegate("schema.validate_mesh")
    # meshes
    thickness = _delegate("surf.thickness")
    interlayer_distance = _delegate("surf.interlayer_distance")
    distance_to_scalp = _delegate("surf.distance_to_scalp")
    radiality_to_scalp = _delegate("surf.radiality_to_scalp")
    smoothing_operator = _delegate("surf.smoothing_operator")
    downsample = _delegate("surf.downsample_mesh")
    remove_medial_wall = _delegate("surf.remove_medial_wall")
    plot_surface = _delegate("viz.plot_surface")
    show_surface = _delegate("viz.show_surface")
    plot_coregistration = _delegate("viz.plot_coregistration")
    # sensor data
    to_spm = _delegate("io.write_spm")
    invert_ebb = _delegate("inverse.invert_ebb")
    invert_msp = _delegate("inverse.invert_msp")
    compare_layers = _delegate("inverse.compare_layers")
    sliding_window = _delegate("inverse.sliding_window")
    roi_power = _delegate("power.roi_power")
    gridsearch = _delegate("expression.gridsearch")
    # inverse datasets: ``inverse.lam.apply_inverse(sensor)``
    apply_inverse = _delegate("inverse.apply_inverse")
    # results
    plot_layer_comparison = _delegate("viz.plot_layer_comparison")
    plot_sliding_window = _delegate("viz.plot_sliding_window")
    plot_roi_power = _delegate("viz.plot_roi_power")
    plot_csd = _delegate("viz.plot_csd")  # a stored CSD result (its `csd` variable)
    best_transforms = _delegate("expression.best_transforms")
    expression_plot = _delegate("viz.expression_plot")


@xr.register_dataarray_accessor("lam")
class DataArrayAccessor(_LaminarAccessor):
    """``da.lam``: laminarray operations on a DataArray (gains, projectors, sources, maps)."""

    # validation
    validate_gain = _delegate("schema.validate_gain")
    validate_source = _delegate("schema.validate_source")
    validate_projector = _delegate("schema.validate_projector")
    # gains
    lead_field_rms_diff = _delegate("forward.lead_field_rms_diff")
    gain_norms = _delegate("forward.gain_norms")
    # sources and per-vertex maps
    to_laminae = _delegate("surf.to_laminae")
    compute_csd = _delegate("csd.compute_csd")
    ttest_rel_corrected = _delegate("stats.ttest_rel_corrected")
    to_gifti = _delegate("export.to_gifti")
    to_dataframe = _delegate("export.to_dataframe")
    plot_csd = _delegate("viz.plot_csd")
