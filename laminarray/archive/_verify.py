"""Full integrity check of a study archive: every chunk, checksum, manifest and schema."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import warnings

import numpy as np
import xarray as xr
import zarr

from .._validation import ArchiveError
from . import _kinds, _layout
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

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        checked = f"{self.n_groups} groups, {self.n_arrays} arrays, {self.n_chunks} chunks re-read"
        if self.ok:
            return f"{self.path}: OK ({checked})"
        lines = [f"{self.path}: {len(self.problems)} problem(s) ({checked})"]
        return "\n".join(lines + [f"  {p}" for p in self.problems])


def verify(store: str | os.PathLike) -> VerifyReport:
    """Re-read every chunk of an archive and check checksums, manifests and schemas.

    Checks, per group: the completion marker and the chunk manifest against
    the files on disk; every chunk decodes (crc32c checksum, codecs); the main
    variables of known groups are finite; the data-model validator of known
    group kinds (mesh, sensor, forward, inverse, source) passes; the group is
    in the consolidated metadata. Memory stays bounded by one chunk.

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
        _layout.check_root(root)
    except ArchiveError as exc:
        report.problems.append(Problem("/", None, str(exc)))
        return report
    staging = _layout.staging_root(root)
    if staging.is_dir() and any(staging.glob("*" + _layout.JOURNAL_SUFFIX)):
        report.problems.append(Problem("/", None, "an interrupted write awaits recovery"))
    consolidated = _layout.read_json(root / _layout.ZARR_JSON).get("consolidated_metadata") or {}
    listed = set((consolidated.get("metadata") or {}).keys())
    strict = StrictStore.at(root)
    for parts, path in _layout.iter_groups(root):
        report.n_groups += 1
        name = _layout.group_name(parts)
        rel = "/".join(parts)
        if parts and rel not in listed:
            report.problems.append(Problem(name, None, "missing from the consolidated metadata"))
        report.problems += [Problem(name, v, m) for v, m in _layout.group_file_problems(path)]
        kind = _kinds.group_kind(parts)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component")
            try:
                ds = xr.open_zarr(strict, group=rel or None, consolidated=False, zarr_format=3)
            except Exception as exc:
                report.problems.append(Problem(name, None, f"cannot be opened: {exc}"))
                continue
        finite = set(_kinds.main_variables(ds, kind))
        for array_name, meta in _layout.group_arrays(path).items():
            report.n_arrays += 1
            report.problems += _check_chunks(
                strict, rel, name, array_name, meta, array_name in finite, report
            )
        report.problems += [Problem(name, v, m) for v, m in _kinds.schema_problems(ds, kind)]
    return report


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
