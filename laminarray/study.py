"""One cheap handle per subject over a study archive or a raw SPM/FreeSurfer directory.

>>> study = laminarray.open_study("study.zarr")        # doctest: +SKIP
>>> sub = study.subject("sub-01")                        # doctest: +SKIP
>>> src = sub.sources(roi="precentral", layers=["pial", "white"], time=(0.0, 0.5))  # doctest: +SKIP
>>> src.mean("trial").compute()                           # doctest: +SKIP

Opening reads metadata only; every accessor returns lazy, labelled xarray
objects restricted *before* anything is computed. A directory of raw inputs
(``sub-*/[ses-*/]`` SPM datasets, SPM gain files, a laMEG multilayer GIFTI
or FreeSurfer surfaces; see docs/study.md) opens
with the same API, and :meth:`Study.to_archive` converts it once.

The keywords mean the same on every accessor:

``roi``
    an ROI query (:mod:`laminarray.rois`): a region or category name, a stored
    ROI name, a list of them, ``"all"``, or a boolean mask / vertex labels.
``layers``
    a layer name or a list of names.
``vertices``
    vertex labels.
``time``
    ``(start, stop)`` in seconds (inclusive), or a ``slice``.
``trials``
    trial labels (a list, or a ``slice`` of labels).

``compute=True`` loads the selection, refusing (:class:`MemoryBudgetError`)
when it would exceed the study's ``max_memory``. In laminarray data, NaN means
"no estimate" (a bad channel, a rejected trial), which is distinct from 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import rois as _rois
from ._validation import ArchiveError, LaminarrayError
from .config import get_max_memory
from .plausibility import check_selection
from .schema import as_str


class MemoryBudgetError(LaminarrayError, MemoryError):
    """A request would materialise more data than the memory budget allows."""


def open_study(
    path: str | os.PathLike[str],
    *,
    max_memory: str | int | None = None,
    subjects_dir: str | os.PathLike[str] | None = None,
    mesh: str | None = None,
    channels: str | Sequence[str] = "all",
) -> Study:
    """Open a study archive, or a directory of raw SPM/FreeSurfer inputs, as a :class:`Study`.

    Parameters
    ----------
    path : str or path-like
        A study archive (see :mod:`laminarray.archive`; recognised by its
        ``zarr.json``), or a directory of raw inputs laid out as
        ``<path>/sub-XX/[ses-YY/]...``: SPM M/EEG datasets (``*.mat`` +
        ``*.dat``), SPM gain files (``SPMgainmatrix_<dataset>_<k>.mat``) and
        a laMEG multilayer GIFTI (``multilayer.<N>.ds.<orientation>.<fixed|
        not_fixed>.gii``) or a FreeSurfer subject directory (``surf/?h.pial``,
        ``surf/?h.white``); see docs/study.md for the rules.
    max_memory : str or int, optional
        Budget for ``compute=True`` requests (e.g. ``"2 GB"``); default from
        ``$LAMINARRAY_MAX_MEMORY``, the user config file, or 4 GiB.
    subjects_dir : str or path-like, optional
        Raw directories only: a FreeSurfer ``SUBJECTS_DIR`` whose
        ``<subjects_dir>/<subject>/`` is searched for the anatomy too (laMEG
        keeps surfaces there, e.g. ``fs/sub-104/surf/laminar/``).
    mesh : str, optional
        Raw directories only: file name (``fnmatch`` pattern) of the
        multilayer GIFTI to use when a subject has several, e.g.
        ``"multilayer.11.ds.link_vector.fixed.gii"``.
    channels : {"all", "MEG", "good", "EEG"} or list of str
        Raw directories only: the channels :func:`laminarray.io.read_spm`
        keeps (``"good"`` = good MEG channels, laMEG's selection).

    Returns
    -------
    Study
        Opening reads the archive's metadata, or lists the raw files (and
        reads nothing else); accessors read lazily.

    Raises
    ------
    LaminarrayError
        For a raw directory without recognisable inputs (the message lists
        what was looked for); :class:`~laminarray.ArchiveError` for a broken
        archive.
    """
    budget = get_max_memory(max_memory)
    root = Path(path)
    if root.is_dir() and not (root / "zarr.json").is_file():
        from ._study_raw import open_raw_study

        return open_raw_study(
            root, max_memory=budget, subjects_dir=subjects_dir, mesh=mesh, channels=channels
        )
    all_channels = isinstance(channels, str) and channels == "all"
    if subjects_dir is not None or mesh is not None or not all_channels:
        raise LaminarrayError(
            f"`subjects_dir=`, `mesh=` and `channels=` apply to raw directories only; "
            f"{path} is an archive (select channels with .sel(channel=...))"
        )
    from .archive import open as open_archive

    return Study(open_archive(path), max_memory=budget, path=path)


class Study:
    """All subjects of a study (an archive; raw directories use a subclass).

    Attributes
    ----------
    subjects : list of str
        Subject names (top-level groups).
    max_memory : int
        Budget in bytes for ``compute=True`` requests.
    """

    _kind = ""  # shown in the repr

    def __init__(self, tree: xr.DataTree, *, max_memory: int, path: Any = None) -> None:
        self.tree = tree
        self.max_memory = max_memory
        self.path = path

    def __repr__(self) -> str:
        return (
            f"<Study {self.path!s}{self._kind}: {len(self.subjects)} subjects {self.subjects[:5]}>"
        )

    @property
    def subjects(self) -> list[str]:
        """Subject names, in archive order."""
        return list(self.tree.children)

    def _subject(self, name: str) -> Subject:
        return Subject(name, self.tree[name], self.max_memory)

    def subject(self, key: str | int) -> Subject:
        """The handle of one subject, by name or position."""
        names = self.subjects
        if isinstance(key, int | np.integer) and not isinstance(key, bool):
            if not -len(names) <= key < len(names):
                raise LaminarrayError(
                    f"subject index {key} out of range for {len(names)} subjects"
                )
            key = names[key]
        if key not in names:
            raise LaminarrayError(f"unknown subject {key!r}; available: {names}")
        return self._subject(str(key))

    def __iter__(self) -> Any:
        return (self.subject(name) for name in self.subjects)

    def __len__(self) -> int:
        return len(self.subjects)

    @property
    def metadata(self) -> pd.DataFrame:
        """One row per trial across subjects and sessions.

        Columns: ``subject``, ``session``, ``trial``, ``condition`` and
        ``bad`` (when the sensor data carry these coordinates).
        """
        frames = [sub._trial_table() for sub in self]
        frames = [f for f in frames if len(f)]
        columns = ["subject", "session", "trial", "condition", "bad"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def to_archive(
        self,
        path: str | os.PathLike[str],
        *,
        subjects: Sequence[str] | None = None,
        mode: str = "w-",
        progress: bool | None = None,
    ) -> Path:
        """Write the study (e.g. a raw directory, converted once) to a laminarray archive.

        Every group a subject holds is written with :func:`laminarray.archive.save`
        (atomically, group by group, streaming sensor data chunk by chunk):
        ``mesh``, ``sensor[/<session>]``, ``forward[/<session>]``,
        ``inverse/<name>`` and, from archives, everything else.

        Parameters
        ----------
        path : str or path-like
            Archive directory (created if missing).
        subjects : list of str, optional
            Subjects to write (default all).
        mode : {"w-", "w"}
            ``"w-"`` refuses to replace existing groups, ``"w"`` replaces them.
        progress : bool, optional
            Report each group as it is written, on stderr (default
            :func:`laminarray.options.show_progress`).

        Returns
        -------
        Path
            The archive path; open it with :func:`open_study`.
        """
        from . import archive
        from ._progress import Progress

        with Progress("to_archive", None, "groups written", progress=progress) as bar:
            for name in subjects if subjects is not None else self.subjects:
                sub = self.subject(name)
                for group, obj, source in sub._archive_items():
                    provenance = {
                        "function": "laminarray.study.Study.to_archive",
                        "parameters": {"source": str(source)},
                    }
                    bar.set_stage(f"writing {name}/{group}")
                    archive.save(obj, path, f"{name}/{group}", mode=mode, provenance=provenance)
                    bar.advance()
        return Path(path)


class Subject:
    """Lazy accessors over one subject's groups; see the module docs for the keywords.

    The accessors are written once over a few storage hooks (``_names``,
    ``_load``, ``_session_names``, ``_session_data``, ``mesh``); this class
    implements them over an archive subtree and the raw-directory subject
    (:mod:`laminarray._study_raw`) over files.
    """

    def __init__(self, name: str, node: xr.DataTree, max_memory: int) -> None:
        self.name = name
        self.node = node
        self.max_memory = max_memory

    def __repr__(self) -> str:
        return f"<Subject {self.name}: groups {sorted(self.node.children)}>"

    # ------------------------------------------------------------------ storage hooks

    def _group(self, *parts: str) -> xr.DataTree:
        node = self.node
        for i, part in enumerate(parts):
            if part not in node.children:
                where = "/".join((self.name, *parts[:i]))
                raise ArchiveError(
                    f"subject {self.name!r} has no group {'/'.join(parts)!r}; "
                    f"{where} holds {sorted(node.children)}"
                )
            node = node[part]
        return node

    def _names(self, kind: str) -> list[str]:
        """Names stored under ``kind`` (``inverse``, ``source``, ``results``, ``rois``)."""
        return sorted(self.node[kind].children) if kind in self.node.children else []

    def _load(self, kind: str, name: str) -> xr.Dataset:
        return self._group(kind, name).to_dataset()

    def _session_names(self, kind: str) -> list[str]:
        """Per-session entries of ``sensor`` or ``forward`` (empty: one for all sessions)."""
        return sorted(self._group(kind).children)

    def _session_data(self, kind: str, session: str | None) -> xr.Dataset:
        parts = (kind,) if session is None else (kind, session)
        return self._group(*parts).to_dataset()

    def _inverse_session(self, name: str | None) -> str | None:
        """The session whose sensor data an inverse belongs to (None: the default)."""
        return None

    def _contents(self) -> str:
        """What the subject holds, for error messages."""
        return f"its groups are {sorted(self.node.children)}"

    def _archive_items(self) -> Any:
        """``(group, object, source)`` for every group of the subject, for :meth:`Study.to_archive`."""
        for node in self.node.subtree:
            if node.has_data:
                group = node.relative_to(self.node)
                yield group, node.to_dataset(inherit=False), f"{self.name}/{group}"

    # ------------------------------------------------------------------ shared logic

    def _named(self, kind: str, name: str | None) -> xr.Dataset:
        names = self._names(kind)
        if not names:
            raise LaminarrayError(f"subject {self.name!r} has no {kind}; {self._contents()}")
        if name is None:
            if len(names) != 1:
                raise LaminarrayError(f"subject {self.name!r} has {kind} {names}; pass `name=`")
            name = names[0]
        if name not in names:
            raise LaminarrayError(f"unknown {kind} {name!r} for {self.name!r}; available: {names}")
        return self._load(kind, name)

    def _pick_session(self, kind: str, session: str | None) -> str | None:
        names = self._session_names(kind)
        if not names:
            if session is not None and kind == "sensor":
                raise LaminarrayError(
                    f"subject {self.name!r} has a single session; omit `session=`"
                )
            return None
        if session is None:
            if len(names) > 1:
                raise LaminarrayError(
                    f"subject {self.name!r} has sessions {names}; pass `session=`"
                )
            return names[0]
        if session not in names:
            raise LaminarrayError(f"unknown session {session!r}; available: {names}")
        return session

    def _finish(self, obj: Any, compute: bool) -> Any:
        if not compute:
            return obj
        if obj.nbytes > self.max_memory:
            raise MemoryBudgetError(
                f"this request needs {obj.nbytes / 1e9:.2f} GB but the memory budget is "
                f"{self.max_memory / 1e9:.2f} GB: narrow it with roi=, layers=, vertices=, "
                "trials= or time=, reduce it lazily before computing (e.g. .mean('trial')), "
                "or raise max_memory"
            )
        return obj.compute()

    # ------------------------------------------------------------------ accessors

    def mesh(self) -> xr.Dataset:
        """The laminar mesh (``/<subject>/mesh``)."""
        return self._group("mesh").to_dataset()

    def head(self) -> xr.Dataset:
        """The head model (``/<subject>/head``; see :func:`laminarray.forward.head_model`)."""
        return self._group("head").to_dataset()

    @property
    def sessions(self) -> list[str | None]:
        """Session names, or ``[None]`` for a single one."""
        return list(self._session_names("sensor")) or [None]

    @property
    def inverses(self) -> list[str]:
        """Names of the stored inverses (``/<subject>/inverse/<name>``)."""
        return self._names("inverse")

    def sensor(
        self,
        session: str | None = None,
        trials: Any = None,
        conditions: str | Sequence[str] | None = None,
        time: Any = None,
        *,
        compute: bool = False,
    ) -> xr.Dataset:
        """Sensor data ``data (channel, time, trial)``, restricted lazily."""
        ds = self._session_data("sensor", self._pick_session("sensor", session))
        ds = select(ds, trials=trials, time=time)
        if conditions is not None:
            ds = _select_conditions(ds, conditions)
        return self._finish(ds, compute)

    def gain(
        self,
        roi: Any = None,
        layers: Any = None,
        vertices: Any = None,
        *,
        session: str | None = None,
        compute: bool = False,
    ) -> xr.DataArray:
        """The gain matrix ``(channel, layer, vertex)`` restricted to an ROI/layers/vertices.

        One gain serves every session unless ``forward`` holds one per
        session (then pass ``session=`` when there are several).
        """
        ds = self._session_data("forward", self._pick_session("forward", session))
        gain = ds["gain"] if "gain" in ds else ds[next(iter(ds.data_vars))]
        return self._finish(self._restrict(gain, roi, layers, vertices), compute)

    def inverse(self, name: str | None = None) -> xr.Dataset:
        """An inverse dataset (``/<subject>/inverse/<name>``): projector, free energy, settings."""
        return self._named("inverse", name)

    def results(self, name: str) -> xr.Dataset:
        """A stored result (``/<subject>/results/<name>``)."""
        return self._named("results", name)

    @property
    def rois(self) -> dict[str, xr.Dataset]:
        """Stored ROI sets (``/<subject>/rois/<name>``) by name."""
        return {name: self._load("rois", name) for name in self._names("rois")}

    def roi(self, query: Any) -> xr.DataArray:
        """Boolean ``mask (vertex)`` of an ROI query (names, categories, lists, masks)."""
        vertices = self.mesh()["vertex"].values
        mask = _rois.resolve_roi(query, self.rois, vertices)
        return xr.DataArray(mask, dims="vertex", coords={"vertex": vertices}, name="roi")

    def sources(
        self,
        name: str | None = None,
        roi: Any = None,
        layers: Any = None,
        vertices: Any = None,
        time: Any = None,
        trials: Any = None,
        *,
        session: str | None = None,
        temporal: bool = False,
        compute: bool = False,
    ) -> xr.DataArray:
        """A lazy source estimate ``(layer, vertex, time, trial)``.

        Read from ``/<subject>/source/<name>`` when stored, otherwise
        reconstructed from ``inverse/<name>`` and the sensor data (by default
        of the session the inverse belongs to) with
        :func:`laminarray.inverse.apply_inverse` — after restricting the
        projector to the ROI/layers/vertices and the data to the trials and
        time window, so only what was asked for is ever computed. With
        ``temporal`` the inversion's temporal projector is applied as laMEG
        does (``W·Y·S·Sᵀ``, computed in its temporal-mode space over the
        whole inversion window and expanded only at the ``time`` samples).
        """
        stored_names = self._names("source")
        if stored_names and (name is None or name in stored_names):
            stored = self._named("source", name)
            src = stored[next(iter(stored.data_vars))]
            src = select(self._restrict(src, roi, layers, vertices), trials=trials, time=time)
            return self._finish(src, compute)
        from .inverse import apply_inverse

        inverse = self.inverse(name)
        projector = self._restrict(inverse["projector"], roi, layers, vertices)
        if session is None:
            session = self._inverse_session(name)
        if temporal:
            sensor = self.sensor(session=session, trials=trials)
            source = apply_inverse(
                xr.Dataset(
                    {"projector": projector, "temporal_projector": inverse["temporal_projector"]}
                ),
                sensor,
                temporal=True,
                time=time,
            )
        else:
            source = apply_inverse(
                projector, self.sensor(session=session, trials=trials, time=time)
            )
        return self._finish(source, compute)

    # ------------------------------------------------------------------ helpers

    def _restrict(self, obj: Any, roi: Any, layers: Any, vertices: Any) -> Any:
        obj = select(obj, layers=layers, vertices=vertices)
        if roi is not None:
            mask = self.roi(roi)
            keep = mask["vertex"].values[mask.values]
            obj = obj.sel(vertex=obj["vertex"].values[np.isin(obj["vertex"].values, keep)])
        return obj

    def _has_sensor(self) -> bool:
        return "sensor" in self.node.children

    def _trial_table(self) -> pd.DataFrame:
        if not self._has_sensor():
            return pd.DataFrame()
        rows = []
        for session in self.sessions:
            ds = self.sensor(session=session)
            table = pd.DataFrame({"trial": ds["trial"].values})
            table["condition"] = ds["condition"].values if "condition" in ds.coords else None
            for flag in ("bad_trial", "bad"):
                if flag in ds.coords and ds[flag].dims == ("trial",):
                    table["bad"] = ds[flag].values
                    break
            else:
                table["bad"] = False
            table.insert(0, "session", session)
            table.insert(0, "subject", self.name)
            rows.append(table)
        return pd.concat(rows, ignore_index=True)


def select(
    obj: Any, *, layers: Any = None, vertices: Any = None, trials: Any = None, time: Any = None
) -> Any:
    """Apply the shared selection keywords to any labelled object (lazily).

    Parameters
    ----------
    obj : xarray.Dataset or DataArray
    layers : str or list of str, optional
    vertices : array of int, optional
    trials : list of labels or slice, optional
    time : (start, stop) seconds, inclusive, or slice, optional

    Returns
    -------
    Same type as ``obj``, restricted.

    Raises
    ------
    LaminarrayError
        A keyword whose dim is absent, unknown labels (listing the available
        ones) or a selection that keeps nothing.
    """
    indexers: dict[str, Any] = {}
    keywords = (
        ("layers", "layer", layers),
        ("vertices", "vertex", vertices),
        ("trials", "trial", trials),
        ("time", "time", time),
    )
    for key, dim, value in keywords:
        if value is None:
            continue
        if dim not in obj.dims:
            raise LaminarrayError(
                f"`{key}=` selects along `{dim}`, which this object lacks ({obj.dims})"
            )
        if dim == "time" and not isinstance(value, slice):
            if np.ndim(value) != 1 or len(value) != 2:
                raise LaminarrayError(
                    f"`time` must be (start, stop) in seconds or a slice; got {value!r}"
                )
            value = slice(float(value[0]), float(value[1]))
        elif not isinstance(value, slice):
            value = check_selection(value, obj[dim].values, key)
        indexers[dim] = value
    try:
        selected = obj.sel(indexers)
    except KeyError as exc:
        raise LaminarrayError(
            f"selection not found: {exc}; check the labels with .coords"
        ) from None
    empty = [
        f"`{key}` = {value!r}"
        for key, dim, value in keywords
        if value is not None and selected.sizes[dim] == 0
    ]
    if empty:
        raise LaminarrayError(
            f"{', '.join(empty)} selects nothing: expected at least one sample of "
            f"{obj.sizes}; widen the selection"
        )
    return selected


def _select_conditions(ds: xr.Dataset, conditions: str | Sequence[str]) -> xr.Dataset:
    if "condition" not in ds.coords:
        raise LaminarrayError("these sensor data have no `condition` coordinate")
    wanted = [conditions] if isinstance(conditions, str) else list(conditions)
    present = sorted(set(map(str, ds["condition"].values)))
    unknown = sorted(set(wanted) - set(present))
    if unknown:
        raise LaminarrayError(f"unknown conditions {unknown}; available: {present}")
    return ds.isel(trial=np.isin(as_str(ds["condition"].values), wanted))
