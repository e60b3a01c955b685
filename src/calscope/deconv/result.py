"""The result of convex deconvolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Deconvolution:
    """Spikes and denoised calcium inferred from fluorescence traces.

    All arrays are per cell (rows) and follow the input's shape: for 1-D input the leading
    cell axis is dropped. Output is NaN exactly where the input was NaN.

    Attributes:
        calcium: (cells, T) denoised calcium c, in the trace's units (e.g. ΔF/F).
        spikes: (cells, T) the solver's s_t = c_t - Σ g_k c_{t-k} ≥ 0, trace units per frame.
        baseline: (cells, T) baseline b_t (trace units; constant unless the slow baseline was
            removed); y ≈ c + b + noise.
        g: (cells, order) AR coefficients used.
        sn: (cells,) noise standard deviation σ (trace units).
        lam: (cells,) sparsity penalty λ used (given, or found by the noise constraint).
        fs: sampling rate (Hz) of the input and of every (cells, T) field.
        native_fs: the rate (Hz) the problem was solved at: ``fs``, or the lower rate the
            traces were recorded at when they had been resampled up (``sn`` and ``lam`` are at
            this rate). None: not recorded (taken as ``fs``).
    """

    calcium: np.ndarray
    spikes: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    sn: np.ndarray
    lam: np.ndarray
    fs: float
    native_fs: float | None = None
