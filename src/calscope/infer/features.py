"""ΔF/F traces → the supervised network's input channels at its own frame rate.

The network runs at one rate, :data:`MODEL_FS` (30 Hz). Traces at another rate are resampled to
it by :func:`calscope.deconv.resample.resample` (frame averages when downsampling), both when the
training data are made and when a user's traces are inferred, so the two see the same operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.deconv import deconvolve
from calscope.deconv.kinetics import kernel_roots
from calscope.infer.normalize import normalize
from calscope.deconv.resample import resample_with_gaps

#: The supervised network's frame rate (Hz).
MODEL_FS = 30.0
#: Input channels: noise-normalised trace, baseline-subtracted ΔF/F, log noise σ (ΔF/F), and
#: the OASIS spikes in noise units.
N_CHANNELS = 4
#: Optional per-cell context channels (constant in time, from the whole trace): OASIS activity
#: in noise units, peak signal-to-noise ratio, and the OASIS decay time constant.
N_CONTEXT = 3
_CLIP_X = (-8.0, 60.0)
_CLIP_DFF = (-3.0, 15.0)


@dataclass(frozen=True)
class Features:
    """Network input for (cells, T) traces, resampled to :data:`MODEL_FS`.

    Attributes:
        x: (cells, channels, T_model) float32 channels (0 on unusable rows): N_CHANNELS, plus
            N_CONTEXT with ``context``.
        bad: (cells,) bool, rows that cannot be inferred (all NaN, constant, too short).
        sn: (cells,) noise σ at the model rate (ΔF/F); NaN on bad rows.
    """

    x: np.ndarray
    bad: np.ndarray
    sn: np.ndarray


def to_model_rate(traces: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample (cells, T) traces with NaN gaps to :data:`MODEL_FS`.

    See :func:`calscope.deconv.resample.resample_with_gaps`.

    Returns:
        ``(y, observed)``: (cells, T_model) float64 with NaN on unobserved frames, and the bool
        mask of observed frames.
    """
    return resample_with_gaps(traces, fs, MODEL_FS)


def input_channels(context: bool) -> int:
    """Channels of :func:`features` with or without the per-cell context channels."""
    return N_CHANNELS + (N_CONTEXT if context else 0)


def features(traces30: np.ndarray, context: bool = False, residual: bool = False) -> Features:
    """Input channels for (cells, T) traces already at :data:`MODEL_FS` (NaN where missing).

    Channels: (y − baseline) / σ, y − baseline, log σ (constant in time), with the
    foundation's slow baseline and noise σ (:func:`calscope.infer.normalize.normalize`), and
    the OASIS spikes (:func:`calscope.deconv.deconvolve` with that σ) over σ: the network
    refines a model-based solution instead of starting from nothing. All are clipped and
    scaled to order 1 (0.2 (y − b)/σ, 4 (y − b), log σ + 3, 0.2 s/σ). With ``context``, three
    channels that are constant in time describe the whole cell (:func:`_context`), so a window
    of the network sees what kind of cell it is in: how much it fires in noise units, how far
    its largest events rise above the noise, and how fast its calcium decays.

    With ``residual``, the first two channels no longer show the trace itself but what OASIS
    made of it: (y − b − c) / σ, the part of the trace its calcium ``c`` does not explain, and
    ``c`` in ΔF/F. The indicator's kinetics are then absorbed by OASIS's per-cell AR fit and the
    network sees only OASIS's solution and its misfit.

    Raises:
        InputError: not a numeric (cells, T) array, too short, or no usable row.
    """
    norm = normalize(traces30, MODEL_FS)
    cells, n = norm.x.shape
    x = np.zeros((cells, input_channels(context), n), dtype=np.float32)
    good = ~norm.bad
    sn = norm.sn[good, None]
    level = norm.x[good]  # (y − b) / σ, or with ``residual`` what OASIS leaves of it
    dff = level * sn
    x[good, 2] = np.log(sn) + 3.0
    if good.any():
        # the baseline is already removed (the same slow baseline OASIS would compute)
        solution = deconvolve(np.asarray(traces30, dtype=np.float64)[good] - norm.baseline[good],
                              MODEL_FS, sn=norm.sn[good], baseline=False, native_fs=MODEL_FS)
        spikes = np.nan_to_num(solution.spikes) / sn
        x[good, 3] = np.clip(spikes, 0.0, _CLIP_X[1]) * 0.2
        if residual:
            dff = np.nan_to_num(solution.calcium)
            level = np.where(norm.mask[good] > 0, level - dff / sn, 0.0)
        if context:
            x[good, N_CHANNELS:] = _context(norm.x[good], norm.mask[good] > 0, spikes,
                                            solution.g)[..., None]
    x[good, 0] = np.clip(level, *_CLIP_X) * 0.2
    x[good, 1] = np.clip(dff, *_CLIP_DFF) * 4.0
    return Features(x=x, bad=norm.bad, sn=norm.sn)


def _context(x: np.ndarray, observed: np.ndarray, spikes: np.ndarray,
             g: np.ndarray) -> np.ndarray:
    """(cells, N_CONTEXT) per-cell descriptors, each scaled to order 1.

    Args:
        x: (cells, T) (y − baseline) / σ.
        observed: (cells, T) bool.
        spikes: (cells, T) OASIS spikes / σ.
        g: (cells, order) OASIS AR coefficients at :data:`MODEL_FS`.

    Returns:
        log mean OASIS spikes per frame (noise units), log of the 99th percentile of ``x``, and
        log of the decay time constant (s) from the AR kernel's decay root
        (:func:`calscope.deconv.kinetics.kernel_roots`).
    """
    frames = np.maximum(observed.sum(axis=1), 1)
    activity = np.log(np.where(observed, spikes, 0.0).sum(axis=1) / frames + 1e-3)
    peak = np.log1p(np.maximum(
        [np.quantile(row[keep], 0.99) if keep.any() else 0.0 for row, keep in zip(x, observed)],
        0.0))
    decay, _, _ = kernel_roots(g)
    tau = -1.0 / (MODEL_FS * np.log(np.clip(decay, 1e-3, 0.9999)))
    return np.stack([(activity + 2.0) / 2.0, peak - 2.0, np.log(tau) + 1.0], axis=1)
