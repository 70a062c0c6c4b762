"""Simulated MEG data from known laminar sources (laMEG/SPM ``spm_eeg_simulate``).

- :func:`current_density`: geodesic Gaussian patches on the multilayer mesh,
  projected through a gain, with Gaussian noise at an SNR in dB.
- :func:`dipoles`: point dipoles with explicit orientations in a spherical head.
- :func:`patch_weights`, :func:`signal_std`, :func:`noise_level`: the pieces.
"""

from __future__ import annotations

from .noise import noise_level, signal_std
from .patches import patch_weights
from .sensor import current_density, dipoles

__all__ = ["current_density", "dipoles", "noise_level", "patch_weights", "signal_std"]
