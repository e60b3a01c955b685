"""`calscope.deconv.deconvolve`: recovery on simulated truth, estimators, NaN rule, bad input."""

import numpy as np
import pytest

import calscope
from calscope import simulate
from calscope.deconv import ar_coefficients, deconvolve, noise_sigma
from calscope.deconv.kinetics import shrink_decay
from calscope.errors import InputError


@pytest.fixture(scope="module")
def ar1_sim():
    return simulate.traces(8, 3000, 30.0, g=[0.95], sn=0.3, rate_hz=0.5, amplitude=1.0, seed=7)


def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


@pytest.mark.parametrize("order, min_calcium_r", [(1, 0.97), (2, 0.96)])
def test_recovers_calcium_and_spikes(ar1_sim, order, min_calcium_r):
    # g, σ estimated; a constant baseline fitted jointly (the data has no drift). The AR(2)
    # model fitted to AR(1) truth is a slight mismatch, hence its lower calcium bound.
    res = deconvolve(ar1_sim.fluorescence, 30.0, order=order, baseline="constant")
    ca = [_corr(res.calcium[i], ar1_sim.calcium[i]) for i in range(8)]
    sp = [_corr(res.spikes[i], ar1_sim.spikes[i]) for i in range(8)]
    assert np.mean(ca) >= min_calcium_r
    assert np.mean(sp) >= 0.8


@pytest.mark.parametrize("order", [1, 2])
def test_default_with_drift_removal_recovers(ar1_sim, order):
    res = deconvolve(ar1_sim.fluorescence, 30.0, order=order)
    assert np.mean([_corr(res.calcium[i], ar1_sim.calcium[i]) for i in range(8)]) >= 0.95
    assert np.mean([_corr(res.spikes[i], ar1_sim.spikes[i]) for i in range(8)]) >= 0.8


def test_known_g_and_sn_recovery(ar1_sim):
    res = deconvolve(ar1_sim.fluorescence, 30.0, order=1, g=[0.95], sn=0.3, baseline=False)
    assert np.mean([_corr(res.calcium[i], ar1_sim.calcium[i]) for i in range(8)]) >= 0.97
    assert np.mean([_corr(res.spikes[i], ar1_sim.spikes[i]) for i in range(8)]) >= 0.8
    np.testing.assert_allclose(res.sn, 0.3)
    np.testing.assert_allclose(res.g, 0.95)


def test_estimators(ar1_sim):
    sn = noise_sigma(ar1_sim.fluorescence, 30.0)
    np.testing.assert_allclose(sn, 0.3, rtol=0.1)
    g = ar_coefficients(ar1_sim.fluorescence, 30.0, sn, 1)
    np.testing.assert_allclose(g[:, 0], 0.95, atol=0.03)


def test_raw_estimate_recovers_a_fast_decay_and_the_prior_shrinks_it():
    sim = simulate.traces(6, 6000, 30.0, g=[0.85], sn=0.2, rate_hz=0.5, amplitude=1.0, seed=3)
    sn = noise_sigma(sim.fluorescence, 30.0)
    raw = ar_coefficients(sim.fluorescence, 30.0, sn, 1, prior_weight=0.0)[:, 0]
    np.testing.assert_allclose(raw, 0.85, atol=0.045)
    shrunk = ar_coefficients(sim.fluorescence, 30.0, sn, 1)[:, 0]
    # τ shrunk halfway (in log) toward 0.7 s: the geometric mean of the two time constants
    tau_raw, tau_shrunk = -1 / (30 * np.log(raw)), -1 / (30 * np.log(shrunk))
    np.testing.assert_allclose(tau_shrunk, np.sqrt(tau_raw * 0.7), rtol=1e-9)


def test_shrink_decay_bounds():
    fs = 30.0
    g = np.exp(-1 / (0.3 * fs))
    assert shrink_decay(g, fs, 0.0) == pytest.approx(g)
    assert shrink_decay(g, fs, 1.0) == pytest.approx(np.exp(-1 / (0.7 * fs)))
    # an integrator-like estimate (τ = 100 s, a tonically firing cell) is capped at 2 s
    assert shrink_decay(np.exp(-1 / (100 * fs)), fs, 0.0) == pytest.approx(np.exp(-1 / (2 * fs)))


def test_ar2_estimate_keeps_rise_below_decay(ar1_sim):
    sn = noise_sigma(ar1_sim.fluorescence, 30.0)
    g = ar_coefficients(ar1_sim.fluorescence, 30.0, sn, 2)
    disc = g[:, 0] ** 2 + 4 * g[:, 1]
    assert np.all(disc >= 0)
    d = (g[:, 0] + np.sqrt(disc)) / 2
    assert np.all((d > 0) & (d < 1))


def test_result_fields_and_shapes(ar1_sim):
    res = calscope.deconvolve(ar1_sim.fluorescence[:3], 30.0, method="oasis", order=2)
    assert res.calcium.shape == res.spikes.shape == (3, 3000)
    assert res.g.shape == (3, 2) and res.sn.shape == res.lam.shape == (3,)
    assert res.baseline.shape == (3, 3000)
    assert np.all(res.spikes >= 0) and np.all(res.lam >= 0)
    one = deconvolve(ar1_sim.fluorescence[0], 30.0, order=2)
    assert one.spikes.shape == (3000,) and one.g.shape == (2,)
    np.testing.assert_allclose(one.spikes, res.spikes[0], atol=1e-9)


def test_baseline_is_fitted_or_fixed(ar1_sim):
    shifted = ar1_sim.fluorescence[:2] + 5.0
    fitted = deconvolve(shifted, 30.0, order=1, baseline="constant")
    assert np.all(np.abs(fitted.baseline - 5.0) < 0.3)
    fixed = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1, baseline=False)
    np.testing.assert_array_equal(fixed.baseline, 0.0)
    # the default removes slow drift: a ramp of 3 ΔF/F barely changes the spikes
    t = np.linspace(0, 1, 3000)
    drifting = deconvolve(ar1_sim.fluorescence[:2] + 3.0 * t, 30.0, order=1)
    clean = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1)
    assert np.all(np.abs(drifting.baseline[:, -100:].mean(1) - 3.0) < 0.5)
    for i in range(2):
        assert _corr(drifting.spikes[i], clean.spikes[i]) > 0.95


def test_given_lambda_is_used(ar1_sim):
    res = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1, lam=2.0)
    np.testing.assert_array_equal(res.lam, 2.0)
    sparse = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1, lam=20.0)
    assert (sparse.spikes > 0).sum() < (res.spikes > 0).sum()


def test_l0_penalty(ar1_sim):
    res = deconvolve(ar1_sim.fluorescence[:3], 30.0, order=1, penalty="l0")
    assert np.mean([_corr(res.spikes[i], ar1_sim.spikes[i]) for i in range(3)]) >= 0.8


def test_nan_rule_leading_interior_trailing(ar1_sim):
    y = ar1_sim.fluorescence[:3].astype(np.float64).copy()
    y[0, :50] = np.nan
    y[1, 1000:1030] = np.nan
    y[2, -200:] = np.nan
    res = deconvolve(y, 30.0, order=2)
    for field in (res.calcium, res.spikes):
        np.testing.assert_array_equal(np.isnan(field), np.isnan(y))
    clean = deconvolve(ar1_sim.fluorescence[1:2], 30.0, order=2)
    # the gap is bridged: far from it the solution is essentially unchanged
    assert _corr(res.calcium[1, 1300:], clean.calcium[0, 1300:]) > 0.99


def test_bad_row_warns_and_is_nan(ar1_sim):
    y = ar1_sim.fluorescence[:3].astype(np.float64).copy()
    y[1] = np.nan
    with pytest.warns(UserWarning, match="row 1"):
        res = deconvolve(y, 30.0)
    assert np.isnan(res.spikes[1]).all() and np.isfinite(res.spikes[[0, 2]]).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(traces=np.zeros((2, 3, 40))), "3-D"),
    (dict(traces=np.ones((2, 5))), "samples"),
    (dict(traces=np.full((2, 50), np.nan)), "all NaN or constant"),
    (dict(traces=np.ones((2, 50))), "all NaN or constant"),
    (dict(fs=0.0), "fs"),
    (dict(fs=-3.0), "fs"),
    (dict(lam=-1.0), "lam"),
    (dict(order=3), "order"),
    (dict(penalty="l2"), "penalty"),
    (dict(method="magic"), "method"),
    (dict(baseline="wobbly"), "baseline"),
])
def test_bad_input(ar1_sim, kwargs, match):
    args = dict(traces=ar1_sim.fluorescence[:2], fs=30.0)
    args.update(kwargs)
    traces, fs = args.pop("traces"), args.pop("fs")
    with pytest.raises(InputError, match=match):
        calscope.deconvolve(traces, fs, **args)


def test_noise_estimate_ignores_padding(ar1_sim):
    y = ar1_sim.fluorescence[0].astype(np.float64)
    padded = np.concatenate([y, np.full(3000, np.nan)])
    assert noise_sigma(padded, 30.0)[0] == pytest.approx(noise_sigma(y, 30.0)[0], rel=1e-9)


def test_scalar_g_for_order_1(ar1_sim):
    a = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1, g=0.95, sn=0.3)
    b = deconvolve(ar1_sim.fluorescence[:2], 30.0, order=1, g=[0.95], sn=0.3)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    with pytest.raises(InputError, match="g: expected 2"):
        deconvolve(ar1_sim.fluorescence[:2], 30.0, order=2, g=0.95)


@pytest.mark.parametrize("T", [10, 37, 256, 10001])
def test_noise_spectrum_matches_scipy_welch(T):
    from scipy import signal

    from calscope.deconv.noise import _welch_sigma

    rng = np.random.default_rng(T)
    y = np.cumsum(rng.normal(size=(3, T)), axis=1) * 0.1 + rng.normal(size=(3, T))
    f, p = signal.welch(y, fs=1.0, nperseg=min(256, T), detrend="constant", axis=-1)
    sel = (f >= 0.25) & (f <= 0.5)
    # single-precision FFT: σ agrees to ~1e-6 relative
    np.testing.assert_allclose(_welch_sigma(y, (0.25, 0.5)), np.sqrt(p[:, sel].mean(-1) / 2),
                               rtol=1e-5)


def test_slow_baseline_follows_drift_and_ignores_gaps():
    from calscope.deconv.baseline import slow_baseline

    rng = np.random.default_rng(0)
    t = np.arange(9000) / 30.0
    drift = 0.5 * np.sin(2 * np.pi * t / 600.0)  # drift over minutes
    y = drift + 0.1 * rng.normal(size=t.size)
    y[2000:2600] = np.nan
    b = slow_baseline(y[None], 30.0)[0]
    assert np.all(np.isfinite(b))
    # a low quantile of the noise sits about one σ below the drift
    assert np.abs((b - drift)[300:-300] + 0.1).max() < 0.12
    assert np.all(np.isnan(slow_baseline(np.full((1, 100), np.nan), 30.0)))


def test_slow_baseline_noise_correction_centres_a_resting_trace():
    from calscope.deconv.baseline import slow_baseline

    rng = np.random.default_rng(5)
    y = 2.0 + 0.3 * rng.normal(size=(4, 6000))
    low = slow_baseline(y, 30.0)
    centred = slow_baseline(y, 30.0, sn=np.full(4, 0.3))
    assert abs(np.mean(low) - (2.0 - 1.036 * 0.3)) < 0.03
    assert abs(np.mean(centred) - 2.0) < 0.03
