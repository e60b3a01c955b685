"""Indicator presets and the conversion between kinetics and AR coefficients."""

import math

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.simulate import (
    INDICATORS,
    Indicator,
    ar_coefficients,
    ar_time_constants,
    get_indicator,
    impulse_response,
)

NAMES = [ind.name for ind in INDICATORS.values()]


def test_presets_exist_with_plausible_kinetics():
    assert set(NAMES) == {"GCaMP6f", "GCaMP6s", "jGCaMP8m", "OGB-1"}
    for ind in INDICATORS.values():
        assert 0 < ind.tau_rise_s < ind.tau_decay_s < 2.0
        assert 0 < ind.amplitude < 1 and ind.hill_n >= 1 and ind.kd > 1
        assert ind.reference
    assert get_indicator("GCaMP6s").tau_decay_s > get_indicator("GCaMP6f").tau_decay_s


def test_get_indicator_is_case_insensitive_and_lists_names_when_unknown():
    assert get_indicator("gcamp6F") is get_indicator("GCaMP6f")
    with pytest.raises(InputError, match="GCaMP6f.*GCaMP6s.*jGCaMP8m.*OGB-1"):
        get_indicator("GCaMP99")


def test_ar1_coefficient_is_the_per_frame_decay():
    g = ar_coefficients(0.5, fs=20.0, order=1)
    np.testing.assert_allclose(g, [math.exp(-1 / (0.5 * 20.0))])
    np.testing.assert_allclose(ar_coefficients("GCaMP6f", 30.0, 1), [math.exp(-1 / 12)])


def test_ar2_coefficients_follow_the_root_formula():
    d, r = math.exp(-1 / (1.0 * 30)), math.exp(-1 / (0.1 * 30))
    np.testing.assert_allclose(ar_coefficients((0.1, 1.0), 30.0), [d + r, -d * r])
    assert ar_coefficients(Indicator("x", 0.0, 1.0, 0.1, 1.0, 10.0, "-"), 30.0)[1] == 0.0


@pytest.mark.parametrize("taus", [(0.02, 0.4), (0.05, 1.2), (0.0, 0.7)])
def test_time_constants_round_trip(taus):
    back = ar_time_constants(ar_coefficients(taus, 30.0, 2), 30.0)
    np.testing.assert_allclose(back, taus, rtol=1e-9, atol=1e-12)
    assert ar_time_constants([math.exp(-1 / 15)], 30.0) == pytest.approx((0.0, 0.5))


def test_impulse_response_is_the_sampled_double_exponential():
    d, r = 0.95, 0.6
    h = impulse_response([d + r, -d * r], 50)
    k = np.arange(50)
    np.testing.assert_allclose(h, (d ** (k + 1) - r ** (k + 1)) / (d - r))


@pytest.mark.parametrize("fs", [30.0, 100.0])
@pytest.mark.parametrize("name", NAMES)
def test_ar2_kernel_peaks_and_decays_like_the_preset(name, fs):
    ind = get_indicator(name)
    h = impulse_response(ar_coefficients(ind, fs, 2), int(10 * ind.tau_decay_s * fs))
    # h_k samples the continuous transient at t = (k + 1) / fs.
    assert abs((np.argmax(h) + 1) / fs - ind.time_to_peak_s) <= 1 / fs
    tail = h[int(5 * ind.tau_decay_s * fs) :]
    tau_tail = -1 / (fs * np.mean(np.diff(np.log(tail))))
    assert tau_tail == pytest.approx(ind.tau_decay_s, rel=1e-3)
    fall = np.argmax(h[np.argmax(h) :] < h.max() / math.e)  # frames from peak to peak / e
    assert abs(fall / fs - ind.tau_decay_s) <= 2 / fs + ind.time_to_peak_s


@pytest.mark.parametrize(
    ("kinetics", "fs", "order"),
    [
        (0.4, 30.0, 2),  # one time constant cannot make an AR(2)
        ((0.5, 0.4), 30.0, 2),  # rise slower than decay
        ((0.0, -1.0), 30.0, 1),
        ((0.01, 0.4), 0.0, 2),
        ((0.01, 0.4), 30.0, 3),
        ("GCaMP99", 30.0, 2),
        ((1.0, 2.0, 3.0), 30.0, 2),
    ],
)
def test_bad_kinetics_raise(kinetics, fs, order):
    with pytest.raises(InputError):
        ar_coefficients(kinetics, fs, order)


@pytest.mark.parametrize("g", [[1.0], [1.2, -0.1], [0.5, 0.6], [0.1, 0.2, 0.3], [np.nan]])
def test_unstable_or_malformed_g_raises(g):
    with pytest.raises(InputError):
        impulse_response(g, 10)


def test_oscillating_g_has_no_time_constants():
    with pytest.raises(InputError, match="complex"):
        ar_time_constants([1.6, -0.9], 30.0)
