"""Renamed keyword arguments: the old name keeps working, with a ``FutureWarning``.

One mechanism for every rename, so that a documented name is never broken
without warning::

    @renamed_parameters(smoothing="patch_operator", since="0.2")
    def invert_ebb(sensor, gain, mesh=None, *, patch_operator=None, ...): ...

``invert_ebb(..., smoothing=Q)`` then warns once per call and passes ``Q`` as
``patch_operator``; giving both names is an error.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from ._validation import LaminarrayError

F = TypeVar("F", bound=Callable[..., Any])


def renamed_parameters(*, since: str, **renames: str) -> Callable[[F], F]:
    """Decorate a function whose keyword arguments ``old=new`` were renamed.

    Parameters
    ----------
    since : str
        The laminarray version that introduced the new names (quoted in the
        warning).
    **renames : str
        ``old_name="new_name"`` for each renamed keyword argument.

    Returns
    -------
    callable
        A decorator; the decorated function accepts the old names as keywords,
        emits a ``FutureWarning`` naming the new one and forwards the value.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise LaminarrayError(
                        f"{func.__name__}() got both `{old}` (deprecated) and `{new}`; "
                        f"pass only `{new}`"
                    )
                warnings.warn(
                    f"{func.__name__}(): `{old}` was renamed `{new}` in laminarray {since}; "
                    f"the old name will be removed in a future version",
                    FutureWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
