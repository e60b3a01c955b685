import numpy as np
import pytest

import calscope
from calscope.extract import delta_f_over_f


def test_dff_recovers_the_relative_change_under_slow_drift():
    sim = calscope.simulate.traces(4, 6000, 30.0, snr=6.0, seed=2)
    drift = np.linspace(1.0, 0.7, 6000)  # bleaching to 70%
    f0 = 200.0 * drift
    raw = f0 * (1.0 + sim.fluorescence)
    dff = delta_f_over_f(raw, 30.0)
    for got, want in zip(dff, sim.fluorescence):
        assert np.corrcoef(got, want)[0, 1] > 0.95
    # the relative amplitude is kept: the transients' size matches within 20%
    peaks = np.percentile(dff, 99.5, axis=1) / np.percentile(sim.fluorescence, 99.5, axis=1)
    assert np.all(np.abs(peaks - 1.0) < 0.2)


def test_nan_stays_nan_and_a_non_positive_baseline_is_floored_with_a_warning():
    rng = np.random.default_rng(0)
    raw = 100.0 + rng.standard_normal((2, 900))
    raw[1] -= 100.0  # baseline at 0: over-subtracted neuropil
    raw[0, 100:120] = np.nan
    with pytest.warns(UserWarning, match="rows 1"):
        dff = delta_f_over_f(raw, 30.0)
    assert np.isnan(dff[0, 100:120]).all() and np.isfinite(dff[0, :100]).all()
    assert np.isfinite(dff[1]).all()
    assert delta_f_over_f(raw[0], 30.0).shape == (900,)
