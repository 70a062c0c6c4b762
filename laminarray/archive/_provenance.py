"""Provenance attrs: versions, producing function and parameters, input file hashes."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib.metadata
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._validation import ArchiveError
from .._version import __version__

_DEPENDENCIES = ("numpy", "scipy", "xarray", "dask", "zarr", "numcodecs", "pandas")


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    found = [("python", platform.python_version()), ("laminarray", __version__)]
    for name in _DEPENDENCIES:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            found.append((name, "not installed"))
    return tuple(found)


def versions() -> dict[str, str]:
    """Versions of Python, laminarray and its core dependencies (looked up once per process)."""
    return dict(_installed_versions())


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_provenance(
    function: str,
    parameters: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Provenance record of a group, stored in its ``provenance`` attr.

    Parameters
    ----------
    function : str
        Fully qualified name of the function that produced the data, e.g.
        ``"laminarray.inverse.invert_ebb"``.
    parameters : mapping, optional
        Its JSON-serialisable parameters.
    inputs : iterable of path, optional
        Input files; their SHA-256 hashes are recorded.

    Returns
    -------
    dict
        ``function``, ``parameters``, ``inputs`` (path -> sha256),
        ``versions`` and ``written`` (UTC, ISO 8601).
    """
    if not isinstance(function, str) or not function:
        raise ArchiveError(f"provenance `function` must be a non-empty str, got {function!r}")
    hashes = {}
    for path in inputs:
        if not Path(path).is_file():
            raise ArchiveError(f"provenance input {str(path)!r} is not a file")
        hashes[str(Path(path).absolute())] = file_sha256(path)
    return {
        "function": function,
        "parameters": dict(parameters or {}),
        "inputs": hashes,
        "versions": versions(),
        "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def resolve(provenance: Mapping[str, Any] | None, default_function: str) -> dict[str, Any]:
    """Complete a user-given provenance mapping (``function``, ``parameters``, ``inputs``)."""
    given = dict(provenance or {})
    unknown = set(given) - {"function", "parameters", "inputs", "versions", "written"}
    if unknown:
        raise ArchiveError(
            f"`provenance` keys must be among 'function', 'parameters', 'inputs'; "
            f"found {sorted(unknown)}"
        )
    if "versions" in given:  # already a complete record (e.g. copied from another archive)
        return given
    return make_provenance(
        given.get("function", default_function), given.get("parameters"), given.get("inputs", ())
    )
