"""Pictures of laminar results: matplotlib figures and an interactive WebGL surface view.

Names are imported lazily from their modules so that ``import laminarray``
does not import matplotlib.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_LOCATIONS = {
    "SurfaceView": "interactive",
    "color_map": "colors",
    "data_to_rgb": "colors",
    "expression_plot": "expression",
    "plot_coregistration": "coregistration",
    "plot_headshape_fit": "coregistration",
    "plot_csd": "csd",
    "plot_layer_comparison": "comparison",
    "plot_roi_power": "power",
    "plot_sliding_window": "comparison",
    "plot_surface": "surface",
    "show_surface": "interactive",
    "significance_threshold": "expression",
    "to_hex": "colors",
}

__all__ = sorted(_LOCATIONS)

__getattr__ = lazy_attributes(__name__, _LOCATIONS)
