"""Optional per-cell fit of the calcium decay time (``deconvolve(..., optimize_g=True)``).

Given a solution, the spike support (frames with a spike of at least one noise σ) splits the
trace into segments in which the calcium decays freely. With the support fixed, the decay time
τ that best explains the data is found by least squares: every segment gets its own free
amplitude(s) (AR(1): a d^k; AR(2): a d^k + e r^k with the rise root r held fixed), and the
total residual is minimised over log τ by golden-section search. `deconvolve` alternates this
with re-solving (the OASIS "optimize g" scheme, Friedrich et al. 2017).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from calscope.deconv.kinetics import MAX_TAU_DECAY_S

_GOLDEN_STEPS = 30  # interval shrinks by 0.618^30 ≈ 5e-7 in log τ


@njit(cache=True)
def _segment_rss(yy, yd, yr, dd, dr, rr, two):
    """Residual of the least-squares fit of one segment on its 1 or 2 basis functions."""
    if dd <= 0.0:
        return yy
    if two:
        det = dd * rr - dr * dr
        if det > 1e-12 * dd * rr:
            return yy - (rr * yd * yd - 2.0 * dr * yd * yr + dd * yr * yr) / det
    return yy - yd * yd / dd


@njit(cache=True)
def support_rss(y, support, d, r):
    """Residual Σ (y − c)² of the best free-decay fit of y on a fixed spike support.

    Args:
        y: (T,) trace, NaN where missing (skipped).
        support: (T,) bool, True where a new segment starts (a spike).
        d: decay root in (0, 1).
        r: rise root in [0, d) (0: AR(1), one basis function per segment).

    Returns:
        The residual sum of squares in the trace's units squared.
    """
    two = r > 0.0
    total = 0.0
    yy = yd = yr = dd = dr = rr = 0.0
    pd = pr = 1.0
    for t in range(y.shape[0]):
        if t > 0 and support[t]:
            total += _segment_rss(yy, yd, yr, dd, dr, rr, two)
            yy = yd = yr = dd = dr = rr = 0.0
            pd = pr = 1.0
        v = y[t]
        if np.isfinite(v):
            yy += v * v
            yd += v * pd
            yr += v * pr
            dd += pd * pd
            dr += pd * pr
            rr += pr * pr
        pd *= d
        pr *= r
    return total + _segment_rss(yy, yd, yr, dd, dr, rr, two)


@njit(cache=True)
def _best_decay(y, support, r, fs):
    """Decay root minimising `support_rss` over log τ ∈ [max(1/fs, 1.5 τ_rise), τ_max]."""
    lo = np.log(1.0 / fs)
    if r > 0.0:
        lo = max(lo, np.log(-1.5 / (fs * np.log(r))))
    hi = np.log(MAX_TAU_DECAY_S)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    x1 = b - ratio * (b - a)
    x2 = a + ratio * (b - a)
    f1 = support_rss(y, support, np.exp(-1.0 / (fs * np.exp(x1))), r)
    f2 = support_rss(y, support, np.exp(-1.0 / (fs * np.exp(x2))), r)
    for _ in range(_GOLDEN_STEPS):
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - ratio * (b - a)
            f1 = support_rss(y, support, np.exp(-1.0 / (fs * np.exp(x1))), r)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + ratio * (b - a)
            f2 = support_rss(y, support, np.exp(-1.0 / (fs * np.exp(x2))), r)
    return np.exp(-1.0 / (fs * np.exp(0.5 * (a + b))))


@njit(cache=True, parallel=True)
def fit_decay(Y, S, decay, rise, sn, skip, fs):
    """Per-cell decay root fitted on the spike support of a solution (see the module docstring).

    Args:
        Y: (cells, T) traces minus baseline, NaN where missing.
        S: (cells, T) spikes of the current solution (NaN where missing).
        decay, rise: (cells,) current decay and rise roots (`kinetics.kernel_roots`; rise 0 for
            AR(1)); the rise is kept.
        sn: (cells,) noise σ: spikes ≥ σ start a segment.
        skip: (cells,) rows to leave unchanged.
        fs: sampling rate (Hz).

    Returns:
        (cells,) decay roots.
    """
    out = decay.copy()
    for i in prange(Y.shape[0]):
        if skip[i]:
            continue
        support = S[i] >= sn[i]
        support[0] = True
        out[i] = _best_decay(Y[i], support, rise[i], fs)
    return out
