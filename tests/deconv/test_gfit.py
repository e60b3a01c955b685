"""Per-cell decay fit (`optimize_g`): the support residual and recovery on simulated truth."""

import numpy as np
import pytest

from calscope import simulate
from calscope.deconv import deconvolve
from calscope.deconv.gfit import support_rss


def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


def test_support_rss_is_zero_at_the_true_decay_and_grows_away_from_it():
    sim = simulate.traces(1, 3000, 30.0, g=[0.9], sn=0.1, rate_hz=0.5, amplitude=1.0, seed=2)
    c, s = sim.calcium[0], sim.spikes[0]
    support = s > 0
    support[0] = True
    assert support_rss(c, support, 0.9, 0.0) == pytest.approx(0.0, abs=1e-9)
    assert support_rss(c, support, 0.85, 0.0) > 1.0 and support_rss(c, support, 0.95, 0.0) > 1.0


def test_support_rss_ar2_exact_on_a_double_exponential_and_skips_nan():
    d, r = 0.95, 0.6
    g = [d + r, -d * r]
    sim = simulate.traces(1, 2000, 30.0, g=g, sn=0.1, rate_hz=0.5, amplitude=1.0, seed=4)
    c = sim.calcium[0].copy()
    support = sim.spikes[0] > 0
    support[0] = True
    assert support_rss(c, support, d, r) == pytest.approx(0.0, abs=1e-8)
    c[100:150] = np.nan
    assert support_rss(c, support, d, r) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("true_g, order", [([0.85], 1), (None, 2)])
def test_optimize_g_moves_toward_the_truth_and_improves_spikes(true_g, order):
    kw = {"g": true_g} if true_g else {"indicator": "GCaMP6f"}
    sim = simulate.traces(8, 6000, 30.0, sn=0.2, rate_hz=0.5, amplitude=1.0, seed=3, **kw)
    plain = deconvolve(sim.fluorescence, 30.0, order=order)
    fitted = deconvolve(sim.fluorescence, 30.0, order=order, optimize_g=True)

    def decay(g):
        g = np.atleast_2d(g)
        disc = g[:, 0] ** 2 + 4 * g[:, 1] if g.shape[1] == 2 else g[:, 0] ** 2
        return (g[:, 0] + np.sqrt(disc)) / 2

    if order == 1:  # AR(2) keeps its estimated rise, so its decay trades off against it
        true_d = decay(sim.g)
        assert np.all(np.abs(decay(fitted.g) - true_d) < np.abs(decay(plain.g) - true_d))
    r_plain = np.mean([_corr(plain.spikes[i], sim.spikes[i]) for i in range(8)])
    r_fit = np.mean([_corr(fitted.spikes[i], sim.spikes[i]) for i in range(8)])
    assert r_fit > r_plain + 0.02


def test_optimize_g_keeps_the_nan_rule():
    sim = simulate.traces(3, 3000, 30.0, indicator="GCaMP6f", seed=1)
    y = sim.fluorescence.copy()
    y[0, :50] = np.nan
    y[1, 1000:1100] = np.nan
    res = deconvolve(y, 30.0, optimize_g=True)
    assert np.array_equal(np.isnan(res.spikes), np.isnan(y))
    assert np.array_equal(np.isnan(res.calcium), np.isnan(y))
