"""Exact refinement of an OASIS solution by an active-set method (numba).

OASIS's greedy pooling is exact for AR(1) at a fixed baseline; for AR(2), and when the baseline
is optimised jointly, it can stop at a slightly wrong set of spike times. This module finishes
the job exactly:

1. For a fixed *support* (the frames allowed to carry a spike), the best spike amplitudes are a
   linear least-squares problem on the AR state-space model x_t = A x_{t−1} + e₁ s_t, solved in
   O(T) by dynamic programming over the 2-dimensional state (c_t, c_{t−1}). The solution is
   affine in θ = (1, b, λ), so the baseline and the noise-constrained λ follow in closed form.
2. The KKT conditions of the convex problem are checked in O(T): a spike that came out negative
   leaves the support; a frame outside the support whose gradient −(Kᵀ w r)_t + λ is negative
   (r the residual, K the calcium kernel) joins it. Repeat until no change.

At convergence the solution satisfies the KKT conditions of the convex problem, i.e. it is the
exact optimum (up to the tolerance), which the tests check against CVXPY.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from calscope.deconv.theta import solve_theta

_MAX_ROUNDS = 100


@njit(cache=True)
def _support_ls(y, w, m, g1, g2, support, c_out, s_out, work):
    """Least-squares calcium on a fixed support, affine in θ = (1, b, λ).

    Minimises 1/2 Σ w (y − b − c)² + λ Σ m_t c_t over spike amplitudes on ``support``.
    Writes c_out, s_out of shape (3, T): c = c_out[0] + b c_out[1] + λ c_out[2].
    ``work``: (9, ≥T) scratch rows.
    """
    T = y.shape[0]
    # Backward pass: U_t(x) = 1/2 xᵀ P x − pᵀ x, P stored as (P00, P01, P11), p as (2, 3).
    P00, P01, P11 = work[0], work[1], work[2]
    p0 = work[3:6].T
    p1 = work[6:9].T
    v00 = v01 = v11 = 0.0
    q0 = np.zeros(3)
    q1 = np.zeros(3)
    r = np.zeros(3)
    for t in range(T - 1, -1, -1):
        a00 = v00 + w[t]
        a01 = v01
        a11 = v11
        r[0] = w[t] * y[t]
        r[1] = -w[t]
        r[2] = -m[t]
        for k in range(3):
            q0[k] += r[k]
        P00[t] = a00
        P01[t] = a01
        P11[t] = a11
        for k in range(3):
            p0[t, k] = q0[k]
            p1[t, k] = q1[k]
        if support[t] and a00 > 0.0:
            # eliminate s_t: Schur complement on the first state coordinate
            b01 = a01 / a00
            a11 = a11 - a01 * b01
            for k in range(3):
                q1[k] = q1[k] - b01 * q0[k]
                q0[k] = 0.0
            a00 = 0.0
            a01 = 0.0
        # V_t(x) = U~(A x) with A = [[g1, g2], [1, 0]]: AᵀPA and Aᵀp
        v00 = g1 * g1 * a00 + 2.0 * g1 * a01 + a11
        v01 = g1 * g2 * a00 + g2 * a01
        v11 = g2 * g2 * a00
        for k in range(3):
            n0 = g1 * q0[k] + q1[k]
            n1 = g2 * q0[k]
            q0[k] = n0
            q1[k] = n1
    # Forward pass.
    x0 = np.zeros(3)
    x1 = np.zeros(3)
    for t in range(T):
        for k in range(3):
            pred0 = g1 * x0[k] + g2 * x1[k]
            s = 0.0
            if support[t] and P00[t] > 0.0:
                s = (p0[t, k] - P00[t] * pred0 - P01[t] * x0[k]) / P00[t]
            x1[k] = x0[k]
            x0[k] = pred0 + s
            c_out[k, t] = x0[k]
            s_out[k, t] = s


@njit(cache=True)
def _support_ls1(y, w, m, g, support, c_out, s_out):
    """`_support_ls` for AR(1): each run from one support frame to the next is independent.

    The run's first value is v_k = Σ φ r_k / Σ w φ² (φ = g^j) for the three right-hand sides
    r = (w y, −w, −m); a run without observed samples (or a first run off the support) just
    decays (no spike).
    """
    T = y.shape[0]
    start = 0
    prev0 = prev1 = prev2 = 0.0
    while start < T:
        end = start + 1
        while end < T and not support[end]:
            end += 1
        ss = a0 = a1 = a2 = 0.0
        ph = 1.0
        for t in range(start, end):
            wt = w[t]
            ss += wt * ph * ph
            a0 += wt * y[t] * ph
            a1 -= wt * ph
            a2 -= m[t] * ph
            ph *= g
        if ss > 0.0 and support[start]:
            v0, v1, v2 = a0 / ss, a1 / ss, a2 / ss
        else:
            v0, v1, v2 = g * prev0, g * prev1, g * prev2
        s_out[0, start] = v0 - g * prev0
        s_out[1, start] = v1 - g * prev1
        s_out[2, start] = v2 - g * prev2
        for t in range(start, end):
            c_out[0, t] = v0
            c_out[1, t] = v1
            c_out[2, t] = v2
            if t > start:
                s_out[0, t] = s_out[1, t] = s_out[2, t] = 0.0
            prev0, prev1, prev2 = v0, v1, v2
            v0 *= g
            v1 *= g
            v2 *= g
        start = end


@njit(cache=True)
def _theta_forms(y, w, c3):
    """RSS quadratic form and Σ w (y − b − c) linear form in θ for c = c3ᵀ θ."""
    q00 = q01 = q02 = q11 = q12 = q22 = 0.0
    l0 = l1 = l2 = 0.0
    for t in range(y.shape[0]):
        if w[t] == 0.0:
            continue
        # residual r = (y − c0) + θ1 (−1 − c1) + θ2 (−c2)
        e0 = y[t] - c3[0, t]
        e1 = -1.0 - c3[1, t]
        e2 = -c3[2, t]
        wt = w[t]
        q00 += wt * e0 * e0
        q01 += wt * e0 * e1
        q02 += wt * e0 * e2
        q11 += wt * e1 * e1
        q12 += wt * e1 * e2
        q22 += wt * e2 * e2
        l0 += wt * e0
        l1 += wt * e1
        l2 += wt * e2
    return q00, q01, q02, q11, q12, q22, l0, l1, l2


@njit(cache=True)
def refine(y, w, g1, g2, lam, b, sn, fit_b, constrained, support, c, s, work):
    """Exact solution by active-set iterations, starting from ``support`` (bool (T,)).

    Args as `calscope.deconv.oasis.solve_trace`; ``c`` and ``s`` (T,) are overwritten;
    ``work``: (17, ≥T) scratch rows. Returns (b, λ, converged).
    """
    T = y.shape[0]
    kappa = 1.0 - g1 - g2
    m = work[0, :T]
    m[:] = kappa
    if T >= 2:
        m[T - 2] += g2
    m[T - 1] += g1 + g2
    target = sn * sn * np.sum(w)
    scale = 1e-9 * (np.sqrt(np.sum(w * y * y) / max(np.sum(w), 1.0)) + 1e-12)
    c3 = work[1:4, :T]
    s3 = work[4:7, :T]
    grad = work[7]
    converged = False
    for _ in range(_MAX_ROUNDS):
        if g2 == 0.0:
            _support_ls1(y, w, m, g1, support, c3, s3)
        else:
            _support_ls(y, w, m, g1, g2, support, c3, s3, work[8:17])
        if fit_b or constrained:
            forms = _theta_forms(y, w, c3)
            b, lam = solve_theta(forms, b, lam, fit_b, constrained, target)
        for t in range(T):
            c[t] = c3[0, t] + b * c3[1, t] + lam * c3[2, t]
            s[t] = s3[0, t] + b * s3[1, t] + lam * s3[2, t]
        # KKT: a_t = Σ_{τ≥t} h_{τ−t} w_τ (y_τ − b − c_τ) must not exceed λ off the support
        a1 = 0.0
        a2 = 0.0
        for t in range(T - 1, -1, -1):
            a = w[t] * (y[t] - b - c[t]) + g1 * a1 + g2 * a2
            grad[t] = a - lam  # > 0: adding a spike at t lowers the objective
            a2 = a1
            a1 = a
        changed = False
        # drop negative spikes
        for t in range(T):
            if support[t] and s[t] < -scale:
                support[t] = False
                changed = True
        # add the most violating frame of each run of KKT violations
        best = -1
        best_val = 0.0
        for t in range(T):
            if not support[t] and grad[t] > scale:
                if grad[t] > best_val:
                    best_val = grad[t]
                    best = t
            elif best >= 0:
                support[best] = True
                changed = True
                best = -1
                best_val = 0.0
        if best >= 0:
            support[best] = True
            changed = True
        if not changed:
            converged = True
            break
    for t in range(T):
        if s[t] < 0.0:
            s[t] = 0.0
    return b, lam, converged

