"""Baseline of fluorescence traces: a starting constant, and a slowly varying drift.

Traces are (cells, T) float arrays that may hold NaN (missing samples or padding).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numba import njit, prange

BASELINE_QUANTILE = 15.0


def baseline_guess(traces: np.ndarray) -> np.ndarray:
    """(cells,) starting baseline: a low quantile of the trace, robust to sparse transients.

    Only the starting point of the exact baseline fit; it sets how fast that converges.
    NaN samples are ignored; all-NaN rows get 0.
    """
    y = np.ascontiguousarray(np.atleast_2d(traces), dtype=np.float64)
    out = np.empty(y.shape[0])
    _row_quantiles(y, BASELINE_QUANTILE, out)
    return out


@njit(cache=True)
def _quantile(x, n, q):
    """``q`` percentile (numpy's linear rule) of the first ``n`` values of x (reordered)."""
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    part = np.partition(x[:n], lo)
    value = part[lo]
    if lo + 1 < n:
        value += (pos - lo) * (np.min(part[lo + 1:]) - value)
    return value


@njit(cache=True)
def _finite_into(src, dst):
    """Copy the finite values of ``src`` to the front of ``dst``; returns their number."""
    n = 0
    for v in src:
        if np.isfinite(v):
            dst[n] = v
            n += 1
    return n


@njit(cache=True, parallel=True)
def _row_quantiles(y, q, out):
    """``q`` percentile of the finite samples of each row of y into out (0 if none)."""
    for i in prange(y.shape[0]):
        scratch = np.empty(y.shape[1])
        n = _finite_into(y[i], scratch)
        out[i] = _quantile(scratch, n, q) if n > 0 else 0.0


@njit(cache=True)
def _row_baseline(row, block, q, out):
    """Slow baseline of one trace (see `slow_baseline`) written into ``out``."""
    T = row.shape[0]
    n_blocks = T // block
    scratch = np.empty(max(block, T))
    centres = np.empty(n_blocks)
    levels = np.empty(n_blocks)
    m = 0
    for k in range(n_blocks):
        n = _finite_into(row[k * block:(k + 1) * block], scratch)
        if n > 0:
            centres[m] = (k + 0.5) * block
            levels[m] = _quantile(scratch, n, q)
            m += 1
    if m < 2:
        n = _finite_into(row, scratch)
        out[:] = _quantile(scratch, n, q) if n > 0 else np.nan
        return
    # running minimum, then running mean, over three blocks (edges repeat the end value)
    low = np.empty(m)
    for k in range(m):
        low[k] = min(levels[max(k - 1, 0)], levels[k], levels[min(k + 1, m - 1)])
    for k in range(m):
        levels[k] = (low[max(k - 1, 0)] + low[k] + low[min(k + 1, m - 1)]) / 3.0
    k = 0
    for t in range(T):
        if t <= centres[0]:
            out[t] = levels[0]
        elif t >= centres[m - 1]:
            out[t] = levels[m - 1]
        else:
            while centres[k + 1] < t:
                k += 1
            frac = (t - centres[k]) / (centres[k + 1] - centres[k])
            out[t] = levels[k] + frac * (levels[k + 1] - levels[k])


@njit(cache=True, parallel=True)
def _baselines(y, block, q, out):
    for i in prange(y.shape[0]):
        _row_baseline(y[i], block, q, out[i])


def slow_baseline(traces: np.ndarray, fs: float, window_s: float = 20.0,
                  quantile: float = BASELINE_QUANTILE,
                  sn: np.ndarray | None = None) -> np.ndarray:
    """(cells, T) slowly varying baseline: a low quantile in blocks, smoothed and interpolated.

    The trace is cut into blocks of ``window_s``/4; each block's ``quantile`` percentile is taken
    (robust to the transients riding on the baseline), a running minimum and mean over three
    blocks remove bumps from long bursts, and the result is interpolated linearly between block
    centres (held flat beyond the first and last). Removes drift and slow fluctuations on time
    scales ≳ ``window_s`` (keep it well above the indicator's decay time). NaN samples are
    ignored (blocks without data are skipped); rows with fewer than two usable blocks get their
    overall quantile as a constant; all-NaN rows get NaN. All rows run in parallel (numba).

    With the noise σ per cell (``sn``, (cells,)) the level is raised by z·σ, z = Φ⁻¹(1 − q):
    where the trace rests, its low quantile sits that far below the mean (1.04 σ for q = 15 %),
    and a baseline left that low would be explained as a standing calcium level.
    """
    y = np.ascontiguousarray(np.atleast_2d(traces), dtype=np.float64)
    out = np.empty_like(y)
    _baselines(y, max(1, int(round(window_s * fs / 4))), float(quantile), out)
    if sn is not None:
        out += NormalDist().inv_cdf(1.0 - quantile / 100.0) * np.asarray(sn, float)[:, None]
    return out
