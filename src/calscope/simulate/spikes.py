"""Spike trains as integer spike counts per imaging frame.

Each cell gets its own mean rate, drawn from a lognormal distribution whose mean is the
requested rate (cortical firing rates are roughly lognormal across cells). Two processes:

* ``poisson_spikes``: independent Poisson counts per frame (Fano factor 1);
* ``bursty_spikes``: a Markov-modulated Poisson process: each cell switches between a quiet
  state and short bursts of fast firing, so spikes cluster (Fano factor > 1).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from calscope.errors import InputError

Seed = int | np.random.Generator | None

RATE_SPREAD = 0.3
"""Standard deviation of the natural log of the per-cell rates."""


def poisson_spikes(
    n_cells: int, T: int, fs: float, rate_hz: float, seed: Seed = 0
) -> np.ndarray:
    """Independent Poisson spike counts per frame.

    Args:
        n_cells: number of cells.
        T: number of frames.
        fs: frame rate (Hz).
        rate_hz: mean firing rate over cells (Hz); each cell's rate is drawn around it.
        seed: int seed or ``numpy.random.Generator``.

    Returns:
        (n_cells, T) int64 spike counts.
    """
    _check_train(n_cells, T, fs, rate_hz)
    rng = make_rng(seed)
    rates = cell_rates(n_cells, rate_hz, rng)
    return rng.poisson(np.broadcast_to(rates[:, None] / fs, (n_cells, T)))


def bursty_spikes(
    n_cells: int,
    T: int,
    fs: float,
    rate_hz: float,
    seed: Seed = 0,
    *,
    burst_rate_hz: float = 20.0,
    burst_duration_s: float = 0.2,
    background_fraction: float = 0.2,
) -> np.ndarray:
    """Bursty spike counts per frame from a two-state Markov-modulated Poisson process.

    A cell fires at ``background_fraction`` of its mean rate all the time, plus
    ``burst_rate_hz`` while in a burst. Bursts last ``burst_duration_s`` on average
    (geometrically distributed in frames) and start often enough that the cell's long-run rate
    is its mean rate; the default bursts hold about four spikes.

    Args:
        n_cells: number of cells.
        T: number of frames.
        fs: frame rate (Hz).
        rate_hz: mean firing rate over cells (Hz); each cell's rate is drawn around it.
        seed: int seed or ``numpy.random.Generator``.
        burst_rate_hz: extra firing rate inside a burst (Hz).
        burst_duration_s: mean burst duration (s); at least one frame.
        background_fraction: share of the spikes fired outside bursts, in [0, 1).

    Returns:
        (n_cells, T) int64 spike counts.
    """
    _check_train(n_cells, T, fs, rate_hz)
    if not burst_rate_hz > 0 or not burst_duration_s > 0:
        raise InputError(
            f"burst_rate_hz and burst_duration_s must be positive, got {burst_rate_hz!r} "
            f"and {burst_duration_s!r}"
        )
    if not 0 <= background_fraction < 1:
        raise InputError(f"background_fraction must be in [0, 1), got {background_fraction!r}")
    rng = make_rng(seed)
    rates = cell_rates(n_cells, rate_hz, rng)
    # Stationary share of time spent bursting, so that background + bursts = the cell's rate.
    # Capped at one half so that bursts stay bursts for very active cells.
    p_burst = np.minimum((1 - background_fraction) * rates / burst_rate_hz, 0.5)
    p_end = min(1.0, 1.0 / (burst_duration_s * fs))  # per-frame chance a burst ends
    p_start = p_end * p_burst / (1 - p_burst)  # per-frame chance a burst starts
    bursting = _markov_states(p_start, p_end, p_burst, T, rng)
    frame_rate = (background_fraction * rates[:, None] + burst_rate_hz * bursting) / fs
    return rng.poisson(frame_rate)


def cell_rates(n_cells: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """(n_cells,) lognormal per-cell rates (Hz) whose expected value is ``rate_hz``."""
    return rate_hz * np.exp(rng.normal(-(RATE_SPREAD**2) / 2, RATE_SPREAD, n_cells))


def make_rng(seed: Seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a Generator (used as is) or None."""
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise InputError(
            f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}"
        )
    return np.random.default_rng(seed)


def _markov_states(
    p_start: np.ndarray, p_end: float, p_on: np.ndarray, T: int, rng: np.random.Generator
) -> np.ndarray:
    """(cells, T) bool states of two-state Markov chains started from their stationary law."""
    n_cells = p_start.shape[0]
    draws = rng.random((n_cells, T))
    states = np.empty((n_cells, T), dtype=bool)
    state = draws[:, 0] < p_on
    states[:, 0] = state
    for t in range(1, T):
        state = np.where(state, draws[:, t] >= p_end, draws[:, t] < p_start)
        states[:, t] = state
    return states


def _check_train(n_cells: int, T: int, fs: float, rate_hz: float) -> None:
    """Raise InputError unless the shared spike-train arguments are usable."""
    for name, value in (("n_cells", n_cells), ("T", T)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name} must be an integer ≥ 1, got {value!r}")
    if not isinstance(fs, Real) or not 0 < fs < math.inf:
        raise InputError(f"fs must be a positive, finite sampling rate in Hz, got {fs!r}")
    if not isinstance(rate_hz, Real) or not 0 <= rate_hz < math.inf:
        raise InputError(f"rate_hz must be a firing rate ≥ 0 in Hz, got {rate_hz!r}")
