"""Simulated traces: ground truth relations, noise, saturation, drift and validation."""

import math

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.simulate import Simulation, get_indicator, impulse_response, traces

FS = 30.0


def ar_residual(sim: Simulation) -> np.ndarray:
    """(cells, T) c_t - Σ_k g_k c_{t-k}, with c = 0 before the first frame."""
    c = sim.calcium
    out = c.copy()
    for k in range(sim.g.shape[1]):
        out[:, k + 1 :] -= sim.g[:, k : k + 1] * c[:, : c.shape[1] - k - 1]
    return out


def test_same_seed_same_output_and_generator_seeds():
    a, b = traces(4, 300, seed=11), traces(4, 300, seed=11)
    for field in ("fluorescence", "calcium", "spikes", "g", "sn", "amplitude"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = traces(4, 300, seed=np.random.default_rng(11))
    d = traces(4, 300, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(c.fluorescence, d.fluorescence)
    assert not np.array_equal(a.fluorescence, traces(4, 300, seed=12).fluorescence)


@pytest.mark.parametrize("order", [1, 2])
def test_shapes_and_dtypes(order):
    sim = traces(5, 400, 20.0, order=order, indicator="gcamp6s", seed=0)
    assert sim.fluorescence.shape == sim.calcium.shape == sim.spikes.shape == (5, 400)
    assert sim.fluorescence.dtype == np.float32 and sim.calcium.dtype == np.float64
    assert sim.spikes.dtype == np.int64
    assert sim.g.shape == (5, order)
    assert sim.sn.shape == sim.baseline.shape == sim.amplitude.shape == (5,)
    assert sim.fs == 20.0 and sim.indicator == "GCaMP6s"


def test_tiny_recordings_work():
    sim = traces(1, 1, drift=0.1, seed=0)
    assert sim.fluorescence.shape == (1, 1)


def test_reference_scenario_is_exact():
    sim = traces(50, 3000, 30.0, g=[0.95], sn=0.3, rate_hz=0.5, amplitude=1.0, seed=2)
    assert np.all(sim.g == 0.95) and sim.g.shape == (50, 1)
    assert np.all(sim.sn == 0.3) and np.all(sim.amplitude == 1.0) and np.all(sim.baseline == 0)
    np.testing.assert_allclose(ar_residual(sim), sim.spikes, atol=1e-9)
    noise = sim.fluorescence - sim.calcium - sim.baseline[:, None]
    assert noise.std() == pytest.approx(0.3, rel=0.02)
    assert abs(noise.mean()) < 0.01  # no drift, no baseline
    assert sim.spikes.mean() * FS == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("indicator", ["GCaMP6f", "GCaMP6s", "jGCaMP8m", "OGB-1"])
def test_ar_relation_holds_for_preset_kinetics(indicator, order):
    sim = traces(20, 1000, indicator=indicator, order=order, rate_hz=2.0, seed=4)
    np.testing.assert_allclose(ar_residual(sim), sim.amplitude[:, None] * sim.spikes, atol=1e-9)
    assert len(np.unique(sim.g[:, 0])) == 20  # decay times jittered per cell


def test_default_amplitude_and_noise_follow_the_preset():
    preset = get_indicator("GCaMP6s")
    sim = traces(200, 10, indicator="GCaMP6s", snr=4.0, seed=0)
    h_peak = np.array([impulse_response(g, 200).max() for g in sim.g])
    peak_dff = sim.amplitude * h_peak
    assert np.median(peak_dff) == pytest.approx(preset.amplitude, rel=0.1)
    assert 0.1 < np.std(np.log(peak_dff)) < 0.3
    np.testing.assert_allclose(sim.sn, peak_dff / 4.0)


def test_noise_sigma_matches_sn_when_given():
    sim = traces(30, 5000, sn=0.05, seed=1)
    noise = sim.fluorescence - sim.calcium - sim.baseline[:, None]
    np.testing.assert_allclose(noise.std(axis=1), 0.05, rtol=0.05)


def test_options_do_not_change_the_spikes_or_noise():
    plain = traces(10, 2000, seed=5)
    varied = traces(10, 2000, seed=5, saturation=True, drift=0.3, shot_noise=0.1, baseline=1.0)
    np.testing.assert_array_equal(plain.spikes, varied.spikes)
    np.testing.assert_array_equal(plain.amplitude, varied.amplitude)
    np.testing.assert_allclose(varied.baseline, 1.0)


def test_saturation_compresses_large_bursts_only():
    kwargs = dict(bursty=True, rate_hz=4.0, indicator="GCaMP6s", seed=3)
    linear, saturated = traces(20, 3000, **kwargs), traces(20, 3000, saturation=True, **kwargs)
    kd = get_indicator("GCaMP6s").kd
    unit = linear.calcium / linear.amplitude[:, None]  # calcium in single-spike units
    ratio = saturated.calcium[unit > 0] / linear.calcium[unit > 0]
    assert np.all(ratio <= 1.0)
    assert ratio[unit[unit > 0] < 0.1 * kd].min() > 0.95  # small signals ≈ linear
    assert unit.max() > 1.5 * kd and ratio[unit[unit > 0] > 1.5 * kd].max() < 0.75


def test_drift_adds_a_slow_component():
    sim = traces(10, 6000, drift=0.5, sn=0.01, seed=6)
    residual = sim.fluorescence - sim.calcium - sim.baseline[:, None]
    assert np.abs(residual).max(axis=1) == pytest.approx(np.full(10, 0.5), abs=0.05)
    power = np.abs(np.fft.rfft(residual - residual.mean(axis=1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(6000, 1 / FS)
    assert power[:, freqs < 0.1].sum() / power.sum() > 0.9
    flat = traces(10, 6000, sn=0.01, seed=6)
    assert np.abs(flat.fluorescence - flat.calcium).max() < 0.06  # noise only


def test_shot_noise_variance_grows_with_the_signal():
    sn, shot = 0.01, 0.05
    sim = traces(20, 6000, rate_hz=1.0, sn=sn, shot_noise=shot, seed=7)
    residual = sim.fluorescence - sim.calcium
    for selected in (sim.calcium < 0.01, sim.calcium > 0.3):
        expected = math.sqrt(sn**2 + shot * sim.calcium[selected].mean())
        assert residual[selected].std() == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_cells": 0},
        {"T": 0},
        {"fs": 0.0},
        {"fs": -30.0},
        {"order": 3},
        {"snr": 0.0},
        {"sn": -0.1},
        {"indicator": "GCaMP9"},
        {"g": [1.01]},
        {"g": [0.5, 0.3, 0.1]},
        {"amplitude": 0.0},
        {"rate_hz": -1.0},
        {"drift": -0.1},
        {"shot_noise": -1.0},
        {"baseline": float("nan")},
        {"seed": "abc"},
    ],
)
def test_bad_arguments_raise(kwargs):
    args = {"n_cells": 2, "T": 50, **kwargs}
    with pytest.raises(InputError):
        traces(**args)


def test_given_spikes_drive_the_calcium_and_bad_ones_are_refused():
    spikes = np.zeros((2, 300))
    spikes[0, 100] = 1.0
    sim = traces(2, 300, 30.0, spikes=spikes, sn=0.01, seed=0)
    np.testing.assert_array_equal(sim.spikes, spikes)
    assert sim.calcium[1].max() == 0.0 and sim.calcium[0, :100].max() == 0.0
    assert sim.calcium[0, 100:110].max() > 0.0
    with pytest.raises(InputError, match="spikes"):
        traces(2, 200, 30.0, spikes=spikes)
