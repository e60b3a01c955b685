"""General (AR(2)) OASIS pools: one record per pool, merged in O(1) via the φ recurrence.

A pool is a run of frames in which the calcium decays freely from value v at its first frame,
c_{t0+k} = φ_k v + ψ_k u with u the previous pool's last calcium (φ, ψ the two basis solutions
of the AR recurrence). Each record keeps its sums over its frames, so two pools merge in O(1)
via φ_{k+m} = φ_m φ_k + φ_{m−1} ψ_k. Used for AR(2) by `calscope.deconv.oasis`; AR(1) has its
own leaner pools (`calscope.deconv.ar1_pools`).
"""

from __future__ import annotations

from numba import njit

# Pool record columns (float64 array, one row per pool):
T0, LEN, A1, A2, F1, F2, S11, S12, S22, V, U, CL, CL2 = range(13)
NCOL = 13


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
