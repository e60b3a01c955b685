"""Traces → noise-normalised network input x = (y − baseline) / σ, and back."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from calscope.deconv.baseline import slow_baseline
from calscope.deconv.noise import noise_sigma
from calscope.validation import checked_traces


@dataclass(frozen=True)
class Normalized:
    """Traces prepared for the networks.

    Attributes:
        x: (cells, T) float32 (y − baseline) / σ, 0 where missing or on unusable rows.
        mask: (cells, T) float32, 1 where observed (and the row is usable), else 0.
        observed: (cells, T) bool, the input's finite samples (the NaN rule of the outputs).
        baseline: (cells, T) float64 slow baseline (trace units).
        sn: (cells,) noise σ (trace units); NaN for unusable rows.
        bad: (cells,) bool, rows that are all NaN, constant or too short (output all NaN).
        was_1d: the input was one (T,) trace.
    """

    x: np.ndarray
    mask: np.ndarray
    observed: np.ndarray
    baseline: np.ndarray
    sn: np.ndarray
    bad: np.ndarray
    was_1d: bool

    def take(self, rows: slice) -> Normalized:
        """The same traces restricted to ``rows`` (views of every per-cell array)."""
        return replace(self, x=self.x[rows], mask=self.mask[rows], observed=self.observed[rows],
                       baseline=self.baseline[rows], sn=self.sn[rows], bad=self.bad[rows])

    def with_gaps(self) -> np.ndarray:
        """(cells, T) float64 ``x`` with NaN where ``mask`` is 0 (the input to OASIS)."""
        return np.where(self.mask > 0, self.x, np.nan).astype(np.float64)


def _difference_floor(y: np.ndarray) -> np.ndarray:
    """(cells,) a floor for σ: half the robust σ of the frame-to-frame differences.

    For white noise the differences have σ√2, so the floor sits well below a good spectral
    estimate. A trace resampled up from a lower frame rate has an empty top of the spectrum
    and a spectral σ near 0; the floor keeps the normalised trace in a sane range (the
    generative model's learned noise scale corrects the rest).
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.diff(y, axis=1)
        mad = np.nanmedian(np.abs(d - np.nanmedian(d, axis=1, keepdims=True)), axis=1)
    return np.nan_to_num(0.5 * 1.4826 * mad / np.sqrt(2.0)) + 1e-12


def normalize(traces: np.ndarray, fs: float, baseline_window_s: float = 20.0) -> Normalized:
    """Validate traces and normalise them by the foundation's σ (floored) and slow baseline.

    Args:
        traces: (cells, T) or (T,) fluorescence (e.g. ΔF/F), NaN for missing samples.
        fs: sampling rate (Hz).
        baseline_window_s: time scale of the slow baseline (s).

    Raises:
        InputError: not a numeric 1-D/2-D array, too short, fs ≤ 0, or no usable row.
    """
    was_1d = np.ndim(traces) == 1
    y, bad = checked_traces(traces, fs)
    good = ~bad
    sn = np.full(y.shape[0], np.nan)
    sn[good] = np.maximum(noise_sigma(y[good], fs), _difference_floor(y[good]))
    base = np.zeros_like(y)
    base[good] = slow_baseline(y[good], fs, baseline_window_s, sn=sn[good])
    observed = np.isfinite(y)
    mask = observed & good[:, None]
    with np.errstate(invalid="ignore"):
        x = np.where(mask, (y - base) / sn[:, None], 0.0).astype(np.float32)
    return Normalized(x=x, mask=mask.astype(np.float32), observed=observed, baseline=base,
                      sn=sn, bad=bad, was_1d=was_1d)
