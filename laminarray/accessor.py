"""The ``.lam`` accessor on xarray objects: notebook-friendly delegation only.

Every method calls a public module function with the object as its first
argument; no logic lives here.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from . import schema


class _LaminarAccessor:
    """Shared delegation for Dataset and DataArray."""

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    def save(self, store: Any, group: str | None = None, **kwargs: Any) -> None:
        """Write this object to a study archive; see :func:`laminarray.archive.save`."""
        from .archive import save

        save(self._obj, store, group=group, **kwargs)

    def append(self, store: Any, group: str, **kwargs: Any) -> None:
        """Append along ``trial`` to an archive group; see :func:`laminarray.archive.append`."""
        from .archive import append

        append(self._obj, store, group, **kwargs)


@xr.register_dataset_accessor("lam")
class DatasetAccessor(_LaminarAccessor):
    """``ds.lam``: laminarray operations on a Dataset."""

    def validate_sensor(self, **kwargs: Any) -> xr.Dataset:
        """See :func:`laminarray.schema.validate_sensor`."""
        return schema.validate_sensor(self._obj, **kwargs)

    def validate_mesh(self) -> xr.Dataset:
        """See :func:`laminarray.schema.validate_mesh`."""
        return schema.validate_mesh(self._obj)


@xr.register_dataarray_accessor("lam")
class DataArrayAccessor(_LaminarAccessor):
    """``da.lam``: laminarray operations on a DataArray."""

    def validate_gain(self, **kwargs: Any) -> xr.DataArray:
        """See :func:`laminarray.schema.validate_gain`."""
        return schema.validate_gain(self._obj, **kwargs)

    def validate_source(self, **kwargs: Any) -> xr.DataArray:
        """See :func:`laminarray.schema.validate_source`."""
        return schema.validate_source(self._obj, **kwargs)

    def validate_projector(self, **kwargs: Any) -> xr.DataArray:
        """See :func:`laminarray.schema.validate_projector`."""
        return schema.validate_projector(self._obj, **kwargs)
