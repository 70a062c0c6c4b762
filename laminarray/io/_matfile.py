"""Read MATLAB ``.mat`` files (v7.3 HDF5 and v5/v7) as plain Python values.

Both formats are decoded to the same Python model, in MATLAB's logical
orientation (h5py's reversed axes are undone deterministically):

============================  ==========================================
MATLAB                        Python
============================  ==========================================
1x1 struct (or object)        ``dict`` (field -> value)
struct array (n != 1)         ``list`` of ``dict`` (column-major order)
cell array                    ``list`` (column-major order)
char row / char matrix        ``str`` / ``list`` of ``str``
numeric / logical array       ``numpy.ndarray`` (at least 2-D, MATLAB shape)
sparse matrix                 ``scipy.sparse.csc_array`` (rows from the
                              ``MATLAB_sparse`` attribute)
empty array                   empty ``ndarray`` of the stored dims, ``""``
                              for char, ``[]`` for cell
function handle, opaque       ``None``
============================  ==========================================

A v7.3 file is read lazily: :meth:`MatFile.get` converts only the node it is
asked for, so reading an SPM header never loads the inversion matrices stored
beside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np
import scipy.io
import scipy.sparse

from .errors import FileFormatError, MissingFileError

__all__ = ["MatFile", "as_records", "as_scalar", "as_text", "as_vector"]

_MISSING = object()
_V5_MAGIC = b"MATLAB 5.0 MAT-file"
_V73_MAGIC = b"MATLAB 7.3 MAT-file"


class MatFile:
    """An open ``.mat`` file in either format, navigated by field names and cell indices.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.

    Attributes
    ----------
    format : {"v7.3", "v5"}
        The MATLAB file format found.

    Raises
    ------
    MissingFileError
        If ``path`` does not exist.
    FileFormatError
        If the file is not a MATLAB file, claims v7.3 but is not HDF5, or
        cannot be decoded.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(f"MATLAB file not found: {self.path}")
        self._h5: h5py.File | None = None
        self._v5: dict[str, Any] | None = None
        self._struct_arrays: dict[str, bool] = {}  # HDF5 group name -> is a struct array
        if h5py.is_hdf5(self.path):
            self.format = "v7.3"
            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as exc:
                raise FileFormatError(f"cannot open {self.path} as HDF5 (v7.3): {exc}") from exc
            return
        with open(self.path, "rb") as fh:
            head = fh.read(128)
        if head.startswith(_V73_MAGIC):
            raise FileFormatError(
                f"{self.path} says it is a MATLAB v7.3 file but is not valid HDF5 "
                f"(truncated or corrupted; size {self.path.stat().st_size} bytes)"
            )
        if not head.startswith(_V5_MAGIC):
            raise FileFormatError(
                f"{self.path} is not a MATLAB .mat file (no v5 or v7.3 header); "
                f"found first bytes {head[:20]!r}"
            )
        self.format = "v5"
        try:
            raw = scipy.io.loadmat(
                self.path, squeeze_me=False, struct_as_record=True, chars_as_strings=True
            )
        except Exception as exc:  # scipy raises many types on corrupt files
            raise FileFormatError(f"cannot decode MATLAB v5 file {self.path}: {exc}") from exc
        self._v5 = {k: _convert_v5(v) for k, v in raw.items() if not k.startswith("__")}

    def __enter__(self) -> MatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HDF5 file (no-op for v5)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def variables(self) -> list[str]:
        """Names of the top-level variables."""
        if self._h5 is not None:
            try:
                return [k for k in self._h5 if not k.startswith("#")]
            except (OSError, RuntimeError, ValueError) as exc:
                raise FileFormatError(f"{self.path}: cannot list the variables: {exc}") from exc
        return list(self._v5 or {})

    def get(
        self, *keys: str | int, default: Any = _MISSING, fields: tuple[str, ...] | None = None
    ) -> Any:
        """Convert the value at ``keys`` (field names and 0-based cell indices).

        Parameters
        ----------
        *keys : str or int
            Path from a top-level variable, e.g. ``("D", "other", "inv", 0)``.
        default : object, optional
            Returned when the path does not exist; without it a missing path
            raises :class:`FileFormatError` naming the missing field.
        fields : tuple of str, optional
            For a struct (array), convert only these fields (much faster for
            v7.3 struct arrays, whose every element is a separate object).
        """
        try:
            node = self._node(keys)
        except KeyError as exc:
            if default is not _MISSING:
                return default
            raise FileFormatError(f"{self.path} has no field {exc.args[0]}") from None
        return self._convert(node, fields)

    def has(self, *keys: str | int) -> bool:
        """Whether the path ``keys`` exists."""
        try:
            self._node(keys)
        except KeyError:
            return False
        return True

    def length(self, *keys: str | int) -> int:
        """Number of elements of the cell or array at ``keys`` without converting it (0 if absent)."""
        try:
            node = self._node(keys)
        except KeyError:
            return 0
        if isinstance(node, h5py.Dataset):
            return 0 if _attr(node, "MATLAB_empty") else int(node.size)
        if isinstance(node, list | str):
            return len(node)
        return int(np.size(node)) if node is not None else 0

    # ------------------------------------------------------------------ internals

    def _node(self, keys: tuple[str | int, ...]) -> Any:
        node: Any = self._h5 if self._h5 is not None else self._v5
        done: list[str] = []
        for key in keys:
            done.append(f"{{{key + 1}}}" if isinstance(key, int) else f".{key}")
            where = "".join(done).lstrip(".")
            try:
                node = self._step(node, key)
            except (KeyError, IndexError, TypeError):
                raise KeyError(f"`{where}`") from None
            except (OSError, RuntimeError, ValueError) as exc:
                raise FileFormatError(f"{self.path}: cannot read `{where}`: {exc}") from exc
        return node

    def _step(self, node: Any, key: str | int) -> Any:
        if self._h5 is not None and isinstance(node, h5py.Group | h5py.Dataset):
            if isinstance(key, str):
                if not isinstance(node, h5py.Group) or "MATLAB_sparse" in node.attrs:
                    raise KeyError(key)
                if self._is_struct_array(node):
                    return self._convert(node)[key]
                return node[key]
            if isinstance(node, h5py.Dataset) and node.dtype == h5py.ref_dtype:
                refs = node[()].ravel()
                return node.file[refs[key]]
            return self._convert(node)[key]
        if isinstance(node, dict) and isinstance(key, str):
            return node[key]
        if isinstance(node, list) and isinstance(key, int):
            return node[key]
        raise KeyError(key)

    def _is_struct_array(self, group: h5py.Group) -> bool:
        """:func:`_is_struct_array`, remembered per group: every path lookup passes through `D`."""
        known = self._struct_arrays.get(group.name)
        if known is None:
            known = self._struct_arrays[group.name] = _is_struct_array(group)
        return known

    def _convert(self, node: Any, fields: tuple[str, ...] | None = None) -> Any:
        if not isinstance(node, h5py.Group | h5py.Dataset):
            if fields is None:
                return node
            if isinstance(node, dict):
                return {k: v for k, v in node.items() if k in fields}
            if isinstance(node, list):
                return [
                    {k: v for k, v in r.items() if k in fields} if isinstance(r, dict) else r
                    for r in node
                ]
            return node
        try:
            return _convert_h5(node, fields)
        except FileFormatError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError, TypeError, OverflowError) as exc:
            raise FileFormatError(f"{self.path}: cannot decode `{node.name}`: {exc}") from exc


# --------------------------------------------------------------------------- v7.3


def _attr(obj: Any, name: str) -> Any:
    value = obj.attrs.get(name)
    if isinstance(value, bytes | np.bytes_):
        return value.decode()
    return value


def _is_struct_array(group: h5py.Group) -> bool:
    """A struct array stores each field as a reference dataset without a class attribute."""
    fields = [group[k] for k in group]
    return bool(fields) and all(
        isinstance(f, h5py.Dataset) and f.dtype == h5py.ref_dtype and "MATLAB_class" not in f.attrs
        for f in fields
    )


def _field_names(group: h5py.Group) -> list[str]:
    names = group.attrs.get("MATLAB_fields")
    if names is None:
        return list(group)
    decoded = ["".join(c.decode() for c in np.asarray(n).ravel()) for n in names]
    return [n for n in decoded if n in group] + [n for n in group if n not in decoded]


class _Source(NamedTuple):
    """An open v7.3 file, its OS file descriptor (default sec2 driver) and its size in bytes."""

    file: h5py.File
    fd: int | None
    size: int


def _source(f: h5py.File) -> _Source:
    sec2 = f.id.get_access_plist().get_driver() == h5py.h5fd.SEC2
    return _Source(f, f.id.get_vfd_handle() if sec2 else None, f.id.get_filesize())


# MATLAB compresses v7.3 data with deflate only, which expands at most ~1032:1, so a
# value declaring more bytes than this many times the file's size cannot be real
_MAX_EXPANSION = 1100
_SMALL_BYTES = 2**16


def _check_declared(oid: Any, nbytes: int, file_size: int | None = None) -> None:
    """Refuse to allocate a value larger than the file could hold (crafted dims or string sizes)."""
    if nbytes <= _SMALL_BYTES:
        return
    if file_size is None:
        file_size = h5py.h5i.get_file_id(oid).get_filesize()
    if nbytes > _MAX_EXPANSION * file_size + _SMALL_BYTES:
        name = (h5py.h5i.get_name(oid) or b"?").decode(errors="replace")
        raise FileFormatError(
            f"`{name}` declares {nbytes} bytes, more than a {file_size}-byte MATLAB file can "
            f"hold even compressed ({_MAX_EXPANSION}x); the file is corrupted or crafted"
        )


def _convert_h5(
    node: h5py.Group | h5py.Dataset,
    fields: tuple[str, ...] | None = None,
    src: _Source | None = None,
) -> Any:
    src = src or _source(node.file)
    if isinstance(node, h5py.Dataset):
        return _convert_dataset(node.id, src)
    if "MATLAB_sparse" in node.attrs:
        return _h5_sparse(node)
    if _attr(node, "MATLAB_class") == "function_handle":
        return None
    names = _field_names(node)
    if fields is not None:
        names = [n for n in names if n in fields]
    if _is_struct_array(node):
        refs = {n: node[n][()].ravel() for n in names}
        counts = {len(r) for r in refs.values()}
        if len(counts) > 1:
            raise FileFormatError(f"struct array `{node.name}` has fields of unequal length")
        count = counts.pop() if counts else 0
        return [{n: _convert_ref(src, refs[n][i]) for n in names} for i in range(count)]
    return {n: _convert_h5(node[n], src=src) for n in names}


def _convert_ref(src: _Source, ref: Any) -> Any:
    """Convert the target of an object reference (datasets through the fast low-level path)."""
    oid = h5py.h5r.dereference(ref, src.file.id)
    if oid is None:
        raise FileFormatError("dangling object reference")
    if isinstance(oid, h5py.h5d.DatasetID):
        return _convert_dataset(oid, src)
    return _convert_h5(src.file[ref], src=src)


def _low_attr(oid: Any, name: bytes) -> Any:
    try:
        attr = h5py.h5a.open(oid, name)
    except KeyError:
        return None
    tid = attr.get_type()
    _check_declared(oid, math.prod(attr.shape) * tid.get_size())
    if (
        tid.get_class() == h5py.h5t.STRING
        and not tid.is_variable_str()
        and attr.get_storage_size() == tid.get_size()
    ):
        # MATLAB's class names: a scalar fixed-length string, read without type conversion
        text = np.empty((), dtype=f"S{tid.get_size()}")
        attr.read(text, mtype=tid)
        return text[()].decode()
    buf = np.empty(attr.shape, dtype=attr.dtype)
    attr.read(buf)
    value = buf[()] if buf.ndim == 0 else buf.ravel()[0]
    return value.decode() if isinstance(value, bytes | np.bytes_) else value


_NUMBER_DTYPES: dict[tuple[Any, ...], np.dtype] = {}


def _file_dtype(tid: Any) -> np.dtype:
    """numpy dtype of an HDF5 type; numbers through a cache (h5py's conversion costs ~15 us)."""
    cls = tid.get_class()
    if cls == h5py.h5t.INTEGER:
        key: tuple[Any, ...] = (cls, tid.get_size(), tid.get_order(), tid.get_sign())
    elif cls == h5py.h5t.FLOAT:
        key = (cls, tid.get_size(), tid.get_order(), tid.get_fields())
    else:
        return tid.dtype
    dtype = _NUMBER_DTYPES.get(key)
    if dtype is None:
        dtype = _NUMBER_DTYPES.setdefault(key, tid.dtype)
    return dtype


def _read_raw(oid: Any, src: _Source, dtype: np.dtype) -> np.ndarray:
    """All values of a dataset in its stored type.

    Native-endian numbers stored contiguously (MATLAB's small arrays) are read
    straight from the file at their address, as HDF5 documents for
    ``H5Dget_offset``, skipping the library's per-read type conversion setup;
    everything else goes through HDF5.
    """
    dims = oid.get_space().get_simple_extent_dims()
    _check_declared(oid, math.prod(dims) * dtype.itemsize, src.size)
    raw = np.empty(dims, dtype=dtype)
    if not raw.size:
        return raw
    if dtype.kind in "iuf" and dtype.isnative and src.fd is not None:
        offset = oid.get_offset()
        if (
            offset is not None
            and oid.get_storage_size() == raw.nbytes
            and os.preadv(src.fd, [raw.reshape(-1).view(np.uint8)], offset) == raw.nbytes
        ):
            return raw
    oid.read(h5py.h5s.ALL, h5py.h5s.ALL, raw)
    return raw


def _convert_dataset(oid: Any, src: _Source) -> Any:
    """A MATLAB array stored as an HDF5 dataset, read with h5py's low-level API.

    The high-level objects cost ~1 ms each, and an SPM header has one
    dataset per channel and trial field.
    """
    dtype = _file_dtype(oid.get_type())
    # MATLAB writes double/single arrays as float64/float32 only: skip the class lookup
    cls = _FLOAT_CLASSES.get(dtype) or _low_attr(oid, b"MATLAB_class")
    raw = _read_raw(oid, src, dtype)
    # MATLAB stores an empty array as its uint64 dims and objects as uint32 ids:
    # look for those attributes only on such datasets (each lookup costs)
    if dtype == np.uint64 and _low_attr(oid, b"MATLAB_empty"):
        dims = tuple(int(d) for d in raw.ravel())
        if cls == "char":
            return ""
        if cls == "cell":
            return []
        return np.zeros(dims or (0, 0), dtype=_DTYPES.get(cls, np.float64))
    if dtype == h5py.ref_dtype:
        if cls not in (None, "cell"):
            raise FileFormatError(f"a dataset holds references but has class {cls!r}")
        return [_convert_ref(src, r) for r in raw.ravel()]
    if cls in ("function_handle", "opaque") or (
        dtype == np.uint32 and _low_attr(oid, b"MATLAB_object_decode")
    ):
        return None
    if raw.dtype.names and {"real", "imag"} <= set(raw.dtype.names):
        raw = raw["real"] + 1j * raw["imag"]
    array = raw.transpose()
    if array.ndim < 2:
        array = array.reshape((1, -1) if array.ndim else (1, 1))
    if cls == "char":
        return _rows_to_text(array)
    if cls == "logical":
        return array.astype(bool)
    return array


_FLOAT_CLASSES = {np.dtype("<f8"): "double", np.dtype("<f4"): "single"}
_DTYPES = {
    "double": np.float64,
    "single": np.float32,
    "logical": np.bool_,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
}


def _rows_to_text(codes: np.ndarray) -> str | list[str]:
    """MATLAB char rows (UTF-16 code units) as str; surrogate pairs joined, lone ones U+FFFD."""
    if codes.size and (
        (codes.dtype.kind not in "iu" and not np.all(codes == np.round(codes)))
        or codes.min() < 0
        or codes.max() > 0xFFFF
    ):
        raise FileFormatError(
            f"char data must be UTF-16 code units (integers 0-65535), found values "
            f"{codes.min()}..{codes.max()} of dtype {codes.dtype}"
        )
    units = np.ascontiguousarray(codes.reshape(codes.shape[0], -1), dtype="<u2")
    rows = [row.tobytes().decode("utf-16-le", errors="replace") for row in units]
    return rows[0] if len(rows) == 1 else rows


def _h5_sparse(group: h5py.Group) -> scipy.sparse.csc_array:
    n_rows = int(np.asarray(group.attrs["MATLAB_sparse"]).ravel()[0])
    jc = np.asarray(group["jc"][()]).ravel().astype(np.int64)
    ir = (
        np.asarray(group["ir"][()]).ravel().astype(np.int64) if "ir" in group else np.zeros(0, int)
    )
    data = np.asarray(group["data"][()]).ravel() if "data" in group else np.zeros(ir.size)
    if data.dtype.names and {"real", "imag"} <= set(data.dtype.names):
        data = data["real"] + 1j * data["imag"]
    if (
        jc.size < 1
        or jc[-1] != ir.size
        or data.size != ir.size
        or (ir.size and ir.max() >= n_rows)
    ):
        raise FileFormatError(
            f"sparse matrix `{group.name}` is inconsistent: {n_rows} rows, "
            f"{jc.size - 1} columns, {ir.size} row indices, {data.size} values"
        )
    if _attr(group, "MATLAB_class") == "logical":
        data = data.astype(bool)
    return scipy.sparse.csc_array((data, ir, jc), shape=(n_rows, jc.size - 1))


# --------------------------------------------------------------------------- v5


def _convert_v5(value: Any) -> Any:
    if scipy.sparse.issparse(value):
        return scipy.sparse.csc_array(value)
    if not isinstance(value, np.ndarray):
        return None  # MatlabFunction / opaque objects
    if value.dtype.names:
        records = [
            {n: _convert_v5(item[n]) for n in value.dtype.names} for item in value.ravel(order="F")
        ]
        return records[0] if len(records) == 1 else records
    if value.dtype == object:
        return [_convert_v5(item) for item in value.ravel(order="F")]
    if value.dtype.kind == "U":
        rows = [str(row) for row in value.ravel()]
        return "" if not rows else rows[0] if len(rows) == 1 else rows
    return value


# --------------------------------------------------------------------------- helpers


def as_records(value: Any) -> list[dict[str, Any]]:
    """A struct or struct array as a list of dicts (a 1x1 struct gives one record)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    if isinstance(value, np.ndarray) and value.size == 0:
        return []
    raise TypeError(f"expected a struct array, found {type(value).__name__}")


def as_text(value: Any) -> str:
    """A MATLAB char value (or a one-element cell of one) as ``str``."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, np.ndarray) and value.size == 0:
        return ""
    raise TypeError(f"expected text, found {type(value).__name__}")


def as_vector(value: Any) -> np.ndarray:
    """A numeric MATLAB array (dense or sparse) flattened in column-major order."""
    if scipy.sparse.issparse(value):
        value = value.toarray()
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(f"expected numbers, found dtype {array.dtype}")
    return array.ravel(order="F")


def as_scalar(value: Any) -> float:
    """A one-element numeric MATLAB array as ``float``."""
    vector = as_vector(value)
    if vector.size != 1:
        raise TypeError(f"expected one number, found {vector.size} values")
    return float(vector[0])
