"""Source power in time windows and laMEG's ROI power comparison, fused with the projection.

- :func:`window_power`: power of every (layer, vertex, trial) in a window of
  interest and a baseline, lazily, without materialising sources.
- :func:`roi_power`: laMEG's ``roi_power_comparison`` (t-maps, percentile
  ROI, laminar t-test), for any layer pair or a depth profile.
"""

from ._roi import roi_power
from ._window import window_power, window_samples

__all__ = ["roi_power", "window_power", "window_samples"]
