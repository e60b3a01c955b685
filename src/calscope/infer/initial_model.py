"""The amortized method's starting point: a generative model with each cell's kinetics and
event size from calscope's OASIS, and OASIS spikes as the recognition network's warm-start
targets."""

from __future__ import annotations

import warnings

import numpy as np

from calscope.config import AmortizedSettings
from calscope.deconv import Deconvolution
from calscope.deconv import deconvolve as oasis_deconvolve
from calscope.deconv.kinetics import ar_coefficients, kernel_roots
from calscope.infer.generative import CalciumModel
from calscope.infer.normalize import Normalized
from calscope.simulate.indicators import impulse_response

_NOISE_ROUNDS = 4  # most OASIS fits behind a residual-matched noise start (_starting_fit)


def initial_model(norm: Normalized, fs: float,
                  settings: AmortizedSettings) -> tuple[CalciumModel, np.ndarray]:
    """Generative model started from the foundation's kinetics and OASIS event sizes.

    Returns the model and the OASIS spikes (cells, T) in units of each cell's gain (the
    recognition network's warm-start targets; 0 where missing).
    """
    good = ~norm.bad
    x = norm.with_gaps()
    n = x.shape[0]
    tau_d, tau_r, gain = np.full(n, 0.7), np.full(n, 0.05), np.full(n, 3.0)
    g = ar_coefficients(x[good], fs, np.ones(good.sum()), 2)
    d, r, ok = kernel_roots(g)
    with np.errstate(divide="ignore"):
        tau_d[good] = np.where(ok, -1.0 / (fs * np.log(d)), 0.7)
        tau_r[good] = np.where(ok & (r > 0), -1.0 / (fs * np.log(np.maximum(r, 1e-12))), 0.05)
    targets = np.zeros_like(norm.x)
    noise = np.ones(n)
    fit, noise[good] = _starting_fit(x[good], fs, g, settings.noise_start == "residual")
    spikes = np.nan_to_num(fit.spikes)
    for row, s, gi in zip(np.flatnonzero(good), spikes, g):
        size = _event_size(s, noise[row])  # in AR-jump units; the kernel's peak may differ
        peak = impulse_response(gi, int(5 * fs) + 2).max()
        gain[row] = float(np.clip(size * peak, noise[row], 50.0 * noise[row]))
        targets[row] = np.clip(s / size, 0.0, 1.0)
    model = CalciumModel(settings.generative, fs, tau_d, np.minimum(tau_r, tau_d / 2), gain,
                         settings.rate_hz, noise=noise, likelihood=settings.likelihood)
    return model, targets


def _starting_fit(x: np.ndarray, fs: float, g: np.ndarray,
                  match_noise: bool) -> tuple[Deconvolution, np.ndarray]:
    """OASIS on normalised traces, at unit noise or at the noise its own residual shows.

    The foundation's σ (1 in normalised units) reads the top of the spectrum. Where that is
    not white noise, e.g. traces filtered or resampled up from a lower frame rate (the
    Spikefinder sets at 100 Hz: OASIS residuals of 4–24 σ), a likelihood with unit noise is far
    too sharp. With ``match_noise`` (``noise_start="residual"``), OASIS is rerun with σ set to
    the robust SD of its residual (1.4826 · MAD), which grows toward the fixed point where the
    constraint matches the residual (at most `_NOISE_ROUNDS` fits); σ never drops below 1.

    Returns:
        The last OASIS fit and the (cells,) noise σ it used, in normalised units (≥ 1).
    """
    sn = np.ones(len(x))
    fit = oasis_deconvolve(x, fs, g=g, sn=sn, baseline=False, native_fs=fs)
    for _ in range(_NOISE_ROUNDS - 1 if match_noise else 0):
        resid = x - fit.calcium
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmedian(resid, axis=1, keepdims=True)
            robust = 1.4826 * np.nanmedian(np.abs(resid - centre), axis=1)
        new = np.maximum(np.nan_to_num(robust, nan=1.0), 1.0)
        if np.allclose(new, sn, rtol=0.05):
            break
        sn = new
        fit = oasis_deconvolve(x, fs, g=g, sn=sn, baseline=False, native_fs=fs)
    return fit, sn


def _event_size(spikes: np.ndarray, noise: float = 1.0) -> float:
    """Median size of the OASIS events of one trace: runs of consecutive spikes summed.

    OASIS spreads one spike over neighbouring frames when its timing is uncertain, so single
    frames underestimate the size of one spike; a run's sum does not. Sizes and thresholds are
    in normalised units; ``noise`` is the trace's noise σ in those units (events below half of
    it are ignored; 3 σ when there is no event).
    """
    active = spikes > 0.1 * noise
    if not active.any():
        return 3.0 * noise
    starts = np.flatnonzero(active & ~np.r_[False, active[:-1]])
    sums = np.add.reduceat(np.where(active, spikes, 0.0), starts)
    big = sums[sums > 0.5 * noise]
    return float(np.median(big)) if big.size else 3.0 * noise
