"""ΔF/F of raw fluorescence (e.g. Suite2p's F − 0.7·Fneu) against a slow running baseline."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from calscope.deconv.noise import fill_gaps
from calscope.validation import as_trace_matrix, check_fs


def delta_f_over_f(fluorescence: np.ndarray, fs: float, *, window_s: float = 60.0,
                   smooth_s: float = 1.0) -> np.ndarray:
    """(F − F0) / F0 per row, F0 a running "maximin" baseline.

    F0 is the running maximum of the running minimum (both over ``window_s``) of F smoothed
    with a Gaussian of σ = ``smooth_s``: it follows slow drift and bleaching but not
    transients. Rows whose baseline falls to 0 or below (over-subtracted neuropil) are divided
    by a floor of 1% of their median |F| instead, with a warning naming them.

    Args:
        fluorescence: (cells, T) or (T,) raw fluorescence (any units), NaN where missing.
        fs: frame rate (Hz).
        window_s: baseline window (s).
        smooth_s: smoothing before the minimum (s).

    Returns:
        ΔF/F as a fraction, float32, the input's shape; NaN where the input is NaN.
    """
    rate = check_fs(fs)
    f = as_trace_matrix(fluorescence, "fluorescence")
    missing = ~np.isfinite(f)
    filled = fill_gaps(f)
    size = max(3, int(round(window_s * rate)))
    smooth = ndimage.gaussian_filter1d(filled, max(smooth_s * rate, 0.5), axis=1, mode="nearest")
    base = ndimage.maximum_filter1d(ndimage.minimum_filter1d(smooth, size, axis=1, mode="nearest"),
                                    size, axis=1, mode="nearest")
    floor = 0.01 * np.nanmedian(np.abs(np.where(missing, np.nan, f)), axis=1, keepdims=True)
    floor = np.nan_to_num(floor, nan=1.0)
    low = np.flatnonzero((base <= floor).any(axis=1))
    if low.size:
        warnings.warn(f"rows {', '.join(map(str, low[:10]))}{' …' if low.size > 10 else ''}: "
                      "the fluorescence baseline reaches 0 or below (too much neuropil "
                      "subtracted?); ΔF/F there uses a floor of 1% of the median |F|",
                      stacklevel=2)
    dff = (filled - base) / np.maximum(base, np.maximum(floor, 1e-12))
    dff[missing] = np.nan
    out = dff.astype(np.float32)
    return out[0] if np.ndim(fluorescence) == 1 else out
