"""Shared pytest fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = Path(__file__).resolve().parent / "data" / "spm_golden_case.npz"


@pytest.fixture(autouse=True)
def _synchronous_dask_by_default():
    """Tests run dask graphs on the threaded scheduler unless they say otherwise."""
    with dask.config.set(scheduler="threads"):
        yield


@pytest.fixture(params=["numpy", "dask"])
def backend(request):
    """Parametrise a test over numpy- and dask-backed inputs.

    Use ``as_backend(array)`` from the fixture value to convert inputs.
    """
    if request.param == "numpy":
        return lambda array: np.asarray(array)
    return lambda array: da.from_array(np.asarray(array), chunks="auto")


@pytest.fixture(scope="session")
def golden():
    """SPM's golden inversion case (see design note spm_inversion §10.3)."""
    return dict(np.load(GOLDEN))


REALDATA = Path(__file__).resolve().parent / "data" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Directory of the real recordings and head surfaces (see tests/data/realdata/README.md)."""
    return REALDATA


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """Output directory of ``laminarray demo --small`` (archive ``demo.zarr`` and PNGs), run once."""
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, "-m", "laminarray.cli", "demo", "--small", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built synthetic cortex" in proc.stdout
    assert "/sub-01/mesh" in proc.stdout
    return out
