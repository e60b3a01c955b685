"""Traces resampled up from a lower rate: detecting the rate they were recorded at, and
deconvolving them there (`calscope.deconv.bandwidth`, `deconvolve(native_fs=...)`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from calscope import simulate
from calscope.deconv import deconvolve
from calscope.deconv.bandwidth import native_rate
from calscope.deconv.kinetics import ar_at_rate
from calscope.deconv.resample import resample_with_gaps
from calscope.errors import InputError
from calscope.io.ground_truth import cascade_dataset_dirs, load_cascade_dataset, load_spikefinder

NATIVE_HZ = 7.8
UP_HZ = 100.0


def _upsampled(n_cells: int = 8, seconds: float = 300.0, seed: int = 2):
    """Simulated 7.8 Hz GCaMP6f traces, band-limited interpolation to 100 Hz (as in the
    Spikefinder files): (simulation at 7.8 Hz, (cells, T) traces at 100 Hz)."""
    sim = simulate.traces(n_cells, int(seconds * NATIVE_HZ), fs=NATIVE_HZ, indicator="GCaMP6f",
                          snr=4.0, seed=seed)
    n_up = int(round(sim.fluorescence.shape[1] * UP_HZ / NATIVE_HZ))
    return sim, signal.resample(sim.fluorescence.astype(np.float64), n_up, axis=1)


def _binned(x: np.ndarray, fs: float, seconds: float, width_s: float = 0.512) -> np.ndarray:
    """(cells, bins) sums of a per-frame quantity over bins of ``width_s`` seconds."""
    edges = np.arange(0.0, seconds + 1e-9, width_s)
    idx = np.digitize(np.arange(x.shape[1]) / fs, edges) - 1
    out = np.zeros((x.shape[0], len(edges) - 1))
    ok = (idx >= 0) & (idx < out.shape[1])
    for row, values in zip(out, np.nan_to_num(x)):
        np.add.at(row, idx[ok], values[ok])
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]))


def test_finds_the_rate_of_band_limited_interpolation():
    _, up = _upsampled()
    assert native_rate(up, UP_HZ) == pytest.approx(NATIVE_HZ, rel=0.02)
    assert native_rate(up[0], UP_HZ) == pytest.approx(NATIVE_HZ, rel=0.02)  # one trace too
    gappy = up.copy()
    gappy[:, 5000:5400] = np.nan
    assert native_rate(gappy, UP_HZ) == pytest.approx(NATIVE_HZ, rel=0.02)


@pytest.mark.parametrize("indicator", sorted(simulate.INDICATORS))
@pytest.mark.parametrize("snr", [1.0, 5.0, 30.0])
@pytest.mark.parametrize("fs", [7.8, 30.0, 100.0])
def test_recordings_at_their_own_rate_are_left_alone(indicator, snr, fs):
    sim = simulate.traces(10, int(200 * fs), fs=fs, indicator=indicator, snr=snr, drift=0.2,
                          seed=1)
    assert native_rate(sim.fluorescence, fs) == fs


def test_an_anti_aliasing_edge_near_nyquist_is_not_a_lower_rate():
    sim = simulate.traces(10, 9000, fs=30.0, seed=3)
    up = signal.resample(sim.fluorescence.astype(np.float64), 10000, axis=1)  # 30 → 33.3 Hz
    assert native_rate(up, 33.33) == 33.33


def test_short_or_flat_traces_give_fs():
    rng = np.random.default_rng(0)
    assert native_rate(rng.normal(size=(3, 40)), 30.0) == 30.0
    assert native_rate(np.ones((2, 5000)), 30.0) == 30.0
    assert native_rate(np.full((2, 5000), np.nan), 30.0) == 30.0


def test_ar_at_rate_keeps_the_time_constants():
    g30 = simulate.ar_coefficients("GCaMP6f", 30.0)
    g100 = ar_at_rate(g30[None], 30.0, 100.0)[0]
    assert simulate.ar_time_constants(g100, 100.0) == pytest.approx(
        simulate.ar_time_constants(g30, 30.0), rel=1e-9)
    assert ar_at_rate(ar_at_rate(g30[None], 30.0, 7.8), 7.8, 30.0)[0] == pytest.approx(g30)
    assert ar_at_rate(np.array([[0.9]]), 30.0, 15.0)[0, 0] == pytest.approx(0.81)
    assert np.isnan(ar_at_rate(np.array([[1.2, -0.9]]), 30.0, 15.0)).all()  # complex roots


def test_deconvolve_solves_upsampled_traces_at_their_native_rate():
    sim, up = _upsampled()
    seconds = sim.fluorescence.shape[1] / NATIVE_HZ
    truth = _binned(sim.spikes, NATIVE_HZ, seconds)
    detected = deconvolve(up, UP_HZ)
    assert detected.native_fs == pytest.approx(NATIVE_HZ, rel=0.02)
    assert detected.fs == UP_HZ and detected.spikes.shape == up.shape
    at_fs = deconvolve(up, UP_HZ, native_fs=UP_HZ)
    assert at_fs.native_fs == UP_HZ
    native = deconvolve(sim.fluorescence, NATIVE_HZ)
    r_detected = _corr(_binned(detected.spikes, UP_HZ, seconds), truth)
    r_native = _corr(_binned(native.spikes, NATIVE_HZ, seconds), truth)
    r_at_fs = _corr(_binned(at_fs.spikes, UP_HZ, seconds), truth)
    assert r_detected > r_at_fs + 0.1  # solving at 100 Hz misreads the correlated noise
    assert r_detected > r_native - 0.05  # as good as deconvolving the 7.8 Hz recording
    # the 100 Hz result is the native-rate solution mapped back: totals and time constants kept
    at_native, _ = resample_with_gaps(up, UP_HZ, detected.native_fs)
    direct = deconvolve(at_native, detected.native_fs, native_fs=detected.native_fs)
    np.testing.assert_allclose(detected.spikes.sum(axis=1), direct.spikes.sum(axis=1), rtol=0.02)
    np.testing.assert_allclose(detected.sn, direct.sn)
    for mine, theirs in zip(detected.g, direct.g):
        assert simulate.ar_time_constants(mine, UP_HZ) == pytest.approx(
            simulate.ar_time_constants(theirs, detected.native_fs), rel=1e-6)
    resid = up - detected.calcium - detected.baseline
    assert np.std(resid) < 1.5 * np.median(native.sn)


def test_native_solution_keeps_the_nan_rule_and_given_g():
    _, up = _upsampled(n_cells=3)
    up[1, 3000:3500] = np.nan
    up[2] = np.nan
    with pytest.warns(UserWarning, match="row 2"):
        out = deconvolve(up, UP_HZ, native_fs=NATIVE_HZ)
    for field in (out.spikes, out.calcium, out.baseline):
        np.testing.assert_array_equal(np.isnan(field), np.isnan(up))
    assert np.isnan(out.sn[2]) and np.isfinite(out.sn[:2]).all()
    g100 = simulate.ar_coefficients("GCaMP6f", UP_HZ)
    given = deconvolve(up[:2], UP_HZ, g=g100, native_fs=NATIVE_HZ)
    np.testing.assert_allclose(given.g, np.tile(g100, (2, 1)), rtol=1e-9)
    one = deconvolve(up[0], UP_HZ)
    assert one.spikes.shape == up[0].shape and one.native_fs < UP_HZ


def test_bad_native_fs_is_refused():
    _, up = _upsampled(n_cells=1)
    with pytest.raises(InputError, match="must lie between 0 Hz and fs=100"):
        deconvolve(up, UP_HZ, native_fs=200.0)
    with pytest.raises(InputError, match="native_fs"):
        deconvolve(up, UP_HZ, native_fs=-1.0)
    with pytest.raises(InputError, match="decaying transient"):
        deconvolve(up, UP_HZ, g=[1.2, -0.9], native_fs=NATIVE_HZ)


def test_spikefinder_4_is_found_at_7_8_hz_and_cascade_recordings_are_not(shared_data):
    truth = shared_data / "ground_truth"
    sf4 = load_spikefinder(truth / "spikefinder", "4")
    rows = np.full((len(sf4), max(r.dff.size for r in sf4)), np.nan)
    for row, rec in zip(rows, sf4):
        row[:rec.dff.size] = rec.dff
    assert native_rate(rows, 100.0) == pytest.approx(7.8125, rel=0.01)
    for folder in cascade_dataset_dirs(truth / "cascade")[::4]:  # a spread of datasets
        for rec in load_cascade_dataset(folder)[:6]:
            assert native_rate(rec.dff, rec.fs) == rec.fs, (rec.dataset, rec.neuron)


def test_filtered_traces_are_flagged_only_when_the_filter_leaves_a_cliff():
    from scipy import ndimage

    sim = simulate.traces(20, 9000, 30.0, snr=4.0, seed=1)
    y = sim.fluorescence.astype(np.float64)
    t = np.arange(y.shape[1]) / 30.0
    for smooth in (ndimage.gaussian_filter1d(y, 2.0, axis=1),
                   ndimage.median_filter(y, size=(1, 5)),
                   y + 0.5 * np.sin(2 * np.pi * 10.0 * t),  # a 10 Hz line
                   np.round(y * 1000.0)):  # integer samples
        assert native_rate(smooth, 30.0) == 30.0
    b, a = signal.butter(8, 6.0, fs=30.0)
    steep = signal.filtfilt(b, a, y, axis=1)  # 8th order, both ways: a cliff above 6 Hz
    detected = deconvolve(steep, 30.0)
    assert 12.0 <= detected.native_fs < 24.0

    def r(spikes):
        return np.mean([np.corrcoef(_binned(p[None], 30.0, 300.0)[0],
                                    _binned(s[None].astype(float), 30.0, 300.0)[0])[0, 1]
                        for p, s in zip(spikes, sim.spikes)])

    assert r(detected.spikes) > r(deconvolve(steep, 30.0, native_fs=30.0).spikes)
