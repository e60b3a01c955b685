"""Population coupling: how strongly each neuron follows the rest of the population.

The population signal for neuron i is the summed activity of all *other* usable neurons,
``S − x_i``. `population_coupling` gives one number per neuron over the whole recording (Okun et
al. 2015 style, as a Pearson r); `coupling_over_time` gives the same r in a sliding window, so
that a neuron that joins or leaves the population's activity shows up as a change over time.

Missing frames: a frame where any usable neuron is NaN is missing for every neuron, because the
population sum is undefined there. Unusable rows (all NaN, constant or all zero) are left out of
the population sum and get NaN.
"""

from __future__ import annotations

import math

import numpy as np

from calscope.errors import InputError
from calscope.population.activity import Activity, checked_activity
from calscope.validation import MIN_SAMPLES

#: A window counts as constant when its variance is at most this fraction of the signal's mean
#: square (uncentred, over the frames without missing data). Cumulative sums of centred data in
#: float64 are accurate far beyond this, and real variances are far above it.
CONSTANT_RTOL = 1e-9
#: Neurons processed at once by `coupling_over_time` (bounds its float64 work memory).
_ROWS_PER_BLOCK = 512


def window_frames(window: int = 100, fs: float | None = None,
                  window_s: float | None = None) -> int:
    """The coupling window in frames: ``round(window_s · fs)`` (at least 3) when ``window_s``
    (seconds) is given, which then needs ``fs`` (Hz); else ``window`` (frames, at least 3)."""
    if window_s is not None:
        if fs is None or not (math.isfinite(fs) and fs > 0):
            raise InputError(f"window_s={window_s}: needs the frame rate fs (Hz) to convert "
                             f"seconds to frames, got fs={fs!r}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise InputError(f"window_s={window_s!r}: must be a positive number of seconds")
        return max(3, round(window_s * fs))
    if int(window) != window or window < 3:
        raise InputError(f"window={window!r}: must be a whole number of frames, at least 3")
    return int(window)


def coupling_over_time(activity: np.ndarray, window: int = 100, *, fs: float | None = None,
                       window_s: float | None = None) -> np.ndarray:
    """Correlation of each neuron with the sum of all other neurons, in a sliding window.

    Entry (i, t) is the Pearson r, over frames ``t − window//2`` to ``t − window//2 + window``
    (excluded), between neuron i and the summed activity of the other usable neurons. It is NaN
    where that range leaves the recording (the first ``window//2`` frames and the last
    ``window − window//2 − 1``), holds a missing frame (see the module notes), or either signal
    is constant in it; unusable rows are all NaN. Time O(cells · T), memory bounded by blocks of
    512 neurons besides the input copy and the output.

    Args:
        activity: (cells, T) spike probabilities, counts or ΔF/F per frame; NaN where missing.
        window: window length (frames).
        fs: frame rate (Hz); needed only with ``window_s``.
        window_s: window length (seconds); overrides ``window``.

    Returns:
        (cells, T) float32 coupling r.

    Raises:
        InputError: not a (cells, T) array, fewer than 2 usable neurons, a bad window, a window
            longer than the recording, or no window free of missing frames.
    """
    checked = checked_activity(activity)
    width = window_frames(window, fs, window_s)
    n_cells, n_frames = checked.values.shape
    if width > n_frames:
        raise InputError(f"window={width} frames is longer than the recording ({n_frames} "
                         "frames); use a shorter window (window / window_s)")
    values, population, missing, means = _centred_population(checked)
    missing_in_window = _window_sums(missing[None, :].astype(np.float64), width)[0] > 0
    if missing_in_window.all():
        raise InputError(f"activity: every {width}-frame window holds a frame where some neuron "
                         "is NaN; fill the gaps, drop the rows with gaps or use a shorter window")
    coupling = np.full((n_cells, n_frames), np.nan, dtype=np.float32)
    rows = np.flatnonzero(checked.usable)
    first = width // 2  # output frame of the window that starts at frame 0
    for start in range(0, rows.size, _ROWS_PER_BLOCK):
        block = rows[start:start + _ROWS_PER_BLOCK]
        r = _windowed_r(values[block], population, means[block], means.sum(), width,
                        int((~missing).sum()))
        r[:, missing_in_window] = np.nan
        coupling[block, first:first + r.shape[1]] = r
    return coupling


def population_coupling(activity: np.ndarray) -> np.ndarray:
    """Correlation of each neuron with the sum of all other usable neurons, whole recording.

    Computed over the frames where every usable neuron is finite.

    Args:
        activity: (cells, T) spike probabilities, counts or ΔF/F per frame; NaN where missing.

    Returns:
        (cells,) float32 Pearson r; NaN for unusable rows and for neurons constant (or whose
        population is constant) on those frames.

    Raises:
        InputError: not a (cells, T) array, fewer than 2 usable neurons, or fewer than 10
            frames where every usable neuron is finite.
    """
    checked = checked_activity(activity)
    values, population, missing, means = _centred_population(checked)
    n_complete = int((~missing).sum())
    if n_complete < MIN_SAMPLES:
        raise InputError(f"activity: only {n_complete} frames where every usable neuron is "
                         f"finite; at least {MIN_SAMPLES} are needed: fill the gaps or drop "
                         "the rows with gaps")
    # With y = S − x: Σxy = Σx·S − Σx², Σy² = ΣS² − 2Σx·S + Σx² (all centred, missing = 0).
    xs = values @ population
    xx = np.einsum("ij,ij->i", values, values)
    yy = population @ population - 2.0 * xs + xx
    mean_y = means.sum() - means
    constant = (_is_constant(xx, n_complete, xx / n_complete + means**2)
                | _is_constant(yy, n_complete, yy / n_complete + mean_y**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((xs - xx) / np.sqrt(xx * yy), -1.0, 1.0)
    return np.where(constant | ~checked.usable, np.nan, r).astype(np.float32)


def _centred_population(checked: Activity) -> tuple[np.ndarray, ...]:
    """The usable rows centred over the complete frames, with the missing frames set to 0.

    Returns:
        ``(values, population, missing, means)``: (cells, T) float64 (``checked.values``,
        modified in place; unusable rows 0), (T,) their sum, (T,) bool frames where a usable row
        is NaN, and (cells,) the means removed (0 for unusable rows).
    """
    values = checked.values
    values[~checked.usable] = 0.0
    missing = np.isnan(values).any(axis=0)
    values[:, missing] = 0.0
    means = values.sum(axis=1) / max(int((~missing).sum()), 1)
    values -= means[:, None]
    values[:, missing] = 0.0
    return values, values.sum(axis=0), missing, means


def _window_sums(x: np.ndarray, width: int) -> np.ndarray:
    """(rows, T − width + 1) sums of ``x`` (rows, T) over each window of ``width`` frames."""
    cumulative = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=cumulative[:, 1:])
    return cumulative[:, width:] - cumulative[:, :-width]


def _is_constant(sum_squares: np.ndarray, width: int, mean_square: np.ndarray) -> np.ndarray:
    """Whether a sum of squared deviations over ``width`` frames is rounding noise: at most
    ``CONSTANT_RTOL`` × ``width`` × the signal's uncentred ``mean_square`` per frame."""
    return sum_squares <= CONSTANT_RTOL * width * mean_square


def _windowed_r(x: np.ndarray, population: np.ndarray, mean_x: np.ndarray,
                mean_population: float, width: int, n_complete: int) -> np.ndarray:
    """(rows, T − width + 1) float32 r of each row of ``x`` (rows, T) with ``population − x``
    in every window of ``width`` frames (starts 0 .. T − width). Both are centred (their means
    before were ``mean_x`` and ``mean_population``); ``n_complete`` frames are not missing."""
    y = population[None, :] - x
    sum_x, sum_y = _window_sums(x, width), _window_sums(y, width)
    var_x = _window_sums(x * x, width) - sum_x * sum_x / width
    var_y = _window_sums(y * y, width) - sum_y * sum_y / width
    cov = _window_sums(x * y, width) - sum_x * sum_y / width
    del sum_x, sum_y
    square_x = (x * x).sum(axis=1) / n_complete + mean_x**2
    square_y = (y * y).sum(axis=1) / n_complete + (mean_population - mean_x) ** 2
    constant = (_is_constant(var_x, width, square_x[:, None])
                | _is_constant(var_y, width, square_y[:, None]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cov / np.sqrt(var_x * var_y), -1.0, 1.0)
    r[constant] = np.nan
    return r.astype(np.float32)
