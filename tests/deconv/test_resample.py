"""Rate conversion for the supervised network, against direct numerical integration."""

import numpy as np
import pytest

from calscope.deconv.resample import bridge_nan, counts_to_rate, n_frames_at, resample


def _box_average_by_quadrature(y, fs_in, fs_out, n_out, fine=2000):
    """Independent reference: average np.interp of y over each output box on a fine grid."""
    t_in = np.arange(y.size) / fs_in
    out = np.empty(n_out)
    for k in range(n_out):
        lo = max(k / fs_out - 0.5 / fs_out, 0.0)
        hi = min(k / fs_out + 0.5 / fs_out, t_in[-1])
        grid = np.linspace(lo, hi, fine)
        out[k] = np.trapezoid(np.interp(grid, t_in, y), grid) / (hi - lo)
    return out


@pytest.mark.parametrize("fs_in,fs_out", [(158.0, 30.0), (7.8, 30.0), (30.0, 100.0), (61.0, 30.0)])
def test_resample_matches_quadrature(fs_in, fs_out):
    y = np.random.default_rng(0).standard_normal(200)
    n_out = n_frames_at(y.size, fs_in, fs_out)
    got = resample(y, fs_in, fs_out)
    assert got.shape == (n_out,)
    np.testing.assert_allclose(got, _box_average_by_quadrature(y, fs_in, fs_out, n_out), atol=2e-4)


def test_resample_keeps_lines_and_rows_and_lowers_white_noise():
    t = np.arange(1000) / 100.0
    line = resample(np.vstack([2 * t + 1, -t]), 100.0, 30.0)
    t_out = np.arange(line.shape[1]) / 30.0
    np.testing.assert_allclose(line[0, 1:-1], 2 * t_out[1:-1] + 1, atol=1e-9)
    np.testing.assert_allclose(line[1, 1:-1], -t_out[1:-1], atol=1e-9)
    noise = np.random.default_rng(1).standard_normal(150_000)
    # a 5-sample box of the linear interpolant weighs the samples [½, 1, 1, 1, 1, ½] / 5
    assert resample(noise, 150.0, 30.0).std() == pytest.approx(np.sqrt(4.5) / 5, rel=0.02)


def test_counts_to_rate_keeps_the_spike_count():
    counts = np.zeros(3000)
    counts[[10, 500, 501, 2900]] = [1, 2, 1, 1]
    n30 = n_frames_at(3000, 100.0, 30.0)
    at30 = counts_to_rate(counts, 100.0, 30.0, n30)
    assert at30.sum() == pytest.approx(5.0, rel=1e-9)
    back = counts_to_rate(at30, 30.0, 100.0, 3000)
    assert back.sum() == pytest.approx(5.0, rel=0.01)
    assert np.argmax(back) in range(495, 507)


def test_bridge_nan_interpolates_gaps():
    y = np.array([[0.0, np.nan, 2.0, np.nan], [np.nan] * 4])
    np.testing.assert_allclose(bridge_nan(y), [[0, 1, 2, 2], [0, 0, 0, 0]])
