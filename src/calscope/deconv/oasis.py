"""OASIS active-set solvers for AR(1) and AR(2) calcium dynamics (numba).

Problem, per cell, for a trace y (T samples, optional mask w of observed samples)::

    minimise   1/2 Σ_t w_t (y_t − b − c_t)² + λ Σ_t s_t
    subject to s_t = c_t − g1 c_{t−1} − g2 c_{t−2} ≥ 0,   c_0 = c_{−1} = 0 before the trace.

AR(1) is the case g2 = 0. The solution is a sequence of *pools*: runs of samples in which the
calcium decays freely from a value v at the pool's first sample, i.e. c_{t0+k} = φ_k v + ψ_k u
with u the last calcium of the previous pool and φ, ψ the two basis solutions of the AR
recurrence (φ_0 = 1, φ_{−1} = 0; ψ_k = g2 φ_{k−1}). Each pool keeps its sums over its samples
(Σ w φ y, Σ w φ², ...), so two pools merge in O(1) time via φ_{k+m} = φ_m φ_k + φ_{m−1} ψ_k.
Pools are merged whenever a pool's spike s_{t0} would be negative (or below ``s_min`` for the
L0 variant). For AR(1) this is exact; for AR(2) it is the greedy OASIS approximation, which we
check against CVXPY in the tests.

Because the pool values are affine in (b, λ) for a fixed set of pools, the residual
‖y − c − b‖² is a quadratic in λ: the noise-constrained problem (find the largest λ with
RSS = σ² T) and the optimal baseline are solved in closed form per pool set, then pools are
merged again, until no merge happens.

Missing samples (w_t = 0, NaN in the input) keep the calcium dynamics running across the gap
but do not enter the data term, so a gap never leaks NaN into its neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from calscope.deconv.active_set import refine
from calscope.deconv.theta import solve_theta

_MAX_ITER = 50
_L0_BISECTIONS = 20

# Pool record columns (float64 array, one row per pool):
T0, LEN, A1, A2, F1, F2, S11, S12, S22, V, U, CL, CL2 = range(13)
_NCOL = 13


@njit(cache=True, inline="always")
def _phi(tbl, k):
    """φ_k from the table, with φ_k = 0 for k < 0 (and beyond the table, where it underflowed)."""
    if k < 0 or k >= tbl.shape[0]:
        return 0.0
    return tbl[k]


@njit(cache=True)
def _phi_table(g1, g2, n):
    """φ_0..φ_{n−1} of the AR recurrence, truncated where it has decayed below 1e-18."""
    tbl = np.zeros(n)
    if n == 0:
        return tbl
    tbl[0] = 1.0
    prev2 = 0.0
    peak = 1.0
    for k in range(1, n):
        cur = g1 * tbl[k - 1] + g2 * prev2
        prev2 = tbl[k - 1]
        tbl[k] = cur
        if abs(cur) > peak:
            peak = abs(cur)
        if abs(cur) < 1e-18 * peak and abs(prev2) < 1e-18 * peak:
            return tbl[: k + 1]
    return tbl


@njit(cache=True)
def _pool_value(pools, i, b, lam, g1, g2, kappa, cphi, tbl, T, first_nonneg):
    """Best value v of pool i given its u (already stored) and (b, λ); stores V, CL, CL2."""
    t0 = int(pools[i, T0])
    n = int(pools[i, LEN])
    u = pools[i, U]
    # λ term: Σ_k μ_{t0+k} φ_k with μ = λ(κ + e_t), e non-zero on the last two samples.
    kk = n if n < cphi.shape[0] else cphi.shape[0]
    g_lam = kappa * cphi[kk - 1]
    if t0 + n > T - 2 and T >= 2:
        g_lam += g2 * _phi(tbl, T - 2 - t0)
    if t0 + n > T - 1:
        g_lam += (g1 + g2) * _phi(tbl, T - 1 - t0)
    s11 = pools[i, S11]
    if s11 > 0.0:
        v = (pools[i, A1] - b * pools[i, F1] - lam * g_lam - u * pools[i, S12]) / s11
    else:
        v = 0.0
    if first_nonneg and v < 0.0:
        v = 0.0
    pools[i, V] = v
    pools[i, CL] = _phi(tbl, n - 1) * v + g2 * _phi(tbl, n - 2) * u
    if n >= 2:
        pools[i, CL2] = _phi(tbl, n - 2) * v + g2 * _phi(tbl, n - 3) * u
    else:
        pools[i, CL2] = u
    return g_lam


@njit(cache=True)
def _merge_into(pools, i, j, g2, tbl):
    """Append pool j (which directly follows pool i) to pool i."""
    m = int(pools[i, LEN])
    a = _phi(tbl, m)
    bb = _phi(tbl, m - 1)
    p = g2 * _phi(tbl, m - 1)
    q = g2 * _phi(tbl, m - 2)
    pools[i, A1] += a * pools[j, A1] + bb * pools[j, A2]
    pools[i, F1] += a * pools[j, F1] + bb * pools[j, F2]
    pools[i, S11] += a * a * pools[j, S11] + 2.0 * a * bb * pools[j, S12] + bb * bb * pools[j, S22]
    if g2 != 0.0:
        pools[i, A2] += p * pools[j, A1] + q * pools[j, A2]
        pools[i, F2] += p * pools[j, F1] + q * pools[j, F2]
        pools[i, S12] += (a * p * pools[j, S11] + (a * q + bb * p) * pools[j, S12]
                          + bb * q * pools[j, S22])
        pools[i, S22] += p * p * pools[j, S11] + 2.0 * p * q * pools[j, S12] + q * q * pools[j, S22]
    pools[i, LEN] += pools[j, LEN]


@njit(cache=True)
def _sweep(pools, npools, b, lam, s_min, g1, g2, kappa, cphi, tbl, T):
    """One left-to-right pass: recompute pool values at (b, λ) and merge violators.

    Returns the new number of pools and whether any merge happened.
    """
    n = 0
    merged = False
    for j in range(npools):
        if n != j:
            pools[n, :] = pools[j, :]
        if n == 0:
            pools[0, U] = 0.0
            _pool_value(pools, 0, b, lam, g1, g2, kappa, cphi, tbl, T, True)
            n = 1
            continue
        pools[n, U] = pools[n - 1, CL]
        _pool_value(pools, n, b, lam, g1, g2, kappa, cphi, tbl, T, False)
        n += 1
        while n > 1:
            top = n - 1
            spike = pools[top, V] - g1 * pools[top - 1, CL] - g2 * pools[top - 1, CL2]
            if pools[top, S11] > 0.0 and spike >= s_min:
                break
            _merge_into(pools, top - 1, top, g2, tbl)
            merged = True
            n -= 1
            _pool_value(pools, n - 1, b, lam, g1, g2, kappa, cphi, tbl, T, n == 1)
    return n, merged


@njit(cache=True)
def _forms(pools, npools, b, lam, g1, g2, kappa, cphi, tbl, T, cw, cwy, cwyy):
    """Quadratic form of the RSS and linear form of Σ w (y − b − c) in θ = (1, b, λ).

    Returns (Q as 6 upper-triangle coefficients, L as 3 coefficients) for the current pools,
    treating a first pool clipped at 0 as fixed at 0.
    """
    q00 = q01 = q02 = q11 = q12 = q22 = 0.0
    l0 = l1 = l2 = 0.0
    u0 = u1 = u2 = 0.0
    for i in range(npools):
        t0 = int(pools[i, T0])
        n = int(pools[i, LEN])
        s11 = pools[i, S11]
        s12 = pools[i, S12]
        g_lam = _pool_value(pools, i, b, lam, g1, g2, kappa, cphi, tbl, T, i == 0)
        if i == 0:
            u0 = u1 = u2 = 0.0
        if s11 > 0.0 and not (i == 0 and pools[i, V] == 0.0):
            v0 = (pools[i, A1] - u0 * s12) / s11
            v1 = (-pools[i, F1] - u1 * s12) / s11
            v2 = (-g_lam - u2 * s12) / s11
        else:
            v0 = v1 = v2 = 0.0
        a1 = pools[i, A1]
        a2 = pools[i, A2]
        f1 = pools[i, F1]
        f2 = pools[i, F2]
        s22 = pools[i, S22]
        nw = cw[t0 + n] - cw[t0]
        sy = cwy[t0 + n] - cwy[t0]
        syy = cwyy[t0 + n] - cwyy[t0]
        # RSS = syy − 2 b sy + b² nw − 2 v (a1 − b f1) − 2 u (a2 − b f2)
        #       + v² s11 + 2 u v s12 + u² s22, with v, u affine in θ and b = θ1.
        q00 += syy - 2.0 * v0 * a1 - 2.0 * u0 * a2 + v0 * v0 * s11 + 2.0 * u0 * v0 * s12 + u0 * u0 * s22
        q11 += nw + 2.0 * v1 * f1 + 2.0 * u1 * f2 + v1 * v1 * s11 + 2.0 * u1 * v1 * s12 + u1 * u1 * s22
        q22 += v2 * v2 * s11 + 2.0 * u2 * v2 * s12 + u2 * u2 * s22
        # cross terms (coefficient of θaθb counted once, i.e. q_ab = full cross coefficient / 2)
        q01 += (-sy - v1 * a1 + v0 * f1 - u1 * a2 + u0 * f2
                + v0 * v1 * s11 + (u0 * v1 + u1 * v0) * s12 + u0 * u1 * s22)
        q02 += (-v2 * a1 - u2 * a2 + v0 * v2 * s11 + (u0 * v2 + u2 * v0) * s12 + u0 * u2 * s22)
        q12 += (v2 * f1 + u2 * f2 + v1 * v2 * s11 + (u1 * v2 + u2 * v1) * s12 + u1 * u2 * s22)
        # Σ w (y − b − c) over the pool: sy − b nw − v f1 − u f2
        l0 += sy - v0 * f1 - u0 * f2
        l1 += -nw - v1 * f1 - u1 * f2
        l2 += -v2 * f1 - u2 * f2
        # affine last value of this pool → u of the next
        pl = _phi(tbl, n - 1)
        pl2 = g2 * _phi(tbl, n - 2)
        u0, u1, u2 = pl * v0 + pl2 * u0, pl * v1 + pl2 * u1, pl * v2 + pl2 * u2
    return q00, q01, q02, q11, q12, q22, l0, l1, l2


@njit(cache=True)
def _init_pools(y, w):
    T = y.shape[0]
    pools = np.zeros((T, _NCOL))
    for t in range(T):
        pools[t, T0] = t
        pools[t, LEN] = 1.0
        pools[t, A1] = w[t] * y[t]
        pools[t, F1] = w[t]
        pools[t, S11] = w[t]
    return pools


@njit(cache=True)
def _expand(pools, npools, g1, g2, c, s):
    """Write calcium c and spikes s of the pool solution."""
    prev1 = 0.0
    prev2 = 0.0
    for i in range(npools):
        t0 = int(pools[i, T0])
        n = int(pools[i, LEN])
        v = pools[i, V]
        s[t0] = max(v - g1 * prev1 - g2 * prev2, 0.0) if i > 0 else v
        c[t0] = v
        prev2 = prev1
        prev1 = v
        for k in range(1, n):
            cur = g1 * prev1 + g2 * prev2
            c[t0 + k] = cur
            s[t0 + k] = 0.0
            prev2 = prev1
            prev1 = cur


@njit(cache=True)
def _fit_pools(y, w, g1, g2, lam0, b, sn, constrained, s_min, cphi, tbl, cw, cwy, cwyy):
    """Pools for one trace at a fixed baseline b; returns (pools, npools, λ, rss)."""
    T = y.shape[0]
    kappa = 1.0 - g1 - g2
    target = sn * sn * cw[T]
    pools = _init_pools(y, w)
    lam = 0.0 if constrained else lam0
    npools, merged = _sweep(pools, T, b, lam, s_min, g1, g2, kappa, cphi, tbl, T)
    for _ in range(_MAX_ITER):
        if not constrained:
            break
        forms = _forms(pools, npools, b, lam, g1, g2, kappa, cphi, tbl, T, cw, cwy, cwyy)
        _, nlam = solve_theta(forms, b, lam, False, True, target)
        change = abs(nlam - lam)
        lam = nlam
        npools, merged = _sweep(pools, npools, b, lam, s_min, g1, g2, kappa, cphi, tbl, T)
        if not merged and change <= 1e-12 * (1.0 + lam):
            break
    q00, q01, q02, q11, q12, q22, _, _, _ = _forms(pools, npools, b, lam, g1, g2, kappa, cphi,
                                                   tbl, T, cw, cwy, cwyy)
    rss = (q00 + q11 * b * b + q22 * lam * lam
           + 2.0 * (q01 * b + q02 * lam + q12 * b * lam))
    return pools, npools, lam, rss


@njit(cache=True)
def _l0_threshold(y, w, g1, g2, b, sn, cphi, tbl, cw, cwy, cwyy):
    """Largest minimum spike size whose L0 solution still explains y to the noise level.

    RSS grows with the threshold, so bisection keeps the sparsest solution with RSS ≤ σ² Σw.
    """
    target = sn * sn * cw[y.shape[0]]
    lo = 0.0
    hi = 1e-12
    for t in range(y.shape[0]):
        if w[t] > 0.0:
            hi = max(hi, abs(y[t] - b))
    for _ in range(_L0_BISECTIONS):
        mid = 0.5 * (lo + hi)
        _, _, _, rss = _fit_pools(y, w, g1, g2, 0.0, b, sn, False, mid, cphi, tbl, cw, cwy, cwyy)
        if rss <= target:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def solve_trace(y, w, g1, g2, lam, b, sn, fit_b, constrained, l0, s_min):
    """Deconvolve one trace (no NaN; w = 0 marks missing samples).

    Args:
        y: (T,) float64 trace (any value where w = 0).
        w: (T,) float64 weights, 1 observed, 0 missing.
        g1, g2: AR coefficients (g2 = 0 for AR(1)).
        lam: L1 penalty λ (ignored when ``constrained``).
        b: baseline (the starting value when ``fit_b``).
        sn: noise σ (used when ``constrained`` or ``l0``).
        fit_b: optimise the baseline.
        constrained: find λ such that ‖y − c − b‖² = σ² Σw.
        l0: hard-threshold (L0) variant: no L1 shrinkage, every spike ≥ s_min; when
            ``s_min`` ≤ 0 it is chosen so that RSS ≈ σ² Σw.
        s_min: minimum spike size for L0 (≤ 0: chosen from the noise).

    Returns:
        c (T,), s (T,), b, λ, s_min used (0 for L1).
    """
    T = y.shape[0]
    tbl = _phi_table(g1, g2, T + 2)
    cphi = np.cumsum(tbl)
    cw = np.zeros(T + 1)
    cwy = np.zeros(T + 1)
    cwyy = np.zeros(T + 1)
    for t in range(T):
        cw[t + 1] = cw[t] + w[t]
        cwy[t + 1] = cwy[t] + w[t] * y[t]
        cwyy[t + 1] = cwyy[t] + w[t] * y[t] * y[t]
    c = np.zeros(T)
    s = np.zeros(T)
    if l0:
        rounds = 3 if fit_b else 1
        for _ in range(rounds):
            smin = s_min if s_min > 0.0 else _l0_threshold(y, w, g1, g2, b, sn, cphi, tbl,
                                                           cw, cwy, cwyy)
            pools, npools, _, _ = _fit_pools(y, w, g1, g2, 0.0, b, sn, False, smin, cphi, tbl,
                                             cw, cwy, cwyy)
            _expand(pools, npools, g1, g2, c, s)
            if fit_b:
                b = np.sum(w * (y - c)) / max(cw[T], 1.0)
        return c, s, b, 0.0, smin
    pools, npools, lam, _ = _fit_pools(y, w, g1, g2, lam, b, sn, constrained, 0.0, cphi, tbl,
                                       cw, cwy, cwyy)
    _expand(pools, npools, g1, g2, c, s)
    if g2 != 0.0 or fit_b:
        support = s > 0.0
        support[0] = True
        b, lam, _ = refine(y, w, g1, g2, lam, b, sn, fit_b, constrained, support, c, s)
    return c, s, b, lam, 0.0


@njit(cache=True, parallel=True)
def solve_matrix(Y, W, G, lam, b, sn, fit_b, constrained, l0, s_min):
    """`solve_trace` for every row of Y (cells × T, float64), in parallel over cells.

    Rows are trimmed to ``first..last`` observed sample by the caller's W (zeros outside);
    returns C, S (cells × T), and per-cell b, λ, s_min.
    """
    n_cells, T = Y.shape
    C = np.full((n_cells, T), np.nan)
    S = np.full((n_cells, T), np.nan)
    B = np.zeros(n_cells)
    LAM = np.zeros(n_cells)
    SMIN = np.zeros(n_cells)
    for i in prange(n_cells):
        first = -1
        last = -1
        for t in range(T):
            if W[i, t] > 0.0:
                if first < 0:
                    first = t
                last = t
        if first < 0:
            B[i] = np.nan
            LAM[i] = np.nan
            SMIN[i] = np.nan
            continue
        c, s, bi, li, si = solve_trace(Y[i, first:last + 1], W[i, first:last + 1], G[i, 0],
                                       G[i, 1], lam[i], b[i], sn[i], fit_b, constrained, l0,
                                       s_min[i])
        C[i, first:last + 1] = c
        S[i, first:last + 1] = s
        B[i] = bi
        LAM[i] = li
        SMIN[i] = si
    return C, S, B, LAM, SMIN
