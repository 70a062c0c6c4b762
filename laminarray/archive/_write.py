"""Atomic group writes: :func:`save` and :func:`append`."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import dask.base
import dask.threaded
import numpy as np
import xarray as xr

from .._validation import ArchiveError, SchemaError, check_option, describe
from . import _commit, _encoding, _kinds, _layout, _names, _provenance

_ZARR_WARNINGS = ".*not recognized as a component"
STORE_BYTES_IN_FLIGHT = 32 * 2**20


def save(
    obj: xr.Dataset | xr.DataArray | xr.DataTree,
    store: str | os.PathLike,
    group: str | None = None,
    mode: str = "w",
    *,
    chunks: Mapping[str, int] | None = None,
    compressor: Any = "none",
    provenance: Mapping[str, Any] | None = None,
    durable: bool = False,
) -> None:
    """Write an object to a group of a study archive, atomically.

    The next version of the archive is built beside it (unchanged files
    hard-linked, the group written, completed with a chunk manifest and a
    completion marker, the consolidated metadata rewritten) and committed by
    one atomic directory exchange: a reader sees the old archive or the new
    one, never a mix, and an exception, crash or kill at any moment leaves
    the previous version intact. Writers to one archive queue on its lock.

    Parameters
    ----------
    obj : xarray.Dataset, DataArray or DataTree
        A Dataset replaces the group's own variables (its subgroups are kept);
        a DataArray is stored as a one-variable Dataset (named after it,
        default ``"data"``); a DataTree replaces the whole subtree.
        Objects of a known kind are validated first (``mesh``, ``sensor``,
        ``forward`` (``gain``), ``inverse/<name>`` (``projector``),
        ``source/<name>``).
    store : str or os.PathLike
        Archive directory (created if missing).
    group : str, optional
        Group path such as ``"sub-01/sensor"``; None is the root (a DataTree
        then replaces the whole archive).
    mode : {"w", "w-"}
        ``"w"`` replaces an existing group, ``"w-"`` refuses to.
    chunks : dict of dim -> int, optional
        Storage chunk length per dim (``-1`` = whole), overriding the rule
        (only ``trial`` and ``vertex`` split, chunks of ~64 MiB).
    compressor : {"none", "lz4", "zstd"}, None or zarr codec
        Default none: float MEG data compress by only ~10 %, and on few cores
        compressing costs more time than the smaller files save (measured in
        docs/archives.md). ``"lz4"`` is Blosc-LZ4 with byte shuffle,
        ``"zstd"`` Zstandard level 3 (smallest, for archival copies). A crc32c
        checksum is always added.
    provenance : dict, optional
        ``function``, ``parameters`` and ``inputs`` (file paths, hashed) that
        produced the data; stored with the versions in the ``provenance`` attr.
    durable : bool
        Also survive power loss: fsync every file and directory of the new
        version before committing it, and the parent directory after (costs
        measured in docs/archives.md). Default False: a crash of the process
        or of laminarray is covered either way.

    Raises
    ------
    ArchiveError
        Existing group with ``mode="w-"``, newer archive schema, invalid
        group or variable name, a group named like an existing array, bad
        arguments.
    SchemaError
        ``obj`` does not fit the data model of its group kind.
    """
    check_option("mode", mode, ("w", "w-"))
    root, parts = _layout.archive_path(store), _layout.group_parts(group)
    nodes = _nodes(obj)
    for rel, ds in nodes:
        full = parts + rel
        _check_variable_names(ds, full)
        problems = _kinds.schema_problems(ds, _kinds.group_kind(full))
        if problems:
            raise SchemaError(f"cannot save to {_layout.group_name(full)}: {problems[0][1]}")
    record = _provenance.resolve(provenance, "laminarray.archive.save")
    with _commit.writer_lock(root):
        _check_writable(root)
        _commit.collect(root)
        target = root.joinpath(*parts)
        _check_target(root, parts)
        if mode == "w-" and _layout.node_metadata(target) is not None:
            raise ArchiveError(f"group {_layout.group_name(parts)} exists in {root} (mode='w-')")
        with _commit.stage(root, keep=parts) as stage:
            for rel, ds in nodes:
                attrs = {**ds.attrs, "provenance": record}
                if not parts and not rel:
                    attrs.update(_root_attrs(root))
                _write_group(
                    ds.assign_attrs(attrs), stage.joinpath(*parts, *rel), chunks, compressor
                )
            if isinstance(obj, xr.Dataset | xr.DataArray) and target.is_dir():
                _keep_subgroups(target, stage.joinpath(*parts))
            _commit.fault_point("staged")
            for rel, _ in sorted(nodes, key=lambda node: -len(node[0])):
                _layout.write_manifest(stage.joinpath(*parts, *rel))
            _layout.ensure_parents(stage, parts)
            _commit.fault_point("manifests")
            _layout.consolidate(stage)
            _commit.fault_point("consolidated")
            _commit.commit(root, stage, durable=durable)


def append(
    obj: xr.Dataset | xr.DataArray,
    store: str | os.PathLike,
    group: str,
    dim: str = "trial",
    *,
    durable: bool = False,
) -> None:
    """Append ``obj`` along ``dim`` to an existing group, atomically, without rewriting it.

    Committed like :func:`save` (a new version built beside the archive and
    exchanged with it in one step). Existing chunk files are hard-linked into
    the new version (no copy);
    only new chunks, the last partial chunk along ``dim`` and metadata are
    written. Every other dim must match the stored group (sizes, coordinate
    labels, units); the appended ``dim`` labels must be new.

    Parameters
    ----------
    obj : xarray.Dataset or DataArray
        Variables along ``dim`` (variables without ``dim`` must equal the
        stored ones and are not rewritten).
    store : str or os.PathLike
        Archive directory.
    group : str
        Existing group, e.g. ``"sub-01/sensor"``.
    dim : str
        Dimension to append along (default ``"trial"``).
    durable : bool
        fsync the new version before and the parent directory after the
        commit (power-loss safety), as for :func:`save`.

    Raises
    ------
    ArchiveError
        Missing group, or ``obj`` incompatible with it (naming the variable,
        coordinate or labels at fault).
    """
    root, parts = _layout.archive_path(store), _layout.group_parts(group)
    if not parts:
        raise ArchiveError("`group` must name a group to append to, e.g. 'sub-01/sensor'")
    ds = _as_dataset(obj)
    _check_variable_names(ds, parts)
    problems = _kinds.schema_problems(ds, _kinds.group_kind(parts))
    if problems:
        raise SchemaError(f"cannot append to {_layout.group_name(parts)}: {problems[0][1]}")
    if _layout.node_metadata(root) is None:
        raise ArchiveError(f"no archive at {root}")
    with _commit.writer_lock(root):
        _layout.check_root(root)
        _commit.collect(root)
        target = root.joinpath(*parts)
        meta = _layout.node_metadata(target)
        if meta is None or meta.get("node_type") != "group":
            raise ArchiveError(f"{root} has no group {_layout.group_name(parts)} to append to")
        damaged = _layout.group_file_problems(target)
        if damaged:
            raise ArchiveError(f"group {_layout.group_name(parts)} is damaged: {damaged[0][1]}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ZARR_WARNINGS)
            stored = xr.open_zarr(str(target), consolidated=False, zarr_format=3, chunks=None)
        new = _conform_append(ds, stored, dim, _layout.group_name(parts))
        with _commit.stage(root, keep=None) as stage:
            staged = stage.joinpath(*parts)
            (staged / _layout.MARKER).unlink()
            largest = max(
                (
                    v.dtype.itemsize * math.prod(map(max, v.chunks))
                    for v in new.variables.values()
                    if v.chunks
                ),
                default=0,
            )
            with (
                warnings.catch_warnings(),
                _encoding.chunk_parallel_codecs(),
                _store_pool(new, largest) as store_kwargs,
            ):
                warnings.filterwarnings("ignore", message=_ZARR_WARNINGS)
                new.to_zarr(
                    str(staged),
                    mode="a",
                    append_dim=dim,
                    consolidated=False,
                    zarr_format=3,
                    write_empty_chunks=True,
                    align_chunks=_encoding.is_lazy(new),
                    chunkmanager_store_kwargs=store_kwargs,
                )
            _commit.fault_point("staged")
            _record_append(staged, dim, new.sizes[dim])
            _layout.write_manifest(staged)
            _commit.fault_point("manifests")
            _layout.consolidate(stage)
            _commit.fault_point("consolidated")
            _commit.commit(root, stage, durable=durable)


# --------------------------------------------------------------------------- helpers


def _as_dataset(obj: Any) -> xr.Dataset:
    if isinstance(obj, xr.DataArray):
        return obj.to_dataset(name=obj.name if obj.name is not None else "data")
    if isinstance(obj, xr.Dataset):
        return obj
    raise ArchiveError(
        f"`obj` must be an xarray Dataset, DataArray or DataTree, got {describe(obj)}"
    )


def _nodes(obj: Any) -> list[tuple[tuple[str, ...], xr.Dataset]]:
    """``(relative parts, own dataset)`` of every node to write."""
    if isinstance(obj, xr.DataTree):
        return [
            (_layout.group_parts(path if path != "." else None), node.to_dataset(inherit=False))
            for path, node in obj.subtree_with_keys
        ]
    return [((), _as_dataset(obj))]


def _check_variable_names(ds: xr.Dataset, parts: tuple[str, ...]) -> None:
    """Every variable and coordinate name is a valid node name (:mod:`._names`)."""
    for name in ds.variables:
        _names.check_name(name, f"variable name in {_layout.group_name(parts)}")


def _check_writable(root: Path) -> None:
    """Refuse a directory that is neither empty nor an archive, and newer archives."""
    if _layout.node_metadata(root) is not None:
        _layout.check_root(root)
        return
    foreign = [p.name for p in root.iterdir() if p.name != _commit.META]
    if foreign:
        raise ArchiveError(
            f"{root} is a non-empty directory but not an archive (holds {sorted(foreign)[:3]}); "
            "not writing"
        )


def _check_target(root: Path, parts: tuple[str, ...]) -> None:
    """Every ancestor of the target group, and the target itself, is a group or absent."""
    for depth in range(1, len(parts) + 1):
        meta = _layout.node_metadata(root.joinpath(*parts[:depth]))
        if meta is not None and meta.get("node_type") != "group":
            raise ArchiveError(
                f"{_layout.group_name(parts[:depth])} is an array in {root}, not a group: "
                f"cannot save the group {_layout.group_name(parts)}"
            )


def _root_attrs(root: Path) -> dict[str, Any]:
    """Root attrs for a rewritten root: a new archive's, keeping the original ``created``."""
    attrs = _layout.root_attrs()
    previous = _layout.node_metadata(root) or {}
    if "created" in previous.get("attributes", {}):
        attrs["created"] = previous["attributes"]["created"]
    return attrs


def _write_group(
    ds: xr.Dataset, path: Path, chunks: Mapping[str, int] | None, compressor: Any
) -> None:
    prepared, encoding = _encoding.prepare(ds, chunks, compressor)
    largest = max(
        (
            ds[n].dtype.itemsize * math.prod(e["chunks"])
            for n, e in encoding.items()
            if "chunks" in e
        ),
        default=0,
    )
    with (
        warnings.catch_warnings(),
        _encoding.chunk_parallel_codecs(),
        _store_pool(prepared, largest) as store_kwargs,
    ):
        warnings.filterwarnings("ignore", message=_ZARR_WARNINGS)
        prepared.to_zarr(
            str(path),
            # a new directory; the root of a new version already holds .laminarray/
            mode="a" if (path / _commit.META).is_dir() else "w-",
            zarr_format=3,
            consolidated=False,
            encoding=encoding,
            write_empty_chunks=True,
            chunkmanager_store_kwargs=store_kwargs,
        )


@contextlib.contextmanager
def _store_pool(ds: xr.Dataset, chunk_bytes: int) -> Iterator[dict[str, Any]]:
    """Dask store options with a thread pool of our own, waited for on exit.

    Leaving the context waits for chunk writes still in flight when another
    task failed, so the caller's cleanup of the staging directory cannot race
    with late writes. A store task spends much of its time waiting (for its
    chunk's disk reads, then for Zarr to compress, checksum and write it on
    other threads), so with one task per core the cores idle: extra tasks (up
    to two per core) run while the chunks in flight stay within
    ``STORE_BYTES_IN_FLIGHT``. An explicit ``num_workers`` in the dask config
    is used as given; other schedulers than dask's threaded one, and eager
    data, are left alone (empty options).

    Parameters
    ----------
    ds : xarray.Dataset
        The data about to be stored.
    chunk_bytes : int
        Size of the largest storage chunk, bytes.
    """
    lazy = any(isinstance(v.data, da.Array) for v in ds.variables.values())
    if not lazy or dask.base.get_scheduler() not in (None, dask.threaded.get):
        yield {}
        return
    configured = dask.config.get("num_workers", None)
    cores = os.cpu_count() or 1
    n_workers = (
        int(configured)
        if configured is not None
        else max(cores, min(2 * cores, STORE_BYTES_IN_FLIGHT // max(chunk_bytes, 1)))
    )
    with ThreadPoolExecutor(n_workers, "laminarray-store") as pool:
        yield {"pool": pool, "num_workers": n_workers}


def _keep_subgroups(target: Path, stage: Path) -> None:
    """Hard-link the existing subgroups of ``target`` into the staged group."""
    for child in target.iterdir():
        meta = _layout.node_metadata(child) if child.is_dir() else None
        if (
            meta is not None
            and meta.get("node_type") == "group"
            and not child.name.startswith(".")
        ):
            if (stage / child.name).exists():
                raise ArchiveError(
                    f"variable {child.name!r} would replace the subgroup of the same name"
                )
            shutil.copytree(child, stage / child.name, copy_function=os.link)


def _conform_append(ds: xr.Dataset, stored: xr.Dataset, dim: str, where: str) -> xr.Dataset:
    """The part of ``ds`` to append, checked against the stored group."""
    if dim not in ds.dims:
        raise ArchiveError(
            f"cannot append to {where} along {dim!r}: `obj` has dims {tuple(ds.dims)}"
        )
    along_new = {n for n, v in ds.variables.items() if dim in v.dims}
    along_old = {n for n, v in stored.variables.items() if dim in v.dims}
    if along_new != along_old:
        raise ArchiveError(
            f"cannot append to {where}: variables along {dim!r} differ; only in the archive "
            f"{sorted(map(str, along_old - along_new))}, only in `obj` "
            f"{sorted(map(str, along_new - along_old))}"
        )
    for name in ds.dims:
        if name != dim and ds.sizes[name] != stored.sizes.get(name):
            raise ArchiveError(
                f"cannot append to {where}: dim {name!r} has size {ds.sizes[name]} in `obj` "
                f"but {stored.sizes.get(name)} in the archive"
            )
    for name, var in stored.variables.items():
        if dim in var.dims or name not in ds.variables:
            continue
        if not np.array_equal(np.asarray(ds[name].values), np.asarray(var.values)):
            raise ArchiveError(
                f"cannot append to {where}: coordinate/variable {name!r} differs from the archive"
            )
    if dim in stored.indexes:
        clash = np.intersect1d(np.asarray(ds[dim].values), np.asarray(stored[dim].values))
        if clash.size:
            raise ArchiveError(
                f"cannot append to {where}: {dim} labels already stored: {clash[:10].tolist()}"
            )
    updates = {}
    for name in along_new:
        old, var = stored.variables[name], ds.variables[name]
        if var.attrs.get("units") != old.attrs.get("units"):
            raise ArchiveError(
                f"cannot append to {where}: {name!r} is in {var.attrs.get('units')!r} but the "
                f"archive holds {old.attrs.get('units')!r}"
            )
        var = var.transpose(*old.dims)
        if old.dtype.kind in "fiub" and var.dtype != old.dtype:
            if not np.can_cast(var.dtype, old.dtype, casting="same_kind"):
                raise ArchiveError(
                    f"cannot append to {where}: {name!r} has dtype {var.dtype}, the archive "
                    f"{old.dtype}"
                )
            var = var.astype(old.dtype)
        elif old.dtype.kind in "OTU":
            var = var.astype(object)
        updates[name] = var
    new = xr.Dataset(
        {n: v for n, v in updates.items() if n not in stored.coords},
        coords={n: v for n, v in updates.items() if n in stored.coords},
        attrs=stored.attrs,  # xarray rewrites the group attrs on append: keep them
    )
    return new.drop_encoding()


def _record_append(stage: Path, dim: str, count: int) -> None:
    """Add an entry to the staged group's provenance: what was appended, when, by whom."""
    meta = _layout.read_json(stage / _layout.ZARR_JSON)
    attrs = meta.setdefault("attributes", {})
    record = attrs.setdefault("provenance", {})
    entry = _provenance.make_provenance(
        "laminarray.archive.append", {"dim": dim, "count": int(count)}
    )
    record.setdefault("appended", []).append(
        {k: entry[k] for k in ("function", "parameters", "written")}
    )
    _layout.write_json(stage / _layout.ZARR_JSON, meta)
