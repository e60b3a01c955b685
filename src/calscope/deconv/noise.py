"""Noise level σ of fluorescence traces from their high-frequency power spectrum.

Functions take traces as (cells, T) float arrays that may hold NaN (missing samples or padding);
NaN runs are bridged by linear interpolation for the spectral estimates.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

# Rows per Welch call: bounds the (rows, segments, 256) scratch array to a few tens of MB.
_CHUNK_ROWS = 256


def fill_gaps(traces: np.ndarray) -> np.ndarray:
    """Copy of (cells, T) traces with NaN replaced by linear interpolation (ends held flat).

    All-NaN rows become zeros.
    """
    out = np.array(traces, dtype=np.float64, copy=True)
    rows = np.atleast_2d(out)
    t = np.arange(out.shape[-1])
    for i in np.flatnonzero(~np.isfinite(rows).all(axis=1)):
        row = rows[i]
        bad = ~np.isfinite(row)
        if bad.all():
            row[:] = 0.0
        else:
            row[bad] = np.interp(t[bad], t[~bad], row[~bad])
    return out


def _welch_sigma(y: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """σ per row of gap-free (rows, T) traces from the mean Welch PSD over ``band``."""
    freqs, psd = signal.welch(y, fs=1.0, nperseg=int(min(256, y.shape[-1])),
                              detrend="constant", axis=-1)
    sel = (freqs >= band[0]) & (freqs <= band[1])
    if not sel.any():
        sel = freqs >= freqs.max() / 2
    # one-sided PSD at fs = 1: white noise of variance σ² has PSD 2σ²
    return np.sqrt(np.mean(psd[..., sel], axis=-1) / 2.0)


def noise_sigma(traces: np.ndarray, fs: float, band: tuple[float, float] = (0.25, 0.5)) -> np.ndarray:
    """Noise standard deviation σ per cell from the high-frequency power spectrum.

    White noise of variance σ² has a flat one-sided power spectral density σ²·2/fs; calcium
    transients carry little power at high frequencies, so the mean PSD over ``band`` (as
    fractions of fs, default the upper half of the spectrum) gives σ. Only each row's observed
    span is used (leading/trailing NaN padding does not dilute the spectrum).

    Args:
        traces: (cells, T) traces, NaN allowed.
        fs: sampling rate in Hz (σ does not depend on it; kept for a uniform signature).
        band: frequency band as fractions of fs, within [0, 0.5].

    Returns:
        (cells,) σ in the traces' units; NaN for rows with fewer than 2 finite samples.
    """
    rows = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    out = np.full(rows.shape[0], np.nan)
    complete = np.isfinite(rows).all(axis=1)
    idx = np.flatnonzero(complete)
    for start in range(0, idx.size, _CHUNK_ROWS):
        chunk = idx[start: start + _CHUNK_ROWS]
        out[chunk] = _welch_sigma(rows[chunk], band)
    for i in np.flatnonzero(~complete):
        finite = np.flatnonzero(np.isfinite(rows[i]))
        if finite.size >= 2:
            out[i] = _welch_sigma(fill_gaps(rows[i, finite[0]: finite[-1] + 1]), band)
    return out
