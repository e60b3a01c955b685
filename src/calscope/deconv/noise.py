"""Noise level σ of fluorescence traces from their high-frequency power spectrum.

Functions take traces as (cells, T) float arrays that may hold NaN (missing samples or padding);
NaN runs are bridged by linear interpolation for the spectral estimates.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, signal

# Rows per Welch call: bounds the (rows, segments, 256) scratch array to a few tens of MB.
_CHUNK_ROWS = 256
_SEGMENT = 256  # Welch segment length (samples)


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
    """σ per row of gap-free (rows, T) traces from the mean Welch PSD over ``band``.

    Welch's method as `scipy.signal.welch` (periodic Hann window, 50% overlap, segment mean
    removed, density scaling at fs = 1), computed directly on a strided view of the segments
    in single precision. The periodic Hann window's spectrum is zero beyond bin 1, so removing
    each segment's mean changes no bin inside a band above 1/nperseg and is skipped there.
    `tests/deconv` checks the result against scipy.
    """
    nperseg = int(min(_SEGMENT, y.shape[-1]))
    step = nperseg - nperseg // 2
    segments = np.lib.stride_tricks.sliding_window_view(y, nperseg, axis=-1)[..., ::step, :]
    window = signal.get_window("hann", nperseg).astype(np.float32)
    freqs = np.fft.rfftfreq(nperseg)
    sel = (freqs >= band[0]) & (freqs <= band[1])
    if not sel.any():
        sel = freqs >= freqs.max() / 2
    if freqs[sel].min() <= 1.0 / nperseg:
        segments = segments - segments.mean(axis=-1, keepdims=True)
    spec = fft.rfft(segments.astype(np.float32) * window, axis=-1, workers=-1)[..., sel]
    # one-sided density: every bin but DC and (even nperseg) Nyquist counts twice
    double = np.where((freqs[sel] > 0) & ~((nperseg % 2 == 0) & (freqs[sel] == 0.5)), 2.0, 1.0)
    power = (spec.real ** 2 + spec.imag ** 2) * double.astype(np.float32)
    psd = np.mean(power, axis=(-2, -1), dtype=np.float64) / np.sum(window.astype(np.float64) ** 2)
    # white noise of variance σ² has one-sided PSD 2σ² at fs = 1
    return np.sqrt(psd / 2.0)


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
    rows = np.atleast_2d(np.asarray(traces))
    if rows.dtype not in (np.float32, np.float64):  # float32 stays: Welch runs in it anyway
        rows = rows.astype(np.float64)
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
