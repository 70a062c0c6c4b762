"""Lazy attribute access for packages whose members live in heavier modules."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
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


def after_import(module: str, callback: Callable[[], object]) -> None:
    """Call ``callback()`` once ``module`` is imported: now if it already is, else right after.

    Lets ``import laminarray`` register its xarray accessor without importing
    xarray itself (the ``laminarray`` command answers ``--help`` at once):
    the registration runs the moment anything imports xarray.

    Parameters
    ----------
    module : str
        Top-level module name, e.g. ``"xarray"``.
    callback : callable
        Called with no arguments, once.
    """
    if module in sys.modules:
        callback()
        return
    sys.meta_path.insert(0, _AfterImport(module, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps ``module``'s loader so that ``callback`` runs after it."""

    def __init__(self, module: str, callback: Callable[[], object]) -> None:
        self.module, self.callback = module, callback

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader, callback = spec.loader, self.callback

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)
                callback()

        spec.loader = _Loader()
        return spec
