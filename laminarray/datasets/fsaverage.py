"""fsaverage5 anatomy from the surfaces the ``nilearn`` wheel ships (no network access)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, MissingDependencyError, check_option

__all__ = ["fsaverage5_mesh", "fsaverage_head"]

#: Vertices per hemisphere of fsaverage5 (icosahedron order 5).
N_VERTICES_PER_HEMI = 10242


def _data_directory() -> Path:
    """nilearn's packaged fsaverage5 directory, found without importing nilearn (slow)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "fsaverage5 anatomy needs the optional package `nilearn`, which ships the "
            'fsaverage5 surfaces; install it with `pip install "laminarray[sample]"`'
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "fsaverage5"


def fsaverage5_surfaces(kind: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One fsaverage5 surface per hemisphere from nilearn's packaged data.

    Parameters
    ----------
    kind : {"pial", "white", "infl", "sphere"}

    Returns
    -------
    dict
        ``{"lh": (vertices (10242, 3) mm, faces (20480, 3)), "rh": ...}``.

    Raises
    ------
    MissingDependencyError
        When ``nilearn`` (extra ``sample``) is not installed.
    """
    from ..surf import read_surface

    check_option("kind", kind, ("pial", "white", "infl", "sphere"))
    directory = _data_directory()
    surfaces = {}
    for hemi, part in (("lh", "left"), ("rh", "right")):
        pos, faces, _ = read_surface(directory / f"{kind}_{part}.gii.gz", coordinates="stored")
        if len(pos) != N_VERTICES_PER_HEMI:
            raise LaminarrayError(
                f"nilearn's fsaverage5 {kind} ({hemi}) has {len(pos)} vertices, "
                f"expected {N_VERTICES_PER_HEMI}"
            )
        surfaces[hemi] = (pos, faces)
    return surfaces


def fsaverage5_mesh(
    n_layers: int = 11, orientation: str = "link_vector", fixed: bool = True, **kwargs: Any
) -> xr.Dataset:
    """Multilayer mesh of both fsaverage5 hemispheres (20484 columns).

    Built with :func:`laminarray.surf.build_laminar_mesh` from the fsaverage5
    pial and white surfaces that ``nilearn`` ships inside its wheel (works
    offline). Coordinates are fsaverage's surface RAS (MNI305-like, mm); the
    medial wall is kept.

    Parameters
    ----------
    n_layers : int
        Layers from pial to white (default 11).
    orientation, fixed
        Orientation model and fixing (see ``build_laminar_mesh``).
    **kwargs
        Passed to ``build_laminar_mesh`` (``depths``, ``flip``, ``ds_factor``...).

    Returns
    -------
    xarray.Dataset
        Mesh dataset, ``vertex`` 0..20483 (lh 0..10241, then rh) with
        ``hemi``; attrs ``subject = "fsaverage5"``.

    Raises
    ------
    MissingDependencyError
        Without ``nilearn``: ``pip install "laminarray[sample]"``.

    Examples
    --------
    >>> mesh = fsaverage5_mesh(n_layers=3)  # doctest: +SKIP
    >>> mesh.sizes["vertex"]  # doctest: +SKIP
    20484
    """
    from ..surf import build_laminar_mesh

    mesh = build_laminar_mesh(
        fsaverage5_surfaces("pial"),
        fsaverage5_surfaces("white"),
        n_layers,
        orientation,
        fixed,
        **kwargs,
    )
    mesh.attrs.update(subject="fsaverage5", coordinate_space="fsaverage surface RAS")
    return mesh


def fsaverage_head() -> xr.Dataset:
    """Head model of fsaverage (inner skull and scalp) from MNE-Python's package data.

    MNE-Python ships fsaverage's inner skull (``fsaverage-inner_skull-bem.fif``,
    10242 vertices) and scalp (``fsaverage-head.fif``) inside its wheel, in
    fsaverage's surface RAS (mm here), the frame of :func:`fsaverage5_mesh`:
    template anatomy gets a matching realistic head without any download.

    Returns
    -------
    xarray.Dataset
        A head model (:func:`laminarray.forward.head_model`), attrs
        ``subject = "fsaverage"``.

    Raises
    ------
    MissingDependencyError
        Without ``mne``: ``pip install "laminarray[mne]"``.

    Examples
    --------
    >>> head = fsaverage_head()  # doctest: +SKIP
    >>> head.attrs["surfaces"]  # doctest: +SKIP
    ['inner_skull', 'scalp']
    """
    from .._validation import import_optional
    from ..forward import head_model

    mne = import_optional("mne", "mne", "the fsaverage head model")
    folder = Path(mne.__file__).parent / "data" / "fsaverage"
    head = head_model(
        inner_skull=folder / "fsaverage-inner_skull-bem.fif", scalp=folder / "fsaverage-head.fif"
    )
    head.attrs["subject"] = "fsaverage"
    return head
