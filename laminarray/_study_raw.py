"""Raw study directories: laMEG/SPM/FreeSurfer inputs opened in place as a :class:`~laminarray.Study`.

The layout (docs/study.md) is BIDS-like, one folder per subject::

    <root>/
      sub-01/                                   a subject: a folder named sub-*
        [any/depth/][ses-01/][...]/
          <name>.mat + <name>.dat               SPM M/EEG datasets (sessions, runs)
          SPMgainmatrix_<name>_<k>.mat          SPM gain of dataset <name>
          multilayer.<N>.ds.<orientation>.<fixed|not_fixed>.gii   laMEG multilayer mesh
          surf/{lh,rh}.{pial,white}             or a FreeSurfer subject directory
                                                (with ../mri/orig.mgz, ../label/?h.aparc.annot)

Opening lists the files (nothing is read); accessors read lazily through
:mod:`laminarray.io` and :mod:`laminarray.surf`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from ._validation import LaminarrayError
from .study import Study, Subject

__all__ = ["RawStudy", "RawSubject", "open_raw_study"]

SUBJECT_PREFIX = "sub-"
SESSION_PREFIX = "ses-"
MULTILAYER = re.compile(r"^multilayer\.(\d+)\.ds\.([A-Za-z_]+)\.(fixed|not_fixed)\.gii$")
GAIN = re.compile(r"^SPMgainmatrix_(.+)_(\d+)\.mat$")
#: a head model's inner skull: FreeSurfer/MNE ``bem/inner_skull.surf`` or laMEG's GIFTI
HEAD_SURFACE = re.compile(r"^(inner_skull\.surf|origiskull.*\.surf\.gii)$")
LOOKED_FOR = (
    "subject folders named sub-* holding any of: SPM M/EEG datasets (<name>.mat beside "
    "<name>.dat, optionally under ses-* folders), SPM gain files "
    "(SPMgainmatrix_<name>_<k>.mat), a laMEG multilayer mesh "
    "(multilayer.<N>.ds.<orientation>.<fixed|not_fixed>.gii) or a FreeSurfer subject "
    "directory (surf/?h.pial and surf/?h.white), or head surfaces (bem/inner_skull.surf, "
    "laMEG's mri/origiskull*.surf.gii)"
)


@dataclass
class RawInputs:
    """The files of one subject, found by :func:`scan_subject` (nothing read yet)."""

    folder: Path
    datasets: dict[str | None, Path] = field(default_factory=dict)
    gain_files: list[Path] = field(default_factory=list)
    meshes: list[Path] = field(default_factory=list)
    freesurfer: list[Path] = field(default_factory=list)
    heads: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.datasets or self.gain_files or self.meshes or self.freesurfer or self.heads
        )


@dataclass(frozen=True)
class RawOptions:
    """How a raw study is read: the multilayer mesh to pick and the channels to keep."""

    mesh: str | None = None
    channels: str | Sequence[str] = "all"


def open_raw_study(
    root: Path,
    *,
    max_memory: int,
    subjects_dir: str | os.PathLike[str] | None = None,
    mesh: str | None = None,
    channels: str | Sequence[str] = "all",
) -> RawStudy:
    """Scan a raw study directory (see the module docs); called by :func:`laminarray.open_study`."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(SUBJECT_PREFIX))
    if not folders:
        found = sorted(p.name for p in root.iterdir())[:10]
        raise LaminarrayError(
            f"{root} is neither a laminarray archive (no zarr.json) nor a raw study directory: "
            f"looked for {LOOKED_FOR}; found {found}"
        )
    anatomy_root = None if subjects_dir is None else Path(subjects_dir)
    if anatomy_root is not None and not anatomy_root.is_dir():
        raise LaminarrayError(f"`subjects_dir` {str(anatomy_root)!r} is not a directory")
    inputs = {}
    for folder in folders:
        extra = None if anatomy_root is None else anatomy_root / folder.name
        found = scan_subject(folder, extra if extra is not None and extra.is_dir() else None)
        if not found:
            raise LaminarrayError(f"{folder} holds no recognised input: looked for {LOOKED_FOR}")
        inputs[folder.name] = found
    return RawStudy(root, inputs, max_memory=max_memory, options=RawOptions(mesh, channels))


def scan_subject(folder: Path, anatomy: Path | None = None) -> RawInputs:
    """List a subject's SPM datasets, gain files and meshes (file names only).

    Parameters
    ----------
    folder : Path
        The subject folder ``<root>/sub-XX``.
    anatomy : Path, optional
        ``<subjects_dir>/sub-XX``, searched for meshes and FreeSurfer surfaces.

    Returns
    -------
    RawInputs
        ``datasets`` keyed by session (see :func:`session_keys`).
    """
    found = RawInputs(folder)
    headers = []
    for base in (folder, anatomy):
        if base is None:
            continue
        for path in sorted(base.rglob("*")):
            name = path.name
            if MULTILAYER.match(name):
                found.meshes.append(path)
            elif (
                name in ("lh.pial", "rh.pial")
                and path.parent.name == "surf"
                and _hemispheres(path.parent)
                and path.parent not in found.freesurfer
            ):
                found.freesurfer.append(path.parent)
            elif HEAD_SURFACE.match(name) and path.parent not in found.heads:
                found.heads.append(path.parent)
            elif base is folder and name.endswith(".mat"):
                if GAIN.match(name):
                    found.gain_files.append(path)
                elif path.with_suffix(".dat").is_file():
                    headers.append(path)
    found.datasets = session_keys(folder, headers)
    return found


def session_keys(folder: Path, headers: list[Path]) -> dict[str | None, Path]:
    """Name the sessions of a subject's SPM datasets.

    One dataset outside any ``ses-*`` folder is the subject's single session
    (key None). Otherwise, when every dataset sits in its own ``ses-*``
    folder, the keys are those folder names; else they are the datasets' file
    names without ``.mat`` (which must then be unique).
    """
    labels = [
        [p for p in h.relative_to(folder).parts[:-1] if p.startswith(SESSION_PREFIX)]
        for h in headers
    ]
    if len(headers) == 1 and not labels[0]:
        return {None: headers[0]}
    sessions = [label[-1] if label else None for label in labels]
    if None not in sessions and len(set(sessions)) == len(sessions):
        keys: list[str] = [str(s) for s in sessions]
    else:
        keys = [h.stem for h in headers]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            clashing = [str(h) for h in headers if h.stem in duplicates]
            raise LaminarrayError(
                f"{folder} holds several SPM datasets named {duplicates} ({clashing}); "
                "session names come from ses-* folders or file names: rename one"
            )
    return dict(sorted(zip(keys, headers, strict=True)))


class RawStudy(Study):
    """A study over a raw directory of SPM/FreeSurfer inputs (see :func:`laminarray.open_study`)."""

    _kind = " (raw directory)"

    def __init__(
        self, root: Path, inputs: dict[str, RawInputs], *, max_memory: int, options: RawOptions
    ) -> None:
        self.path = root
        self.inputs = inputs
        self.max_memory = max_memory
        self.options = options

    @property
    def subjects(self) -> list[str]:
        """Subject folder names (``sub-*``), sorted."""
        return list(self.inputs)

    def _subject(self, name: str) -> RawSubject:
        return RawSubject(name, self.inputs[name], self.max_memory, self.options)


class RawSubject(Subject):
    """One subject of a raw directory: the :class:`~laminarray.Subject` accessors over files.

    Sensor data come from :func:`laminarray.io.read_spm` (lazy over the
    ``.dat``), the gain from :func:`laminarray.io.read_spm_gain`, the mesh
    from :func:`laminarray.io.read_gifti_mesh` or
    :func:`laminarray.surf.load_surfaces`, and the inverses ``inv<k>`` (or
    ``<session>_inv<k>`` with several sessions) from each dataset's
    ``D.other.inv{k}`` via :func:`laminarray.io.read_spm_inversion`. Each
    file is read at most once per handle.
    """

    def __init__(
        self, name: str, inputs: RawInputs, max_memory: int, options: RawOptions = RawOptions()
    ) -> None:
        self.name = name
        self.inputs = inputs
        self.max_memory = max_memory
        self.options = options
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"<Subject {self.name} (raw directory): {self._contents()}>"

    def _contents(self) -> str:
        found = self.inputs
        return (
            f"{found.folder} holds {len(found.datasets)} SPM dataset(s), "
            f"{len(found.gain_files)} gain file(s), {len(found.meshes)} multilayer mesh(es) and "
            f"{len(found.freesurfer)} FreeSurfer surf/ folder(s)"
        )

    def _cached(self, key: Any, read: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    # ------------------------------------------------------------------ anatomy

    def _mesh_source(self) -> tuple[str, Path, int]:
        """``("gifti", file, n_layers)`` or ``("freesurfer", surf folder, 2)``."""
        meshes = self.inputs.meshes
        pattern = self.options.mesh
        if pattern is not None:
            meshes = [p for p in meshes if fnmatch.fnmatch(p.name, pattern)]
            if not meshes:
                raise LaminarrayError(
                    f"no multilayer mesh of {self.name!r} matches mesh={pattern!r}; "
                    f"found {[p.name for p in self.inputs.meshes]}"
                )
        if len(meshes) > 1:
            raise LaminarrayError(
                f"subject {self.name!r} has several multilayer meshes "
                f"{[str(p) for p in meshes]}: pick one with open_study(..., mesh=<file name>)"
            )
        if meshes:
            match = MULTILAYER.match(meshes[0].name)
            assert match is not None  # scan_subject kept only matching names
            return "gifti", meshes[0], int(match.group(1))
        if len(self.inputs.freesurfer) == 1:
            return "freesurfer", self.inputs.freesurfer[0], 2
        if self.inputs.freesurfer:
            raise LaminarrayError(
                f"subject {self.name!r} has several FreeSurfer surf/ folders "
                f"{[str(p) for p in self.inputs.freesurfer]}; keep one"
            )
        raise LaminarrayError(
            f"subject {self.name!r} has no mesh: looked under {self.inputs.folder} for "
            "multilayer.<N>.ds.<orientation>.<fixed|not_fixed>.gii (laMEG) or "
            "surf/?h.pial + surf/?h.white (FreeSurfer); pass open_study(..., subjects_dir=) "
            "if the surfaces are in a FreeSurfer SUBJECTS_DIR"
        )

    def mesh(self) -> xr.Dataset:
        """The laminar mesh: the laMEG multilayer GIFTI, else FreeSurfer's pial and white."""
        return self._cached("mesh", self._read_mesh)

    def _read_mesh(self) -> xr.Dataset:
        kind, path, n_layers = self._mesh_source()
        if kind == "gifti":
            from .io import read_gifti_mesh

            match = MULTILAYER.match(path.name)
            assert match is not None
            mesh = read_gifti_mesh(path, n_layers=n_layers)
            return mesh.assign_attrs(
                source_file=str(path),
                orientation_method=match.group(2),
                fixed_orientation=match.group(3) == "fixed",
            )
        from .surf import load_surfaces

        hemis = _hemispheres(path)
        volume = path.parent / "mri" / "orig.mgz"
        mesh = load_surfaces(
            {hemi: path / f"{hemi}.pial" for hemi in hemis},
            {hemi: path / f"{hemi}.white" for hemi in hemis},
            volume=volume if volume.is_file() else None,
        )
        return mesh.assign_attrs(source_file=str(path))

    def head(self) -> xr.Dataset:
        """The head model read from the folder holding the inner skull (``bem/`` or ``mri/``)."""
        if not self.inputs.heads:
            raise LaminarrayError(
                f"subject {self.name!r} has no head surfaces: looked for bem/inner_skull.surf "
                "(FreeSurfer/MNE) and mri/origiskull*.surf.gii (laMEG)"
            )
        if len(self.inputs.heads) > 1:
            raise LaminarrayError(
                f"subject {self.name!r} has head surfaces in several folders "
                f"{[str(p) for p in self.inputs.heads]}; keep one"
            )
        from .forward import read_head_model

        return self._cached("head", lambda: read_head_model(self.inputs.heads[0]))

    def _n_layers(self) -> int:
        return self._mesh_source()[2]

    def _annotations(self) -> dict[str, Path]:
        """``?h.aparc.annot`` beside a FreeSurfer mesh's surf/ folder (none for GIFTI meshes)."""
        if not (self.inputs.meshes or self.inputs.freesurfer):
            return {}
        kind, path, _ = self._mesh_source()
        if kind != "freesurfer":
            return {}
        files = {h: path.parent / "label" / f"{h}.aparc.annot" for h in _hemispheres(path)}
        return files if files and all(p.is_file() for p in files.values()) else {}

    # ------------------------------------------------------------------ storage hooks

    def _has_sensor(self) -> bool:
        return bool(self.inputs.datasets)

    def _session_names(self, kind: str) -> list[str]:
        table = self._sensor_files() if kind == "sensor" else self._gain_files()
        return [] if list(table) == [None] else [str(k) for k in table]

    def _sensor_files(self) -> dict[str | None, Path]:
        if not self.inputs.datasets:
            raise LaminarrayError(
                f"subject {self.name!r} has no SPM M/EEG dataset (<name>.mat beside <name>.dat) "
                f"under {self.inputs.folder}"
            )
        return self.inputs.datasets

    def _gain_files(self) -> dict[str | None, Path]:
        """The gain file per session (the lowest index ``k`` of each dataset; one = all)."""
        files = self.inputs.gain_files
        if not files:
            raise LaminarrayError(
                f"subject {self.name!r} has no SPM gain file (SPMgainmatrix_<dataset>_<k>.mat) "
                f"under {self.inputs.folder}"
            )
        if len(files) == 1:
            return {None: files[0]}
        by_dataset = {(p.parent, p.stem): key for key, p in self.inputs.datasets.items()}
        chosen: dict[str | None, tuple[int, Path]] = {}
        for path in files:
            match = GAIN.match(path.name)
            assert match is not None
            key = (path.parent, match.group(1))
            if key not in by_dataset:
                raise LaminarrayError(
                    f"subject {self.name!r} has several gain files and {path} belongs to no "
                    f"dataset beside it (expected SPMgainmatrix_<dataset>_<k>.mat next to "
                    f"<dataset>.mat)"
                )
            session, index = by_dataset[key], int(match.group(2))
            if session not in chosen or index < chosen[session][0]:
                chosen[session] = (index, path)
        if len(chosen) == 1:
            return {None: next(iter(chosen.values()))[1]}
        return {key: path for key, (_, path) in sorted(chosen.items())}

    def _session_data(self, kind: str, session: str | None) -> xr.Dataset:
        if kind == "sensor":
            return self._cached(("sensor", session), lambda: self._read_sensor(session))
        return self._cached(("forward", session), lambda: self._read_gain(session))

    def _read_sensor(self, session: str | None) -> xr.Dataset:
        from .io import read_spm

        return read_spm(self._sensor_files()[session], self.options.channels)

    def _read_gain(self, session: str | None) -> xr.Dataset:
        from .io import read_spm_gain

        path = self._gain_files()[session]
        gain = read_spm_gain(path, self._n_layers())
        n_mesh = self.mesh().sizes["vertex"]
        if gain.sizes["vertex"] != n_mesh:
            raise LaminarrayError(
                f"{path} holds {gain.sizes['vertex']} vertices per layer but the mesh "
                f"({self._mesh_source()[1]}) has {n_mesh}: the gain was computed on another mesh"
            )
        return gain.to_dataset()

    def _inverse_table(self) -> dict[str, tuple[str | None, Path, int]]:
        """``name -> (session, dataset, k)`` for every ``D.other.inv{k}`` (reads the headers)."""

        def read() -> dict[str, tuple[str | None, Path, int]]:
            from .io import n_inversions

            datasets = self.inputs.datasets
            table = {}
            for session, path in datasets.items():
                prefix = "" if len(datasets) == 1 else f"{session}_"
                for index in range(n_inversions(path)):
                    table[f"{prefix}inv{index + 1}"] = (session, path, index)
            return table

        return self._cached("inverses", read)

    def _names(self, kind: str) -> list[str]:
        if kind == "inverse":
            return sorted(self._inverse_table())
        if kind == "rois":
            return ["aparc"] if self._annotations() else []
        return []

    def _load(self, kind: str, name: str) -> xr.Dataset:
        if kind == "rois":
            from .rois import parcellation_from_annot

            return self._cached(
                "aparc", lambda: parcellation_from_annot(self.mesh(), self._annotations())
            )
        from .io import read_spm_inversion

        _, path, index = self._inverse_table()[name]
        return self._cached(("inverse", name), lambda: read_spm_inversion(path, index))

    def _inverse_session(self, name: str | None) -> str | None:
        table = self._inverse_table()
        if name is None and len(table) == 1:
            name = next(iter(table))
        if name not in table:
            return None  # inverse() reports the unknown name
        return table[name][0]

    def _archive_items(self) -> Iterator[tuple[str, Any, Path]]:
        """``(group, object, source file)`` of everything found, for :meth:`Study.to_archive`."""
        if self.inputs.meshes or self.inputs.freesurfer:
            yield "mesh", self.mesh(), self._mesh_source()[1]
        if len(self.inputs.heads) == 1:
            yield "head", self.head(), self.inputs.heads[0]
        if self.inputs.datasets:
            for session in self.sessions:
                group = "sensor" if session is None else f"sensor/{session}"
                yield group, self.sensor(session=session), self._sensor_files()[session]
        if self.inputs.gain_files:
            for session, path in self._gain_files().items():
                group = "forward" if session is None else f"forward/{session}"
                yield group, self._session_data("forward", session), path
        for name, (_, path, _) in self._inverse_table().items():
            yield f"inverse/{name}", self.inverse(name), path
        for name in self._names("rois"):
            yield f"rois/{name}", self._load("rois", name), self._annotations()["lh"].parent


def _hemispheres(surf: Path) -> list[str]:
    """Hemispheres with both ``?h.pial`` and ``?h.white`` in a FreeSurfer ``surf/`` folder."""
    return [
        h
        for h in ("lh", "rh")
        if (surf / f"{h}.pial").is_file() and (surf / f"{h}.white").is_file()
    ]
