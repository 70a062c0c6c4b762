"""Small dense linear-algebra helpers with SPM's exact numerical semantics.

SPM's inversion relies on a few helpers whose conventions change the numbers
(regularised inverse, a log-determinant that silently drops entries, a
local-linearisation step, a thresholded SVD). They are re-implemented here
from ``shared/specs/spm_inversion.md`` §1.2.1 and §3.2; every function takes
and returns float64 numpy arrays and trusts its inputs.
"""

from __future__ import annotations

import numpy as np

_LOGDET_TOL = 1e-16


def spm_inv(a: np.ndarray) -> np.ndarray:
    """Regularised inverse ``(A + τI)⁻¹`` with ``τ = max(eps(‖A‖∞)·max(shape), e⁻³²)``.

    Parameters
    ----------
    a : ndarray, shape (n, n)

    Returns
    -------
    ndarray, shape (n, n)
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    norm = np.abs(a).sum(axis=1).max() if a.size else 0.0
    tau = max(float(np.spacing(norm)) * max(a.shape), np.exp(-32.0))
    return np.linalg.inv(a + tau * np.eye(a.shape[0]))


def spm_logdet(c: np.ndarray) -> float:
    """Log-determinant as SPM computes it (spec §3.2).

    Rows/columns with a zero diagonal are dropped; a diagonal matrix uses its
    signed diagonal, a non-symmetric one its singular values, a symmetric one
    Cholesky (singular values if that fails); only values in
    ``(1e-16, 1e16)`` contribute (negative diagonal entries are ignored).
    """
    c = np.atleast_2d(np.asarray(c, dtype=np.float64))
    keep = np.diag(c) != 0
    c = c[np.ix_(keep, keep)]
    off = c - np.diag(np.diag(c))
    if np.any(off != 0):
        if np.max(np.abs(c - c.T)) > _LOGDET_TOL:
            values = np.linalg.svd(c, compute_uv=False)
        else:
            try:
                return float(2.0 * np.sum(np.log(np.diag(np.linalg.cholesky(c)))))
            except np.linalg.LinAlgError:
                values = np.linalg.svd(c, compute_uv=False)
    else:
        values = np.diag(c)
    values = values[(values > _LOGDET_TOL) & (values < 1.0 / _LOGDET_TOL)]
    return float(np.sum(np.log(values)))


def pinv_spm(j: np.ndarray, g: np.ndarray) -> np.ndarray:
    """SPM's pseudo-inverse applied to a vector, ``spm_inv(JᵀJ)·Jᵀ·g``.

    Squares the condition number as SPM does (its numbers depend on it); the
    regularised normal equations are solved rather than inverted.
    """
    normal = j.T @ j
    norm = np.abs(normal).sum(axis=1).max() if normal.size else 0.0
    tau = max(float(np.spacing(norm)) * normal.shape[0], np.exp(-32.0))
    return np.linalg.solve(normal + tau * np.eye(normal.shape[0]), j.T @ g)


def spm_dx(j: np.ndarray, g: np.ndarray, t: float) -> np.ndarray:
    """Local-linearisation step ``(exp(τJ) − I)·J⁻¹·g`` with ``τ = exp(t − logdet(J)/m)``.

    Parameters
    ----------
    j : ndarray, shape (m, m)
        Curvature (negative definite).
    g : ndarray, shape (m,)
        Gradient.
    t : float
        Log time step.

    Returns
    -------
    ndarray, shape (m,)
        The update; a Newton step ``−J⁺g`` when ``τ > e¹⁶``.
    """
    m = g.size
    tau = np.exp(t - spm_logdet(j) / m)
    if tau > np.exp(16.0):
        return -pinv_spm(j, g)
    aug = np.zeros((m + 1, m + 1))
    aug[1:, 0] = tau * g
    aug[1:, 1:] = tau * j
    return expm(aug)[1:, 0]


def expm(a: np.ndarray, order: int = 6) -> np.ndarray:
    """Matrix exponential by scaling and squaring of a diagonal Padé approximant.

    The textbook algorithm (Golub & Van Loan, Matrix Computations, Alg. 11.3.1)
    with Padé degree 6 as SPM; numpy only, so tiny matrices do not pay for
    threaded LAPACK calls.
    """
    norm = np.abs(a).sum(axis=1).max()
    squarings = max(0, int(np.ceil(np.log2(norm))) + 1) if norm > 0 else 0
    x = a / 2.0**squarings
    c = 1.0
    power = np.eye(a.shape[0])
    num = np.eye(a.shape[0])
    den = np.eye(a.shape[0])
    for k in range(1, order + 1):
        c *= (order - k + 1) / (k * (2 * order - k + 1))
        power = power @ x
        num += c * power
        den += (-1) ** k * c * power
    out = np.linalg.solve(den, num)
    for _ in range(squarings):
        out = out @ out
    return out


def spm_svd(x: np.ndarray, u: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Thresholded SVD with SPM's keep rule (spec §1.2.1).

    Component ``i`` is kept iff ``σᵢ²·n / Σσ² > u`` (``n`` singular values);
    ``u ≥ 1`` means ``u − 1e-6`` and ``u ≤ 0`` means ``64·eps``. All-zero rows
    and columns are dropped and re-embedded as zeros; a diagonal matrix uses
    its (signed) diagonal entries sorted descending and identity vectors.

    Parameters
    ----------
    x : ndarray, shape (m, n)
    u : float
        Relative threshold.

    Returns
    -------
    vectors : ndarray, shape (m, k)
        Left singular vectors of the kept components, descending.
    values : ndarray, shape (k,)
        Their singular values.
    """
    x = np.asarray(x, dtype=np.float64)
    if u >= 1:
        u = u - 1e-6
    elif u <= 0:
        u = 64 * np.finfo(np.float64).eps
    rows = np.flatnonzero(np.any(x != 0, axis=1))
    cols = np.flatnonzero(np.any(x != 0, axis=0))
    sub = x[np.ix_(rows, cols)]
    if sub.size == 0:
        return np.zeros((x.shape[0], 0)), np.zeros(0)
    if sub.shape[0] == sub.shape[1] and not np.any(sub - np.diag(np.diag(sub))):
        diag = np.diag(sub)
        order = np.argsort(-diag, kind="stable")
        values = diag[order]
        vecs = np.eye(sub.shape[0])[:, order]
    else:
        vecs, values, _ = np.linalg.svd(sub, full_matrices=False)
    power = values**2
    keep = power * power.size / power.sum() > u
    out = np.zeros((x.shape[0], int(keep.sum())))
    out[rows] = vecs[:, keep]
    return out, values[keep]


def trace_product(a: np.ndarray, b: np.ndarray) -> float:
    """``tr(A·B)`` without forming the product."""
    return float(np.sum(a.T * b))
