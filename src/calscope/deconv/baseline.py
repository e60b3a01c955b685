"""Baseline of fluorescence traces: a starting constant, and a slowly varying drift.

Traces are (cells, T) float arrays that may hold NaN (missing samples or padding).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

BASELINE_QUANTILE = 15.0


def baseline_guess(traces: np.ndarray) -> np.ndarray:
    """(cells,) starting baseline: a low quantile of the trace, robust to sparse transients.

    Only the starting point of the exact baseline fit; it sets how fast that converges.
    """
    y = np.atleast_2d(traces)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanpercentile(y, BASELINE_QUANTILE, axis=1)
    return np.where(np.isfinite(low), low, 0.0)


def _block_levels(y: np.ndarray, block: int, quantile: float) -> np.ndarray:
    """(rows, n_blocks) ``quantile`` percentile of each whole block of ``block`` samples."""
    n = y.shape[1] // block
    blocks = y[:, : n * block].reshape(y.shape[0], n, block)
    complete = np.isfinite(blocks).all(axis=(1, 2))
    levels = np.empty((y.shape[0], n))
    levels[complete] = np.percentile(blocks[complete], quantile, axis=2)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in np.flatnonzero(~complete):
            levels[i] = np.nanpercentile(blocks[i], quantile, axis=1)
    return levels


def slow_baseline(traces: np.ndarray, fs: float, window_s: float = 20.0,
                  quantile: float = BASELINE_QUANTILE) -> np.ndarray:
    """(cells, T) slowly varying baseline: a low quantile in blocks, smoothed and interpolated.

    The trace is cut into blocks of ``window_s``/4; each block's ``quantile`` percentile is taken
    (robust to the transients riding on the baseline), a running minimum and mean over three
    blocks remove bumps from long bursts, and the result is interpolated linearly between block
    centres (held flat beyond the first and last). Removes drift and slow fluctuations on time
    scales ≳ ``window_s`` (keep it well above the indicator's decay time). NaN samples are
    ignored; rows with fewer than two usable blocks get a constant; all-NaN rows get NaN.
    """
    y = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    cells, T = y.shape
    block = max(1, int(round(window_s * fs / 4)))
    n = T // block
    out = np.empty_like(y)
    levels = _block_levels(y, block, quantile) if n >= 2 else np.full((cells, 0), np.nan)
    usable = np.isfinite(levels)
    t = np.arange(T)
    centres = (np.arange(n) + 0.5) * block
    regular = usable.all(axis=1) & (n >= 2)
    if regular.any():
        smooth = uniform_filter1d(minimum_filter1d(levels[regular], 3, axis=1, mode="nearest"),
                                  3, axis=1, mode="nearest")
        pos = np.clip((t - centres[0]) / block, 0.0, n - 1.0)
        lo = np.minimum(pos.astype(np.int64), n - 2)
        frac = pos - lo
        out[regular] = smooth[:, lo] * (1.0 - frac) + smooth[:, lo + 1] * frac
    for i in np.flatnonzero(~regular):
        good = usable[i]
        if good.sum() >= 2:
            row_levels = uniform_filter1d(minimum_filter1d(levels[i, good], 3, mode="nearest"),
                                          3, mode="nearest")
            out[i] = np.interp(t, centres[good], row_levels)
        elif np.isfinite(y[i]).any():
            out[i] = np.nanpercentile(y[i], quantile)
        else:
            out[i] = np.nan
    return out
