"""SPM inversions stored in an M/EEG dataset (``D.other.inv{k}``) <-> inverse datasets.

The inverse dataset (shared format, see ``docs/io.md``) holds
``projector (layer, vertex, channel)`` = ``M·U`` in nAm/fT (with a leading
``window`` dim for sliding-window inversions, one projector per window),
``free_energy``, ``cv_error``, ``spatial_modes (mode, channel)``,
``temporal_projector (time, temporal_mode)`` and the settings as attrs.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.sparse
import xarray as xr
from dask.delayed import Delayed

from .._validation import LaminarrayError, validate_type
from ..schema import mesh_dataset, projector_dataarray, time_axis, validate_projector
from ._matfile import MatFile, as_scalar, as_text, as_vector
from ._spm_header import field, open_spm, read_channels
from .errors import FileFormatError, InversionNotFoundError

__all__ = [
    "check_inversion_exists",
    "inversion_record",
    "n_inversions",
    "read_spm_inversion",
    "read_spm_inversion_mesh",
]


def n_inversions(path: str | Path) -> int:
    """Number of inversions stored in ``D.other.inv`` of an SPM dataset (0 if none)."""
    with open_spm(path) as mat:
        return mat.length("D", "other", "inv")


def check_inversion_exists(path: str | Path, index: int = 0) -> bool:
    """Return ``True`` if inversion ``index`` (0-based) exists, else raise.

    Raises
    ------
    InversionNotFoundError
        (a ``KeyError`` and a :class:`~laminarray.LaminarrayError`) saying how
        many inversions the file holds.
    """
    count = n_inversions(path)
    if not 0 <= index < count:
        raise InversionNotFoundError(
            f"{path} holds {count} inversion(s) in D.other.inv; index {index} (0-based) "
            + ("does not exist" if count else "cannot be read: run an inversion first")
        )
    return True


def _get(mat: MatFile, inv: tuple[Any, ...], name: str) -> Any:
    value = mat.get(*inv, "inverse", name, default=None)
    if isinstance(value, np.ndarray) and value.size == 0:
        return None
    return value


def _matrix(value: Any, where: str) -> Any:
    if scipy.sparse.issparse(value):
        return value
    array = np.asarray(value)
    if array.ndim != 2 or array.dtype == object:
        raise FileFormatError(f"{where} must be a matrix, found {type(value).__name__}")
    return array


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def read_spm_inversion(
    path: str | Path,
    index: int = 0,
    *,
    n_layers: int | None = None,
    layers: list[str] | None = None,
) -> xr.Dataset:
    """Read inversion ``index`` of an SPM dataset as an inverse dataset.

    Parameters
    ----------
    path : str or Path
        The SPM header ``.mat`` (v7.3 or v5).
    index : int
        0-based inversion index (laMEG's ``inversion_idx``).
    n_layers : int, optional
        Layers of the multilayer source space (sources are layer-major). By
        default ``inverse.nlayers`` when stored, else inferred from the
        inversion mesh (layer blocks with identical, offset faces), else 1.
    layers : list of str, optional
        Layer names (default laMEG's).

    Returns
    -------
    xarray.Dataset
        ``projector (layer, vertex, channel)`` float64 nAm/fT (``M·U``; dask
        with one chunk per window and a leading ``window`` dim with
        ``window_start``/``window_end`` coords in s for sliding-window
        inversions, whose per-window ``M`` may be embedded (``M_win``) or in
        external files (``M_win_files``)); ``free_energy`` () or (window);
        ``cv_error`` () (NaN when not cross-validated: SPM stores an empty
        matrix, which laMEG returns as ``[1, 0]``); ``spatial_modes (mode,
        channel)``; ``temporal_projector (time, temporal_mode)`` when stored;
        ``mode_sources (condition, layer, vertex, temporal_mode)`` nAm, SPM's
        ``J`` (single-window inversions; ``mode_sources · temporal_projector``
        is each condition's trial-summed source time course);
        attrs ``method``, ``n_spatial_modes``, ``n_temp_modes``, ``woi`` (s),
        ``foi`` (Hz), ``hann``, ``patch_size`` (mm, when SPM's ``smooth`` is
        laMEG's negative FWHM), ``n_layers``, ``source_file``,
        ``inversion_index``.

    Raises
    ------
    InversionNotFoundError
        If there is no inversion ``index``.
    FileFormatError
        For missing or inconsistent fields (named).
    """
    check_inversion_exists(path, index)
    with open_spm(path) as mat:
        inv = ("D", "other", "inv", index)
        labels, types, bad, _ = read_channels(mat)
        where = f"{mat.path}: D.other.inv{{{index + 1}}}.inverse"
        modes = _get(mat, inv, "U")
        if modes is None:
            raise FileFormatError(f"{where} has no spatial projector `U`")
        modes = _matrix(_first(modes), f"{where}.U")
        modes = modes.toarray() if scipy.sparse.issparse(modes) else modes
        channels = _inverse_channels(mat, inv, labels, types, bad, modes.shape[1], where)
        m_first = _get(mat, inv, "M")
        windows = _window_matrices(mat, inv, where)
        if m_first is None and windows is None:
            raise FileFormatError(f"{where} has neither `M` nor per-window `M_win`/`M_win_files`")
        n_sources = _n_sources(mat, inv, m_first, windows, where)
        n_layers = _n_layers(mat, inv, n_layers, n_sources, where)
        times = _times(mat)
        temporal = _temporal_projector(mat, inv, times, where)
        settings = _settings(mat, inv, where)
        free_energy = _free_energy(mat, inv)
        cv_error = _get(mat, inv, "crosserr")
        # several windows store window 1's J only: not read for them
        n_temp = None if temporal is None else temporal.sizes["temporal_mode"]
        mode_sources = (
            None if windows is not None else _mode_sources(mat, inv, n_sources, n_temp, where)
        )
    template = dict(channels=channels, layers=layers)
    if windows is None:
        proj = _single_projector(m_first, modes, n_sources, where)
        projector = projector_dataarray(
            proj.reshape(n_layers, n_sources // n_layers, -1), **template
        )
    else:
        projector = _windowed_projector(windows, modes, n_sources, n_layers, template, where)
        woi = settings.pop("woi_windows", None)
        if woi is None or woi.shape[0] != projector.sizes["window"]:
            raise FileFormatError(
                f"{where}: `woi` has {0 if woi is None else woi.shape[0]} rows but there are "
                f"{projector.sizes['window']} window matrices"
            )
        projector = projector.assign_coords(
            window_start=("window", woi[:, 0], {"units": "s"}),
            window_end=("window", woi[:, 1], {"units": "s"}),
        )
    settings.pop("woi_windows", None)
    projector.attrs.update(units="nAm/fT", long_name="inverse projector (M·U)")
    variables: dict[str, Any] = {
        "projector": projector,
        "spatial_modes": xr.DataArray(
            modes,
            dims=("mode", "channel"),
            coords={"channel": channels},
            attrs={"units": "1", "long_name": "spatial modes (U)"},
        ),
        "free_energy": _free_energy_array(free_energy, projector),
        "cv_error": xr.DataArray(
            np.nan if cv_error is None else float(np.mean(as_vector(cv_error))),
            attrs={"units": "fT", "long_name": "cross-validation error"},
        ),
    }
    if temporal is not None:
        variables["temporal_projector"] = temporal
    if mode_sources is not None:
        names, values = mode_sources
        variables["mode_sources"] = xr.DataArray(
            values.reshape(len(names), n_layers, n_sources // n_layers, -1),
            dims=("condition", "layer", "vertex", "temporal_mode"),
            coords={
                "condition": names,
                **{k: v for k, v in projector.coords.items() if "channel" not in v.dims},
            },
            attrs={
                "units": "nAm",
                "long_name": "conditional source expectation in temporal-mode space "
                "(SPM's J = M·Σ_trials A·Y·S per condition)",
            },
        )
    attrs = {
        **settings,
        "n_spatial_modes": int(modes.shape[0]),
        "n_layers": int(n_layers),
        "source_file": str(Path(path)),
        "inversion_index": int(index),
    }
    if temporal is not None:
        attrs["n_temp_modes"] = int(temporal.sizes["temporal_mode"])
    return xr.Dataset(variables, attrs=attrs)


def _inverse_channels(
    mat: MatFile,
    inv: tuple[Any, ...],
    labels: list[str],
    types: list[str],
    bad: np.ndarray,
    n_channels: int,
    where: str,
) -> list[str]:
    ic = _get(mat, inv, "Ic")
    if ic is not None:
        index = as_vector(_first(ic)).astype(np.int64) - 1
        if index.min(initial=0) < 0 or index.max(initial=0) >= len(labels):
            raise FileFormatError(f"{where}.Ic indexes channels outside 1..{len(labels)}")
        chosen = [labels[i] for i in index]
    else:
        chosen = [
            lab
            for lab, t, b in zip(labels, types, bad, strict=True)
            if "MEG" in t.upper() and not b
        ]
    if len(chosen) != n_channels:
        raise FileFormatError(
            f"{where}: `U` has {n_channels} channel columns but the inversion's channels "
            f"(`Ic`, or the good MEG channels) are {len(chosen)}"
        )
    return chosen


def _window_matrices(mat: MatFile, inv: tuple[Any, ...], where: str) -> list[Any] | None:
    """Callables/values giving each window's ``M``: embedded cells or external files."""
    if mat.length(*inv, "inverse", "M_win"):
        count = mat.length(*inv, "inverse", "M_win")
        if mat.format == "v5":
            return [_first(mat.get(*inv, "inverse", "M_win", w)) for w in range(count)]
        keys = (*inv, "inverse", "M_win")
        return [dask.delayed(_read_embedded)(str(mat.path), keys, w) for w in range(count)]
    files = _get(mat, inv, "M_win_files")
    if files is None:
        return None
    names = [as_text(f) for f in (files if isinstance(files, list) else [files])]
    variable = _get(mat, inv, "M_win_variable")
    variable = as_text(variable) if variable is not None else "M_window"
    base = mat.path.parent
    return [
        dask.delayed(_read_external)(str(base / name.replace("\\", "/")), variable)
        for name in names
    ]


def _read_embedded(path: str, keys: tuple[Any, ...], window: int) -> Any:
    with MatFile(path) as mat:
        return _first(mat.get(*keys, window))


def _read_external(path: str, variable: str) -> Any:
    with MatFile(path) as mat:
        return mat.get(variable)


def _n_sources(
    mat: MatFile, inv: tuple[Any, ...], m_first: Any, windows: list[Any] | None, where: str
) -> int:
    if m_first is not None:
        return int(_matrix(m_first, f"{where}.M").shape[0])
    nd = _get(mat, inv, "Nd")
    if nd is not None:
        return int(as_scalar(nd))
    is_ = _get(mat, inv, "Is")
    if is_ is not None:
        return int(as_vector(is_).size)
    if windows is not None and not isinstance(windows[0], Delayed):
        return int(_matrix(windows[0], f"{where}.M_win{{1}}").shape[0])
    raise FileFormatError(f"{where}: cannot tell the number of sources (no `M`, `Nd` or `Is`)")


def _n_layers(
    mat: MatFile, inv: tuple[Any, ...], n_layers: int | None, n_sources: int, where: str
) -> int:
    if n_layers is None:
        stored = _get(mat, inv, "nlayers")
        if stored is not None:
            n_layers = int(as_scalar(stored))
        else:
            faces = mat.get(*inv, "mesh", "tess_mni", "face", default=None)
            n_layers = _layers_from_faces(faces, n_sources) if faces is not None else 1
    if n_layers < 1 or n_sources % n_layers:
        raise FileFormatError(
            f"{where}: {n_sources} sources cannot be split into {n_layers} equal layers"
        )
    return int(n_layers)


def _layers_from_faces(faces: Any, n_sources: int) -> int:
    """Largest layer count whose layer-major blocks have the same faces offset by ``l·V``."""
    tri = np.asarray(faces, dtype=np.int64) - 1
    if tri.ndim != 2 or tri.shape[1] != 3:
        return 1
    for n in range(min(n_sources, tri.shape[0]), 1, -1):
        if n_sources % n or tri.shape[0] % n:
            continue
        blocks = tri.reshape(n, -1, 3)
        offsets = (np.arange(n) * (n_sources // n))[:, None, None]
        if np.array_equal(blocks - offsets, np.broadcast_to(blocks[:1], blocks.shape)):
            return n
    return 1


def _times(mat: MatFile) -> np.ndarray:
    fs = field(mat, ("Fsample",), as_scalar, "sampling rate")
    onset = field(mat, ("timeOnset",), as_scalar, "time onset")
    n = int(field(mat, ("Nsamples",), as_scalar, "samples"))
    return time_axis(n, fs, onset)


def _temporal_projector(
    mat: MatFile, inv: tuple[Any, ...], times: np.ndarray, where: str
) -> xr.DataArray | None:
    basis = _get(mat, inv, "T")
    if basis is None:
        return None
    basis = _matrix(basis, f"{where}.T")
    basis = basis.toarray() if scipy.sparse.issparse(basis) else basis
    it = _get(mat, inv, "It")
    if it is not None:
        index = as_vector(it).astype(np.int64) - 1
        if index.min() < 0 or index.max() >= times.size:
            raise FileFormatError(f"{where}.It indexes samples outside 1..{times.size}")
        t = times[index]
    elif basis.shape[0] == times.size:
        t = times
    else:
        pst = _get(mat, inv, "pst")
        if pst is None:
            raise FileFormatError(f"{where}: `T` has {basis.shape[0]} samples but no `It`/`pst`")
        t = as_vector(pst) / 1000.0
    if t.size != basis.shape[0]:
        raise FileFormatError(
            f"{where}: `T` has {basis.shape[0]} rows but the window has {t.size} samples"
        )
    return xr.DataArray(
        basis,
        dims=("time", "temporal_mode"),
        coords={"time": ("time", t, {"units": "s"})},
        attrs={"units": "1", "long_name": "temporal projector (S)"},
    )


def _mode_sources(
    mat: MatFile, inv: tuple[Any, ...], n_sources: int, n_temp: int | None, where: str
) -> tuple[list[str], np.ndarray] | None:
    """Condition names and SPM's ``J`` stacked as ``(condition, source, temporal mode)``.

    Every ``J{j}`` must be ``(n_sources, n_temp)`` (``n_temp``: the columns of
    ``T``; without ``T``, those of ``J{1}``).
    """
    value = _get(mat, inv, "J")
    if value is None:
        return None
    blocks = []
    for j, cell in enumerate(value if isinstance(value, list) else [value]):
        block = _matrix(cell, f"{where}.J{{{j + 1}}}")
        block = block.toarray() if scipy.sparse.issparse(block) else block
        expected = (n_sources, blocks[0].shape[1] if blocks else block.shape[1])
        if block.shape != expected:
            raise FileFormatError(
                f"{where}.J{{{j + 1}}} has shape {block.shape}; expected {expected} "
                "(sources x temporal modes, like J{1})"
            )
        blocks.append(block)
    if n_temp is not None and blocks[0].shape[1] != n_temp:
        raise FileFormatError(
            f"{where}: `J` has {blocks[0].shape[1]} temporal modes but `T` has {n_temp}"
        )
    names = _condition_names(mat, inv, len(blocks))
    return names, np.stack(blocks).astype(np.float64)


def _condition_names(mat: MatFile, inv: tuple[Any, ...], count: int) -> list[str]:
    """The inverted conditions: ``inverse.trials``, else ``D.condlist``, else numbered."""
    for value in (_get(mat, inv, "trials"), mat.get("D", "condlist", default=None)):
        if value is None:
            continue
        try:
            names = [as_text(v) for v in (value if isinstance(value, list) else [value])]
        except TypeError:  # absent, or not text
            continue
        if len(names) == count:
            return names
    return [f"condition {j + 1}" for j in range(count)]


def _settings(mat: MatFile, inv: tuple[Any, ...], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"method": as_text(_get(mat, inv, "type") or "unknown")}
    woi = _get(mat, inv, "woi")
    if woi is not None:
        woi = np.asarray(woi, dtype=np.float64).reshape(-1, 2) / 1000.0
        out["woi"] = [float(woi[0, 0]), float(woi[0, 1])]
        out["woi_windows"] = woi
    lpf, hpf = _get(mat, inv, "lpf"), _get(mat, inv, "hpf")
    if lpf is not None and hpf is not None:
        out["foi"] = [float(as_scalar(lpf)), float(as_scalar(hpf))]
    han = _get(mat, inv, "Han")
    if han is not None:
        out["hann"] = bool(as_scalar(han))
    smooth = _get(mat, inv, "smooth")
    if smooth is not None and as_scalar(smooth) < 0:
        out["patch_size"] = -as_scalar(smooth)
    return out


def _free_energy(mat: MatFile, inv: tuple[Any, ...]) -> np.ndarray | None:
    for name in ("crossF", "F"):
        value = _get(mat, inv, name)
        if value is not None:
            return np.asarray(value, dtype=np.float64)
    return None


def _free_energy_array(values: np.ndarray | None, projector: xr.DataArray) -> xr.DataArray:
    attrs = {"units": "1", "long_name": "free energy"}
    if "window" in projector.dims:
        n = projector.sizes["window"]
        if values is not None and values.size % n:
            raise FileFormatError(
                f"free energy (`crossF`/`F`) has {values.size} values for {n} windows"
            )
        f = np.full(n, np.nan) if values is None else values.reshape(-1, n).mean(axis=0)
        return xr.DataArray(f, dims="window", attrs=attrs)
    return xr.DataArray(np.nan if values is None else float(np.mean(values)), attrs=attrs)


def _single_projector(m: Any, modes: np.ndarray, n_sources: int, where: str) -> np.ndarray:
    m = _matrix(m, f"{where}.M")
    if m.shape != (n_sources, modes.shape[0]):
        raise FileFormatError(
            f"{where}: `M` must be (n_sources={n_sources}, n_modes={modes.shape[0]}), "
            f"found {m.shape}"
        )
    return np.asarray(m @ modes, dtype=np.float64)


def _window_kernel(m: Any, modes: np.ndarray, n_sources: int, n_layers: int) -> np.ndarray:
    proj = _single_projector(m, modes, n_sources, "M_win")
    return proj.reshape(1, n_layers, n_sources // n_layers, modes.shape[1])


def _windowed_projector(
    windows: list[Any],
    modes: np.ndarray,
    n_sources: int,
    n_layers: int,
    template: dict[str, Any],
    where: str,
) -> xr.DataArray:
    shape = (1, n_layers, n_sources // n_layers, modes.shape[1])
    blocks = [
        da.from_delayed(
            dask.delayed(_window_kernel)(m, modes, n_sources, n_layers), shape, np.float64
        )
        for m in windows
    ]
    stack = da.concatenate(blocks, axis=0)
    first = projector_dataarray(stack[0], **template)
    return xr.DataArray(
        stack,
        dims=("window", *first.dims),
        coords=first.coords,
        name="projector",
        attrs=first.attrs,
    )


def read_spm_inversion_mesh(
    path: str | Path, index: int = 0, *, n_layers: int | None = None
) -> xr.Dataset:
    """The inversion's forward mesh (``mesh.tess_mni``; MNI space, mm) as a mesh dataset.

    Vertices are layer-major (``n_layers`` as in :func:`read_spm_inversion`);
    faces are those of the first layer, 0-based.
    """
    check_inversion_exists(path, index)
    with open_spm(path) as mat:
        inv = ("D", "other", "inv", index)
        where = f"{mat.path}: D.other.inv{{{index + 1}}}.mesh.tess_mni"
        vert = mat.get(*inv, "mesh", "tess_mni", "vert", default=None)
        face = mat.get(*inv, "mesh", "tess_mni", "face", default=None)
        if vert is None or face is None:
            raise FileFormatError(f"{where} needs `vert` and `face`")
        vert = np.asarray(vert, dtype=np.float64)
        if vert.ndim != 2 or vert.shape[1] != 3:
            raise FileFormatError(f"{where}.vert must be (n, 3), found {vert.shape}")
        n_layers = _n_layers(mat, inv, n_layers, vert.shape[0], where)
    faces = np.asarray(face, dtype=np.int64) - 1
    n_v = vert.shape[0] // n_layers
    faces = faces[: faces.shape[0] // n_layers]
    return mesh_dataset(vert.reshape(n_layers, n_v, 3), faces, attrs={"space": "MNI"})


# --------------------------------------------------------------------------- writing


def inversion_record(
    inverse: xr.Dataset, sensor: xr.Dataset, mesh: xr.Dataset | None = None
) -> dict[str, Any]:
    """The ``D.other.inv{i}`` struct for an inverse dataset, as laMEG's readers expect.

    Every field is stored with SPM's MATLAB types, so that laMEG 0.2.1's
    readers (``load_source_time_series``, ``roi_power_comparison``) take the
    file as they take SPM's: ``M = projector_flat · Uᵀ`` as a sparse matrix
    (exact when ``U`` has orthonormal rows, as SPM's spatial modes do),
    ``U = {U}`` a cell holding a sparse matrix (``U = I`` when the inverse
    has no ``spatial_modes``; a dense ``U`` would be read transposed by
    laMEG), ``Ic`` the 1-based indices of the projector's channels in
    ``sensor``, ``T`` the temporal projector (identity over the whole epoch
    when absent) with ``It``/``pst``, ``J`` and ``trials`` when the inverse
    has ``mode_sources``, ``F``/``crossF``, ``crosserr`` (empty when NaN),
    ``woi`` in ms (the inversion's ``woi`` attr, else the samples the
    temporal projector covers, else the epoch), ``modality``; sliding-window
    inversions get ``M_win`` (one ``M`` per window). ``mesh`` adds
    ``mesh.tess_mni.vert/face`` (layer-major, 1-based faces).
    """
    validate_type(inverse, xr.Dataset, "inverse")
    if "projector" not in inverse:
        raise LaminarrayError(
            f"`inverse` must hold a `projector` variable; found {list(inverse.data_vars)}"
        )
    proj = inverse["projector"]
    windowed = "window" in proj.dims
    proj = validate_projector(proj.isel(window=0) if windowed else proj)
    channels = [str(c) for c in proj["channel"].values]
    sensor_labels = {str(c): i for i, c in enumerate(sensor["channel"].values)}
    missing = [c for c in channels if c not in sensor_labels]
    if missing:
        raise LaminarrayError(
            f"the inverse projector's channels are not all in the sensor data: {missing[:10]}"
        )
    if "spatial_modes" in inverse:
        modes = np.asarray(inverse["spatial_modes"].sel(channel=channels).values, dtype=np.float64)
    else:
        modes = np.eye(len(channels))
    n_l, n_v = proj.sizes["layer"], proj.sizes["vertex"]

    def reduced(p: xr.DataArray) -> scipy.sparse.csc_array:
        flat = np.asarray(p.transpose("layer", "vertex", "channel").values, dtype=np.float64)
        return _sparse_keeping_rows(flat.reshape(n_l * n_v, -1) @ modes.T)

    times = np.asarray(sensor["time"].values, dtype=np.float64)
    if "temporal_projector" in inverse:
        tp = inverse["temporal_projector"]
        basis = np.asarray(tp.transpose("time", ...).values, dtype=np.float64)
        it = np.array([int(np.argmin(np.abs(times - t))) for t in tp["time"].values]) + 1
    else:
        basis, it = np.eye(times.size), np.arange(1, times.size + 1)
    record: dict[str, Any] = {
        "type": str(inverse.attrs.get("method", "unknown")),
        "M": reduced(proj),
        "U": [scipy.sparse.csc_array(modes)],
        "T": basis,
        "It": it.astype(np.float64),
        "Is": np.arange(1, n_l * n_v + 1, dtype=np.float64),
        "Ic": [np.array([sensor_labels[c] + 1 for c in channels], dtype=np.float64)],
        "Nd": float(n_l * n_v),
        "Nm": float(modes.shape[0]),
        "Nt": float(basis.shape[1]),
        "nlayers": float(n_l),
        "pst": times[it - 1] * 1000.0,
        "modality": "MEG",
    }
    if "mode_sources" in inverse:
        sources = inverse["mode_sources"].transpose("condition", "layer", "vertex", ...)
        record["J"] = [
            np.asarray(sources.isel(condition=j).values, np.float64).reshape(n_l * n_v, -1)
            for j in range(sources.sizes["condition"])
        ]
        record["trials"] = [str(c) for c in sources["condition"].values]
    fe = inverse["free_energy"].values if "free_energy" in inverse else np.nan
    record["F"] = np.atleast_1d(np.asarray(fe, dtype=np.float64))
    record["crossF"] = record["F"]
    cv = float(inverse["cv_error"].values) if "cv_error" in inverse else np.nan
    record["crosserr"] = np.zeros((1, 0)) if np.isnan(cv) else np.array([[cv]])
    if windowed:
        full = inverse["projector"]
        record["M_win"] = [reduced(full.isel(window=w)) for w in range(full.sizes["window"])]
        record["woi"] = (
            np.column_stack([full["window_start"].values, full["window_end"].values]) * 1000.0
        )
    else:
        # SPM's woi: the requested window (default the whole epoch) within the covered samples
        covered = (float(record["pst"][0]), float(record["pst"][-1]))
        woi = inverse.attrs.get("woi")
        woi = np.asarray([-np.inf, np.inf] if woi is None else woi, np.float64).ravel() * 1000.0
        record["woi"] = np.array([[max(woi[0], covered[0]), min(woi[1], covered[1])]])
    if "foi" in inverse.attrs:
        record["lpf"], record["hpf"] = (float(f) for f in inverse.attrs["foi"])
    if "hann" in inverse.attrs:
        record["Han"] = float(bool(inverse.attrs["hann"]))
    if "patch_size" in inverse.attrs:
        record["smooth"] = -float(inverse.attrs["patch_size"])
    out: dict[str, Any] = {
        "inverse": record,
        "method": "Imaging",
        "comment": ["laminarray"],
        "date": datetime.datetime.now(datetime.UTC).strftime("%d-%b-%Y %H:%M:%S"),
    }
    if mesh is not None:
        pos = np.asarray(mesh["vertices"].transpose("layer", "vertex", "xyz").values, float)
        tri = np.asarray(mesh["faces"].values, dtype=np.int64)
        offsets = (np.arange(pos.shape[0]) * pos.shape[1])[:, None, None]
        out["mesh"] = {
            "tess_mni": {
                "vert": pos.reshape(-1, 3),
                "face": (tri[None] + offsets).reshape(-1, 3).astype(np.float64) + 1.0,
            }
        }
    return out


def _sparse_keeping_rows(matrix: np.ndarray) -> scipy.sparse.csc_array:
    """``matrix`` as a sparse matrix whose last row has a stored entry (an explicit 0 if need be).

    laMEG infers a sparse matrix's row count from its largest stored row index, so a
    projector whose last sources have all-zero rows (zero prior variance) would lose them.
    """
    sparse = scipy.sparse.csc_array(matrix)
    last = matrix.shape[0] - 1
    if last < 0 or matrix.shape[1] == 0 or np.any(sparse.indices == last):
        return sparse
    stop = sparse.indptr[1]  # append (last, 0) at the end of the first column: rows stay sorted
    indices = np.insert(sparse.indices, stop, last)
    data = np.insert(sparse.data, stop, 0.0)
    indptr = sparse.indptr + np.r_[0, np.ones(sparse.indptr.size - 1, dtype=int)]
    return scipy.sparse.csc_array((data, indices, indptr), shape=sparse.shape)
