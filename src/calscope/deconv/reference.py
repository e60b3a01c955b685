"""Reference solutions of the deconvolution problems by CVXPY (slow; for tests and checks).

CVXPY is an optional dependency (the ``test`` extra). These functions state the convex
problems exactly as `calscope.deconv.oasis` solves them, with c_0 = c_{−1} = 0 before the trace.
"""

from __future__ import annotations

import numpy as np


def _problem_parts(y: np.ndarray, g: np.ndarray, w: np.ndarray | None):
    import cvxpy as cp

    T = y.shape[0]
    c = cp.Variable(T)
    s = c - g[0] * cp.hstack([np.zeros(1), c[:-1]])
    if len(g) > 1:
        s = s - g[1] * cp.hstack([np.zeros(2), c[:-2]])
    w = np.ones(T) if w is None else np.asarray(w, dtype=float)
    return cp, c, s, w


def solve_l1_reference(y: np.ndarray, g: np.ndarray, lam: float, *, b: float | None = 0.0,
                       w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """min_c,b 1/2 Σ w (y − b − c)² + λ Σ s, s = c − Σ g_k c_{t−k} ≥ 0; b fixed unless None.

    Returns (c (T,), b).
    """
    cp, c, s, w = _problem_parts(y, np.asarray(g, float), w)
    bb = cp.Variable() if b is None else b
    resid = cp.multiply(np.sqrt(w), y - c - bb)
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(resid) + lam * cp.sum(s)), [s >= 0]).solve(
        solver=cp.CLARABEL)
    return np.asarray(c.value), float(bb.value if b is None else b)


def solve_constrained_reference(y: np.ndarray, g: np.ndarray, sn: float, *,
                                b: float | None = 0.0,
                                w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """min Σ s subject to Σ w (y − b − c)² ≤ σ² Σ w, s ≥ 0; b fixed unless None.

    Returns (c (T,), b).
    """
    cp, c, s, w = _problem_parts(y, np.asarray(g, float), w)
    bb = cp.Variable() if b is None else b
    resid = cp.multiply(np.sqrt(w), y - c - bb)
    cp.Problem(cp.Minimize(cp.sum(s)), [s >= 0, cp.sum_squares(resid) <= sn ** 2 * w.sum()]).solve(
        solver=cp.CLARABEL)
    return np.asarray(c.value), float(bb.value if b is None else b)
