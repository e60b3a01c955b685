"""Closed-form baseline and noise-constrained λ for a fixed active set.

For a fixed set of pools the solution is affine in θ = (1, b, λ), so the RSS is a quadratic form
and Σ w (y − b − c) a linear form in θ; `pool_forms` (AR(2)/general pools) and
`calscope.deconv.oasis` (AR(1) pools) compute them, `solve_theta` solves for (b, λ).
The general pool record (one row per pool, any AR order) lives here too: value, merge, sweep and
expansion of pools (used for AR(2) by `calscope.deconv.oasis`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Pool record columns (float64 array, one row per pool):
T0, LEN, A1, A2, F1, F2, S11, S12, S22, V, U, CL, CL2 = range(13)
NCOL = 13


@njit(cache=True)
def solve_theta(forms, b, lam, fit_b, constrained, target):
    """New (b, λ) for fixed pools: optimal b if ``fit_b``; λ from RSS = target if constrained."""
    q00, q01, q02, q11, q12, q22, l0, l1, l2 = forms
    # b = beta0 + beta1 λ
    if fit_b and l1 != 0.0:
        beta0 = -l0 / l1
        beta1 = -l2 / l1
    else:
        beta0 = b
        beta1 = 0.0
    if not constrained:
        return beta0 + beta1 * lam, lam
    # RSS(λ) = θᵀ Q θ with θ = (1, beta0 + beta1 λ, λ) = x + λ y
    x0, x1, x2 = 1.0, beta0, 0.0
    y0, y1, y2 = 0.0, beta1, 1.0
    c0 = (q00 * x0 * x0 + q11 * x1 * x1 + q22 * x2 * x2
          + 2.0 * (q01 * x0 * x1 + q02 * x0 * x2 + q12 * x1 * x2))
    c1 = 2.0 * (q00 * x0 * y0 + q11 * x1 * y1 + q22 * x2 * y2
                + q01 * (x0 * y1 + x1 * y0) + q02 * (x0 * y2 + x2 * y0) + q12 * (x1 * y2 + x2 * y1))
    c2 = (q00 * y0 * y0 + q11 * y1 * y1 + q22 * y2 * y2
          + 2.0 * (q01 * y0 * y1 + q02 * y0 * y2 + q12 * y1 * y2))
    if c0 >= target or c2 <= 0.0:
        return beta0, 0.0
    disc = c1 * c1 - 4.0 * c2 * (c0 - target)
    if disc < 0.0:
        disc = 0.0
    new_lam = (-c1 + np.sqrt(disc)) / (2.0 * c2)
    if new_lam < 0.0:
        new_lam = 0.0
    return beta0 + beta1 * new_lam, new_lam


@njit(cache=True, inline="always")
def phi(tbl, k):
    """φ_k from the table, with φ_k = 0 for k < 0 (and beyond the table, where it underflowed)."""
    if k < 0 or k >= tbl.shape[0]:
        return 0.0
    return tbl[k]


@njit(cache=True)
def phi_table(g1, g2, tbl):
    """φ_k of the AR recurrence into ``tbl``; returns the prefix before it decayed below 1e-18."""
    n = tbl.shape[0]
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
def pool_value(pools, i, b, lam, g1, g2, kappa, cphi, tbl, T, first_nonneg):
    """Best value v of pool i given its u (already stored) and (b, λ); stores V, CL, CL2."""
    t0 = int(pools[i, T0])
    n = int(pools[i, LEN])
    u = pools[i, U]
    # λ term: Σ_k μ_{t0+k} φ_k with μ = λ(κ + e_t), e non-zero on the last two samples.
    kk = n if n < cphi.shape[0] else cphi.shape[0]
    g_lam = kappa * cphi[kk - 1]
    if t0 + n > T - 2 and T >= 2:
        g_lam += g2 * phi(tbl, T - 2 - t0)
    if t0 + n > T - 1:
        g_lam += (g1 + g2) * phi(tbl, T - 1 - t0)
    s11 = pools[i, S11]
    if s11 > 0.0:
        v = (pools[i, A1] - b * pools[i, F1] - lam * g_lam - u * pools[i, S12]) / s11
    else:
        v = 0.0
    if first_nonneg and v < 0.0:
        v = 0.0
    pools[i, V] = v
    pools[i, CL] = phi(tbl, n - 1) * v + g2 * phi(tbl, n - 2) * u
    if n >= 2:
        pools[i, CL2] = phi(tbl, n - 2) * v + g2 * phi(tbl, n - 3) * u
    else:
        pools[i, CL2] = u
    return g_lam


@njit(cache=True)
def pool_forms(pools, npools, b, lam, g1, g2, kappa, cphi, tbl, T, cw, cwy, cwyy):
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
        g_lam = pool_value(pools, i, b, lam, g1, g2, kappa, cphi, tbl, T, i == 0)
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
        pl = phi(tbl, n - 1)
        pl2 = g2 * phi(tbl, n - 2)
        u0, u1, u2 = pl * v0 + pl2 * u0, pl * v1 + pl2 * u1, pl * v2 + pl2 * u2
    return q00, q01, q02, q11, q12, q22, l0, l1, l2


# ------------------------------------------------------------------- general (AR(2)) pools
@njit(cache=True)
def _merge_into(pools, i, j, g2, tbl):
    """Append pool j (which directly follows pool i) to pool i."""
    m = int(pools[i, LEN])
    a = phi(tbl, m)
    bb = phi(tbl, m - 1)
    p = g2 * phi(tbl, m - 1)
    q = g2 * phi(tbl, m - 2)
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
def sweep_pools(pools, npools, b, lam, s_min, g1, g2, kappa, cphi, tbl, T):
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
            pool_value(pools, 0, b, lam, g1, g2, kappa, cphi, tbl, T, True)
            n = 1
            continue
        pools[n, U] = pools[n - 1, CL]
        pool_value(pools, n, b, lam, g1, g2, kappa, cphi, tbl, T, False)
        n += 1
        while n > 1:
            top = n - 1
            spike = pools[top, V] - g1 * pools[top - 1, CL] - g2 * pools[top - 1, CL2]
            if pools[top, S11] > 0.0 and spike >= s_min:
                break
            _merge_into(pools, top - 1, top, g2, tbl)
            merged = True
            n -= 1
            pool_value(pools, n - 1, b, lam, g1, g2, kappa, cphi, tbl, T, n == 1)
    return n, merged


@njit(cache=True)
def init_pools(y, w, pools):
    """One general pool per sample."""
    T = y.shape[0]
    pools[:T, :] = 0.0
    for t in range(T):
        pools[t, T0] = t
        pools[t, LEN] = 1.0
        pools[t, A1] = w[t] * y[t]
        pools[t, F1] = w[t]
        pools[t, S11] = w[t]
    return pools


@njit(cache=True)
def expand_pools(pools, npools, g1, g2, c, s):
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
