"""Source inversion: SPM's Empirical Bayesian Beamformer and Multiple Sparse Priors.

A native port of the inversions laMEG drives in SPM (``spm_eeg_invert_classic``)
with SPM's variational free energy, so that laminar model comparison gives
SPM's numbers (design note spm_inversion (``docs/design/spm_inversion.md``)):

- :func:`invert_ebb`, :func:`invert_msp`: one inversion -> inverse dataset
  (``projector (layer, vertex, channel)``, ``free_energy``, ``cv_error``, ...).
- :func:`apply_inverse`: lazy source estimate ``(layer, vertex, time, trial)``.
- :func:`compare_layers`: per-layer free energies (laminar model comparison).
- :func:`sliding_window`: per-layer, per-window free energies.
- :class:`InversionSettings`: the options, round-tripping through attrs.
"""

from .apply import apply_inverse
from .compare import compare_layers, sliding_window, sliding_windows
from .ebb import invert_ebb
from .msp import invert_msp
from .settings import InversionSettings

__all__ = [
    "InversionSettings",
    "apply_inverse",
    "compare_layers",
    "invert_ebb",
    "invert_msp",
    "sliding_window",
    "sliding_windows",
]
