"""The ``.lam`` accessor on xarray objects: notebook-friendly delegation only.

Every method calls a public laminarray function with the object as its first
argument (``mesh.lam.thickness()`` is ``laminarray.surf.thickness(mesh)``);
no logic lives here. The delegated module is imported on first use, so the
accessor costs nothing at import time.

Each object is offered only the methods that apply to its kind (see
:func:`kind`): ``mesh.lam.thickness`` exists, ``mesh.lam.invert_ebb`` does
not (an ``AttributeError`` naming the kinds it applies to), and tab
completion lists only the applicable methods. Saving, exporting and the
validators apply to every object of their type.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import xarray as xr

#: Kinds of Dataset and DataArray the accessor tells apart.
DATASET_KINDS = ("sensor", "mesh", "inverse", "result")
DATAARRAY_KINDS = ("gain", "projector", "source", "values")
_ANY = DATASET_KINDS + DATAARRAY_KINDS


def kind(obj: xr.Dataset | xr.DataArray) -> str:
    """The kind of a labelled object, as the accessor sees it.

    Returns
    -------
    str
        Datasets: ``"mesh"`` (``vertices`` and ``faces``), ``"sensor"``
        (``data`` over ``channel`` and ``time``), ``"inverse"``
        (``projector``), else ``"result"``. DataArrays: ``"gain"`` (dims
        ``channel``, ``layer``, ``vertex``, units sensor per source, e.g.
        fT/nAm), ``"projector"`` (same dims, units source per sensor),
        ``"source"`` (``layer``, ``vertex``, ``time``), else ``"values"``
        (maps, profiles, statistics).
    """
    if isinstance(obj, xr.Dataset):
        if {"vertices", "faces"} <= set(obj.data_vars):
            return "mesh"
        if "data" in obj.data_vars and {"channel", "time"} <= set(obj["data"].dims):
            return "sensor"
        if "projector" in obj.data_vars:
            return "inverse"
        return "result"
    dims = set(obj.dims)
    if {"channel", "layer", "vertex"} <= dims:
        numerator = str(obj.attrs.get("units", "")).split("/")[0]
        return "projector" if numerator.endswith("Am") else "gain"
    if {"layer", "vertex", "time"} <= dims:
        return "source"
    return "values"


class _Delegate:
    """A method calling ``laminarray.<path>(obj, *args, **kwargs)`` on objects of ``kinds``."""

    def __init__(self, path: str, kinds: tuple[str, ...]) -> None:
        self.path, self.kinds = path, kinds
        self.module, self.name = path.rsplit(".", 1)
        self.__doc__ = (
            f"Call :func:`laminarray.{path}` with this object first; see its documentation."
        )

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    def function(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """The delegated call."""
        target = getattr(importlib.import_module(f"laminarray.{self.module}"), self.name)
        return target(obj, *args, **kwargs)

    def __get__(self, accessor: Any, owner: type | None = None) -> Callable[..., Any]:
        if accessor is None:
            return self._bound(None)
        found = kind(accessor._obj)
        if found not in self.kinds:
            raise AttributeError(
                f"`.lam.{self.attribute}` applies to {' or '.join(self.kinds)} objects; "
                f"this {type(accessor._obj).__name__} is {found} (see laminarray.accessor.kind)"
            )
        return self._bound(accessor._obj)

    def _bound(self, obj: Any) -> Callable[..., Any]:
        def method(*args: Any, **kwargs: Any) -> Any:
            if obj is None:  # accessed on the class: the first argument is the accessor
                accessor, *rest = args
                return self.function(accessor._obj, *rest, **kwargs)
            return self.function(obj, *args, **kwargs)

        method.__name__ = self.name
        method.__doc__ = self.__doc__
        return method


def _delegate(path: str, *kinds: str) -> Any:
    """A delegated method for objects of ``kinds`` (default: every kind)."""
    return _Delegate(path, kinds or _ANY)


class _LaminarAccessor:
    """Operations shared by Dataset and DataArray."""

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    def __dir__(self) -> list[str]:
        found = kind(self._obj)
        names = set(object.__dir__(self))
        hidden = {
            name
            for cls in type(self).__mro__
            for name, value in vars(cls).items()
            if isinstance(value, _Delegate) and found not in value.kinds
        }
        return sorted(names - hidden)

    # archives
    save = _delegate("archive.save")
    append = _delegate("archive.append")


@xr.register_dataset_accessor("lam")
class DatasetAccessor(_LaminarAccessor):
    """``ds.lam``: laminarray operations on a Dataset (sensor data, meshes, results)."""

    # validation
    validate_sensor = _delegate("schema.validate_sensor")
    validate_mesh = _delegate("schema.validate_mesh")
    # meshes
    thickness = _delegate("surf.thickness", "mesh")
    interlayer_distance = _delegate("surf.interlayer_distance", "mesh")
    distance_to_scalp = _delegate("surf.distance_to_scalp", "mesh")
    radiality_to_scalp = _delegate("surf.radiality_to_scalp", "mesh")
    smoothing_operator = _delegate("surf.smoothing_operator", "mesh")
    downsample = _delegate("surf.downsample_mesh", "mesh")
    remove_medial_wall = _delegate("surf.remove_medial_wall", "mesh")
    plot_surface = _delegate("viz.plot_surface", "mesh")
    show_surface = _delegate("viz.show_surface", "mesh")
    plot_coregistration = _delegate("viz.plot_coregistration", "mesh")
    # sensor data
    to_spm = _delegate("io.write_spm", "sensor")
    invert_ebb = _delegate("inverse.invert_ebb", "sensor")
    invert_msp = _delegate("inverse.invert_msp", "sensor")
    compare_layers = _delegate("inverse.compare_layers", "sensor")
    sliding_window = _delegate("inverse.sliding_window", "sensor")
    roi_power = _delegate("power.roi_power", "sensor")
    gridsearch = _delegate("expression.gridsearch", "sensor")
    # inverse datasets: ``inverse.lam.apply_inverse(sensor)``
    apply_inverse = _delegate("inverse.apply_inverse", "inverse")
    # results
    plot_layer_comparison = _delegate("viz.plot_layer_comparison", "result")
    plot_sliding_window = _delegate("viz.plot_sliding_window", "result")
    plot_roi_power = _delegate("viz.plot_roi_power", "result")
    plot_csd = _delegate("viz.plot_csd", "result")  # a stored CSD result (its `csd` variable)
    best_transforms = _delegate("expression.best_transforms", "result")
    expression_plot = _delegate("viz.expression_plot", "result")


@xr.register_dataarray_accessor("lam")
class DataArrayAccessor(_LaminarAccessor):
    """``da.lam``: laminarray operations on a DataArray (gains, projectors, sources, maps)."""

    # validation
    validate_gain = _delegate("schema.validate_gain")
    validate_source = _delegate("schema.validate_source")
    validate_projector = _delegate("schema.validate_projector")
    # gains
    lead_field_rms_diff = _delegate("forward.lead_field_rms_diff", "gain")
    gain_norms = _delegate("forward.gain_norms", "gain")
    # sources and per-vertex maps
    to_laminae = _delegate("surf.to_laminae", "source", "values")
    compute_csd = _delegate("csd.compute_csd", "source", "values")
    ttest_rel_corrected = _delegate("stats.ttest_rel_corrected", "source", "values")
    to_gifti = _delegate("export.to_gifti", "source", "values")
    to_dataframe = _delegate("export.to_dataframe", "source", "values")
    plot_csd = _delegate("viz.plot_csd", "values")
