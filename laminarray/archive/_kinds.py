"""Known group kinds of the archive layout and their schema checks.

``/<subject>/mesh``, ``/<subject>/head``, ``/<subject>/sensor``, ``/<subject>/forward``,
``/<subject>/inverse/<name>`` and ``/<subject>/source/<name>`` hold objects of
laminarray's data model; other groups (``results``...) are free-form.
"""

from __future__ import annotations

import xarray as xr

from .. import schema
from .._validation import LaminarrayError, SchemaError

_BY_NAME = {"mesh", "head", "sensor", "forward"}
_BY_PARENT = {"inverse", "source"}


def group_kind(parts: tuple[str, ...]) -> str | None:
    """``"mesh"``, ``"head"``, ``"sensor"``, ``"forward"``, ``"inverse"``, ``"source"`` or None."""
    if len(parts) >= 2 and parts[-1] in _BY_NAME:
        return parts[-1]
    if len(parts) >= 3 and parts[-2] in _BY_PARENT:
        return parts[-2]
    return None


def main_variables(ds: xr.Dataset, kind: str | None) -> list[str]:
    """The variables of a known kind that must be finite (sources, gain, data...)."""
    if kind == "source":
        return [n for n, v in ds.data_vars.items() if set(v.dims) == set(schema.SOURCE_DIMS)]
    if kind == "head":
        return [n for n in ds.data_vars if str(n).endswith("_vertices")]
    wanted = {"mesh": "vertices", "sensor": "data", "forward": "gain", "inverse": "projector"}
    name = wanted.get(kind or "")
    return [name] if name in ds.data_vars else []


def schema_problems(ds: xr.Dataset, kind: str | None) -> list[tuple[str | None, str]]:
    """Run the data-model validator of ``kind`` on ``ds`` without computing dask data.

    Returns
    -------
    list of (variable or None, message)
    """
    try:
        if kind == "mesh":
            schema.validate_mesh(ds, check_finite=True)
        elif kind == "head":
            from ..forward.head import check_head

            try:
                check_head(ds)
            except LaminarrayError as exc:
                raise SchemaError(str(exc)) from None
        elif kind == "sensor":
            schema.validate_sensor(ds)
        elif kind in ("forward", "inverse"):
            name = "gain" if kind == "forward" else "projector"
            if name not in ds.data_vars:
                return [(None, f"a {kind} group must hold a `{name}` variable")]
            check = schema.validate_gain if kind == "forward" else schema.validate_projector
            check(ds[name])
        elif kind == "source":
            for name in main_variables(ds, kind):
                try:
                    schema.validate_source(ds[name])
                except SchemaError as exc:
                    return [(name, str(exc))]
    except SchemaError as exc:
        variable = main_variables(ds, kind)
        return [(variable[0] if variable else None, str(exc))]
    return []
