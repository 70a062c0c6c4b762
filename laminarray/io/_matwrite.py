"""Write Python values as MATLAB ``.mat`` files (v7.3 HDF5 or v5).

The Python model is the one :mod:`._matfile` reads back:

- ``dict`` -> 1x1 struct; :class:`StructArray` -> 1xn struct array;
- ``list``/``tuple`` -> 1xn cell; an object ``ndarray`` -> cell of its shape;
- ``str`` -> char row; ``bool`` -> logical; ``int``/``float`` -> double scalar;
- numeric ``ndarray`` -> array of that (MATLAB) shape, 1-D as a row vector;
- ``scipy.sparse`` -> sparse double; ``None`` -> ``[]`` (0x0 double).

v7.3 files get MATLAB's 512-byte user block and the ``MATLAB_class``,
``MATLAB_empty``, ``MATLAB_int_decode``, ``MATLAB_sparse`` and
``MATLAB_fields`` attributes, dense arrays are stored with reversed axes and
cells/struct-array fields as object references into ``#refs#``.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io
import scipy.sparse

from .errors import FileFormatError

__all__ = ["StructArray", "write_mat"]

_CLASSES = {
    np.dtype(np.float64): "double",
    np.dtype(np.float32): "single",
    np.dtype(np.int8): "int8",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int16): "int16",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.int32): "int32",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint64): "uint64",
}


class StructArray(list):
    """A list of dicts with the same fields, written as a MATLAB struct array."""


def write_mat(path: str | Path, variables: dict[str, Any], format: str = "v7.3") -> None:
    """Write ``variables`` to ``path`` atomically (write beside, then rename).

    Parameters
    ----------
    path : str or Path
    variables : dict
        Top-level variable name -> value (Python model above).
    format : {"v7.3", "v5"}
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        if format == "v7.3":
            _write_v73(tmp, variables)
        elif format == "v5":
            try:
                scipy.io.savemat(
                    tmp,
                    {k: _to_v5(v) for k, v in variables.items()},
                    format="5",
                    long_field_names=True,
                    do_compression=False,
                )
            except (ValueError, OverflowError) as exc:  # e.g. a variable over 2 GiB
                raise FileFormatError(
                    f"cannot write {path} as MATLAB v5 ({exc}); use format='v7.3'"
                ) from exc
        else:
            raise FileFormatError(f"`format` must be 'v7.3' or 'v5'; got {format!r}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- v7.3


def _write_v73(path: Path, variables: dict[str, Any]) -> None:
    with h5py.File(path, "w", userblock_size=512) as f:
        writer = _H5Writer(f)
        for name, value in variables.items():
            writer.write(f, name, value)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 7.3 MAT-file, Platform: laminarray, Created on: {stamp} HDF5 schema 1.00 ."
    header = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as fh:
        fh.write(header)


def _cls_attr(obj: Any, cls: str) -> None:
    obj.attrs["MATLAB_class"] = np.bytes_(cls)


class _H5Writer:
    def __init__(self, f: h5py.File) -> None:
        self.refs = f.require_group("#refs#")
        self.count = 0

    def reference(self, value: Any) -> Any:
        name = f"r{self.count}"
        self.count += 1
        return self.write(self.refs, name, value).ref

    def write(self, parent: h5py.Group, name: str, value: Any) -> Any:
        """Write ``value`` as ``parent[name]`` and return the new HDF5 object."""
        if isinstance(value, StructArray):
            return self._struct_array(parent, name, value)
        if isinstance(value, dict):
            group = parent.create_group(name)
            _cls_attr(group, "struct")
            _fields_attr(group, list(value))
            for key, item in value.items():
                self.write(group, key, item)
            return group
        if isinstance(value, list | tuple):
            return self._cell(parent, name, _object_row(value))
        if isinstance(value, np.ndarray) and value.dtype == object:
            return self._cell(parent, name, value)
        if isinstance(value, str):
            return self._char(parent, name, value)
        if value is None:
            return _empty(parent, name, (0, 0), "double")
        if scipy.sparse.issparse(value):
            return self._sparse(parent, name, scipy.sparse.csc_array(value))
        return self._numeric(parent, name, value)

    def _struct_array(self, parent: h5py.Group, name: str, records: StructArray) -> Any:
        if len(records) == 1:
            return self.write(parent, name, dict(records[0]))
        group = parent.create_group(name)
        _cls_attr(group, "struct")
        fields = list(records[0]) if records else []
        _fields_attr(group, fields)
        for field in fields:
            refs = [self.reference(rec[field]) for rec in records]
            group.create_dataset(field, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
        return group

    def _cell(self, parent: h5py.Group, name: str, cells: np.ndarray) -> Any:
        if cells.size == 0:
            return _empty(parent, name, cells.shape if cells.ndim >= 2 else (0, 0), "cell")
        matrix = cells if cells.ndim >= 2 else cells.reshape(1, -1)
        refs = np.empty(matrix.shape[::-1], dtype=h5py.ref_dtype)
        flat = refs.reshape(-1)
        for i, item in enumerate(matrix.ravel(order="F")):
            flat[i] = self.reference(item)
        dset = parent.create_dataset(name, data=refs)
        _cls_attr(dset, "cell")
        return dset

    def _char(self, parent: h5py.Group, name: str, text: str) -> Any:
        if not text:
            return _empty(parent, name, (0, 0), "char")
        # MATLAB chars are UTF-16 code units: characters beyond U+FFFF become surrogate pairs
        codes = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), "<u2").reshape(-1, 1)
        dset = parent.create_dataset(name, data=codes)
        _cls_attr(dset, "char")
        dset.attrs["MATLAB_int_decode"] = np.int32(2)
        return dset

    def _sparse(self, parent: h5py.Group, name: str, matrix: scipy.sparse.csc_array) -> Any:
        matrix.sort_indices()
        group = parent.create_group(name)
        is_bool = matrix.dtype == bool
        _cls_attr(group, "logical" if is_bool else "double")
        group.attrs["MATLAB_sparse"] = np.uint64(matrix.shape[0])
        group.create_dataset("jc", data=matrix.indptr.astype(np.uint64))
        if matrix.nnz:
            group.create_dataset("ir", data=matrix.indices.astype(np.uint64))
            group.create_dataset(
                "data", data=matrix.data.astype(np.uint8 if is_bool else np.float64)
            )
        return group

    def _numeric(self, parent: h5py.Group, name: str, value: Any) -> Any:
        array = np.asarray(value)
        if array.dtype == bool:
            cls, array = "logical", array.astype(np.uint8)
        elif isinstance(value, int | float | np.integer) and not isinstance(value, bool):
            cls, array = "double", array.astype(np.float64)
        elif array.dtype in _CLASSES:
            cls = _CLASSES[array.dtype]
        else:
            raise FileFormatError(f"cannot write `{name}` of dtype {array.dtype} to a .mat file")
        array = _matlab_shape(array)
        if array.size == 0:
            return _empty(parent, name, array.shape, cls)
        dset = parent.create_dataset(name, data=np.ascontiguousarray(array.transpose()))
        _cls_attr(dset, cls)
        if cls == "logical":
            dset.attrs["MATLAB_int_decode"] = np.int32(1)
        return dset


def _object_row(items: list[Any] | tuple[Any, ...]) -> np.ndarray:
    row = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):  # element-wise: numpy would broadcast nested arrays
        row[0, i] = item
    return row


def _fields_attr(group: h5py.Group, fields: list[str]) -> None:
    vlen = h5py.vlen_dtype(np.dtype("S1"))
    names = np.empty(len(fields), dtype=vlen)
    for i, field in enumerate(fields):
        names[i] = np.array(list(field), dtype="S1")
    group.attrs.create("MATLAB_fields", names, dtype=vlen)


def _empty(parent: h5py.Group, name: str, shape: tuple[int, ...], cls: str) -> h5py.Dataset:
    dset = parent.create_dataset(name, data=np.array(shape, dtype=np.uint64))
    _cls_attr(dset, cls)
    dset.attrs["MATLAB_empty"] = np.uint8(1)
    return dset


def _matlab_shape(array: np.ndarray) -> np.ndarray:
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(1, -1)
    return array


# --------------------------------------------------------------------------- v5


def _to_v5(value: Any) -> Any:
    if isinstance(value, StructArray):
        fields = list(value[0]) if value else []
        out = np.empty((1, len(value)), dtype=[(f, object) for f in fields])
        for i, rec in enumerate(value):
            for field in fields:
                out[0, i][field] = _to_v5(rec[field])
        return out
    if isinstance(value, dict):
        return {k: _to_v5(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        out = np.empty((1, len(value)), dtype=object)
        for i, item in enumerate(value):
            out[0, i] = _to_v5(item)
        return out
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for idx, item in np.ndenumerate(value):
            out[idx] = _to_v5(item)
        return out
    if value is None:
        return np.zeros((0, 0))
    if isinstance(value, str) or scipy.sparse.issparse(value):
        return value
    if isinstance(value, bool | np.bool_):
        return np.array([[bool(value)]])
    if isinstance(value, int | float | np.integer | np.floating):
        return np.array([[float(value)]])
    return _matlab_shape(np.asarray(value))
