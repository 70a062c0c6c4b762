"""Errors and uniform validation helpers.

Every error laminarray raises on bad input is a :class:`LaminarrayError` (a
``ValueError``) whose message names the argument or object, what was expected
and what was found, so that all messages read the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any


class LaminarrayError(ValueError):
    """Base class of every error laminarray raises on bad input."""


class SchemaError(LaminarrayError):
    """A labelled object does not follow laminarray's data model."""


class ArchiveError(LaminarrayError):
    """A study archive is missing, incomplete, corrupted or of a newer schema."""


class MissingDependencyError(ImportError):
    """An optional dependency needed by the called function is not installed."""


def describe(value: Any) -> str:
    """Short human description of ``value`` for error messages."""
    shape = getattr(value, "shape", None)
    dims = getattr(value, "dims", None)
    if dims is not None and shape is not None:
        return f"{type(value).__name__} with dims {tuple(dims)} and shape {tuple(shape)}"
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_type(value: Any, types: type | tuple[type, ...], name: str) -> Any:
    """Raise a :class:`LaminarrayError` unless ``value`` is an instance of ``types``.

    Parameters
    ----------
    value : object
        The value to check.
    types : type or tuple of type
        Accepted types.
    name : str
        Argument name used in the message.

    Returns
    -------
    object
        ``value`` unchanged.
    """
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise LaminarrayError(f"`{name}` must be {names}, got {type(value).__name__}")
    return value


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Raise a :class:`LaminarrayError` unless ``value`` is one of ``allowed``.

    Returns
    -------
    object
        ``value`` unchanged.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise LaminarrayError(
            f"`{name}` must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}"
        )
    return value


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Raise unless ``value`` is a finite number > 0 (or >= 0 with ``allow_zero``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LaminarrayError(f"`{name}` must be a number, got {value!r}") from None
    bad = number < 0 if allow_zero else number <= 0
    if bad or number != number or number in (float("inf"), float("-inf")):
        bound = ">= 0" if allow_zero else "> 0"
        raise LaminarrayError(f"`{name}` must be a finite number {bound}, got {value!r}")
    return number


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise an error naming the extra to install.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"mne"``.
    extra : str
        The laminarray extra providing it, e.g. ``"mne"``.
    purpose : str
        What the caller needs it for, used in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package `{module}`, which is not installed; "
            f'install it with `pip install "laminarray[{extra}]"`'
        ) from exc
