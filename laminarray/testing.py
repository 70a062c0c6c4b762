"""Testing utilities for laminarray and for code built on it.

- :func:`raise_if_dask_computes`: a context manager failing if any dask graph
  is computed inside it (laziness is a tested property).
- Hypothesis strategies (:func:`sensor_datasets`, :func:`gain_dataarrays`,
  :func:`mesh_datasets`) generating small valid objects; they need the
  ``hypothesis`` package (in the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask
import numpy as np
import xarray as xr

from . import schema
from ._validation import import_optional


class _CountingScheduler:
    """A dask scheduler that counts calls and refuses more than ``max_computes``."""

    def __init__(self, max_computes: int = 0) -> None:
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"Too many dask computations were triggered: {self.total_computes} "
                f"(allowed {self.max_computes})"
            )
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[_CountingScheduler]:
    """Fail if more than ``max_computes`` dask computations happen inside the block.

    Examples
    --------
    >>> with raise_if_dask_computes():
    ...     lazy = some_lazy_function(dask_backed_input)
    """
    scheduler = _CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


def _hypothesis() -> Any:
    return import_optional("hypothesis.strategies", "dev", "laminarray.testing strategies")


def sensor_datasets(max_channels: int = 6, max_times: int = 8, max_trials: int = 4) -> Any:
    """Hypothesis strategy for small valid sensor datasets (float32/float64, fT)."""
    st = _hypothesis()

    @st.composite
    def build(draw: Any) -> xr.Dataset:
        n_ch = draw(st.integers(1, max_channels))
        n_t = draw(st.integers(1, max_times))
        n_tr = draw(st.integers(1, max_trials))
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        seed = draw(st.integers(0, 2**16))
        data = np.random.default_rng(seed).standard_normal((n_ch, n_t, n_tr)).astype(dtype)
        start = draw(st.floats(-1.0, 1.0, allow_nan=False))
        sfreq = draw(st.sampled_from([100.0, 250.0, 600.0, 1200.0]))
        return schema.sensor_dataset(
            data,
            [f"MEG{i:03d}" for i in range(n_ch)],
            start + np.arange(n_t) / sfreq,
            conditions=draw(st.sampled_from(["a", "b"])),
        )

    return build()


def gain_dataarrays(max_channels: int = 6, max_layers: int = 4, max_vertices: int = 10) -> Any:
    """Hypothesis strategy for small valid gain matrices (fT/nAm)."""
    st = _hypothesis()

    @st.composite
    def build(draw: Any) -> xr.DataArray:
        n_ch = draw(st.integers(1, max_channels))
        n_l = draw(st.integers(1, max_layers))
        n_v = draw(st.integers(1, max_vertices))
        seed = draw(st.integers(0, 2**16))
        values = np.random.default_rng(seed).standard_normal((n_ch, n_l, n_v))
        return schema.gain_dataarray(values, [f"MEG{i:03d}" for i in range(n_ch)])

    return build()


def mesh_datasets(max_layers: int = 4, grid: int = 4) -> Any:
    """Hypothesis strategy for small valid multilayer meshes (flat sheets, mm)."""
    st = _hypothesis()

    @st.composite
    def build(draw: Any) -> xr.Dataset:
        n_l = draw(st.integers(1, max_layers))
        n = draw(st.integers(2, grid))
        spacing = draw(st.floats(0.5, 5.0))
        thickness = draw(st.floats(1.5, 4.5))
        xx, yy = np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing, indexing="ij")
        sheet = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(n * n)])
        pos = np.stack([sheet - [0, 0, d * thickness] for d in schema.layer_depths(n_l)])
        idx = np.arange(n * n).reshape(n, n)
        a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
        faces = np.concatenate(
            [
                np.column_stack([a.ravel(), b.ravel(), c.ravel()]),
                np.column_stack([b.ravel(), d.ravel(), c.ravel()]),
            ]
        )
        ori = np.zeros_like(pos)
        ori[..., 2] = -1.0
        return schema.mesh_dataset(pos, faces, orientation=ori)

    return build()
