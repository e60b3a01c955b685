"""`SpikeInference`: the result of the network methods (amortized, supervised)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
