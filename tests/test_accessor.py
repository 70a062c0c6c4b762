"""The .lam accessor delegates to existing public functions, with the object first."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray.accessor import DataArrayAccessor, DatasetAccessor
from laminarray.datasets import synthetic_cortex


def _delegated(cls):
    for name in dir(cls):
        method = getattr(cls, name)
        if (
            callable(method)
            and not name.startswith("_")
            and "laminarray." in (method.__doc__ or "")
        ):
            target = method.__doc__.split(":func:`laminarray.")[1].split("`")[0]
            yield name, target


@pytest.mark.parametrize("cls", [DatasetAccessor, DataArrayAccessor])
def test_every_accessor_method_names_an_existing_function(cls):
    targets = dict(_delegated(cls))
    assert len(targets) >= 10
    for name, target in targets.items():
        module, function = target.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(f"laminarray.{module}"), function)), name


def test_accessor_results_equal_module_functions():
    mesh = synthetic_cortex(n_vertices=200, n_layers=3)
    xr.testing.assert_identical(mesh.lam.thickness(), lam.surf.thickness(mesh))
    gain = lam.gain_dataarray(
        np.random.default_rng(0).standard_normal((4, 3, mesh.sizes["vertex"])), list("abcd")
    )
    xr.testing.assert_identical(
        gain.lam.lead_field_rms_diff(), lam.forward.lead_field_rms_diff(gain)
    )
    with pytest.raises(lam.SchemaError, match="dims"):
        gain.lam.validate_source()


@pytest.mark.parametrize("order", ["laminarray, xarray", "xarray, laminarray"])
def test_accessor_is_registered_whatever_the_import_order(order):
    """``import laminarray`` does not import xarray; the accessor appears once xarray is loaded."""
    import subprocess
    import sys

    code = (
        f"import sys, {order}\n"
        "import xarray as xr\n"
        "assert hasattr(xr.Dataset(), 'lam'), 'no accessor'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
