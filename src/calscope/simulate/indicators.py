"""Calcium indicator presets and the conversion between indicator kinetics and AR coefficients.

A spike at time 0 makes the indicator report a double-exponential transient

    h(t) ∝ exp(-t / tau_decay) - exp(-t / tau_rise),        t ≥ 0 (seconds).

Sampled at ``fs`` Hz this transient is the impulse response of the autoregressive model used
throughout calscope (simulation and deconvolution alike):

    c_t = g_1 c_{t-1} + ... + g_p c_{t-p} + s_t,

with ``s_t`` the calcium added by the spikes of frame t. With the per-frame decay factors
``d = exp(-1 / (tau_decay fs))`` and ``r = exp(-1 / (tau_rise fs))`` (the roots of the AR
polynomial z² - g_1 z - g_2):

* AR(1): ``g = [d]``: instant rise, exponential decay (``tau_rise`` is ignored);
* AR(2): ``g = [d + r, -d r]``, whose impulse response is
  ``h_k = (d^(k+1) - r^(k+1)) / (d - r)``, i.e. h(t) sampled at t = (k + 1) / fs and scaled so
  that ``h_0 = 1``.

Preset values are rounded, typical in-vivo numbers for mouse cortical pyramidal neurons; real
cells vary by a factor of two around them. ``tau_rise_s`` and ``tau_decay_s`` are the time
constants of h(t), chosen so that its time to peak and its decay match the cited measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from calscope.errors import InputError


@dataclass(frozen=True)
class Indicator:
    """Kinetics, brightness and saturation of one calcium indicator.

    Attributes:
        name: canonical name, e.g. "GCaMP6f".
        tau_rise_s: rise time constant of the single-spike transient (s).
        tau_decay_s: decay time constant of the single-spike transient (s).
        amplitude: typical peak ΔF/F of a single-spike transient (dimensionless).
        hill_n: steepness of the saturation (the indicator's Hill coefficient).
        kd: calcium level, in units of the calcium one spike adds, at which the response bends
            over and which it approaches for large signals (see ``traces.saturate``).
        reference: where the kinetics and brightness come from.
    """

    name: str
    tau_rise_s: float
    tau_decay_s: float
    amplitude: float
    hill_n: float
    kd: float
    reference: str

    @property
    def time_to_peak_s(self) -> float:
        """Time (s) from a spike to the peak of its double-exponential transient."""
        return _time_to_peak(self.tau_rise_s, self.tau_decay_s)


# Time to peak (t_peak) and decay time constant (tau = half-decay time / ln 2) of a single spike.
# kd orders the presets by their measured Ca2+ affinity (higher affinity saturates sooner); the
# absolute values are a modelling choice placing saturation at bursts of ten to a few tens of
# spikes.
INDICATORS: dict[str, Indicator] = {
    ind.name.lower(): ind
    for ind in (
        # Chen et al. 2013, Nature 499:295 (GCaMP6, mouse V1 in vivo): single-spike ΔF/F ~ 0.1-0.2,
        # spikes resolvable 50-75 ms apart, half-decay ~ 0.15 s for one spike and longer for
        # trains; Hill coefficient ~ 2.3, Kd ~ 375 nM. Here t_peak ≈ 0.05 s, tau = 0.4 s.
        Indicator("GCaMP6f", 0.015, 0.4, 0.15, 2.3, 20.0, "Chen et al. 2013, Nature 499:295"),
        # Chen et al. 2013: single-spike ΔF/F ~ 0.25, spikes resolvable 100-150 ms apart,
        # half-decay ~ 0.5-0.8 s; Hill coefficient ~ 2.9, Kd ~ 144 nM. Here t_peak ≈ 0.17 s,
        # tau = 1.2 s.
        Indicator("GCaMP6s", 0.05, 1.2, 0.25, 2.9, 10.0, "Chen et al. 2013, Nature 499:295"),
        # Zhang et al. 2023, Nature 615:884 (jGCaMP8): half-rise ~ 2 ms, time to peak of tens of
        # ms, half-decay ~ 0.1-0.2 s for one spike, single-spike ΔF/F ~ 0.3 in vivo; Hill
        # coefficient ~ 1.9, Kd ~ 108 nM. Here t_peak ≈ 0.02 s, tau = 0.25 s.
        Indicator("jGCaMP8m", 0.005, 0.25, 0.3, 1.9, 10.0, "Zhang et al. 2023, Nature 615:884"),
        # Oregon Green BAPTA-1 AM, bulk-loaded in vivo: ~ 5-10 % ΔF/F per spike, decay 0.6-1 s
        # (Kerr et al. 2005, PNAS 102:14063; Grewe et al. 2010, Nat Methods 7:399); one Ca2+ site
        # (Hill coefficient 1), Kd ~ 200 nM. Here t_peak ≈ 0.03 s, tau = 0.7 s.
        Indicator(
            "OGB-1", 0.005, 0.7, 0.07, 1.0, 25.0, "Kerr et al. 2005; Grewe et al. 2010"
        ),
    )
}


def get_indicator(name: str) -> Indicator:
    """Return the preset called ``name`` (case-insensitive), e.g. ``"gcamp6f"``."""
    try:
        return INDICATORS[str(name).lower()]
    except KeyError:
        known = ", ".join(ind.name for ind in INDICATORS.values())
        raise InputError(
            f"indicator {name!r} is unknown; use one of {known} (or pass g= to set kinetics)"
        ) from None


Kinetics = Indicator | str | float | tuple[float, float]


def ar_coefficients(kinetics: Kinetics, fs: float, order: int = 2) -> np.ndarray:
    """AR coefficients whose impulse response is the indicator's transient sampled at ``fs``.

    Args:
        kinetics: an ``Indicator``, a preset name, ``tau_decay_s`` alone (order 1 only), or
            ``(tau_rise_s, tau_decay_s)`` in seconds.
        fs: sampling rate (Hz).
        order: 1 (``g = [d]``, tau_rise ignored) or 2 (``g = [d + r, -d r]``), with
            ``d = exp(-1 / (tau_decay_s fs))`` and ``r = exp(-1 / (tau_rise_s fs))``.

    Returns:
        (order,) float64 array ``g``.
    """
    if order not in (1, 2):
        raise InputError(f"order must be 1 or 2, got {order!r}")
    if not fs > 0 or not math.isfinite(fs):
        raise InputError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    tau_rise, tau_decay = _taus(kinetics, order)
    d = math.exp(-1.0 / (tau_decay * fs))
    if order == 1:
        return np.array([d])
    r = math.exp(-1.0 / (tau_rise * fs)) if tau_rise > 0 else 0.0
    return np.array([d + r, -d * r])


def ar_time_constants(g: np.ndarray | list[float], fs: float) -> tuple[float, float]:
    """Invert ``ar_coefficients``: ``(tau_rise_s, tau_decay_s)`` of AR coefficients ``g``.

    Args:
        g: (1,) or (2,) AR coefficients.
        fs: sampling rate (Hz).

    Returns:
        Rise and decay time constants in seconds; the rise is 0.0 for an instant rise (AR(1),
        or an AR(2) with a zero root).
    """
    g = check_ar(g)
    roots = np.roots([1.0, *(-g)]) if g.size == 2 else g.copy()
    if np.iscomplexobj(roots) or np.any(roots < 0):
        raise InputError(
            f"g={g.tolist()} has complex or negative roots {roots}, so its response oscillates "
            "and has no rise/decay time constants; use g with two real roots in [0, 1)"
        )
    taus = sorted(-1.0 / (fs * math.log(z)) if z > 0 else 0.0 for z in roots.real)
    return (taus[0], taus[-1]) if g.size == 2 else (0.0, taus[0])


def check_ar(g: np.ndarray | list[float]) -> np.ndarray:
    """Validate AR coefficients: 1 or 2 finite values describing a stable (decaying) process.

    Returns:
        ``g`` as a (order,) float64 array.
    """
    g = np.asarray(g, dtype=np.float64).ravel()
    if g.size not in (1, 2) or not np.all(np.isfinite(g)):
        raise InputError(f"g must hold 1 or 2 finite AR coefficients, got {g.tolist()}")
    g1, g2 = (g[0], 0.0) if g.size == 1 else g
    if not (abs(g2) < 1 and g1 + g2 < 1 and g2 - g1 < 1):
        raise InputError(
            f"g={g.tolist()} is not a stable AR process (its calcium would grow without bound); "
            "use e.g. g=[0.95] or ar_coefficients(...)"
        )
    return g


def impulse_response(g: np.ndarray | list[float], n_frames: int) -> np.ndarray:
    """Calcium trace of one unit spike at frame 0 under AR coefficients ``g``.

    Returns:
        (n_frames,) float64 array ``h`` with ``h_0 = 1`` and ``h_k = Σ_j g_j h_{k-j}``.
    """
    g = check_ar(g)
    impulse = np.zeros(n_frames)
    impulse[:1] = 1.0
    return lfilter([1.0], np.concatenate(([1.0], -g)), impulse)


def _taus(kinetics: Kinetics, order: int) -> tuple[float, float]:
    """(tau_rise_s, tau_decay_s) from any accepted form of ``kinetics``, validated."""
    if isinstance(kinetics, str):
        kinetics = get_indicator(kinetics)
    if isinstance(kinetics, Indicator):
        tau_rise, tau_decay = kinetics.tau_rise_s, kinetics.tau_decay_s
    elif np.ndim(kinetics) == 0:
        if order == 2:
            raise InputError(
                "kinetics is a single time constant, but order 2 needs (tau_rise_s, tau_decay_s)"
            )
        tau_rise, tau_decay = 0.0, float(kinetics)
    elif np.shape(kinetics) == (2,):
        tau_rise, tau_decay = (float(t) for t in kinetics)
    else:
        raise InputError(
            f"kinetics must be an Indicator, a preset name, tau_decay_s or "
            f"(tau_rise_s, tau_decay_s), got {kinetics!r}"
        )
    if not (0 <= tau_rise < tau_decay < math.inf):
        raise InputError(
            f"time constants must satisfy 0 ≤ tau_rise_s < tau_decay_s (seconds), got "
            f"tau_rise_s={tau_rise}, tau_decay_s={tau_decay}"
        )
    return tau_rise, tau_decay


def _time_to_peak(tau_rise: float, tau_decay: float) -> float:
    """Peak time (s) of exp(-t/tau_decay) - exp(-t/tau_rise); 0 for an instant rise."""
    if tau_rise == 0:
        return 0.0
    return tau_rise * tau_decay / (tau_decay - tau_rise) * math.log(tau_decay / tau_rise)
