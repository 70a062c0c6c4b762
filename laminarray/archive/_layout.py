"""On-disk layout of a study archive: paths, root metadata, groups and manifests.

An archive is a directory holding a Zarr format 3 hierarchy. Beside Zarr's own
``zarr.json`` files, laminarray keeps in every group directory:

- ``.laminarray-manifest.json``: the group's arrays with their shape, chunk
  shape and every chunk file written (relative key -> size in bytes);
- ``.laminarray-complete``: the completion marker, written last, holding the
  SHA-256 of the manifest;

and in the archive root ``.laminarray/`` (the writer lock and the identity of
the committed version, see :mod:`laminarray.archive._commit`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zarr

from .. import schema
from .._validation import ArchiveError
from .._version import __version__
from ._names import group_parts

__all__ = ["group_parts"]  # re-exported: callers split groups through the layout

ZARR_JSON = "zarr.json"
MANIFEST = ".laminarray-manifest.json"
MARKER = ".laminarray-complete"
LEGACY_STAGING = ".laminarray-staging"  # staging and journals of laminarray < 0.2, never read


# --------------------------------------------------------------------------- paths


def archive_path(store: Any) -> Path:
    """The archive directory of ``store`` (a local path; other stores are not supported)."""
    if not isinstance(store, str | os.PathLike):
        raise ArchiveError(
            f"`store` must be a local directory path (str or os.PathLike), got "
            f"{type(store).__name__}; atomic group writes need a local file system"
        )
    return Path(os.path.realpath(Path(store).expanduser()))


def group_name(parts: tuple[str, ...]) -> str:
    """Display name of a group: ``/sub-01/mesh`` (``/`` for the root)."""
    return "/" + "/".join(parts)


# --------------------------------------------------------------------------- json files


def read_json(path: Path) -> Any:
    with path.open("rb") as f:
        return json.load(f)


def write_json(path: Path, value: Any) -> bytes:
    """Write ``value`` as JSON atomically (temporary file + rename); return the bytes."""
    data = json.dumps(value, indent=1, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def node_metadata(path: Path) -> dict[str, Any] | None:
    """The ``zarr.json`` of a node directory, or None if there is none.

    Raises
    ------
    ArchiveError
        When the file is not a JSON object.
    """
    meta = path / ZARR_JSON
    if not meta.is_file():
        return None
    try:
        value = read_json(meta)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{meta} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ArchiveError(f"{meta} must hold a JSON object, found {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- root


def root_attrs() -> dict[str, Any]:
    """Root attrs of a new archive: laminarray and schema version, creation time (UTC)."""
    return {
        "laminarray_version": __version__,
        "schema_version": schema.SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def check_root(path: Path, root: Path | None = None) -> dict[str, Any]:
    """Return the root attrs or raise an :class:`ArchiveError` for a missing or newer archive.

    ``path`` is read; ``root`` (default ``path``) names the archive in messages.
    """
    root = path if root is None else root
    meta = node_metadata(path)
    if meta is None:
        raise ArchiveError(f"{root} is not a laminarray archive: no {ZARR_JSON} found")
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
        raise ArchiveError(
            f"{root} must be a Zarr format 3 group; found {meta.get('zarr_format')}"
        )
    attrs = meta.get("attributes", {})
    version = attrs.get("schema_version")
    if not isinstance(version, int):
        raise ArchiveError(
            f"{root} is not a laminarray archive: root attrs have no integer `schema_version` "
            f"(found {version!r})"
        )
    if version > schema.SCHEMA_VERSION:
        raise ArchiveError(
            f"{root} was written with archive schema version {version} (laminarray "
            f"{attrs.get('laminarray_version', '?')}), newer than this laminarray {__version__} "
            f"reads (schema version {schema.SCHEMA_VERSION}); upgrade laminarray to read it"
        )
    return attrs


def create_group(path: Path, attributes: dict[str, Any]) -> None:
    """Create an empty group directory with its (empty) manifest and completion marker."""
    path.mkdir(parents=True, exist_ok=True)
    write_json(
        path / ZARR_JSON, {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    )
    write_manifest(path)


def ensure_parents(root: Path, parts: tuple[str, ...]) -> None:
    """Create the archive root and the intermediate groups leading to ``parts``."""
    if node_metadata(root) is None:
        create_group(root, root_attrs())
    for depth in range(1, len(parts)):
        path = root.joinpath(*parts[:depth])
        meta = node_metadata(path)
        if meta is None:
            create_group(path, {})
        elif meta.get("node_type") != "group":
            raise ArchiveError(f"{group_name(parts[:depth])} is an array, not a group")


def consolidate(root: Path) -> None:
    """Rewrite the consolidated metadata in the root ``zarr.json``."""
    with warnings.catch_warnings():
        # zarr warns about laminarray's bookkeeping files while listing members
        warnings.filterwarnings("ignore", message=".*not recognized as a component")
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(root), zarr_format=3)


# --------------------------------------------------------------------------- hierarchy


def iter_groups(root: Path, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Path]]:
    """Yield ``(parts, directory)`` of every group at and below ``root`` (depth first).

    Nodes whose ``zarr.json`` cannot be read are skipped (see
    :func:`consolidation_problems`, which reports them).
    """
    yield parts, root
    for sub, meta in iter_nodes(root, parts):
        if isinstance(meta, dict) and meta.get("node_type") == "group":
            yield sub, root.joinpath(*sub[len(parts) :])


def group_arrays(group_dir: Path) -> dict[str, dict[str, Any]]:
    """Zarr metadata of the arrays directly inside a group directory."""
    arrays = {}
    for child in sorted(group_dir.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            meta = node_metadata(child)
        except ArchiveError:
            continue  # reported by consolidation_problems
        if meta is not None and meta.get("node_type") == "array":
            arrays[child.name] = meta
    return arrays


def chunk_shape(meta: dict[str, Any]) -> list[int]:
    return list(meta["chunk_grid"]["configuration"]["chunk_shape"])


def expected_chunk_keys(meta: dict[str, Any]) -> list[str]:
    """Every chunk key (``c/0/1``) of a regular-grid array with the default key encoding."""
    shape, chunks = meta["shape"], chunk_shape(meta)
    separator = meta["chunk_key_encoding"].get("configuration", {}).get("separator", "/")
    grid = [range(math.ceil(n / c)) for n, c in zip(shape, chunks, strict=True)]
    return [
        separator.join(["c", *map(str, index)]) if index else "c"
        for index in itertools.product(*grid)
    ]


def chunk_files(array_dir: Path) -> dict[str, int]:
    """Chunk files present under an array directory: key -> size in bytes."""
    found = {}
    for dirpath, _, filenames in os.walk(array_dir):
        rel = Path(dirpath).relative_to(array_dir)
        for name in filenames:
            key = (rel / name).as_posix()
            if key != ZARR_JSON and not name.endswith(".partial"):
                found[key] = (Path(dirpath) / name).stat().st_size
    return found


# --------------------------------------------------------------------------- manifests


def write_manifest(group_dir: Path) -> None:
    """Record the group's arrays and chunk files, then write the completion marker (last)."""
    arrays = {}
    for name, meta in group_arrays(group_dir).items():
        files = chunk_files(group_dir / name)
        missing = [key for key in expected_chunk_keys(meta) if key not in files]
        if missing:
            raise ArchiveError(
                f"writing {group_dir.name}/{name} left {len(missing)} chunks unwritten "
                f"(e.g. {missing[:3]})"
            )
        arrays[name] = {"shape": meta["shape"], "chunks": chunk_shape(meta), "files": files}
    data = write_json(group_dir / MANIFEST, {"manifest_version": 1, "arrays": arrays})
    write_json(group_dir / MARKER, {"manifest_sha256": hashlib.sha256(data).hexdigest()})


def group_file_problems(group_dir: Path) -> list[tuple[str | None, str]]:
    """Check a group's marker and manifest against the files on disk.

    Returns
    -------
    list of (variable or None, message)
        Empty when the group is complete and every chunk in the manifest exists
        with its recorded size.
    """
    marker, manifest = group_dir / MARKER, group_dir / MANIFEST
    if not marker.is_file() or not manifest.is_file():
        missing = MARKER if not marker.is_file() else MANIFEST
        return [
            (None, f"incomplete group: no {missing} (not written by laminarray.archive.save?)")
        ]
    data = manifest.read_bytes()
    try:
        sealed = read_json(marker)["manifest_sha256"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        return [(None, f"the completion marker {MARKER} is damaged")]
    if sealed != hashlib.sha256(data).hexdigest():
        return [(None, "the chunk manifest does not match its completion marker")]
    try:
        recorded = json.loads(data)["arrays"]
    except (ValueError, TypeError, KeyError):
        recorded = None
    if not isinstance(recorded, dict) or not all(
        isinstance(e, dict)
        and isinstance(e.get("files"), dict)
        and {"shape", "chunks"} <= e.keys()
        for e in recorded.values()
    ):
        return [(None, f"the chunk manifest {MANIFEST} is damaged")]
    present = group_arrays(group_dir)
    problems: list[tuple[str | None, str]] = [
        (name, "array listed in the manifest is missing") for name in recorded.keys() - present
    ]
    problems += [(name, "array not in the manifest") for name in present.keys() - recorded]
    for name in sorted(recorded.keys() & present.keys()):
        entry, meta = recorded[name], present[name]
        if entry["shape"] != meta["shape"] or entry["chunks"] != chunk_shape(meta):
            problems.append((name, "shape or chunks differ from the manifest"))
            continue
        files = chunk_files(group_dir / name)
        lost = [key for key in entry["files"] if key not in files]
        resized = [k for k, size in entry["files"].items() if k in files and files[k] != size]
        if lost:
            problems.append((name, f"{len(lost)} chunk(s) missing, e.g. {', '.join(lost[:3])}"))
        if resized:
            problems.append(
                (name, f"{len(resized)} chunk(s) changed size, e.g. {', '.join(resized[:3])}")
            )
    return problems


# --------------------------------------------------------------------------- consolidated metadata


def _comparable(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "consolidated_metadata"}


def iter_nodes(root: Path, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield ``(parts, zarr.json content or the ArchiveError reading it)`` of every node below ``root``."""
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
            continue
        try:
            meta = node_metadata(child)
        except ArchiveError as exc:
            yield (*parts, child.name), exc
            continue
        if meta is None:
            continue
        yield (*parts, child.name), meta
        if meta.get("node_type") == "group":
            yield from iter_nodes(child, (*parts, child.name))


def consolidation_problems(root: Path) -> list[tuple[tuple[str, ...], str | None, str]]:
    """Compare the root's consolidated metadata with every node's own ``zarr.json``.

    Readers (laminarray's and plain xarray's) take shapes, codecs and attrs
    (``scale_factor``, ``units``...) from the consolidated copy, so any
    difference means they would read something else than what is stored.

    Returns
    -------
    list of (group parts, variable or None, message)
        A node's group and, for an array, its name.
    """
    meta = node_metadata(root) or {}
    consolidated = meta.get("consolidated_metadata")
    entries = consolidated.get("metadata") if isinstance(consolidated, dict) else None
    if not isinstance(entries, dict):
        return [((), None, "the root zarr.json has no consolidated metadata")]
    problems: list[tuple[tuple[str, ...], str | None, str]] = []

    def where(parts: tuple[str, ...], node: Any) -> tuple[tuple[str, ...], str | None]:
        if not isinstance(node, dict):  # unreadable: as the consolidated copy says
            node = entries.get("/".join(parts))
        is_array = isinstance(node, dict) and node.get("node_type") == "array"
        return (parts[:-1], parts[-1]) if is_array else (parts, None)

    seen = set()
    for parts, node in iter_nodes(root):
        key = "/".join(parts)
        seen.add(key)
        group, variable = where(parts, node)
        if isinstance(node, ArchiveError):
            problems.append((group, variable, str(node)))
        elif key not in entries:
            problems.append((group, variable, "missing from the consolidated metadata"))
        elif not isinstance(entries[key], dict) or _comparable(entries[key]) != _comparable(node):
            problems.append(
                (group, variable, "the consolidated metadata differ from the node's zarr.json")
            )
    for key in sorted(entries.keys() - seen):
        parts = tuple(key.split("/"))
        group, variable = where(parts, entries[key])
        problems.append((group, variable, "in the consolidated metadata but not stored"))
    return problems
