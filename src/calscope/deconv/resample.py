"""Rate conversion of traces and spike counts (the supervised network's rate, the native rate of
resampled recordings).

The operator is the average of the trace's linear interpolant over each output frame
(``[t_k − 0.5/fs_out, t_k + 0.5/fs_out]``, clipped to the recording). Downsampling therefore
averages the input frames an output frame covers (no aliasing, noise σ falls as
sqrt(fs_out / fs_in)), and upsampling is close to linear interpolation. It is linear, so noise
added before resampling is the resampled noise added after, which is what the noise-matched
training data relies on.
"""

from __future__ import annotations

import numpy as np


def n_frames_at(n_in: int, fs_in: float, fs_out: float) -> int:
    """Frames of the output grid that covers ``n_in`` input frames: times k / fs_out ≤ the last
    input frame's time (n_in − 1) / fs_in, starting at 0."""
    if n_in <= 0:
        return 0
    return int(np.floor((n_in - 1) * fs_out / fs_in + 1e-9)) + 1


def _integral(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Integral of the linear interpolant of ``y`` (rows × T, unit spacing) from 0 to ``t``
    (frame units, clipped to [0, T − 1]); returns rows × len(t)."""
    n = y.shape[-1]
    t = np.clip(t, 0.0, n - 1.0)
    cum = np.zeros_like(y)
    cum[:, 1:] = np.cumsum(0.5 * (y[:, 1:] + y[:, :-1]), axis=-1)
    i = np.minimum(np.floor(t).astype(np.int64), max(n - 2, 0))
    d = t - i
    if n == 1:
        return y[:, :1] * t[None, :]
    y0, y1 = y[:, i], y[:, i + 1]
    return cum[:, i] + y0 * d + (y1 - y0) * (0.5 * d * d)


def resample(y: np.ndarray, fs_in: float, fs_out: float, n_out: int | None = None) -> np.ndarray:
    """Resample finite traces by averaging their linear interpolant over each output frame.

    Args:
        y: (T,) or (rows, T) finite samples at ``fs_in`` Hz; frame k at time k / fs_in.
        fs_in: input rate (Hz).
        fs_out: output rate (Hz).
        n_out: output frames (default: :func:`n_frames_at`); frames past the input's end hold
            the last input value.

    Returns:
        (n_out,) or (rows, n_out) float64 at ``fs_out`` Hz, frame k at time k / fs_out.
    """
    arr = np.asarray(y, dtype=np.float64)
    rows = np.atleast_2d(arr)
    n_in = rows.shape[-1]
    if n_out is None:
        n_out = n_frames_at(n_in, fs_in, fs_out)
    if n_in == 0 or n_out == 0:
        return np.zeros((*arr.shape[:-1], n_out))
    ratio = fs_in / fs_out
    centre = np.arange(n_out) * ratio
    lo = np.clip(centre - 0.5 * ratio, 0.0, n_in - 1.0)
    hi = np.clip(centre + 0.5 * ratio, 0.0, n_in - 1.0)
    width = hi - lo
    point = width < 1e-9  # a box that lies outside the recording: the nearest value
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (_integral(rows, hi) - _integral(rows, lo)) / np.where(point, 1.0, width)
    if point.any():
        idx = np.clip(np.rint(lo[point]).astype(np.int64), 0, n_in - 1)
        out[:, point] = rows[:, idx]
    return out.reshape(*arr.shape[:-1], n_out)


def counts_to_rate(counts: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """Convert expected spikes per frame at ``fs_in`` to expected spikes per frame at ``fs_out``.

    The spike rate (counts × fs_in, spikes/s) is resampled and multiplied by the new frame
    duration, so the expected total is kept (up to the recording's edges).

    Args:
        counts: (T,) or (rows, T) expected spikes per input frame.
        fs_in: input rate (Hz).
        fs_out: output rate (Hz).
        n_out: output frames.

    Returns:
        (n_out,) or (rows, n_out) expected spikes per output frame.
    """
    if fs_in == fs_out and np.shape(counts)[-1] == n_out:
        return np.asarray(counts, dtype=np.float64)
    return resample(np.asarray(counts) * fs_in, fs_in, fs_out, n_out) / fs_out


def to_input_frames(x: np.ndarray, fs_in: float, fs_out: float, n_out: int, *,
                    counts: bool) -> np.ndarray:
    """(rows, T') results at ``fs_in`` with NaN gaps (bridged first) onto ``n_out`` frames at
    ``fs_out``: per-frame counts keeping their totals (:func:`counts_to_rate`), or levels
    (calcium, baseline) resampled (:func:`resample`). Returns (rows, n_out) float64, no NaN."""
    filled = bridge_nan(x)
    if counts:
        return counts_to_rate(filled, fs_in, fs_out, n_out)
    return resample(filled, fs_in, fs_out, n_out)


def bridge_nan(y: np.ndarray) -> np.ndarray:
    """Fill NaN runs of each row by linear interpolation between the finite samples around them
    (constant past the ends). Rows without a finite sample become 0.

    Args:
        y: (rows, T) samples.

    Returns:
        (rows, T) float64 without NaN.
    """
    out = np.array(y, dtype=np.float64, ndmin=2)
    idx = np.arange(out.shape[-1])
    for row in out:
        bad = ~np.isfinite(row)
        if bad.all():
            row[:] = 0.0
        elif bad.any():
            row[bad] = np.interp(idx[bad], idx[~bad], row[~bad])
    return out


def resample_with_gaps(y: np.ndarray, fs_in: float, fs_out: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample` (cells, T) traces that have NaN gaps.

    NaN runs are bridged linearly before resampling; an output frame counts as observed when
    more than half of what it averages was observed.

    Returns:
        ``(y_out, observed)``: (cells, T_out) float64 with NaN on unobserved frames, and the
        bool mask of observed frames.
    """
    rows = np.array(y, dtype=np.float64, ndmin=2)
    finite = np.isfinite(rows)
    if fs_in == fs_out:
        return rows, finite
    n_out = n_frames_at(rows.shape[-1], fs_in, fs_out)
    observed = resample(finite.astype(np.float64), fs_in, fs_out, n_out) > 0.5
    out = resample(bridge_nan(rows), fs_in, fs_out, n_out)
    out[~observed] = np.nan
    return out, observed
