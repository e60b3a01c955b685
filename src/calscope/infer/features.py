"""ΔF/F traces → the supervised network's input channels at its own frame rate.

The network runs at one rate, :data:`MODEL_FS` (30 Hz). Traces at another rate are resampled to
it by :func:`calscope.infer.resample.resample` (frame averages when downsampling), both when the
training data are made and when a user's traces are inferred, so the two see the same operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.deconv import deconvolve
from calscope.infer.normalize import normalize
from calscope.infer.resample import bridge_nan, n_frames_at, resample

#: The supervised network's frame rate (Hz).
MODEL_FS = 30.0
#: Input channels: noise-normalised trace, baseline-subtracted ΔF/F, log noise σ (ΔF/F), and
#: the OASIS spikes in noise units.
N_CHANNELS = 4
_CLIP_X = (-8.0, 60.0)
_CLIP_DFF = (-3.0, 15.0)


@dataclass(frozen=True)
class Features:
    """Network input for (cells, T) traces, resampled to :data:`MODEL_FS`.

    Attributes:
        x: (cells, N_CHANNELS, T_model) float32 channels (0 on unusable rows).
        bad: (cells,) bool, rows that cannot be inferred (all NaN, constant, too short).
        sn: (cells,) noise σ at the model rate (ΔF/F); NaN on bad rows.
    """

    x: np.ndarray
    bad: np.ndarray
    sn: np.ndarray


def to_model_rate(traces: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample (cells, T) traces with NaN gaps to :data:`MODEL_FS`.

    NaN runs are bridged linearly before resampling; a model frame counts as observed when more
    than half of what it averages was observed.

    Returns:
        ``(y, observed)``: (cells, T_model) float64 with NaN on unobserved frames, and the bool
        mask of observed frames.
    """
    y = np.array(traces, dtype=np.float64, ndmin=2)
    finite = np.isfinite(y)
    if fs == MODEL_FS:
        return y, finite
    n_out = n_frames_at(y.shape[-1], fs, MODEL_FS)
    observed = resample(finite.astype(np.float64), fs, MODEL_FS, n_out) > 0.5
    out = resample(bridge_nan(y), fs, MODEL_FS, n_out)
    out[~observed] = np.nan
    return out, observed


def features(traces30: np.ndarray) -> Features:
    """Input channels for (cells, T) traces already at :data:`MODEL_FS` (NaN where missing).

    Channels: (y − baseline) / σ, y − baseline, log σ (constant in time), with the
    foundation's slow baseline and noise σ (:func:`calscope.infer.normalize.normalize`), and
    the OASIS spikes (:func:`calscope.deconv.deconvolve` with that σ) over σ: the network
    refines a model-based solution instead of starting from nothing. All are clipped and
    scaled to order 1 (0.2 (y − b)/σ, 4 (y − b), log σ + 3, 0.2 s/σ).

    Raises:
        InputError: not a numeric (cells, T) array, too short, or no usable row.
    """
    norm = normalize(traces30, MODEL_FS)
    cells, n = norm.x.shape
    x = np.zeros((cells, N_CHANNELS, n), dtype=np.float32)
    good = ~norm.bad
    sn = norm.sn[good, None]
    x[good, 0] = np.clip(norm.x[good], *_CLIP_X) * 0.2
    x[good, 1] = np.clip(norm.x[good] * sn, *_CLIP_DFF) * 4.0
    x[good, 2] = np.log(sn) + 3.0
    if good.any():
        # the baseline is already removed (the same slow baseline OASIS would compute)
        level = np.asarray(traces30, dtype=np.float64)[good] - norm.baseline[good]
        spikes = deconvolve(level, MODEL_FS, sn=norm.sn[good], baseline=False).spikes
        x[good, 3] = np.clip(np.nan_to_num(spikes) / sn, 0.0, _CLIP_X[1]) * 0.2
    return Features(x=x, bad=norm.bad, sn=norm.sn)
