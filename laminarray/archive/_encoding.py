"""Storage chunking and codecs of archive arrays.

Chunking rule (DESIGN.md): only ``trial`` and ``vertex`` are split; every
other dim (``channel``, ``time``, ``layer``, ``xyz``...) stays whole within a
chunk. While a chunk is larger than the target (64 MiB), ``trial`` is split
first and then ``vertex``: sensor data keep whole trials, a source estimate
keeps all its vertices per trial until a single trial exceeds the target.
Splitting trials first keeps appends cheap (only the last partial trial chunk
is rewritten).

Codecs: ``bytes`` -> optional compressor (none by default, see
docs/archives.md for the measurement) -> ``crc32c`` on every array, so that a
corrupted chunk fails to decode instead of returning wrong numbers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

import dask.array as da
import numcodecs.blosc
import numpy as np
import xarray as xr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from .._validation import ArchiveError, check_option

TARGET_CHUNK_BYTES = 64 * 2**20
SPLIT_ORDER = ("trial", "vertex")
COMPRESSORS = ("lz4", "zstd", "none")


def storage_chunks(
    dims: Sequence[Hashable],
    shape: Sequence[int],
    itemsize: int,
    overrides: Mapping[str, int] | None = None,
    target_bytes: int = TARGET_CHUNK_BYTES,
) -> tuple[int, ...]:
    """Chunk shape of one array under the archive's chunking rule.

    Parameters
    ----------
    dims : sequence of str
        Dimension names of the array.
    shape : sequence of int
        Its shape.
    itemsize : int
        Bytes per element.
    overrides : mapping of dim -> int, optional
        Chunk length per dim, applied as given (``-1`` = whole dim); other
        dims follow the rule.
    target_bytes : int
        Largest chunk the rule aims for (default 64 MiB).

    Returns
    -------
    tuple of int
        Chunk length per dim (each >= 1).

    Examples
    --------
    >>> storage_chunks(("channel", "time", "trial"), (274, 600, 500), 4)
    (274, 600, 102)
    """
    overrides = dict(overrides or {})
    chunks = {
        d: (n if overrides.get(d, -1) == -1 else overrides[d])
        for d, n in zip(dims, shape, strict=True)
    }
    nbytes = itemsize * math.prod(chunks.values())
    for dim in SPLIT_ORDER:
        if nbytes <= target_bytes:
            break
        if dim not in chunks or dim in overrides or chunks[dim] == 0:
            continue
        per_item = nbytes / chunks[dim]
        chunks[dim] = max(1, min(chunks[dim], int(target_bytes // per_item)))
        nbytes = per_item * chunks[dim]
    return tuple(max(1, int(chunks[d])) for d in dims)


def compressor_codecs(compressor: Any) -> tuple[Any, ...]:
    """Bytes-to-bytes codecs for ``compressor``, always ending with the crc32c checksum.

    Parameters
    ----------
    compressor : {"lz4", "zstd", "none"}, None or zarr BytesBytesCodec
        ``"none"``/None: no compression (default); ``"lz4"``: Blosc-LZ4 with
        byte shuffle; ``"zstd"``: Zstandard level 3; or any zarr codec instance.
    """
    if isinstance(compressor, BytesBytesCodec):
        return (compressor, Crc32cCodec())
    if compressor is None:
        compressor = "none"
    check_option("compressor", compressor, COMPRESSORS)
    codec = {
        "lz4": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
        "zstd": ZstdCodec(level=3),
        "none": None,
    }[compressor]
    return (Crc32cCodec(),) if codec is None else (codec, Crc32cCodec())


def prepare(
    ds: xr.Dataset, chunks: Mapping[str, int] | None, compressor: Any
) -> tuple[xr.Dataset, dict[Hashable, dict[str, Any]]]:
    """Dataset ready for ``to_zarr`` and its encoding.

    Strips encodings inherited from a previous read, turns fixed-width strings
    into variable-length strings (Zarr 3's specified string type; labels are
    small, so dask-backed ones are loaded), rechunks
    dask-backed variables to their storage chunks and returns the encoding
    (chunks and codecs) of every variable.
    """
    if chunks is not None and not isinstance(chunks, Mapping):
        raise ArchiveError(f"`chunks` must be a dict of dim -> chunk length, got {chunks!r}")
    for dim, size in (chunks or {}).items():
        if isinstance(size, bool) or not isinstance(size, int) or (size < 1 and size != -1):
            raise ArchiveError(f"`chunks[{dim!r}]` must be a positive int or -1, got {size!r}")
    codecs = compressor_codecs(compressor)
    ds = ds.drop_encoding()
    strings = {
        name: var.copy(data=np.asarray(var.values).astype(object))
        for name, var in ds.variables.items()
        if var.dtype.kind in "UOT"
    }
    if strings:
        ds = ds.assign_coords({k: v for k, v in strings.items() if k in ds.coords})
        ds = ds.assign({k: v for k, v in strings.items() if k in ds.data_vars})
    encoding: dict[Hashable, dict[str, Any]] = {}
    rechunk: dict[Hashable, xr.Variable] = {}
    for name, var in ds.variables.items():
        itemsize = var.dtype.itemsize if var.dtype.kind != "O" else 16
        shape = storage_chunks(var.dims, var.shape, itemsize, chunks)
        encoding[name] = {"chunks": shape, "compressors": codecs}
        if isinstance(var.data, da.Array) and var.data.chunks != da.core.normalize_chunks(
            shape, var.shape
        ):
            rechunk[name] = var.chunk(dict(zip(var.dims, shape, strict=True)))
    if rechunk:
        ds = ds.assign({k: v for k, v in rechunk.items() if k in ds.data_vars})
        ds = ds.assign_coords({k: v for k, v in rechunk.items() if k in ds.coords})
    return ds, encoding


def is_lazy(ds: xr.Dataset) -> bool:
    """True if any variable of ``ds`` is dask-backed."""
    return any(isinstance(v.data, da.Array) for v in ds.variables.values())


@contextlib.contextmanager
def chunk_parallel_codecs() -> Iterator[None]:
    """Let Blosc compress concurrent chunks in parallel while the block runs.

    Zarr encodes the chunks of a write concurrently in its thread pool, but
    numcodecs, in the main process, sends every Blosc call through one global
    Blosc context guarded by a lock, so chunks wait for each other. Inside the
    block each call compresses on its own thread with its own context
    (releasing the GIL); the setting is restored afterwards.
    """
    previous = numcodecs.blosc.use_threads
    numcodecs.blosc.use_threads = False
    try:
        yield
    finally:
        numcodecs.blosc.use_threads = previous
