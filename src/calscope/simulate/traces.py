"""Simulated fluorescence traces with known spikes, calcium, noise and baseline.

The generative model, per cell and frame t (all in ΔF/F units):

    u_t = g_1 u_{t-1} + ... + g_p u_{t-p} + spikes_t    calcium in single-spike units
    calcium_t = amplitude · u_t                         (or amplitude · saturate(u_t))
    fluorescence_t = baseline + drift_t + calcium_t + sn · ε_t + shot_t · η_t

with shot_t = sqrt(shot_noise · calcium_t) and ε, η independent standard normal noise.
Spikes, kinetics, amplitudes, noise and drift each draw from their own random stream, so
switching e.g. ``saturation`` or ``drift`` on leaves the spikes and noise of a seed unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy.signal import lfilter

from calscope.errors import InputError
from calscope.simulate.indicators import Indicator, ar_coefficients, check_ar, get_indicator
from calscope.simulate.spikes import Seed, bursty_spikes, make_rng, poisson_spikes

AMPLITUDE_SPREAD = 0.2
"""Standard deviation of the natural log of the per-cell single-spike peak ΔF/F."""

DECAY_JITTER = 0.15
"""Per-cell decay time constants are drawn uniformly within ± this fraction of the preset."""

_MAX_PEAK_SEARCH = 100_000
"""Frames searched for the peak of a single-spike transient (far beyond any real rise time)."""


@dataclass(frozen=True)
class Simulation:
    """Ground truth and observed traces of a simulated recording.

    Attributes:
        fluorescence: (cells, T) float32 observed ΔF/F-like traces: baseline + drift + calcium
            + noise.
        calcium: (cells, T) float64 noise-free calcium signal in ΔF/F units, after the optional
            saturation and before baseline, drift and noise.
        spikes: (cells, T) int64 true spike counts per frame.
        g: (cells, order) float64 true AR coefficients.
        sn: (cells,) float64 standard deviation of the Gaussian noise (ΔF/F), shot noise aside.
        baseline: (cells,) float64 constant baseline (ΔF/F); the drift is extra and only part
            of ``fluorescence``.
        amplitude: (cells,) float64 calcium added per spike (ΔF/F): without saturation,
            ``calcium_t - Σ_k g_k calcium_{t-k} == amplitude · spikes_t``.
        fs: sampling rate (Hz).
        indicator: name of the indicator preset used.
    """

    fluorescence: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    g: np.ndarray
    sn: np.ndarray
    baseline: np.ndarray
    amplitude: np.ndarray
    fs: float
    indicator: str


def traces(
    n_cells: int,
    T: int,
    fs: float = 30.0,
    *,
    indicator: str = "GCaMP6f",
    order: int = 2,
    rate_hz: float = 0.5,
    bursty: bool = False,
    snr: float = 5.0,
    sn: float | None = None,
    g: Sequence[float] | None = None,
    amplitude: float | None = None,
    saturation: bool = False,
    drift: float = 0.0,
    shot_noise: float = 0.0,
    baseline: float = 0.0,
    spikes: np.ndarray | None = None,
    seed: Seed = 0,
) -> Simulation:
    """Simulate ``n_cells`` fluorescence traces of ``T`` frames with known ground truth.

    Args:
        n_cells: number of cells (≥ 1).
        T: number of frames (≥ 1).
        fs: frame rate (Hz).
        indicator: preset name (see ``INDICATORS``); sets kinetics, brightness and saturation.
        order: 1 (instant rise, exponential decay) or 2 (rise and decay); ignored if ``g``
            is given.
        rate_hz: mean firing rate over cells (Hz); per-cell rates are drawn around it.
        bursty: bursts of several spikes (``bursty_spikes``) instead of Poisson spikes.
        snr: single-spike peak ΔF/F over the noise σ, per cell; ignored if ``sn`` is given.
        sn: exact Gaussian noise σ (ΔF/F) for every cell.
        g: exact AR coefficients for every cell (order = len(g)); by default each cell gets
            the preset's kinetics with its decay time constant jittered by ± 15 %.
        amplitude: exact calcium added per spike (ΔF/F) for every cell; by default each cell's
            single-spike transient peaks at the preset's amplitude with 20 % lognormal jitter.
        saturation: pass calcium through ``saturate`` with the preset's ``kd`` and ``hill_n``.
        drift: peak absolute deviation (ΔF/F) of a slow random-walk baseline drift; 0 for none.
        shot_noise: signal-dependent noise; its variance is ``shot_noise · calcium_t`` (ΔF/F).
        baseline: constant baseline added to every trace (ΔF/F).
        spikes: (n_cells, T) spike counts to use instead of drawing them (e.g. a population
            with assemblies from ``calscope.simulate.population``); ``rate_hz`` and ``bursty``
            are then ignored.
        seed: int seed or ``numpy.random.Generator``; the same seed gives the same output.

    Returns:
        A ``Simulation``.
    """
    preset = get_indicator(indicator)
    g_given = None if g is None else check_ar(g)
    _check_options(order if g_given is None else g_given.size, snr, sn, amplitude)
    for name, value in (("drift", drift), ("shot_noise", shot_noise)):
        check_number(name, value, minimum=0.0)
    check_number("baseline", baseline, minimum=-math.inf)

    spike_rng, decay_rng, amp_rng, noise_rng, shot_rng, drift_rng = make_rng(seed).spawn(6)
    if spikes is None:
        make_spikes = bursty_spikes if bursty else poisson_spikes
        spikes = make_spikes(n_cells, T, fs, rate_hz, spike_rng)
    elif np.shape(spikes) != (n_cells, T) or not np.all(np.asarray(spikes) >= 0):
        raise InputError(f"spikes: expected ({n_cells}, {T}) non-negative counts, got shape "
                         f"{np.shape(spikes)}")

    if g_given is None:
        g_cells = _jittered_kinetics(preset, fs, order, n_cells, decay_rng)
    else:
        g_cells = np.tile(g_given, (n_cells, 1))
    peak = single_spike_peak(g_cells)
    if amplitude is None:
        peak_dff = preset.amplitude * np.exp(AMPLITUDE_SPREAD * amp_rng.standard_normal(n_cells))
        amplitudes = peak_dff / peak
    else:
        amplitudes = np.full(n_cells, float(amplitude))

    unit_calcium = ar_filter(spikes, g_cells)
    if saturation:
        unit_calcium = saturate(unit_calcium, preset.kd, preset.hill_n)
    calcium = amplitudes[:, None] * unit_calcium

    noise_sd = np.full(n_cells, float(sn)) if sn is not None else amplitudes * peak / snr
    noisy = calcium + noise_sd[:, None] * noise_rng.standard_normal((n_cells, T))
    if shot_noise > 0:
        shot_sd = np.sqrt(shot_noise * np.maximum(calcium, 0.0))
        noisy += shot_sd * shot_rng.standard_normal((n_cells, T))
    fluorescence = baseline + random_drift(n_cells, T, drift, drift_rng) + noisy

    return Simulation(
        fluorescence=fluorescence.astype(np.float32),
        calcium=calcium,
        spikes=spikes,
        g=g_cells,
        sn=noise_sd,
        baseline=np.full(n_cells, float(baseline)),
        amplitude=amplitudes,
        fs=float(fs),
        indicator=preset.name,
    )


def ar_filter(spikes: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Calcium ``c_t = Σ_k g_k c_{t-k} + spikes_t`` per cell, starting from c = 0.

    Args:
        spikes: (cells, T) spike counts (or any input per frame).
        g: (cells, order) AR coefficients.

    Returns:
        (cells, T) float64 calcium, in units of the calcium one spike adds.
    """
    calcium = np.empty(spikes.shape, dtype=np.float64)
    for cell, (train, coefs) in enumerate(zip(spikes, g)):
        calcium[cell] = lfilter([1.0], np.concatenate(([1.0], -coefs)), train)
    return calcium


def saturate(calcium: np.ndarray, kd: float, hill_n: float) -> np.ndarray:
    """Saturating indicator response ``c / (1 + (|c| / kd)^n)^(1/n)``, elementwise.

    Linear (slope 1) for ``|c| ≪ kd`` and approaching ``±kd`` for ``|c| ≫ kd``; ``hill_n`` sets
    how sharply it bends (n = 1 is the Hill equation rescaled to slope 1 at 0, large n tends to
    ``min(c, kd)``). Monotonic, so larger calcium always gives a larger response.

    Args:
        calcium: any-shape calcium in single-spike units.
        kd: saturation level in the same units (> 0).
        hill_n: steepness (> 0).

    Returns:
        Array of ``calcium``'s shape, in the same units.
    """
    return calcium / (1.0 + (np.abs(calcium) / kd) ** hill_n) ** (1.0 / hill_n)


def single_spike_peak(g: np.ndarray) -> np.ndarray:
    """Peak of each row's impulse response (``h_0 = 1``), for AR kinetics that rise then fall.

    Args:
        g: (cells, order) AR coefficients.

    Returns:
        (cells,) peak heights, ≥ 1, in units of the calcium one spike adds.
    """
    g1 = g[:, 0]
    g2 = g[:, 1] if g.shape[1] == 2 else np.zeros_like(g1)
    previous, current = np.zeros_like(g1), np.ones_like(g1)
    peak = current.copy()
    for _ in range(_MAX_PEAK_SEARCH):
        previous, current = current, g1 * current + g2 * previous
        np.maximum(peak, current, out=peak)
        if np.all(current < previous):  # every transient has passed its peak
            break
    return peak


def random_drift(n_cells: int, T: int, peak: float, rng: np.random.Generator) -> np.ndarray:
    """Slow baseline drift: a zero-mean random walk scaled to a peak absolute value ``peak``.

    A random walk's power falls as 1/f², so the drift is dominated by the slowest time scales
    of the recording, like bleaching or slow focus changes.

    Returns:
        (n_cells, T) float64 drift (ΔF/F); all zeros when ``peak`` is 0.
    """
    if peak == 0:
        return np.zeros((n_cells, T))
    walk = np.cumsum(rng.standard_normal((n_cells, T)), axis=1)
    walk -= walk.mean(axis=1, keepdims=True)
    largest = np.abs(walk).max(axis=1, keepdims=True)
    return peak * np.divide(walk, largest, out=np.zeros_like(walk), where=largest > 0)


def _jittered_kinetics(
    preset: Indicator, fs: float, order: int, n_cells: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_cells, order) AR coefficients of the preset with per-cell decay times ± DECAY_JITTER."""
    jitter = rng.uniform(1 - DECAY_JITTER, 1 + DECAY_JITTER, n_cells)
    taus = preset.tau_decay_s * jitter
    return np.stack([ar_coefficients((preset.tau_rise_s, tau), fs, order) for tau in taus])


def _check_options(order: int, snr: float, sn: float | None, amplitude: float | None) -> None:
    """Raise InputError unless the kinetics, noise and amplitude options are usable."""
    if order not in (1, 2):
        raise InputError(f"order must be 1 or 2, got {order!r}")
    check_number("snr", snr, minimum=0.0, strict=True)
    if sn is not None:
        check_number("sn", sn, minimum=0.0)
    if amplitude is not None:
        check_number("amplitude", amplitude, minimum=0.0, strict=True)


def check_number(name: str, value: object, *, minimum: float, strict: bool = False) -> None:
    """Raise InputError unless ``value`` is a finite real number ≥ (or >) ``minimum``."""
    ok = isinstance(value, Real) and math.isfinite(value)
    if ok and (value <= minimum if strict else value < minimum):
        ok = False
    if not ok:
        bound = "" if minimum == -math.inf else f" {'>' if strict else '≥'} {minimum:g}"
        raise InputError(f"{name} must be a finite number{bound}, got {value!r}")
