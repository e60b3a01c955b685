"""Calcium kinetics per cell: AR(1)/AR(2) coefficients estimated from the autocovariance.

An AR(p) model c_t = Σ_j g_j c_{t−j} + s_t has the impulse response of a calcium transient:
AR(1) g = [d] (instant rise, decay root d), AR(2) g = [d + r, −d r] (rise root r < decay
root d); a root z is a time constant τ = −1 / (fs ln z) seconds.
"""

from __future__ import annotations

import numpy as np

from calscope.deconv.noise import fill_gaps

# Prior kinetics (a GCaMP6-like indicator): the fallback when the autocovariance gives no stable
# AR model, and the value decay-time estimates are shrunk toward.
PRIOR_TAU_DECAY_S = 0.7
PRIOR_TAU_RISE_S = 0.05
# No common indicator's single-spike transient decays slower than this (GCaMP6s: ≈ 1–1.5 s).
MAX_TAU_DECAY_S = 2.0


def autocovariance(traces: np.ndarray, max_lag: int) -> np.ndarray:
    """(cells, max_lag + 1) biased autocovariance of mean-removed traces (NaN bridged)."""
    y = fill_gaps(np.atleast_2d(traces))
    y -= y.mean(axis=1, keepdims=True)
    T = y.shape[1]
    acov = np.empty((y.shape[0], max_lag + 1))
    for k in range(max_lag + 1):  # a few lags: direct products beat an FFT of length 2T
        acov[:, k] = np.einsum("ct,ct->c", y[:, : T - k], y[:, k:])
    return acov / T


def fallback_g(fs: float, order: int) -> np.ndarray:
    """AR coefficients of the prior GCaMP6-like kinetics at ``fs``: (order,)."""
    d = np.exp(-1.0 / (PRIOR_TAU_DECAY_S * fs))
    if order == 1:
        return np.array([d])
    r = np.exp(-1.0 / (PRIOR_TAU_RISE_S * fs))
    return np.array([d + r, -d * r])


def kernel_roots(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decay and rise roots of (cells, order) AR coefficients, and which describe a transient.

    Returns:
        ``(decay, rise, ok)``, each (cells,): the roots (rise 0 for AR(1)), and ``ok`` where
        both are real with 0 ≤ rise < decay < 1 (a non-negative, decaying impulse response).
    """
    g = np.atleast_2d(g)
    if g.shape[1] == 1:
        d = g[:, 0].copy()
        r = np.zeros_like(d)
    else:
        disc = g[:, 0] ** 2 + 4.0 * g[:, 1]
        sq = np.sqrt(np.where(disc >= 0.0, disc, np.nan))
        d = (g[:, 0] + sq) / 2.0
        r = (g[:, 0] - sq) / 2.0
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(d) & np.isfinite(r) & (d > 0.0) & (d < 1.0) & (r >= 0.0) & (r < d)
    return d, r, ok


def ar_at_rate(g: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    """The same calcium kinetics at another sampling rate: (cells, order) AR coefficients.

    Each root z (per frame at ``fs_from``) becomes z^(fs_from / fs_to), which keeps its time
    constant in seconds. Rows whose roots are not a decaying transient (``kernel_roots`` not ok)
    come back NaN.
    """
    g = np.atleast_2d(np.asarray(g, dtype=np.float64))
    decay, rise, ok = kernel_roots(g)
    power = fs_from / fs_to
    d, r = np.where(ok, decay, np.nan) ** power, np.where(ok, rise, np.nan) ** power
    if g.shape[1] == 1:
        return d[:, None]
    return np.stack([d + r, -d * r], axis=1)


def shrink_decay(decay_root: np.ndarray | float, fs: float, prior_weight: float) -> np.ndarray:
    """Decay root(s) after shrinking the time constant toward the prior and capping it.

    τ ← min(τ_prior^w · τ^(1−w), τ_max) in seconds (a weighted geometric mean: w = 0 keeps the
    estimate, w = 1 gives the prior), with τ_prior = `PRIOR_TAU_DECAY_S` and τ_max =
    `MAX_TAU_DECAY_S`. Autocovariance estimates of τ are biased upward whenever the firing
    rate itself fluctuates slowly (the spike input is not white), up to an integrator (τ → ∞)
    for tonically firing cells; the shrinkage bounds that bias.
    """
    tau = -1.0 / (fs * np.log(np.asarray(decay_root, dtype=np.float64)))
    tau = np.minimum(PRIOR_TAU_DECAY_S ** prior_weight * tau ** (1.0 - prior_weight),
                     MAX_TAU_DECAY_S)
    return np.exp(-1.0 / (tau * fs))


def ar_coefficients(traces: np.ndarray, fs: float, sn: np.ndarray, order: int,
                    extra_lags: int = 5, prior_weight: float = 0.5) -> np.ndarray:
    """AR(order) coefficients per cell from the autocovariance, corrected for noise.

    Solves the extended Yule-Walker equations r_k = Σ_j g_j r_{k−j}, k = 1..order+extra_lags,
    by least squares, with the lag-0 term reduced by σ² (white noise only adds to lag 0).
    The decay time is then shrunk toward a GCaMP6-like prior and capped (`shrink_decay`); on
    the shared ground truth (27 datasets, 9 indicator families) this raised the mean spike
    correlation from 0.59 to 0.63 (see docs/deconvolution.md). Cells whose estimate is not a
    stable, positive calcium kernel get `fallback_g`.

    Args:
        traces: (cells, T), NaN allowed.
        fs: sampling rate (Hz).
        sn: (cells,) noise σ.
        order: 1 or 2.
        extra_lags: equations beyond ``order`` (more averaging, more bias from fast decays).
        prior_weight: weight w of the prior decay time in `shrink_decay` (0 = raw estimate).

    Returns:
        (cells, order) AR coefficients.
    """
    n_lags = order + extra_lags
    r = autocovariance(traces, n_lags)
    r[:, 0] -= np.asarray(sn, dtype=np.float64) ** 2
    k = np.arange(1, n_lags + 1)[:, None]
    j = np.arange(1, order + 1)[None, :]
    A = r[:, np.abs(k - j)]                       # (cells, n_lags, order)
    b = r[:, 1:]                                  # (cells, n_lags)
    AtA = np.einsum("cki,ckj->cij", A, A)
    Atb = np.einsum("cki,ck->ci", A, b)
    with np.errstate(all="ignore"):
        if order == 1:
            g = Atb / AtA[:, 0]
        else:
            det = AtA[:, 0, 0] * AtA[:, 1, 1] - AtA[:, 0, 1] ** 2
            g = np.stack([AtA[:, 1, 1] * Atb[:, 0] - AtA[:, 0, 1] * Atb[:, 1],
                          AtA[:, 0, 0] * Atb[:, 1] - AtA[:, 0, 1] * Atb[:, 0]], axis=1) \
                / det[:, None]
        d, rise, ok = kernel_roots(g)
        d = shrink_decay(np.where(ok, d, 0.5), fs, prior_weight)
    rise = np.minimum(np.where(ok, rise, 0.0), d)
    out = np.column_stack([d] if order == 1 else [d + rise, -d * rise])
    out[~ok] = fallback_g(fs, order)
    return out
