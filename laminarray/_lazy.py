"""Lazy attribute access for packages whose members live in heavier modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, locations: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``name`` from ``package.<locations[name]>`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    locations : mapping name -> submodule
        Where each public name is defined (relative to ``package``).
    """

    def __getattr__(name: str) -> Any:
        if name in locations:
            return getattr(importlib.import_module(f"{package}.{locations[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
