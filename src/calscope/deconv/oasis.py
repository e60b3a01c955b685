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

AR(1) has its own pool pass (`_push1`, `_sweep1_data`, `_sweep1_pools`): struct-of-arrays
pools with only the sums the AR(1) value needs, the first pass reading (y, w) directly. With a
free baseline the pool phase also fits b (not exact on its own: `refine` finishes it from the
pool support). Buffers are allocated once per chunk of cells (`_workspace`), not per cell.

Missing samples (w_t = 0, NaN in the input) keep the calcium dynamics running across the gap
but do not enter the data term, so a gap never leaks NaN into its neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from calscope.deconv.active_set import refine
from calscope.deconv.theta import (
    NCOL,
    expand_pools,
    init_pools,
    phi,
    phi_table,
    pool_forms,
    solve_theta,
    sweep_pools,
)

_MAX_ITER = 50
_L0_BISECTIONS = 20
_CHUNK = 8  # cells per workspace in solve_matrix
# Float workspace rows: tables, prefix sums, then AR(1) pool sums (reused by `refine`).
_TBL, _CPHI, _CW, _CWY, _CWYY, _PA, _PF, _PG, _PS, _PV = range(10)
_REFINE_ROW = 5
_NROW = _REFINE_ROW + 17


@njit(cache=True)
def _workspace(T, general):
    """Buffers for one trace of up to T samples (float rows, int rows, pools, support)."""
    pools = np.empty((T if general else 1, NCOL))
    return np.empty((_NROW, T + 2)), np.empty((2, T), np.int64), pools, np.empty(T, np.bool_)


# ---------------------------------------------------------------- AR(1) pools (struct of arrays)

@njit(cache=True, inline="always")
def _value1(A, F, G, S, i, b, lam):
    """AR(1) pool value (A − b F − λ G) / S, 0 for a pool without observed samples."""
    return (A[i] - b * F[i] - lam * G[i]) / S[i] if S[i] > 0.0 else 0.0


@njit(cache=True, inline="always")
def _push1(n, t0, ln, A, F, G, S, V, b, lam, s_min, tbl):
    """Pool n−1 was just appended: merge it backwards while its spike is below s_min.

    Returns the new number of pools and whether a merge happened.
    """
    merged = False
    if n == 1 and V[0] < 0.0:
        V[0] = 0.0
    while n > 1:
        top = n - 1
        h = phi(tbl, ln[top - 1])
        if S[top] > 0.0 and V[top] - h * V[top - 1] >= s_min:
            break
        A[top - 1] += h * A[top]
        F[top - 1] += h * F[top]
        G[top - 1] += h * G[top]
        S[top - 1] += h * h * S[top]
        ln[top - 1] += ln[top]
        n -= 1
        merged = True
        V[n - 1] = _value1(A, F, G, S, n - 1, b, lam)
        if n == 1 and V[0] < 0.0:
            V[0] = 0.0
    return n, merged


@njit(cache=True)
def _sweep1_data(y, w, g, b, lam, s_min, tbl, fw, iw):
    """First AR(1) pass straight from (y, w): one pool per sample, merged on the fly."""
    T = y.shape[0]
    t0, ln = iw[0], iw[1]
    A, F, G, S, V = fw[_PA], fw[_PF], fw[_PG], fw[_PS], fw[_PV]
    kappa = 1.0 - g
    n = 0
    for t in range(T):
        wt = w[t]
        mu = kappa if t < T - 1 else 1.0  # μ_{T−1} = κ + g
        t0[n] = t
        ln[n] = 1
        A[n] = wt * y[t]
        F[n] = wt
        G[n] = mu
        S[n] = wt
        V[n] = (A[n] - b * wt - lam * mu) / wt if wt > 0.0 else 0.0
        n, _ = _push1(n + 1, t0, ln, A, F, G, S, V, b, lam, s_min, tbl)
    return n


@njit(cache=True)
def _sweep1_pools(npools, b, lam, s_min, tbl, fw, iw):
    """Re-evaluate the AR(1) pools at a new (b, λ) and merge violators; returns (n, merged)."""
    t0, ln = iw[0], iw[1]
    A, F, G, S, V = fw[_PA], fw[_PF], fw[_PG], fw[_PS], fw[_PV]
    n = 0
    merged = False
    for j in range(npools):
        if n != j:
            t0[n] = t0[j]
            ln[n] = ln[j]
            A[n] = A[j]
            F[n] = F[j]
            G[n] = G[j]
            S[n] = S[j]
        V[n] = _value1(A, F, G, S, n, b, lam)
        n, m = _push1(n + 1, t0, ln, A, F, G, S, V, b, lam, s_min, tbl)
        merged |= m
    return n, merged


@njit(cache=True)
def _forms1(npools, fw, sw, sy, syy):
    """RSS quadratic and Σ w (y − b − c) linear forms in θ = (1, b, λ) of the AR(1) pools."""
    A, F, G, S, V = fw[_PA], fw[_PF], fw[_PG], fw[_PS], fw[_PV]
    q00, q01, q11, l0, l1 = syy, -sy, sw, sy, -sw
    q02 = q12 = q22 = l2 = 0.0
    for i in range(npools):
        if S[i] <= 0.0 or (i == 0 and V[0] == 0.0):
            continue  # value fixed at 0
        a, f, s = A[i], F[i], S[i]
        v0, v1, v2 = a / s, -f / s, -G[i] / s
        # RSS_pool = −2 v (a − b f) + v² s, with v = v0 + b v1 + λ v2
        q00 += -2.0 * v0 * a + v0 * v0 * s
        q11 += 2.0 * v1 * f + v1 * v1 * s
        q22 += v2 * v2 * s
        q01 += v0 * f - v1 * a + v0 * v1 * s
        q02 += -v2 * a + v0 * v2 * s
        q12 += v2 * f + v1 * v2 * s
        l0 -= v0 * f
        l1 -= v1 * f
        l2 -= v2 * f
    return q00, q01, q02, q11, q12, q22, l0, l1, l2


@njit(cache=True)
def _expand1(npools, g, fw, iw, c, s):
    """Write calcium c and spikes s of the AR(1) pool solution."""
    t0, ln, V = iw[0], iw[1], fw[_PV]
    prev = 0.0
    for i in range(npools):
        v = V[i]
        start = t0[i]
        s[start] = max(v - g * prev, 0.0) if i > 0 else v
        c[start] = v
        prev = v
        for k in range(start + 1, start + ln[i]):
            prev *= g
            c[k] = prev
            s[k] = 0.0


# ------------------------------------------------------------------------------ driver

@njit(cache=True)
def _sweep_any(ar1, y, w, npools, first, b, lam, s_min, g1, g2, tbl, cphi, fw, iw, pools):
    """One pool pass (AR(1) or general); ``first``: build the pools from the data."""
    T = y.shape[0]
    if ar1:
        if first:
            return _sweep1_data(y, w, g1, b, lam, s_min, tbl, fw, iw), True
        return _sweep1_pools(npools, b, lam, s_min, tbl, fw, iw)
    if first:
        init_pools(y, w, pools)
    return sweep_pools(pools, npools, b, lam, s_min, g1, g2, 1.0 - g1 - g2, cphi, tbl, T)


@njit(cache=True)
def _forms_any(ar1, npools, b, lam, g1, g2, tbl, cphi, fw, pools, T):
    """Quadratic/linear θ-forms of the current pools (AR(1) or general)."""
    cw, cwy, cwyy = fw[_CW], fw[_CWY], fw[_CWYY]
    if ar1:
        return _forms1(npools, fw, cw[T], cwy[T], cwyy[T])
    return pool_forms(pools, npools, b, lam, g1, g2, 1.0 - g1 - g2, cphi, tbl, T, cw, cwy, cwyy)


@njit(cache=True)
def _fit_pools(y, w, g1, g2, lam0, b, sn, constrained, fit_b, s_min, need_rss, tbl, cphi, fw,
               iw, pools):
    """Pools for one trace; returns (npools, b, λ, rss (0 unless ``need_rss``)).

    λ starts at 0 (noise-constrained) and is solved in closed form per pool set, then pools are
    merged again, until stable. With ``fit_b`` the baseline joins the closed form once the
    fixed-b path has converged.
    """
    T = y.shape[0]
    ar1 = g2 == 0.0
    target = sn * sn * fw[_CW, T]
    lam = 0.0 if constrained else lam0
    npools, _ = _sweep_any(ar1, y, w, T, True, b, lam, s_min, g1, g2, tbl, cphi, fw, iw, pools)
    fit_now = False
    for _ in range(_MAX_ITER):
        if not (constrained or fit_b):
            break
        forms = _forms_any(ar1, npools, b, lam, g1, g2, tbl, cphi, fw, pools, T)
        nb, nlam = solve_theta(forms, b, lam, fit_now, constrained, target)
        change = abs(nlam - lam) + abs(nb - b)
        b, lam = nb, nlam
        npools, merged = _sweep_any(ar1, y, w, npools, False, b, lam, s_min, g1, g2, tbl, cphi,
                                    fw, iw, pools)
        if not merged and change <= 1e-12 * (1.0 + lam + abs(b)):
            if fit_now or not fit_b:
                break
            fit_now = True
    rss = 0.0
    if need_rss:
        q00, q01, q02, q11, q12, q22, _, _, _ = _forms_any(ar1, npools, b, lam, g1, g2, tbl, cphi,
                                                           fw, pools, T)
        rss = (q00 + q11 * b * b + q22 * lam * lam
               + 2.0 * (q01 * b + q02 * lam + q12 * b * lam))
    return npools, b, lam, rss


@njit(cache=True)
def _expand_any(ar1, npools, g1, g2, fw, iw, pools, c, s):
    """Write c, s of the pool solution (AR(1) or general)."""
    if ar1:
        _expand1(npools, g1, fw, iw, c, s)
    else:
        expand_pools(pools, npools, g1, g2, c, s)


@njit(cache=True)
def _l0_threshold(y, w, g1, g2, b, sn, tbl, cphi, fw, iw, pools):
    """Largest minimum spike size whose L0 solution still explains y to the noise level.

    RSS grows with the threshold, so bisection keeps the sparsest solution with RSS ≤ σ² Σw.
    """
    target = sn * sn * fw[_CW, y.shape[0]]
    lo = 0.0
    hi = 1e-12
    for t in range(y.shape[0]):
        if w[t] > 0.0:
            hi = max(hi, abs(y[t] - b))
    for _ in range(_L0_BISECTIONS):
        mid = 0.5 * (lo + hi)
        rss = _fit_pools(y, w, g1, g2, 0.0, b, sn, False, False, mid, True, tbl, cphi, fw, iw,
                         pools)[3]
        if rss <= target:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def _prepare(y, w, g1, g2, fw):
    """φ table, its cumulative sum and the prefix sums of w, w y, w y² into the workspace."""
    T = y.shape[0]
    tbl = phi_table(g1, g2, fw[_TBL, :T + 2])
    cphi = fw[_CPHI, :tbl.shape[0]]
    acc = 0.0
    for k in range(tbl.shape[0]):
        acc += tbl[k]
        cphi[k] = acc
    cw, cwy, cwyy = fw[_CW], fw[_CWY], fw[_CWYY]
    cw[0] = cwy[0] = cwyy[0] = 0.0
    for t in range(T):
        cw[t + 1] = cw[t] + w[t]
        cwy[t + 1] = cwy[t] + w[t] * y[t]
        cwyy[t + 1] = cwyy[t] + w[t] * y[t] * y[t]
    return tbl, cphi


@njit(cache=True)
def _solve(y, w, g1, g2, lam, b, sn, fit_b, constrained, l0, s_min, fw, iw, pools, support,
           c, s):
    """`solve_trace` into c, s using the given workspace; returns (b, λ, s_min used)."""
    T = y.shape[0]
    ar1 = g2 == 0.0
    tbl, cphi = _prepare(y, w, g1, g2, fw)
    if l0:
        smin = s_min
        for _ in range(3 if fit_b else 1):
            if s_min <= 0.0:
                smin = _l0_threshold(y, w, g1, g2, b, sn, tbl, cphi, fw, iw, pools)
            npools = _fit_pools(y, w, g1, g2, 0.0, b, sn, False, False, smin, False, tbl, cphi,
                                fw, iw, pools)[0]
            _expand_any(ar1, npools, g1, g2, fw, iw, pools, c, s)
            if fit_b:
                b = np.sum(w * (y - c)) / max(fw[_CW, T], 1.0)
        return b, 0.0, smin
    npools, b, lam, _ = _fit_pools(y, w, g1, g2, lam, b, sn, constrained, fit_b, 0.0, False, tbl,
                                   cphi, fw, iw, pools)
    _expand_any(ar1, npools, g1, g2, fw, iw, pools, c, s)
    if not ar1 or fit_b:
        sup = support[:T]
        for t in range(T):
            sup[t] = s[t] > 0.0
        sup[0] = True
        b, lam, _ = refine(y, w, g1, g2, lam, b, sn, fit_b, constrained, sup, c, s,
                           fw[_REFINE_ROW:])
    return b, lam, 0.0


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
    fw, iw, pools, support = _workspace(T, g2 != 0.0)
    c = np.zeros(T)
    s = np.zeros(T)
    b, lam, smin = _solve(y, w, g1, g2, lam, b, sn, fit_b, constrained, l0, s_min, fw, iw, pools,
                          support, c, s)
    return c, s, b, lam, smin


@njit(cache=True, parallel=True)
def solve_matrix(Y, W, G, lam, b, sn, fit_b, constrained, l0, s_min):
    """`solve_trace` for every row of Y (cells × T, float64), in parallel over cells.

    Rows are trimmed to ``first..last`` observed sample by the caller's W (zeros outside);
    returns C, S (cells × T), and per-cell b, λ, s_min.
    """
    n_cells, T = Y.shape
    C = np.full((n_cells, T), np.nan)
    S = np.full((n_cells, T), np.nan)
    B = np.full(n_cells, np.nan)
    LAM = np.full(n_cells, np.nan)
    SMIN = np.full(n_cells, np.nan)
    general = False
    for i in range(n_cells):
        general |= G[i, 1] != 0.0
    n_chunks = (n_cells + _CHUNK - 1) // _CHUNK
    for k in prange(n_chunks):
        fw, iw, pools, support = _workspace(T, general)
        for i in range(k * _CHUNK, min(n_cells, (k + 1) * _CHUNK)):
            first = -1
            last = -1
            for t in range(T):
                if W[i, t] > 0.0:
                    if first < 0:
                        first = t
                    last = t
            if first < 0:
                continue
            B[i], LAM[i], SMIN[i] = _solve(
                Y[i, first:last + 1], W[i, first:last + 1], G[i, 0], G[i, 1], lam[i], b[i],
                sn[i], fit_b, constrained, l0, s_min[i], fw, iw, pools, support,
                C[i, first:last + 1], S[i, first:last + 1])
    return C, S, B, LAM, SMIN


@njit(cache=True)
def profile_pool_phase(y, w, g1, g2, b, sn, fit_b):
    """Pool phase alone (noise-constrained), for the timing script; returns λ."""
    fw, iw, pools, _ = _workspace(y.shape[0], g2 != 0.0)
    tbl, cphi = _prepare(y, w, g1, g2, fw)
    return _fit_pools(y, w, g1, g2, 0.0, b, sn, True, fit_b, 0.0, False, tbl, cphi, fw, iw,
                      pools)[2]
