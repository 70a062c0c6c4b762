"""The SPM ``.dat`` binary: a headerless column-major array read lazily, written in blocks.

Element ``(channel c, sample t, trial k)`` of a ``(C, T, K)`` file is at flat
index ``c + C·(t + T·k)`` after ``offset`` bytes: every trial is one
contiguous ``T x C`` block. Reading reads only the bytes of one chunk of
trials (or of samples, for continuous data) per dask task.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from ..options import task_budget
from .errors import FileFormatError, MissingFileError

__all__ = ["DatLayout", "lazy_dat", "parse_spm_dtype", "write_dat"]

# SPM (file_array) type codes.
_SPM_CODES = {
    2: "uint8",
    4: "int16",
    8: "int32",
    16: "float32",
    64: "float64",
    256: "int8",
    512: "uint16",
    768: "uint32",
}
_ALIASES = {"float": "float32", "single": "float32", "double": "float64"}


def parse_spm_dtype(code: Any, big_endian: bool) -> np.dtype:
    """numpy dtype for an SPM ``file_array`` type (code like 16 or text like ``"float32-le"``).

    Raises
    ------
    FileFormatError
        For a type SPM files do not use.
    """
    if isinstance(code, str):
        match = re.fullmatch(r"([a-z]+\d*)(?:-(le|be))?", code.strip().lower())
        name = _ALIASES.get(match.group(1), match.group(1)) if match else None
        if name not in _SPM_CODES.values():
            raise FileFormatError(
                f"unsupported SPM data type {code!r}; expected one of "
                f"{sorted(_SPM_CODES.values())} with optional '-le'/'-be'"
            )
        big_endian = big_endian or (match is not None and match.group(2) == "be")
    else:
        number = float(code)
        name = _SPM_CODES.get(int(number)) if number.is_integer() else None
        if name is None:
            raise FileFormatError(
                f"unsupported SPM data type code {code!r}; expected one of {sorted(_SPM_CODES)}"
            )
    return np.dtype(name).newbyteorder(">" if big_endian else "<")


@dataclass(frozen=True)
class DatLayout:
    """Where and how a ``(C, T, K)`` array is stored in a ``.dat`` file."""

    path: Path
    dtype: np.dtype
    shape: tuple[int, int, int]
    offset: int = 0

    @property
    def nbytes(self) -> int:
        """Bytes the header says the array occupies (without the offset)."""
        c, t, k = self.shape
        return c * t * k * self.dtype.itemsize

    def check(self) -> None:
        """Check that the file exists and has exactly the size the header implies."""
        if not self.path.is_file():
            raise MissingFileError(f"SPM data file not found: {self.path}")
        actual = self.path.stat().st_size
        expected = self.offset + self.nbytes
        if actual != expected:
            what = "truncated" if actual < expected else "larger than the header says"
            raise FileFormatError(
                f"SPM data file {self.path} is {what}: the header's dims {list(self.shape)} "
                f"of {self.dtype.name} ({self.dtype.itemsize} B) at offset {self.offset} need "
                f"{expected} bytes, the file has {actual} bytes"
            )


class _DatArray:
    """Array-like view of a ``.dat`` file for :func:`dask.array.from_array`.

    Indexing with slices reads only the trials/samples asked for, selects the
    channels and applies the per-channel affine ``raw·gain + intercept``.
    """

    def __init__(self, layout: DatLayout, channels: np.ndarray, gain: Any, intercept: Any) -> None:
        self.layout = layout
        self.channels = channels
        self.gain = gain
        self.intercept = intercept
        self.all_channels = np.array_equal(channels, np.arange(layout.shape[0]))
        scaled = gain is not None or intercept is not None
        raw = layout.dtype.newbyteorder("=")
        self.dtype = np.result_type(raw, np.float32) if scaled else raw
        self.shape = (len(channels), layout.shape[1], layout.shape[2])
        self.ndim = 3

    def __dask_tokenize__(self) -> Any:
        stat = self.layout.path.stat()
        return (
            "laminarray-dat",
            str(self.layout.path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            self.layout.dtype.str,
            self.layout.shape,
            self.layout.offset,
            self.channels.tobytes(),
            None if self.gain is None else np.asarray(self.gain).tobytes(),
            None if self.intercept is None else np.asarray(self.intercept).tobytes(),
        )

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        c_sel, t_sel, k_sel = key
        _, n_t, _ = self.layout.shape
        k0, k1, _ = k_sel.indices(self.layout.shape[2])
        t0, t1, _ = t_sel.indices(n_t)
        if k1 - k0 == 1:
            raw = self._read(k0 * n_t + t0, t1 - t0).reshape(1, t1 - t0, -1)
        else:
            raw = self._read(k0 * n_t, (k1 - k0) * n_t).reshape(k1 - k0, n_t, -1)[:, t0:t1]
        return self._finish(raw)[c_sel]

    def _read(self, first_sample: int, n_samples: int) -> np.ndarray:
        """Samples ``[first_sample, first_sample + n_samples)`` as ``(sample, file channel)``.

        One sequential read into a fresh buffer (a memory map would fault its
        pages in one by one inside the reordering in :meth:`_finish`, several
        times slower than the kernel's bulk copy).
        """
        n_c = self.layout.shape[0]
        itemsize = self.layout.dtype.itemsize
        start = self.layout.offset + first_sample * n_c * itemsize
        raw = np.empty((n_samples, n_c), dtype=self.layout.dtype)
        try:
            with open(self.layout.path, "rb", buffering=0) as fh:
                _prefetch(fh.fileno(), start, raw.nbytes)
                fh.seek(start)
                view, done = memoryview(raw.reshape(-1).view(np.uint8)), 0
                while done < raw.nbytes:
                    got = fh.readinto(view[done:])
                    if not got:
                        raise OSError(f"the file ends {raw.nbytes - done} bytes early")
                    done += got
        except OSError as exc:
            raise FileFormatError(
                f"cannot read samples {first_sample}..{first_sample + n_samples} of "
                f"{self.layout.path} (did the file change after it was opened?): {exc}"
            ) from exc
        return raw

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """``raw (trial, time, file channel)`` -> C-contiguous ``(channel, time, trial)``.

        One pass over the read buffer: channel selection, type conversion and
        the axis reversal are done tile by tile along time (a plain reversed
        copy strides through memory and is several times slower).
        """
        n_k, n_t, n_c = raw.shape
        out = np.empty((len(self.channels), n_t, n_k), dtype=self.dtype)
        step = max(1, 2**20 // max(n_k * n_c * raw.dtype.itemsize, 1))
        for t0 in range(0, n_t, step):
            tile = raw[:, t0 : t0 + step]
            if not self.all_channels:
                tile = tile[..., self.channels]
            out[:, t0 : t0 + step] = tile.transpose(2, 1, 0)
        if self.gain is not None:
            out *= self.gain[:, None, None]
        if self.intercept is not None:
            out += self.intercept[:, None, None]
        return out


def _prefetch(fd: int, start: int, nbytes: int) -> None:
    """Have the kernel read ``[start, start + 2 nbytes)`` of the open file ``fd`` in the background.

    The next chunk's bytes are asked for along with this chunk's, so a
    sequential consumer (a conversion, a reduction over trials) finds them
    read while it processes this chunk: disk reads overlap the computation.
    Best effort: a no-op where ``posix_fadvise`` does not exist.
    """
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, 2 * nbytes, os.POSIX_FADV_WILLNEED)


def lazy_dat(
    layout: DatLayout,
    channels: np.ndarray,
    gain: np.ndarray | None = None,
    intercept: np.ndarray | None = None,
    chunk_bytes: int | None = None,
) -> da.Array:
    """A dask array ``(channel, time, trial)`` over a ``.dat`` file, never read whole.

    Parameters
    ----------
    layout : DatLayout
        Checked file layout.
    channels : ndarray of int, shape (n_selected,)
        File channel indices to return, in the order wanted.
    gain, intercept : ndarray, shape (n_selected,), optional
        Per-channel affine applied to the raw values (SPM scaling times unit
        conversion).
    chunk_bytes : int, optional
        Target size of one chunk of the result: chunks hold whole trials
        (all selected channels and samples); a trial larger than this is
        split along time. Default the ``task_bytes`` option.

    Returns
    -------
    dask.array.Array
        Float32 for float32 files without scaling; otherwise the promoted type.
    """
    source = _DatArray(layout, np.asarray(channels, dtype=np.int64), gain, intercept)
    n_c, n_t, n_k = source.shape
    trial_bytes = max(n_c * n_t * source.dtype.itemsize, 1)
    chunk_bytes = task_budget() if chunk_bytes is None else chunk_bytes
    if trial_bytes <= chunk_bytes:
        chunks: tuple[int, int, int] = (n_c, n_t, max(1, min(n_k, chunk_bytes // trial_bytes)))
    else:
        sample_bytes = max(n_c * source.dtype.itemsize, 1)
        chunks = (n_c, max(1, chunk_bytes // sample_bytes), 1)
    return da.from_array(
        source,
        chunks=chunks,
        asarray=False,
        lock=False,
        fancy=False,
        meta=np.empty((0, 0, 0), source.dtype),
    )


def write_dat(path: Path, data: Any, chunk_bytes: int | None = None) -> int:
    """Stream ``data (channel, time, trial)`` to ``path`` as float32 little-endian, SPM order.

    Parameters
    ----------
    path : Path
        Destination; written beside (``.partial``) and moved into place.
    data : numpy or dask array, shape (C, T, K)
    chunk_bytes : int, optional
        At most about this many bytes of trials are held in memory at once
        (at least one trial); default the ``task_bytes`` option.

    Returns
    -------
    int
        Bytes written.
    """
    n_c, n_t, n_k = data.shape
    chunk_bytes = task_budget() if chunk_bytes is None else chunk_bytes
    step = max(1, min(n_k, chunk_bytes // max(n_c * n_t * 4, 1)))
    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "wb") as fh:
            for k0 in range(0, n_k, step):
                block = data[:, :, k0 : k0 + step]
                block = block.compute() if isinstance(block, da.Array) else np.asarray(block)
                np.ascontiguousarray(block.transpose(2, 1, 0), dtype="<f4").tofile(fh)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n_c * n_t * n_k * 4
