"""Pure-numpy inversion kernels: EBB and MSP fits for one window (spec §2–§4).

Inputs are trusted: ``lead`` is the lead field in spatial-mode space
``A·L`` (float64, modes × sources), ``smoothing`` the CSC patch operator
``QG`` (sources × sources), ``modes`` the spatial projector ``A``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._blas import single_blas_thread
from ._linalg import spm_svd
from .modes import Reduced
from .priors import ebb_prior, weighted_gram
from .reml import RemlResult, reml_sc, sparse_reml

NOISE_FLOOR = float(np.exp(-5.0))
GS_FLOOR = float(np.exp(-2.0))
GS_ITERATIONS = 16
GS_PRUNE = -16.0
ARD_KEEP = 1.0 / 128.0


@dataclass(frozen=True)
class Fit:
    """One inversion of one window.

    Attributes
    ----------
    projector : ndarray, shape (n_sources, n_channels)
        ``M·A``: sources (nAm) per sensor unit, sources layer-major.
    variance : ndarray, shape (n_sources,)
        Posterior variance ``qC``.
    prior_variance : ndarray, shape (n_sources,)
        Prior variance ``Cp`` (diagonal).
    reml : RemlResult
        The last ReML fit (its free energy is the inversion's).
    reduced : Reduced
        The reduced data used.
    timings : dict of str to float
        Wall time of the stages (``priors``, ``reml``, ``projector``), s.
    """

    projector: np.ndarray
    variance: np.ndarray
    prior_variance: np.ndarray
    reml: RemlResult
    reduced: Reduced
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def free_energy(self) -> float:
        """Variational free energy of the final ReML."""
        return self.reml.free_energy


class Stopwatch:
    """Accumulate wall time per named stage (for benchmarks' breakdowns)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to ``stage``."""
        now = time.perf_counter()
        self.times[stage] = self.times.get(stage, 0.0) + now - self._last
        self._last = now


def noise_components(
    modes: np.ndarray, reduced: Reduced, noise: Sequence[np.ndarray] | None = None
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Sensor-noise components, their pooled ``Qe`` and the floor ``Q0`` (spec §1.7).

    Parameters
    ----------
    modes : ndarray, shape (n_modes, n_channels)
        Spatial projector (orthonormal rows) when ``noise`` is None.
    noise : sequence of ndarray, shape (n_modes, n_modes), optional
        One component per modality (multimodal fusion); default the single
        ``Qe = A·Aᵀ/tr``.

    Returns
    -------
    components : list of ndarray
        ``[Qe]``, or the per-modality components.
    qe : ndarray
        Pooled component (trace 1).
    q0 : ndarray
        Noise floor ``e⁻⁵·tr(ΣỸỸᵀ)·Qe/N``.
    """
    if noise is None:
        qe = modes @ modes.T
        qe /= np.trace(qe)
        components = [qe]
    else:
        components = list(noise)
        qe = np.sum(components, axis=0)
        qe = qe / np.trace(qe)
    q0 = NOISE_FLOOR * np.trace(reduced.yy) * qe / reduced.n_samples
    return components, qe, q0


def _cov_inverse(reml: RemlResult) -> np.ndarray:
    """``Cy⁻¹`` by a linear solve."""
    return np.linalg.solve(reml.cov, np.eye(reml.cov.shape[0]))


def _is_identity(modes: np.ndarray) -> bool:
    return modes.shape[0] == modes.shape[1] and np.array_equal(modes, np.eye(modes.shape[0]))


def fit_ebb(
    lead: np.ndarray,
    smoothing: sp.csc_array,
    modes: np.ndarray,
    reduced: Reduced,
    noise: Sequence[np.ndarray] | None = None,
) -> Fit:
    """Empirical Bayesian beamformer with SPM's two-stage ReML (spec §2.2, §3.4, §4).

    ``modes`` maps channels to the reduced space (the projector is ``M·modes``);
    ``noise`` gives one sensor-noise component per modality (the second ReML
    stage then refits them, as SPM's multimodal inversion) instead of the
    single ``A·Aᵀ`` of the classic one.
    """
    watch = Stopwatch()
    power = ebb_prior(lead, smoothing, reduced.yy)
    components, _, q0 = noise_components(modes, reduced, noise)
    nn = reduced.n_samples
    sensor_prior = weighted_gram(lead, power)
    watch.lap("priors")
    with single_blas_thread():
        stage1 = reml_sc(reduced.yy, [*components, sensor_prior], nn, q0)
        second = [q0] if noise is None else components
        stage2 = reml_sc(reduced.yy, [*second, stage1.hyper[-1] * sensor_prior], nn, q0)
    watch.lap("reml")
    prior_var = stage2.hyper[-1] * stage1.hyper[-1] * power
    kernel = lead.T @ _cov_inverse(stage2)
    variance = prior_var - prior_var**2 * np.einsum("ij,ji->i", kernel, lead)
    projector = kernel if _is_identity(modes) else kernel @ modes
    projector *= prior_var[:, None]
    watch.lap("projector")
    return Fit(projector, variance, prior_var, stage2, reduced, watch.times)


def greedy_search(
    data: np.ndarray, patterns: np.ndarray, noise: np.ndarray, n_iter: int = GS_ITERATIONS
) -> np.ndarray:
    """Greedy search over nested patch partitions (SPM's ``spm_mvb``, spec §3.5).

    Parameters
    ----------
    data : ndarray, shape (n_modes, n_samples)
        Reduced data ``[Ỹ_1 … Ỹ_K]``.
    patterns : ndarray, shape (n_modes, n_patches)
        Sensor patterns of the patches ``A·L·QG[:, Ip]``.
    noise : ndarray, shape (n_modes, n_modes)
        Sensor-noise component ``Qe``.

    Returns
    -------
    ndarray, shape (n_patches,)
        Prior variance of each patch in the best model.
    """
    yy = data @ data.T
    nn = data.shape[1]
    floor = GS_FLOOR * np.trace(yy) * noise / np.trace(noise) / nn

    def evaluate(parts: np.ndarray) -> tuple[RemlResult, np.ndarray, np.ndarray]:
        comps = [noise] + [(patterns * g) @ patterns.T for g in parts.T]
        res = reml_sc(yy, comps, nn, floor)
        prior = parts @ res.hyper[1:]
        gain = np.linalg.solve(res.cov, patterns * prior)
        return res, prior, gain.T @ data

    best_f = evaluate(np.zeros((patterns.shape[1], 0)))[0].free_energy
    parts = np.ones((patterns.shape[1], 1))
    best = np.zeros(patterns.shape[1])
    for i in range(n_iter):
        res, prior, estimate = evaluate(parts)
        if i == 0 or res.free_energy > best_f:
            best = prior
        best_f = max(best_f, res.free_energy)
        rel = np.log(res.hyper[1:]) - np.log(res.hyper[-1])
        parts = parts[:, rel >= GS_PRUNE]
        members = np.flatnonzero(parts[:, -1])
        n_new = math.ceil(members.size / 2)
        if n_new < 2:
            break
        order = np.argsort(-np.sum(estimate[members] ** 2, axis=1), kind="stable")
        new = np.zeros((patterns.shape[1], 1))
        new[members[order[:n_new]]] = 1.0
        parts = np.concatenate([parts, new], axis=1)
    return best


def ard_weights(
    yy: np.ndarray, patterns: np.ndarray, noise: Sequence[np.ndarray], nn: int
) -> np.ndarray:
    """ARD patch weights, zero below ``max/128`` (spec §3.5, ``spm_sp_reml``).

    Parameters
    ----------
    noise : sequence of ndarray, shape (n_modes, n_modes)
        Sensor-noise components (one, or one per modality).

    Returns
    -------
    ndarray, shape (n_patches,)
    """
    noise_bases = [spm_svd(q) for q in noise]
    bases = [b for b, _ in noise_bases] + [patterns[:, [c]] for c in range(patterns.shape[1])]
    weights = [w for _, w in noise_bases] + [np.ones(1)] * patterns.shape[1]
    hp = sparse_reml(yy, bases, weights, nn)[len(noise_bases) :]
    return np.where(hp > hp.max() * ARD_KEEP, hp, 0.0)


def fit_msp(
    lead: np.ndarray,
    smoothing: sp.csc_array,
    modes: np.ndarray,
    reduced: Reduced,
    patches: np.ndarray,
    noise: Sequence[np.ndarray] | None = None,
) -> Fit:
    """Multiple sparse priors: greedy search, ARD and a final ReML (spec §3.5, §4).

    Parameters
    ----------
    patches : ndarray of int, shape (n_patches,)
        Patch centres (layer-major source indices).
    noise : sequence of ndarray, optional
        One sensor-noise component per modality (as :func:`fit_ebb`); the
        greedy search uses their sum, ARD and the final ReML each of them.
    """
    watch = Stopwatch()
    basis = sp.csc_array(smoothing[:, patches])
    patterns = np.asarray(basis.T @ lead.T).T
    components, qe, q0 = noise_components(modes, reduced, noise)
    nn = reduced.n_samples
    flat = reduced.y.transpose(0, 2, 1).reshape(reduced.y.shape[0], -1)
    watch.lap("priors")
    with single_blas_thread():
        gs = greedy_search(flat, patterns, qe)
        watch.lap("greedy_search")
        ard = ard_weights(reduced.yy, patterns, components, nn)
        watch.lap("ard")
        first = [q0] if noise is None else components
        comps = [*first, weighted_gram(patterns, gs), weighted_gram(patterns, ard)]
        final = reml_sc(reduced.yy, comps, nn, q0)
    watch.lap("reml")
    patch_var = final.hyper[-2] * gs + final.hyper[-1] * ard
    cov_inv = _cov_inverse(final)
    scaled = patterns * patch_var
    projector = np.asarray(basis @ (scaled.T @ cov_inv @ modes))
    prior_var = np.asarray(basis.multiply(basis) @ patch_var)
    inner = scaled.T @ cov_inv @ scaled
    variance = prior_var - _sparse_quadratic_diag(sp.csr_array(basis), inner)
    watch.lap("projector")
    return Fit(projector, variance, prior_var, final, reduced, watch.times)


def _sparse_quadratic_diag(rows: sp.csr_array, inner: np.ndarray, size: int = 16384) -> np.ndarray:
    """``diag(B·X·Bᵀ)`` for a sparse ``B`` in row blocks."""
    out = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], size):
        block = rows[start : start + size]
        out[start : start + size] = np.asarray((block @ inner) * block.toarray()).sum(axis=1)
    return out
