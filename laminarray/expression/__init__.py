"""Time-resolved laminar expression mapping (kymata's grid search on (layer, vertex)).

- :func:`gridsearch`: log10 p-values of how strongly each source expresses a
  stimulus transform at each latency, fused with the inverse projection.
- Expression sets (:mod:`.expression_set`): the labelled result and its
  helpers :func:`combine`, :func:`crop`, :func:`rename`,
  :func:`best_transforms`.
- Plot: :func:`laminarray.viz.expression_plot`.
"""

from .expression_set import (
    best_transforms,
    combine,
    crop,
    expression_set,
    rename,
    source_dims,
    validate_expression_set,
)
from .gridsearch import gridsearch

__all__ = [
    "best_transforms",
    "combine",
    "crop",
    "expression_set",
    "gridsearch",
    "rename",
    "source_dims",
    "validate_expression_set",
]
