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

AR(1) has its own pool pass (`calscope.deconv.ar1_pools`): struct-of-arrays pools with only the
sums the AR(1) value needs, the newest pool kept in registers, the first pass reading (y, w)
directly; AR(2) uses the general pool records (`calscope.deconv.general_pools`). With a free
baseline the pool phase also fits b (not exact on its own: `refine` finishes it from the pool
support). Buffers are allocated once per chunk of cells (`calscope.deconv.workspace`).

Missing samples (w_t = 0, NaN in the input) keep the calcium dynamics running across the gap
but do not enter the data term, so a gap never leaks NaN into its neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from calscope.deconv.active_set import refine
from calscope.deconv.ar1_pools import expand1, forms1, sweep1
from calscope.deconv.general_pools import (
    expand_pools,
    init_pools,
    phi_table,
    pool_forms,
    sweep_pools,
)
from calscope.deconv.theta import solve_theta
from calscope.deconv.workspace import CPHI, CW, CWY, CWYY, REFINE_ROW, TBL, workspace

_MAX_ITER = 50
_L0_BISECTIONS = 20
_CHUNK = 8  # cells per workspace in solve_matrix
# ------------------------------------------------------------------------------ driver

@njit(cache=True)
def _sweep_any(ar1, y, w, npools, first, b, lam, s_min, g1, g2, tbl, cphi, fw, iw, pools):
    """One pool pass (AR(1) or general); ``first``: build the pools from the data."""
    T = y.shape[0]
    if ar1:
        n, merged = sweep1(first, y, w, npools, g1, b, lam, s_min, tbl, fw, iw)
        return n, merged or first
    if first:
        init_pools(y, w, pools)
    return sweep_pools(pools, npools, b, lam, s_min, g1, g2, 1.0 - g1 - g2, cphi, tbl, T)


@njit(cache=True)
def _forms_any(ar1, npools, b, lam, g1, g2, tbl, cphi, fw, pools, T):
    """Quadratic/linear θ-forms of the current pools (AR(1) or general)."""
    cw, cwy, cwyy = fw[CW], fw[CWY], fw[CWYY]
    if ar1:
        return forms1(npools, fw, cw[T], cwy[T], cwyy[T])
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
    target = sn * sn * fw[CW, T]
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
        expand1(npools, g1, fw, iw, c, s)
    else:
        expand_pools(pools, npools, g1, g2, c, s)


@njit(cache=True)
def _l0_threshold(y, w, g1, g2, b, sn, tbl, cphi, fw, iw, pools):
    """Largest minimum spike size whose L0 solution still explains y to the noise level.

    RSS grows with the threshold, so bisection keeps the sparsest solution with RSS ≤ σ² Σw.
    """
    target = sn * sn * fw[CW, y.shape[0]]
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
    """φ table, its cumulative sum and the prefix sums of w, w y, w y² into the workspace.

    AR(1) gets only the totals Σw, Σwy, Σwy² (at index T): its pool sums need no prefixes.
    """
    T = y.shape[0]
    tbl = phi_table(g1, g2, fw[TBL, :T + 2])
    cphi = fw[CPHI, :tbl.shape[0]]
    acc = 0.0
    for k in range(tbl.shape[0]):
        acc += tbl[k]
        cphi[k] = acc
    cw, cwy, cwyy = fw[CW], fw[CWY], fw[CWYY]
    cw[0] = cwy[0] = cwyy[0] = 0.0
    if g2 == 0.0:  # AR(1) needs only the totals (stored at index T)
        sw = swy = swyy = 0.0
        for t in range(T):
            sw += w[t]
            swy += w[t] * y[t]
            swyy += w[t] * y[t] * y[t]
        cw[T], cwy[T], cwyy[T] = sw, swy, swyy
        return tbl, cphi
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
                b = np.sum(w * (y - c)) / max(fw[CW, T], 1.0)
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
                           fw[REFINE_ROW:])
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
    fw, iw, pools, support = workspace(T, g2 != 0.0)
    c = np.zeros(T)
    s = np.zeros(T)
    b, lam, smin = _solve(y, w, g1, g2, lam, b, sn, fit_b, constrained, l0, s_min, fw, iw, pools,
                          support, c, s)
    return c, s, b, lam, smin


@njit(cache=True)
def _observed_span(row):
    """(first, last, gaps): the span of the finite samples of ``row`` ((−1, −1) if none), and
    whether NaN occur inside it."""
    first = -1
    last = -1
    count = 0
    for t in range(row.shape[0]):
        if np.isfinite(row[t]):
            if first < 0:
                first = t
            last = t
            count += 1
    return first, last, count < last + 1 - first


@njit(cache=True, parallel=True)
def solve_matrix(Y, skip, G, lam, b, sn, fit_b, constrained, l0, s_min):
    """`solve_trace` for every row of Y (cells × T, float64, NaN = missing), in parallel.

    Each row is trimmed to its first..last finite sample; NaN inside become weight-0 samples.
    Rows with ``skip`` set, and every NaN input sample, give NaN in C and S.

    Returns:
        C, S (cells × T) and per-cell b, λ, s_min (NaN for skipped rows).
    """
    n_cells, T = Y.shape
    C = np.empty((n_cells, T))  # NaN is written outside each row's solved span
    S = np.empty((n_cells, T))
    B = np.full(n_cells, np.nan)
    LAM = np.full(n_cells, np.nan)
    SMIN = np.full(n_cells, np.nan)
    general = False
    for i in range(n_cells):
        general |= G[i, 1] != 0.0
    n_chunks = (n_cells + _CHUNK - 1) // _CHUNK
    for k in prange(n_chunks):
        fw, iw, pools, support = workspace(T, general)
        y = np.empty(T)
        w = np.empty(T)
        ones = np.ones(T)
        for i in range(k * _CHUNK, min(n_cells, (k + 1) * _CHUNK)):
            first, last, gaps = _observed_span(Y[i])
            if skip[i] or first < 0:
                first, last = T, T - 1
            C[i, :first] = np.nan
            S[i, :first] = np.nan
            C[i, last + 1:] = np.nan
            S[i, last + 1:] = np.nan
            if first > last:
                continue
            n = last + 1 - first
            c = C[i, first:last + 1]
            s = S[i, first:last + 1]
            if gaps:  # missing samples: weight 0 (any finite value in y)
                for t in range(n):
                    v = Y[i, first + t]
                    ok = np.isfinite(v)
                    y[t] = v if ok else 0.0
                    w[t] = 1.0 if ok else 0.0
                yi, wi = y[:n], w[:n]
            else:
                yi, wi = Y[i, first:last + 1], ones[:n]
            B[i], LAM[i], SMIN[i] = _solve(yi, wi, G[i, 0], G[i, 1], lam[i], b[i], sn[i], fit_b,
                                           constrained, l0, s_min[i], fw, iw, pools, support, c, s)
            if gaps:
                for t in range(n):
                    if w[t] == 0.0:
                        c[t] = np.nan
                        s[t] = np.nan
    return C, S, B, LAM, SMIN


@njit(cache=True)
def profile_pool_phase(y, w, g1, g2, b, sn, fit_b):
    """Pool phase alone (noise-constrained), for the timing script; returns λ."""
    fw, iw, pools, _ = workspace(y.shape[0], g2 != 0.0)
    tbl, cphi = _prepare(y, w, g1, g2, fw)
    return _fit_pools(y, w, g1, g2, 0.0, b, sn, True, fit_b, 0.0, False, tbl, cphi, fw, iw,
                      pools)[2]
