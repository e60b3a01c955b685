"""AR(1) OASIS pools: struct-of-arrays sums in the solver's workspace (numba).

A pool's value is v = (A − b F − λ G) / S with A = Σ w φ y, F = Σ w φ, G = Σ μ φ, S = Σ w φ²
over its frames (φ = g^k); only these sums are kept, in rows of the float workspace
(`calscope.deconv.workspace`), with the pools' first frames and lengths in the int rows.
"""

from __future__ import annotations

from numba import njit

from calscope.deconv.general_pools import phi
from calscope.deconv.workspace import PA, PF, PG, PS, PV


@njit(cache=True)
def sweep1(from_data, y, w, npools, g, b, lam, s_min, tbl, fw, iw):
    """One AR(1) pool pass at (b, λ): returns (number of pools, whether any merge happened).

    ``from_data``: build the pools from (y, w), one per sample to start with; otherwise
    re-evaluate the ``npools`` existing pools (compacted in place). Each new element joins the
    newest pool whenever its spike would fall below ``s_min``, and the newest pool then joins
    its predecessors while their spike would. The newest pool lives in local variables (most
    elements merge into it at once) and is written to the arrays only when a later element
    starts a pool of its own. A pool's value is (A − b F − λ G) / S (0 without observed
    samples); the first pool's value is clamped at ≥ 0.
    """
    T = y.shape[0]
    t0, ln = iw[0], iw[1]
    A, F, G, S, V = fw[PA], fw[PF], fw[PG], fw[PS], fw[PV]
    kappa = 1.0 - g
    count = T if from_data else npools
    merged = False
    n = 0  # pools stored below the newest one
    top_l = 0  # no newest pool yet
    top_t = 0
    top_a = top_f = top_g = top_s = top_v = 0.0
    for j in range(count):
        if from_data:
            e_t, e_l, e_s = j, 1, w[j]
            e_a, e_f, e_g = w[j] * y[j], w[j], kappa if j < T - 1 else 1.0  # μ_{T−1} = κ + g
        else:
            e_t, e_l, e_a, e_f, e_g, e_s = t0[j], ln[j], A[j], F[j], G[j], S[j]
        e_v = (e_a - b * e_f - lam * e_g) / e_s if e_s > 0.0 else 0.0
        if top_l == 0 or (e_s > 0.0 and e_v - phi(tbl, top_l) * top_v >= s_min):
            if top_l > 0:
                t0[n], ln[n], A[n], F[n], G[n], S[n], V[n] = top_t, top_l, top_a, top_f, \
                    top_g, top_s, top_v
                n += 1
            top_t, top_l, top_a, top_f, top_g, top_s, top_v = e_t, e_l, e_a, e_f, e_g, e_s, e_v
        else:
            h = phi(tbl, top_l)
            top_a += h * e_a
            top_f += h * e_f
            top_g += h * e_g
            top_s += h * h * e_s
            top_l += e_l
            top_v = (top_a - b * top_f - lam * top_g) / top_s if top_s > 0.0 else 0.0
            merged = True
        while n > 0:
            h = phi(tbl, ln[n - 1])
            if top_s > 0.0 and top_v - h * V[n - 1] >= s_min:
                break
            n -= 1
            top_t = t0[n]
            top_a = A[n] + h * top_a
            top_f = F[n] + h * top_f
            top_g = G[n] + h * top_g
            top_s = S[n] + h * h * top_s
            top_l += ln[n]
            top_v = (top_a - b * top_f - lam * top_g) / top_s if top_s > 0.0 else 0.0
            merged = True
        if n == 0 and top_v < 0.0:
            top_v = 0.0
    t0[n], ln[n], A[n], F[n], G[n], S[n], V[n] = top_t, top_l, top_a, top_f, top_g, top_s, top_v
    return n + 1, merged


@njit(cache=True)
def forms1(npools, fw, sw, sy, syy):
    """RSS quadratic and Σ w (y − b − c) linear forms in θ = (1, b, λ) of the AR(1) pools."""
    A, F, G, S, V = fw[PA], fw[PF], fw[PG], fw[PS], fw[PV]
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
def expand1(npools, g, fw, iw, c, s):
    """Write calcium c and spikes s of the AR(1) pool solution."""
    t0, ln, V = iw[0], iw[1], fw[PV]
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
