"""User configuration: the data root and the memory budget.

Both are resolved the same way: an explicit argument first, then an
environment variable, then the user config file
(``$XDG_CONFIG_HOME/laminarray/config.toml``, default
``~/.config/laminarray/config.toml``), then a default::

    # ~/.config/laminarray/config.toml
    data_path = "/data/laminar"
    max_memory = "8 GB"
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from ._validation import LaminarrayError

DATA_ENV = "LAMINARRAY_DATA"
MEMORY_ENV = "LAMINARRAY_MAX_MEMORY"
DEFAULT_MAX_MEMORY = 4 * 2**30
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def config_file() -> Path:
    """Path of the user config file (it need not exist)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "laminarray" / "config.toml"


def _config_value(key: str) -> Any:
    path = config_file()
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle).get(key)
    except tomllib.TOMLDecodeError as exc:
        raise LaminarrayError(f"cannot parse the laminarray config file {path}: {exc}") from None


def get_data_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the laminarray data root.

    Parameters
    ----------
    path : str or path-like, optional
        Explicit data root; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``path``, else ``$LAMINARRAY_DATA``, else ``data_path`` from the user
        config file, else ``~/laminarray_data``. The directory is not created.
    """
    for candidate in (path, os.environ.get(DATA_ENV), _config_value("data_path")):
        if candidate:
            return Path(candidate).expanduser()
    return Path.home() / "laminarray_data"


def parse_bytes(value: str | int | float, name: str = "max_memory") -> int:
    """Number of bytes from an int or a string such as ``"2 GB"`` or ``"512MiB"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise LaminarrayError(
                f"`{name}` must be a byte count such as 4e9, '4 GB' or '512 MiB'; got {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    nbytes = int(number * _UNITS[unit])
    if nbytes <= 0:
        raise LaminarrayError(f"`{name}` must be positive, got {value!r}")
    return nbytes


def get_max_memory(max_memory: str | int | float | None = None) -> int:
    """Resolve the memory budget in bytes (argument, ``$LAMINARRAY_MAX_MEMORY``, config, 4 GiB)."""
    for candidate in (max_memory, os.environ.get(MEMORY_ENV), _config_value("max_memory")):
        if candidate is not None and candidate != "":
            return parse_bytes(candidate)
    return DEFAULT_MAX_MEMORY
