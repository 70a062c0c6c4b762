"""Full integrity check of a study archive: every chunk, checksum, manifest and schema."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .._validation import ArchiveError
from . import _commit, _kinds, _layout
from ._snapshot import Snapshot
from ._store import StrictStore

_MAX_CHUNKS_REPORTED = 3


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem found by :func:`verify`: where (group, variable) and what."""

    group: str
    variable: str | None
    message: str

    def __str__(self) -> str:
        where = self.group + (f" {self.variable}" if self.variable else "")
        return f"{where}: {self.message}"


@dataclasses.dataclass
class VerifyReport:
    """Result of :func:`verify`: the problems found and what was checked."""

    path: str
    problems: list[Problem] = dataclasses.field(default_factory=list)
    n_groups: int = 0
    n_arrays: int = 0
    n_chunks: int = 0
    leftovers: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        checked = f"{self.n_groups} groups, {self.n_arrays} arrays, {self.n_chunks} chunks re-read"
        notes = [
            f"  leftover of an interrupted or superseded write (removed by the next write): {p}"
            for p in self.leftovers
        ]
        if self.ok:
            return "\n".join([f"{self.path}: OK ({checked})", *notes])
        lines = [f"{self.path}: {len(self.problems)} problem(s) ({checked})"]
        return "\n".join(lines + [f"  {p}" for p in self.problems] + notes)


def verify(store: str | os.PathLike) -> VerifyReport:
    """Re-read every chunk of an archive and check checksums, manifests and schemas.

    Checks one snapshot (the version committed when called): the schema
    version; the root's consolidated metadata, which readers use, against
    every node's own ``zarr.json`` (entries missing, extra or different:
    shapes, codecs, attrs); per group, the completion marker and the chunk
    manifest against the files on disk; every chunk decodes (crc32c
    checksum, codecs); the main variables of known groups are finite; the
    data-model validator of known group kinds (mesh, sensor, forward,
    inverse, source) passes. Leftovers of interrupted writes are listed in
    ``report.leftovers``. A damaged archive is always reported, never
    raised. Memory stays bounded by one chunk.

    Parameters
    ----------
    store : str or os.PathLike
        Archive directory.

    Returns
    -------
    VerifyReport
        ``report.ok`` is True when nothing is wrong; ``report.problems`` lists
        each :class:`Problem` by group and variable; ``str(report)`` is a
        readable summary.
    """
    root = _layout.archive_path(store)
    report = VerifyReport(str(root))
    try:
        snapshot = Snapshot(root)
        _layout.check_root(snapshot.path, root)
    except (ArchiveError, OSError) as exc:
        report.problems.append(Problem("/", None, str(exc)))
        return report
    report.leftovers = [str(p) for p in _commit.leftovers(root)]
    if (snapshot.path / _layout.LEGACY_STAGING).exists():
        report.leftovers.append(str(root / _layout.LEGACY_STAGING))
    try:
        report.problems += [
            Problem(_layout.group_name(group), variable, message)
            for group, variable, message in _layout.consolidation_problems(snapshot.path)
        ]
        groups = list(_layout.iter_groups(snapshot.path))
    except (ArchiveError, OSError) as exc:
        report.problems.append(Problem("/", None, f"cannot list the groups: {exc}"))
        return report
    strict = StrictStore.of(snapshot)
    for parts, path in groups:
        report.n_groups += 1
        try:
            report.problems += _check_group(strict, parts, path, report)
        except Exception as exc:  # a damaged archive is reported, never raised
            report.problems.append(
                Problem(
                    _layout.group_name(parts),
                    None,
                    f"cannot be checked: {type(exc).__name__}: {exc}",
                )
            )
    return report


def _check_group(
    strict: StrictStore, parts: tuple[str, ...], path: Path, report: VerifyReport
) -> list[Problem]:
    """Problems of one group: files against its manifest, chunks, schema."""
    name = _layout.group_name(parts)
    rel = "/".join(parts)
    problems = [Problem(name, v, m) for v, m in _layout.group_file_problems(path)]
    kind = _kinds.group_kind(parts)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not recognized as a component")
        try:
            ds = xr.open_zarr(strict, group=rel or None, consolidated=False, zarr_format=3)
        except Exception as exc:
            return [*problems, Problem(name, None, f"cannot be opened: {exc}")]
    finite = set(_kinds.main_variables(ds, kind))
    for array_name, meta in _layout.group_arrays(path).items():
        report.n_arrays += 1
        problems += _check_chunks(
            strict, rel, name, array_name, meta, array_name in finite, report
        )
    try:
        problems += [Problem(name, v, m) for v, m in _kinds.schema_problems(ds, kind)]
    except Exception as exc:
        problems.append(Problem(name, None, f"the schema check failed: {exc}"))
    return problems


def _check_chunks(
    store: StrictStore,
    rel: str,
    group: str,
    name: str,
    meta: dict,
    check_finite: bool,
    report: VerifyReport,
) -> list[Problem]:
    """Decode every chunk of one array; report undecodable and non-finite chunks."""
    path = f"{rel}/{name}" if rel else name
    try:
        array = zarr.open_array(store, path=path, mode="r", zarr_format=3)
    except Exception as exc:
        return [Problem(group, name, f"cannot be opened: {exc}")]
    grid = [range(math.ceil(n / c)) for n, c in zip(array.shape, array.chunks, strict=True)]
    bad: list[str] = []
    non_finite: list[str] = []
    for index in itertools.product(*grid):
        report.n_chunks += 1
        key = "/".join(["c", *map(str, index)]) if index else "c"
        try:
            block = np.asarray(array.get_block_selection(index) if index else array[...])
        except Exception as exc:
            bad.append(f"{key} ({type(exc).__name__}: {exc})")
            continue
        floating = np.issubdtype(block.dtype, np.floating)
        if check_finite and floating and not np.all(np.isfinite(block)):
            non_finite.append(key)
    problems = []
    if bad:
        problems.append(
            Problem(
                group,
                name,
                f"{len(bad)} chunk(s) unreadable: {'; '.join(bad[:_MAX_CHUNKS_REPORTED])}",
            )
        )
    if non_finite:
        problems.append(
            Problem(
                group, name, f"NaN/inf values in {len(non_finite)} chunk(s), e.g. {non_finite[:3]}"
            )
        )
    return problems
