"""kymata expression sets (``.nkg``), read and written.

kymata (1.0.6) saves an expression set as a zip archive (LZMA-compressed by
kymata; any zip compression reads) of text files and raw arrays, format
version 0.5. Member names start with ``/`` except the metadata:

==================================  ==========================================================
member                              content
==================================  ==========================================================
``_metadata/format-version.txt``    ``0.5``
``_metadata/expression-set-type.txt``  ``hexel`` (source space) or ``sensor``
``/latencies.txt``                  one latency per line, seconds
``/transforms.txt``                 one transform name per line (``/functions.txt``
                                    before 0.5)
``/blocks.txt``                     ``left`` and ``right`` (hexel) or ``scalp`` (sensor)
``/layout.txt``                     sensor sets: ``MEG:\\t<layout>`` and ``EEG:\\t<layout>``
                                    lines, or empty
``/<block>/channels.txt``           one hexel id (int) or sensor name per line
``/<block>/coo-shape.txt``          ``n_channels``, ``n_latencies``, ``n_transforms``
``/<block>/coo-coords.bytes``       int64 ``(3, nnz)`` C-order: channel, latency,
                                    transform index of each stored entry
``/<block>/coo-data.bytes``         float64 ``(nnz,)``: log10 p of each stored entry
==================================  ==========================================================

Entries not stored are log10 p = 0 (p = 1). Versions 0.3 and 0.4 (one
``/layers.txt`` block list and root ``/channels.txt`` in 0.3, ``functions``
for ``transforms``) and 0.1-0.2 (p-values instead of log10 p) are read too.

kymata's hexel sets have no depth: the ``layer`` a set belongs to is given
explicitly on reading and chosen explicitly on writing.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from io import TextIOWrapper
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError
from ..expression.expression_set import expression_set, validate_expression_set
from ..schema._vocabulary import as_str
from .errors import FileFormatError

__all__ = ["NKG_VERSION", "read_nkg", "write_nkg"]

#: The kymata ``.nkg`` format version written (kymata 1.0.6).
NKG_VERSION = "0.5"
_HEMI_BLOCKS = {"lh": "left", "rh": "right"}
_SENSOR_BLOCK = "scalp"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split("."))


class _Archive:
    """Text and array members of an open ``.nkg`` zip (names with or without ``/``)."""

    def __init__(self, zf: zipfile.ZipFile, path: Path) -> None:
        self._zf, self._path = zf, path
        self._names = {name.lstrip("/"): name for name in zf.namelist()}

    def has(self, name: str) -> bool:
        return name in self._names

    def _open(self, name: str):
        if name not in self._names:
            raise FileFormatError(f"{str(self._path)!r}: kymata archive lacks the member {name!r}")
        return self._zf.open(self._names[name])

    def lines(self, name: str) -> list[str]:
        with TextIOWrapper(self._open(name), encoding="utf-8") as f:
            return [line.strip() for line in f.read().splitlines() if line.strip()]

    def array(self, name: str, dtype: Any) -> np.ndarray:
        with self._open(name) as f:
            return np.frombuffer(f.read(), dtype=dtype)


def _block(archive: _Archive, block: str, channel_file: str, n_lat: int, n_tr: int) -> tuple:
    """Channels and dense ``(transform, channel, latency)`` values of one block."""
    channels = archive.lines(channel_file)
    shape = tuple(int(x) for x in archive.lines(f"{block}/coo-shape.txt"))
    if len(shape) == 2:  # one transform saved as a 2-D block
        shape = (*shape, 1)
    if shape != (len(channels), n_lat, n_tr):
        raise FileFormatError(
            f"{str(archive._path)!r}: block {block!r} has shape {shape}, expected "
            f"{(len(channels), n_lat, n_tr)} (channels, latencies, transforms)"
        )
    coords = archive.array(f"{block}/coo-coords.bytes", "<i8")
    data = archive.array(f"{block}/coo-data.bytes", "<f8")
    n_dims = coords.size // max(data.size, 1) if data.size else 3
    coords = coords.reshape(n_dims, -1)
    if coords.shape[1] != data.size:
        raise FileFormatError(
            f"{str(archive._path)!r}: block {block!r} has {coords.shape[1]} coordinates for "
            f"{data.size} values"
        )
    if n_dims == 2:
        coords = np.vstack([coords, np.zeros((1, coords.shape[1]), np.int64)])
    dense = np.zeros(shape)
    dense[tuple(coords)] = data
    return channels, dense.transpose(2, 0, 1)


def read_nkg(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    depth: float | None = None,
) -> xr.Dataset:
    """Read a kymata expression set (``.nkg``) as a laminarray expression set.

    Parameters
    ----------
    path : path-like
        kymata ``.nkg`` file (format 0.1 to 0.5).
    layer : str
        Source-space (hexel) sets: the name of the layer the set's sources
        are on (e.g. ``"pial"``); required, since kymata's sets have no depth.
        Ignored for sensor sets.
    depth : float, optional
        Relative depth of that layer (0 = pial, 1 = white; default 0).

    Returns
    -------
    xarray.Dataset
        Expression set (:mod:`laminarray.expression`): ``log_p (transform,
        layer, vertex, latency)`` with one layer, ``vertex`` = 0.. over the
        left then the right block, coords ``hemi (vertex)`` and ``hexel
        (vertex)`` (kymata's hexel id, per hemisphere); or ``log_p
        (transform, channel, latency)`` for sensor sets, attrs
        ``meg_layout``/``eeg_layout`` when the file names layouts. Latency in
        seconds. attrs ``source_file``, ``nkg_version``.
    """
    path = Path(path)
    if not path.is_file():
        raise LaminarrayError(f"`path` {str(path)!r} is not a file")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise FileFormatError(f"{str(path)!r} is not a kymata .nkg (zip) file: {error}") from None
    with zf:
        archive = _Archive(zf, path)
        version = _version(archive.lines("_metadata/format-version.txt")[0])
        if version > _version(NKG_VERSION):
            raise FileFormatError(
                f"{str(path)!r}: kymata format {'.'.join(map(str, version))} is newer than "
                f"the {NKG_VERSION} supported"
            )
        kind = (
            archive.lines("_metadata/expression-set-type.txt")[0]
            if archive.has("_metadata/expression-set-type.txt")
            else "hexel"
        )
        latencies = np.array([float(x) for x in archive.lines("latencies.txt")])
        transforms = archive.lines(
            "transforms.txt" if archive.has("transforms.txt") else "functions.txt"
        )
        if version <= (0, 1):
            blocks, channel_files = ["left", "right"], ["hexels.txt"] * 2
        elif version <= (0, 3):
            blocks = archive.lines("layers.txt")
            channel_files = ["channels.txt"] * len(blocks)
        else:
            blocks = archive.lines("blocks.txt")
            channel_files = [f"{block}/channels.txt" for block in blocks]
        layout = archive.lines("layout.txt") if archive.has("layout.txt") else []
        read = {
            block: _block(archive, block, channels, latencies.size, len(transforms))
            for block, channels in zip(blocks, channel_files, strict=True)
        }
    attrs: dict[str, Any] = {
        "source_file": str(path),
        "nkg_version": ".".join(map(str, version)),
    }
    if version <= (0, 2):  # p-values before 0.3
        read = {block: (ch, np.log10(values)) for block, (ch, values) in read.items()}
    for line in layout:
        sensor_kind, _, name = line.partition("\t")
        if name and name != "None":
            attrs[f"{sensor_kind.rstrip(':').lower()}_layout"] = name
    if kind == "sensor":
        channels, values = read[_SENSOR_BLOCK]
        return expression_set(values, transforms, latencies, channels=channels, attrs=attrs)
    if kind != "hexel":
        raise FileFormatError(f"{str(path)!r}: unknown expression-set type {kind!r}")
    if layer is None:
        raise LaminarrayError(
            "`layer` is required for a source-space (hexel) .nkg: kymata's sets have no depth; "
            "name the layer its sources are on, e.g. layer='pial'"
        )
    hemis = [h for h, block in _HEMI_BLOCKS.items() if block in read]
    ids = [np.array([int(x) for x in read[_HEMI_BLOCKS[h]][0]]) for h in hemis]
    values = np.concatenate([read[_HEMI_BLOCKS[h]][1] for h in hemis], axis=1)
    es = expression_set(
        values[:, None],
        transforms,
        latencies,
        layers=[str(layer)],
        depth=None if depth is None else [float(depth)],
        hemi=np.repeat(hemis, [len(i) for i in ids]),
        attrs=attrs,
    )
    return es.assign_coords(
        hexel=("vertex", np.concatenate(ids), {"long_name": "kymata hexel id (per hemisphere)"})
    )


def _hexel_ids(es: xr.Dataset, hemis: np.ndarray) -> np.ndarray:
    """kymata hexel ids: the ``hexel`` coordinate, else each vertex's rank in its hemisphere."""
    if "hexel" in es.coords:
        return np.asarray(es["hexel"].values, dtype=np.int64)
    ids = np.zeros(hemis.size, dtype=np.int64)
    for hemi in np.unique(hemis):
        ids[hemis == hemi] = np.arange(int(np.sum(hemis == hemi)))
    return ids


def _coo_members(values: np.ndarray) -> dict[str, bytes]:
    """COO members of one ``(channel, latency, transform)`` block, canonical (row-major) order."""
    coords = np.array(np.nonzero(values != 0.0), dtype="<i8")
    return {
        "coo-coords.bytes": coords.tobytes(order="C"),
        "coo-data.bytes": np.ascontiguousarray(values[tuple(coords)], dtype="<f8").tobytes(),
        "coo-shape.txt": "\n".join(str(n) for n in values.shape).encode(),
    }


def write_nkg(
    es: xr.Dataset,
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an expression set as kymata's ``.nkg`` (format 0.5, LZMA, as kymata saves it).

    Parameters
    ----------
    es : xarray.Dataset
        Expression set (:mod:`laminarray.expression`); computed if lazy.
    path : path-like
        Output ``.nkg`` file, written whole or not at all.
    layer : str, optional
        Source-space sets: the layer to export (kymata's sets have no depth);
        required when the set has more than one layer. A source-space set
        needs a ``hemi (vertex)`` coordinate (blocks ``left``/``right``);
        hexel ids are its ``hexel`` coordinate, else each vertex's 0-based
        rank within its hemisphere (fsaverage's per-hemisphere vertex number
        for a full fsaverage mesh).
    overwrite : bool
        Replace an existing file (default False, as kymata).

    Returns
    -------
    Path
    """
    es = validate_expression_set(es)
    path = Path(path)
    if path.exists() and not overwrite:
        raise LaminarrayError(f"{str(path)!r} exists; pass overwrite=True to replace it")
    members: dict[str, bytes] = {
        "_metadata/format-version.txt": NKG_VERSION.encode(),
        "/latencies.txt": "\n".join(str(float(x)) for x in es["latency"].values).encode(),
        "/transforms.txt": "\n".join(as_str(es["transform"].values)).encode(),
    }
    log_p = es["log_p"]
    if "channel" in log_p.dims:
        kind, layout = "sensor", ""
        if "meg_layout" in es.attrs or "eeg_layout" in es.attrs:
            layout = "".join(
                f"{k.upper()}:\t{es.attrs.get(f'{k}_layout', 'None')}\n" for k in ("meg", "eeg")
            )
        blocks = {_SENSOR_BLOCK: (as_str(es["channel"].values), log_p.values)}
    else:
        kind, layout = "hexel", ""
        layers = as_str(es["layer"].values).tolist()
        if layer is None and len(layers) != 1:
            raise LaminarrayError(
                f"`layer` is required to write a {len(layers)}-layer set to kymata (no depth "
                f"in .nkg): one of {layers}"
            )
        layer = layers[0] if layer is None else layer
        if layer not in layers:
            raise LaminarrayError(f"`layer` must be one of {layers}, got {layer!r}")
        if "hemi" not in es.coords:
            raise LaminarrayError(
                "a source-space set needs a `hemi (vertex)` coordinate for kymata's left/right "
                "blocks"
            )
        values = log_p.sel(layer=layer).values  # (transform, vertex, latency)
        hemis = as_str(es["hemi"].values)
        ids = _hexel_ids(es, hemis)
        unknown = sorted(set(np.unique(hemis)) - set(_HEMI_BLOCKS))
        if unknown:
            raise LaminarrayError(f"`hemi` must be 'lh' or 'rh' for kymata, found {unknown}")
        blocks = {
            block: (ids[hemis == hemi].astype(str), values[:, hemis == hemi])
            for hemi, block in _HEMI_BLOCKS.items()
        }
    members["_metadata/expression-set-type.txt"] = kind.encode()
    members["/blocks.txt"] = "\n".join(blocks).encode()
    members["/layout.txt"] = layout.encode()
    for block, (channels, values) in blocks.items():
        members[f"/{block}/channels.txt"] = "\n".join(channels).encode()
        for name, content in _coo_members(np.transpose(values, (1, 2, 0))).items():
            members[f"/{block}/{name}"] = content
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".nkg.partial")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_LZMA) as zf:
            for name, content in members.items():
                zf.writestr(name, content)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
