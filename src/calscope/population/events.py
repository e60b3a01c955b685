"""Synchrony events: frames where the summed activity of the population is higher than
independent neurons would give.

The population activity is the sum over usable neurons per frame. Its null distribution comes
from surrogates in which every neuron is circularly shifted by its own random lag of at least
``min_shift_s`` (at most T − that): each neuron keeps its own rate and autocorrelation, but
the co-activity between neurons is broken. The threshold is the (1 − alpha) quantile of the
surrogate sums pooled over all frames and surrogates, so on independent neurons about a
fraction alpha of frames (fewer for integer counts, where ties sit at the threshold) are
events.

Missing values count as 0 (no activity) in the sums of the data and of the surrogates alike,
so frames where many neurons are missing are biased *against* being events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.errors import InputError
from calscope.population.activity import checked_activity
from calscope.population.surrogates import circular_shifts
from calscope.validation import check_fs


@dataclass(frozen=True)
class SynchronyEvents:
    """Frames of synchronous population activity.

    Attributes:
        population: (T,) float64 summed activity of the usable neurons per frame (activity
            units; missing values count as 0).
        threshold: (1 − alpha) quantile of the surrogate population sums (same units).
        events: (T,) bool, population > threshold.
        event_frames: (e,) int64 frames where ``events`` is True.
        onsets: (o,) int64 first frame of each run of consecutive event frames.
        fs: frame rate (Hz).
    """

    population: np.ndarray
    threshold: float
    events: np.ndarray
    event_frames: np.ndarray
    onsets: np.ndarray
    fs: float


def synchrony_events(activity: np.ndarray, fs: float, *, n_surrogates: int = 20,
                     alpha: float = 0.01, min_shift_s: float = 1.0,
                     seed: int | np.random.Generator = 0) -> SynchronyEvents:
    """Detect frames of synchronous population activity against circular-shift surrogates.

    Args:
        activity: (cells, T) spike counts / probabilities / ΔF/F, NaN where missing.
        fs: frame rate (Hz).
        n_surrogates: independently shifted copies of the population (≥ 1).
        alpha: fraction of surrogate frames above the threshold, in (0, 1).
        min_shift_s: smallest lag (s) of a neuron's circular shift; lags are uniform in
            [min_shift_s · fs, T − min_shift_s · fs] frames.
        seed: int seed or Generator for the lags.

    Returns:
        A ``SynchronyEvents``.

    Raises:
        InputError: bad activity (see ``checked_activity``), fs not positive, n_surrogates
            < 1, alpha outside (0, 1), min_shift_s < 0, or a recording too short for lags of
            at least min_shift_s.
    """
    rate = check_fs(fs)
    if not isinstance(n_surrogates, (int, np.integer)) or n_surrogates < 1:
        raise InputError(f"n_surrogates={n_surrogates!r}: must be a whole number ≥ 1 (20 is "
                         "usual)")
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}: must be in (0, 1), e.g. 0.01")
    if not min_shift_s >= 0:
        raise InputError(f"min_shift_s={min_shift_s!r}: must be ≥ 0 seconds")
    act = checked_activity(activity)
    values = act.values if act.usable.all() else act.values[act.usable]
    np.copyto(values, 0.0, where=np.isnan(values))
    n, t = values.shape
    min_lag = int(np.ceil(min_shift_s * rate))
    if t - 2 * min_lag < 1:
        raise InputError(f"activity: {t} frames are too few for circular shifts of at least "
                         f"min_shift_s={min_shift_s} s ({min_lag} frames) each way; lower "
                         "min_shift_s")
    lags = circular_shifts(n, t, n_surrogates, np.random.default_rng(seed), min_lag)
    surrogate_sums = _shifted_sums(values, lags)
    population = values.sum(axis=0)
    threshold = float(np.quantile(surrogate_sums, 1 - alpha))
    events = population > threshold
    starts = events & ~np.concatenate(([False], events[:-1]))
    return SynchronyEvents(population=population, threshold=threshold, events=events,
                           event_frames=np.flatnonzero(events).astype(np.int64),
                           onsets=np.flatnonzero(starts).astype(np.int64), fs=rate)


def _shifted_sums(values: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(surrogates, T) sums over rows of ``values`` (n, T), row i shifted right by lags[s, i].

    Each row is added at its lag into every surrogate's sum while it is in cache: two slice
    additions per row and surrogate. Measured at 20,000 × 10,000 float64: 0.25 s per surrogate,
    faster than building shifted copies with vectorised gathers (1.5 s).
    """
    n, t = values.shape
    sums = np.zeros((lags.shape[0], t))
    for row, row_lags in zip(values, lags.T):
        for total, lag in zip(sums, row_lags):
            total[lag:] += row[:t - lag]
            total[:lag] += row[t - lag:]
    return sums
