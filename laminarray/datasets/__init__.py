"""Sample data: a synthetic folded cortex, fsaverage5 and a complete sample subject.

Names are imported lazily from their modules so that optional dependencies
(e.g. ``nilearn`` for fsaverage5) are only needed by the function using them.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_LOCATIONS = {
    "synthetic_cortex": "synthetic",
    "synthetic_head": "synthetic",
    "fsaverage5_mesh": "fsaverage",
    "fsaverage_head": "fsaverage",
    "sample": "sample_subject",
}

__all__ = sorted(_LOCATIONS)

__getattr__ = lazy_attributes(__name__, _LOCATIONS)
