"""Noise level, AR coefficients and baseline estimated from fluorescence traces.

All functions take traces as (cells, T) float arrays that may hold NaN (missing samples or
padding); NaN runs are bridged by linear interpolation for the spectral estimates.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal

# Fallback kinetics when the autocovariance gives no stable AR model: a GCaMP6-like indicator.
FALLBACK_TAU_DECAY_S = 0.7
FALLBACK_TAU_RISE_S = 0.05


def fill_gaps(traces: np.ndarray) -> np.ndarray:
    """Copy of (cells, T) traces with NaN replaced by linear interpolation (ends held flat).

    All-NaN rows become zeros.
    """
    out = np.array(traces, dtype=np.float64, copy=True)
    t = np.arange(out.shape[-1])
    for row in np.atleast_2d(out):
        bad = ~np.isfinite(row)
        if bad.all():
            row[:] = 0.0
        elif bad.any():
            row[bad] = np.interp(t[bad], t[~bad], row[~bad])
    return out


def noise_sigma(traces: np.ndarray, fs: float, band: tuple[float, float] = (0.25, 0.5)) -> np.ndarray:
    """Noise standard deviation σ per cell from the high-frequency power spectrum.

    White noise of variance σ² has a flat one-sided power spectral density σ²·2/fs; calcium
    transients carry little power at high frequencies, so the mean PSD over ``band`` (as
    fractions of fs, default the upper half of the spectrum) gives σ.

    Args:
        traces: (cells, T) traces, NaN allowed.
        fs: sampling rate in Hz.
        band: frequency band as fractions of fs, within [0, 0.5].

    Returns:
        (cells,) σ in the traces' units.
    """
    rows = np.atleast_2d(traces)
    out = np.full(rows.shape[0], np.nan)
    for i, row in enumerate(rows):
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size < 2:
            continue
        # only the observed span: leading/trailing padding must not dilute the spectrum
        y = fill_gaps(row[finite[0]: finite[-1] + 1])
        freqs, psd = signal.welch(y, fs=1.0, nperseg=int(min(256, y.size)), detrend="constant")
        sel = (freqs >= band[0]) & (freqs <= band[1])
        if not sel.any():
            sel = freqs >= freqs.max() / 2
        # one-sided PSD at fs = 1: white noise of variance σ² has PSD 2σ²
        out[i] = np.sqrt(np.mean(psd[sel]) / 2.0)
    return out


def autocovariance(traces: np.ndarray, max_lag: int) -> np.ndarray:
    """(cells, max_lag + 1) biased autocovariance of mean-removed traces (NaN bridged)."""
    y = fill_gaps(np.atleast_2d(traces))
    y = y - y.mean(axis=1, keepdims=True)
    T = y.shape[1]
    n = 1 << int(np.ceil(np.log2(2 * T - 1)))
    spec = np.fft.rfft(y, n=n, axis=1)
    acov = np.fft.irfft(spec * np.conj(spec), n=n, axis=1)[:, : max_lag + 1]
    return acov / T


def fallback_g(fs: float, order: int) -> np.ndarray:
    """AR coefficients of the fallback GCaMP6-like kinetics at ``fs``: (order,)."""
    d = np.exp(-1.0 / (FALLBACK_TAU_DECAY_S * fs))
    if order == 1:
        return np.array([d])
    r = np.exp(-1.0 / (FALLBACK_TAU_RISE_S * fs))
    return np.array([d + r, -d * r])


def _stable(g: np.ndarray) -> bool:
    """AR model with a non-negative, decaying impulse response (real roots in [0, 1))."""
    if not np.all(np.isfinite(g)):
        return False
    if g.size == 1:
        return 0.0 < g[0] < 1.0
    disc = g[0] ** 2 + 4.0 * g[1]
    if disc < 0.0:
        return False
    d = (g[0] + np.sqrt(disc)) / 2.0
    r = (g[0] - np.sqrt(disc)) / 2.0
    return 0.0 < d < 1.0 and 0.0 <= r < d


def ar_coefficients(traces: np.ndarray, fs: float, sn: np.ndarray, order: int,
                    extra_lags: int = 5) -> np.ndarray:
    """AR(order) coefficients per cell from the autocovariance, corrected for noise.

    Solves the extended Yule-Walker equations r_k = Σ_j g_j r_{k−j}, k = 1..order+extra_lags,
    by least squares, with the lag-0 term reduced by σ² (white noise only adds to lag 0).
    Cells whose estimate is not a stable, positive calcium kernel get `fallback_g`.

    Args:
        traces: (cells, T), NaN allowed.
        fs: sampling rate (Hz), for the fallback.
        sn: (cells,) noise σ.
        order: 1 or 2.
        extra_lags: equations beyond ``order`` (more averaging, more bias from fast decays).

    Returns:
        (cells, order) AR coefficients.
    """
    y = np.atleast_2d(traces)
    n_lags = order + extra_lags
    acov = autocovariance(y, n_lags)
    out = np.empty((y.shape[0], order))
    fallback = fallback_g(fs, order)
    for i in range(y.shape[0]):
        r = acov[i].copy()
        r[0] -= sn[i] ** 2
        A = np.array([[r[abs(k - j)] for j in range(1, order + 1)] for k in range(1, n_lags + 1)])
        try:
            g = np.linalg.lstsq(A, r[1: n_lags + 1], rcond=None)[0]
        except np.linalg.LinAlgError:
            g = fallback
        out[i] = g if _stable(g) else fallback
    return out


def baseline_guess(traces: np.ndarray, sn: np.ndarray) -> np.ndarray:
    """(cells,) starting baseline: a low quantile of the trace, robust to sparse transients.

    Only the starting point of the exact baseline fit; it sets how fast that converges.
    """
    y = np.atleast_2d(traces)
    with np.errstate(all="ignore"):
        low = np.nanpercentile(y, 15, axis=1)
    return np.where(np.isfinite(low), low, 0.0)


def slow_baseline(traces: np.ndarray, fs: float, window_s: float = 20.0,
                  quantile: float = 15.0) -> np.ndarray:
    """(cells, T) slowly varying baseline: a low quantile in blocks, smoothed and interpolated.

    The trace is cut into blocks of ``window_s``/4; each block's ``quantile`` percentile is taken
    (robust to the transients riding on the baseline), a running minimum and mean over three
    blocks remove bumps from long bursts, and the result is interpolated back to every frame.
    Removes drift and slow fluctuations on time scales ≳ ``window_s`` (keep it well above the
    indicator's decay time). NaN samples are ignored; rows with too few samples get a constant.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    y = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    out = np.empty_like(y)
    block = max(1, int(round(window_s * fs / 4)))
    t = np.arange(y.shape[1])
    for i, row in enumerate(y):
        ok = np.isfinite(row)
        if not ok.any():
            out[i] = np.nan
            continue
        n = y.shape[1] // block
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            levels = np.nanpercentile(row[: n * block].reshape(n, block), quantile, axis=1) \
                if n >= 2 else np.array([])
        good = np.isfinite(levels)
        if good.sum() < 2:
            out[i] = np.nanpercentile(row, quantile)
            continue
        levels = uniform_filter1d(minimum_filter1d(levels[good], 3, mode="nearest"), 3,
                                  mode="nearest")
        centres = (np.flatnonzero(good) + 0.5) * block
        out[i] = np.interp(t, centres, levels)
    return out
