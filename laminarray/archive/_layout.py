"""On-disk layout of a study archive: paths, root metadata, manifests, staging and swaps.

An archive is a directory holding a Zarr format 3 hierarchy. Beside Zarr's own
``zarr.json`` files, laminarray keeps in every group directory:

- ``.laminarray-manifest.json``: the group's arrays with their shape, chunk
  shape and every chunk file written (relative key -> size in bytes);
- ``.laminarray-complete``: the completion marker, written last, holding the
  SHA-256 of the manifest.

Groups are written in a staging directory (``<archive>/.laminarray-staging/``)
and swapped into place with two renames recorded in a journal, so that a
crash leaves either the old or the new group, and the next writer (or reader)
finishes or rolls back an interrupted swap. Writers hold an exclusive
``flock`` on ``.laminarray-staging/lock``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import itertools
import json
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zarr

from .. import schema
from .._validation import ArchiveError
from .._version import __version__

ZARR_JSON = "zarr.json"
MANIFEST = ".laminarray-manifest.json"
MARKER = ".laminarray-complete"
STAGING = ".laminarray-staging"
JOURNAL_SUFFIX = ".swap.json"


# --------------------------------------------------------------------------- paths


def archive_path(store: Any) -> Path:
    """The archive directory of ``store`` (a local path; other stores are not supported)."""
    if not isinstance(store, str | os.PathLike):
        raise ArchiveError(
            f"`store` must be a local directory path (str or os.PathLike), got "
            f"{type(store).__name__}; atomic group writes need a local file system"
        )
    return Path(store).expanduser().absolute()


def group_parts(group: str | None) -> tuple[str, ...]:
    """Split ``"/sub-01/mesh"`` into ``("sub-01", "mesh")``; ``None`` or ``"/"`` is the root."""
    if group is None:
        return ()
    if not isinstance(group, str):
        raise ArchiveError(f"`group` must be a str such as 'sub-01/mesh', got {group!r}")
    if not group.strip():
        raise ArchiveError(
            f"`group` must name a group such as 'sub-01/mesh' ('/' for the root); got {group!r}"
        )
    parts = tuple(p for p in group.strip("/").split("/") if p)
    for part in parts:
        if part.startswith(".") or part == ZARR_JSON:
            raise ArchiveError(f"`group` has an invalid component {part!r} in {group!r}")
    return parts


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
    """The ``zarr.json`` of a node directory, or None if there is none."""
    meta = path / ZARR_JSON
    return read_json(meta) if meta.is_file() else None


# --------------------------------------------------------------------------- root


def root_attrs() -> dict[str, Any]:
    """Root attrs of a new archive: laminarray and schema version, creation time (UTC)."""
    return {
        "laminarray_version": __version__,
        "schema_version": schema.SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def check_root(root: Path) -> dict[str, Any]:
    """Return the root attrs or raise an :class:`ArchiveError` for a missing or newer archive."""
    if not root.exists():
        raise ArchiveError(f"{root} does not exist: expected a laminarray archive directory")
    meta = node_metadata(root)
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
    """Yield ``(parts, directory)`` of every group at and below ``root`` (depth first)."""
    yield parts, root
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        meta = node_metadata(child)
        if meta is not None and meta.get("node_type") == "group":
            yield from iter_groups(child, (*parts, child.name))


def group_arrays(group_dir: Path) -> dict[str, dict[str, Any]]:
    """Zarr metadata of the arrays directly inside a group directory."""
    arrays = {}
    for child in sorted(group_dir.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        meta = node_metadata(child)
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
    if read_json(marker).get("manifest_sha256") != hashlib.sha256(data).hexdigest():
        return [(None, "the chunk manifest does not match its completion marker")]
    recorded = json.loads(data)["arrays"]
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


# --------------------------------------------------------------------------- staging and swaps


def staging_root(root: Path) -> Path:
    return root / STAGING


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Hold the archive's exclusive writer lock (blocks while another writer holds it)."""
    staging = staging_root(root)
    staging.mkdir(parents=True, exist_ok=True)
    with (staging / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_stage(root: Path, parts: tuple[str, ...]) -> Path:
    """A fresh staging directory for a group (a sibling of the archive for the root)."""
    if parts:
        return staging_root(root) / uuid.uuid4().hex
    return root.with_name(f".{root.name}.laminarray-{uuid.uuid4().hex}")


def journal_path(root: Path, stage: Path, parts: tuple[str, ...]) -> Path:
    if parts:
        return staging_root(root) / (stage.name + JOURNAL_SUFFIX)
    return root.with_name(f".{root.name}.laminarray{JOURNAL_SUFFIX}")


def move(src: Path, dst: Path) -> None:
    """Rename a directory (a separate function so that tests can interrupt a swap)."""
    os.rename(src, dst)


def swap(stage: Path, target: Path, journal: Path) -> None:
    """Replace ``target`` by the complete ``stage`` with a journalled pair of renames."""
    trash = stage.with_name(stage.name + ".old")
    write_json(journal, {"stage": str(stage), "target": str(target), "trash": str(trash)})
    if target.exists():
        move(target, trash)
    move(stage, target)
    journal.unlink()
    shutil.rmtree(trash, ignore_errors=True)


def _finish_swap(journal: Path) -> None:
    record = read_json(journal)
    stage, target, trash = (Path(record[k]) for k in ("stage", "target", "trash"))
    if not target.exists():
        if (stage / MARKER).is_file():
            os.rename(stage, target)  # roll forward: the new content is complete
        elif trash.exists():
            os.rename(trash, target)  # roll back
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
    journal.unlink()


def recover(root: Path) -> None:
    """Finish interrupted swaps and remove leftovers of crashed writes (needs the writer lock)."""
    journals = [journal_path(root, root, ())]
    staging = staging_root(root)
    if staging.is_dir():
        journals += sorted(staging.glob("*" + JOURNAL_SUFFIX))
    finished = False
    for journal in journals:
        if journal.is_file():
            _finish_swap(journal)
            finished = True
    if staging.is_dir():
        for leftover in staging.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
    if finished and node_metadata(root) is not None:
        consolidate(root)


def try_recover(root: Path) -> None:
    """Recover if no writer is active (readers never wait for, nor disturb, a writer)."""
    root_journal = journal_path(root, root, ())
    if root_journal.is_file() and not root.exists():
        _finish_swap(root_journal)
    staging = staging_root(root)
    if not staging.is_dir() or not any(staging.glob("*" + JOURNAL_SUFFIX)):
        return
    with (staging / "lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            recover(root)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
