"""`SpikeInference`: the result of the network methods (amortized, supervised)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calscope.deconv.resample import to_input_frames


@dataclass(frozen=True)
class SpikeInference:
    """Spike probabilities with posterior uncertainty, for (cells, T) traces at ``fs`` Hz.

    Attributes:
        spikes: (cells, T) expected spikes per frame. With ``oasis_blend`` w > 0 (the
            default) it is (1 − w) · the network's estimate (for the amortized method the
            Bernoulli spike probability, as a frame holds at most one spike) + w · calscope's
            OASIS solution rescaled to the network's count per cell.
        lower, upper: (cells, T) 5th and 95th percentiles of the posterior spike count per
            frame (a 90% band; 0 or 1 for binary spikes), widened where needed to contain
            ``spikes``.
        calcium: (cells, T) the generative model's fitted trace for the expected spikes, in
            the input's units (baseline included); None for the supervised method, which has
            no calcium model.
        samples: (n_samples, cells, T) posterior spike samples, or None when none were asked.
        params: per-cell generative parameters, each a (cells,) array (e.g. ``tau_decay_s``,
            ``gain`` in trace units, ``sn`` the noise σ used).
        fs: sampling rate (Hz).
        native_fs: the rate (Hz) the traces were treated as recorded at: ``fs``, or the lower
            rate detected (or given) when they had been resampled up; None: not recorded.

    NaN exactly where the input is NaN (all fields with a time axis); the cell axis is dropped
    for 1-D input.
    """

    spikes: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    calcium: np.ndarray | None
    samples: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    fs: float = float("nan")
    native_fs: float | None = None



def at_input_rate(result: SpikeInference, traces: np.ndarray, fs: float) -> SpikeInference:
    """A (cells, T') result inferred at a lower (native) rate, mapped onto the frames of
    ``traces``.

    Expected counts and their band are spread keeping their totals, the calcium is
    interpolated, and each posterior sample's spikes land in the input frame nearest the native
    frame's time (so samples stay spike counts).

    Args:
        result: inferred at ``result.fs`` from ``traces`` resampled to that rate, with a cell
            axis ((cells, T') arrays, samples (m, cells, T')).
        traces: (cells, T) or (T,) input at ``fs`` Hz; NaN there is NaN in the output, and
            1-D input gives 1-D output.
        fs: the input's rate (Hz).

    Returns:
        The `SpikeInference` at ``fs``, with ``native_fs`` = ``result.fs``.
    """
    y = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    n, rate = y.shape[-1], result.fs
    spikes, lower, upper = (to_input_frames(a, rate, fs, n, counts=True)
                            for a in (result.spikes, result.lower, result.upper))
    calcium = (None if result.calcium is None
               else to_input_frames(result.calcium, rate, fs, n, counts=False))
    samples = None
    if result.samples is not None:
        draws = np.nan_to_num(result.samples)
        frame = np.minimum(np.rint(np.arange(draws.shape[-1]) * fs / rate).astype(int), n - 1)
        samples = np.zeros((*draws.shape[:-1], n))
        np.add.at(samples, (slice(None), slice(None), frame), draws)
    missing = ~np.isfinite(y) | np.isnan(result.spikes).all(axis=-1)[:, None]
    for a in (spikes, lower, upper, calcium):
        if a is not None:
            a[missing] = np.nan
    if samples is not None:
        samples[:, missing] = np.nan
    if np.ndim(traces) == 1:
        spikes, lower, upper = spikes[0], lower[0], upper[0]
        calcium = None if calcium is None else calcium[0]
        samples = None if samples is None else samples[:, 0]
    params = {k: v[0] if np.ndim(traces) == 1 else v for k, v in result.params.items()}
    return SpikeInference(spikes, lower, upper, calcium, samples=samples, params=params,
                          fs=float(fs), native_fs=rate)
