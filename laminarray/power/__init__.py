"""Source power in time windows and laMEG's ROI power comparison, fused with the projection.

- :func:`window_power`: power of every (layer, vertex, trial) in a window of
  interest and a baseline, lazily, without materialising sources.
- :func:`roi_power`: laMEG's ``roi_power_comparison`` (t-maps, percentile
  ROI, laminar t-test), for any layer pair or a depth profile.
"""

import warnings
from collections.abc import Sequence
from typing import Any

from ..schema import window_bounds
from ._roi import roi_power
from ._window import window_power


def window_samples(times: Any, window: Sequence[float], name: str = "window") -> tuple[int, int]:
    """Deprecated alias of :func:`laminarray.schema.window_bounds` (half-open ``[t0, t1)``).

    .. deprecated:: 0.2
        Use :func:`laminarray.schema.window_bounds`, the library's one window rule.
    """
    warnings.warn(
        "laminarray.power.window_samples is deprecated; use laminarray.schema.window_bounds",
        DeprecationWarning,
        stacklevel=2,
    )
    return window_bounds(times, window, name=name)


__all__ = ["roi_power", "window_power", "window_samples"]
