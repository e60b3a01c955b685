"""Simulated ground-truth recordings to mix into the supervised network's training data.

One dataset per indicator preset of :mod:`calscope.simulate` (so each weighs like one real
dataset), each recorded at 7.5, 15, 30 and 60 Hz with varied firing rates (bursty), SNR,
saturation and drift. They widen the kinetics, rates and noise the network meets beyond the
real datasets.
"""

from __future__ import annotations

import numpy as np

from calscope import simulate
from calscope.io.ground_truth import GroundTruthRecording
from calscope.simulate.indicators import INDICATORS

#: Dataset names of the simulated recordings start with this (then the indicator preset).
SIMULATED_PREFIX = "SIM-"
#: Frame rates (Hz) each preset is simulated at.
SIMULATED_RATES = (7.5, 15.0, 30.0, 60.0)
_CELLS = 5  # cells per preset and frame rate


def simulated_recordings(minutes_per_preset: float, seed: int = 0
                         ) -> list[GroundTruthRecording]:
    """Simulated recordings with spike times, ``minutes_per_preset`` minutes per indicator.

    Each preset gets ``_CELLS`` cells at each rate in :data:`SIMULATED_RATES`; per rate, a
    firing rate log-uniform in 0.2–5 Hz, SNR uniform in 1.5–8, saturation with probability ½ and
    a drift up to 0.2 ΔF/F are drawn. Spike times are spread uniformly within their frame.

    Returns:
        Recordings named ``dataset="SIM-<preset>"``, ``neuron="fs<k>-cell<c>"``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for preset in INDICATORS.values():
        for k, fs in enumerate(SIMULATED_RATES):
            n = int(minutes_per_preset * 60 * fs / len(SIMULATED_RATES))
            sim = simulate.traces(_CELLS, n, fs, indicator=preset.name,
                                  rate_hz=float(np.exp(rng.uniform(np.log(0.2), np.log(5)))),
                                  bursty=True, snr=float(rng.uniform(1.5, 8)),
                                  saturation=bool(rng.random() < 0.5),
                                  drift=float(rng.uniform(0, 0.2)), seed=rng)
            t = np.arange(n) / fs
            for c in range(_CELLS):
                frames = np.repeat(np.arange(n), sim.spikes[c])
                spikes = np.sort((frames + rng.uniform(-0.5, 0.5, frames.size)) / fs)
                out.append(GroundTruthRecording(f"{SIMULATED_PREFIX}{preset.name}", f"fs{k}-cell{c}", 0,
                                                sim.fluorescence[c].astype(np.float64), t, fs,
                                                spikes))
    return out
