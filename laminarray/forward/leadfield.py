"""One entry point for gain matrices: random, computed or loaded (CaliBrain-style).

``leadfield("random", ...)`` gives a reproducible random gain for tests,
``leadfield("compute", mesh=..., sensors=..., head=...)`` the gain of
:func:`~laminarray.forward.gain` in a head model (without ``head``, the
spherical-head gain of :func:`~laminarray.forward.sphere_gain`), and ``leadfield("load", path=...)``
reads one from a study archive, a ``.npz`` file (:func:`save_leadfield_npz`
layout) or an SPM ``SPMgainmatrix_*.mat`` file. Every mode returns a gain
``(channel, layer, vertex[, xyz])`` in fT/nAm with the metadata in attrs
(``units``, ``orientation``, ``sensor_kind``, ``forward_model``) and, when
known, the source positions as coords ``source_x/y/z (layer, vertex)`` (mm).

``.npz`` files are CaliBrain's lead-field layout (``<subject>_<fixed|free>_
leadfield.npz``), read and written by :mod:`laminarray.io.calibrain`
(:func:`save_leadfield_npz` is :func:`~laminarray.io.calibrain.write_calibrain_leadfield`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option
from ..io.calibrain import read_calibrain_leadfield
from ..io.calibrain import write_calibrain_leadfield as save_leadfield_npz
from ..schema import gain_dataarray, validate_gain
from .gain import gain
from .sphere import sphere_gain

__all__ = ["leadfield", "save_leadfield_npz"]

MODES = ("random", "compute", "load")


def leadfield(
    mode: str,
    *,
    mesh: xr.Dataset | None = None,
    sensors: xr.Dataset | None = None,
    head: xr.Dataset | None = None,
    model: str | None = None,
    path: str | os.PathLike | None = None,
    orientation: str = "fixed",
    reduce_rank: bool = False,
    n_channels: int = 64,
    n_layers: int = 2,
    n_vertices: int = 100,
    seed: int = 0,
    center: Any = None,
    radius: float | None = None,
    chunks: int | None = None,
    group: str | None = None,
) -> xr.DataArray:
    """Build, compute or load a gain matrix.

    Parameters
    ----------
    mode : {"random", "compute", "load"}
        - ``"random"``: i.i.d. standard-normal gain (fT/nAm) of shape
          ``(n_channels, n_layers, n_vertices[, 3])``, or the shape of
          ``sensors`` x ``mesh`` when given; reproducible with ``seed``.
        - ``"compute"``: :func:`~laminarray.forward.gain` of ``mesh`` and
          ``sensors`` in the head model ``head`` (lazy, chunked over
          vertices); without ``head``, :func:`~laminarray.forward.sphere_gain`
          (sphere from ``center``/``radius`` or the mesh's scalp).
        - ``"load"``: from ``path``: a study archive directory (the gain of
          ``group``, default the only ``.../forward`` group), a CaliBrain
          ``.npz`` file (one layer unless the file names its layers; use
          :func:`~laminarray.io.calibrain.read_calibrain_leadfield` with
          ``n_layers=`` to split one) or SPM's ``SPMgainmatrix_*.mat`` (``n_layers``
          layers, read with :mod:`laminarray.io`).
    mesh, sensors : xarray.Dataset, optional
        Mesh and sensor array (``compute``; shape and labels for ``random``).
    head : xarray.Dataset, optional
        Head model (``compute``; :func:`~laminarray.forward.head_model`).
    model : {"single_shell", "local_spheres", "sphere", "bem"}, optional
        Forward model (``compute``; default ``"single_shell"`` with a head
        model, ``"sphere"`` without).
    path : path-like, optional
        File or archive to load.
    orientation : {"fixed", "free"}
        Fixed (mesh orientations) or free (trailing ``xyz``) sources.
    reduce_rank : bool
        ``compute``: drop each dipole's weakest direction (SPM's MEG
        convention; see :func:`~laminarray.forward.gain`).
    n_channels, n_layers, n_vertices : int
        Shape of a random gain; ``n_layers`` also splits an SPM gain file.
    seed : int
        Seed of the random gain.
    center, radius
        Sphere of a ``compute`` without ``head`` (mm).
    chunks : int, optional
        Vertices per chunk of a computed gain.
    group : str, optional
        Archive group holding the gain (e.g. ``"sub-01/forward"``).

    Returns
    -------
    xarray.DataArray
        ``gain (channel, layer, vertex[, xyz])``; attrs ``units``,
        ``orientation``, ``forward_model`` and (computed) ``sensor_kind``.

    Examples
    --------
    >>> gain = leadfield("random", n_channels=32, n_layers=3, n_vertices=50, seed=1)
    >>> gain.dims
    ('channel', 'layer', 'vertex')
    """
    check_option("mode", mode, MODES)
    check_option("orientation", orientation, ("fixed", "free"))
    if mode == "compute":
        if mesh is None or sensors is None:
            raise LaminarrayError("leadfield('compute') needs `mesh=` and `sensors=`")
        options = {"orientation": orientation, "reduce_rank": reduce_rank, "chunks": chunks}
        if head is not None:
            return gain(mesh, sensors, head, model=model or "single_shell", **options)
        if model not in (None, "sphere"):
            raise LaminarrayError(
                f"leadfield('compute', model={model!r}) needs a head model: pass `head=` "
                "(laminarray.forward.head_model / read_head_model)"
            )
        return sphere_gain(mesh, sensors, center, radius, **options)
    if mode == "random":
        return _random(mesh, sensors, orientation, n_channels, n_layers, n_vertices, seed)
    if path is None:
        raise LaminarrayError("leadfield('load') needs `path=` (archive, .npz or SPM .mat)")
    return _load(Path(path), n_layers, group)


def _random(
    mesh: xr.Dataset | None,
    sensors: xr.Dataset | None,
    orientation: str,
    n_channels: int,
    n_layers: int,
    n_vertices: int,
    seed: int,
) -> xr.DataArray:
    channels = (
        sensors["channel"].values
        if sensors is not None
        else [f"MEG{i + 1:03d}" for i in range(int(n_channels))]
    )
    layers = mesh["layer"].values if mesh is not None else None
    shape = (
        len(channels),
        mesh.sizes["layer"] if mesh is not None else int(n_layers),
        mesh.sizes["vertex"] if mesh is not None else int(n_vertices),
    ) + ((3,) if orientation == "free" else ())
    values = np.random.default_rng(seed).standard_normal(shape)
    return gain_dataarray(
        values,
        channels,
        layers=layers,
        depth=mesh["depth"].values if mesh is not None else None,
        attrs={"forward_model": f"random (seed {seed})", "orientation": orientation},
    )


def _load(path: Path, n_layers: int, group: str | None) -> xr.DataArray:
    if not path.exists():
        raise LaminarrayError(f"`path` {str(path)!r} does not exist")
    if path.is_dir():
        return _load_archive(path, group)
    if path.suffix == ".npz":
        return read_calibrain_leadfield(path)
    if path.suffix == ".mat":
        from ..io.spm_gain import read_spm_gain

        gain = read_spm_gain(path, n_layers)
        gain.attrs.setdefault("forward_model", "SPM")
        gain.attrs.setdefault("orientation", "fixed")
        return gain
    raise LaminarrayError(
        f"cannot load a gain from {str(path)!r}: expected a study archive directory, "
        "a .npz file or an SPM SPMgainmatrix_*.mat file"
    )


def _load_archive(path: Path, group: str | None) -> xr.DataArray:
    from ..archive import open as open_archive

    tree = open_archive(path)
    if group is None:
        candidates = [node.path for node in tree.subtree if node.name == "forward"]
        if len(candidates) != 1:
            raise LaminarrayError(
                f"archive {str(path)!r} has {len(candidates)} `forward` groups "
                f"({candidates}); pass `group=` to choose one"
            )
        group = candidates[0]
    node = tree[group]
    if "gain" not in node.data_vars:
        raise LaminarrayError(
            f"archive group {group!r} holds no `gain` variable; found {list(node.data_vars)}"
        )
    return validate_gain(node.to_dataset()["gain"])
