"""`calscope.population.coupling`: coupling over time against a direct loop, population coupling
against scipy, a planted change of coupling, window handling and bad input."""

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import uniform_filter1d

from calscope.errors import InputError
from calscope.population.coupling import coupling_over_time, population_coupling, window_frames
from calscope.simulate.population import population


def _usable(values):
    return np.array([np.isfinite(row).sum() >= 10 and np.nanmax(row) > np.nanmin(row)
                     for row in values])


def _coupling_reference(values, window):
    """The contract, in loops: r of neuron i with the sum of the other usable neurons over
    frames [t − window//2, t − window//2 + window); NaN off the recording, with NaN inside (a
    NaN in any usable neuron makes the sum NaN) or a constant signal."""
    usable = _usable(values)
    total = values[usable].sum(axis=0)
    n_cells, n_frames = values.shape
    out = np.full((n_cells, n_frames), np.nan)
    for i in np.flatnonzero(usable):
        others = total - values[i]
        for t in range(n_frames):
            start = t - window // 2
            if start < 0 or start + window > n_frames:
                continue
            x, y = values[i, start:start + window], others[start:start + window]
            if np.isfinite(x).all() and np.isfinite(y).all() and np.ptp(x) > 0 and np.ptp(y) > 0:
                out[i, t] = np.corrcoef(x, y)[0, 1]
    return out


@pytest.fixture(scope="module")
def messy():
    """Random activity with NaN gaps, constant stretches, an all-NaN and a constant row."""
    rng = np.random.default_rng(0)
    values = rng.random((8, 240))
    values[5] += values[0]
    values[1, 30:70] = 0.0  # silent stretch
    values[2, 100:104] = np.nan  # a gap: missing for every neuron's population sum
    values[3] = np.nan  # unusable
    values[4, 150:200] = 5.0  # constant stretch
    values[6] = 1.0  # unusable: constant, left out of the population sum
    values[7, 0:45] = 0.0
    return values


@pytest.mark.parametrize("window", [3, 10, 11, 50, 95])
def test_matches_direct_loop(messy, window):
    got = coupling_over_time(messy, window)
    expected = _coupling_reference(messy, window)
    assert got.dtype == np.float32 and got.shape == messy.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-5, equal_nan=True)


def test_edges_gaps_and_unusable_rows_are_nan(messy):
    got = coupling_over_time(messy, 20)
    assert np.isnan(got[:, :10]).all() and np.isnan(got[:, -9:]).all()
    assert np.isfinite(got[0, 10]) and np.isfinite(got[0, -10])
    assert np.isnan(got[[3, 6]]).all()
    # windows holding frames 100..103 (NaN in row 2), t = 91..113, are missing for everyone
    assert np.isnan(got[[0, 5, 7], 91:114]).all()
    assert np.isfinite(got[[0, 5, 7]][:, [90, 114]]).all()
    assert np.isnan(got[4, 160:190]).all()  # row 4 constant in those windows


def test_window_in_seconds():
    values = np.random.default_rng(1).random((4, 300))
    np.testing.assert_array_equal(coupling_over_time(values, fs=10.0, window_s=2.0),
                                  coupling_over_time(values, 20))
    assert window_frames(100, fs=30.0, window_s=0.01) == 3
    assert window_frames(7) == 7
    whole = coupling_over_time(values, 300)  # one window: the whole recording, at t = 150
    assert np.isfinite(whole[:, 150]).all() and np.isnan(np.delete(whole, 150, axis=1)).all()
    np.testing.assert_allclose(whole[:, 150], population_coupling(values), atol=1e-6)


def test_constant_window_of_a_large_offset_is_nan():
    # cumulative sums must not turn a constant window into a spurious finite r
    rng = np.random.default_rng(2)
    values = 1000.0 + rng.random((3, 5000))
    values[0, 2000:2300] = 1000.123456789
    got = coupling_over_time(values, 100)
    assert np.isnan(got[0, 2050:2250]).all()
    assert np.isfinite(got[0, 1000]) and np.isfinite(got[0, 3000])


def test_planted_change_of_coupling_is_found():
    # Neuron 0 follows the population for the first half and is independent in the second.
    rng = np.random.default_rng(3)
    n_frames = 6000
    shared = np.repeat(rng.random(n_frames // 20), 20)  # slow shared fluctuation
    values = shared + 0.5 * rng.random((30, n_frames))
    values[0, n_frames // 2:] = rng.random(n_frames // 2)
    coupling = coupling_over_time(values, 200)
    first, second = np.nanmean(coupling[0, :2900]), np.nanmean(coupling[0, 3100:])
    assert first > 0.6 and abs(second) < 0.1
    others = np.nanmean(coupling[1:], axis=1)
    assert (others > 0.6).all()
    # and the change is placed at the half: the first window reaching it moves the mean
    half = n_frames // 2
    assert np.nanmean(coupling[0, half - 400:half - 100]) > 0.6
    assert np.nanmean(np.abs(coupling[0, half + 100:half + 400])) < 0.2


def test_population_coupling_matches_pearsonr(messy):
    got = population_coupling(messy)
    usable = _usable(messy)
    complete = np.isfinite(messy[usable]).all(axis=0)
    total = messy[usable][:, complete].sum(axis=0)
    for i in range(len(messy)):
        if not usable[i]:
            assert np.isnan(got[i])
            continue
        x = messy[i, complete]
        assert got[i] == pytest.approx(stats.pearsonr(x, total - x)[0], abs=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda v: coupling_over_time(v, 61), "longer than the recording"),
    (lambda v: coupling_over_time(v, 2), "at least 3"),
    (lambda v: coupling_over_time(v, window_s=1.0), "needs the frame rate"),
    (lambda v: coupling_over_time(v[0]), "expected a \\(cells, T\\) array"),
    (lambda v: coupling_over_time(np.vstack([v[0], np.full(60, np.nan)])), "1 usable neuron"),
    (lambda v: population_coupling(np.vstack([v[0], np.zeros(60)])), "1 usable neuron"),
])
def test_bad_input(call, message):
    values = np.random.default_rng(4).random((3, 60))
    with pytest.raises(InputError, match=message):
        call(values)


def test_no_window_without_missing_frames():
    values = np.random.default_rng(5).random((3, 30))
    values[0, ::10] = np.nan
    with pytest.raises(InputError, match="every 20-frame window"):
        coupling_over_time(values, 20)
    values[0, ::3] = np.nan
    values[1, 1::3] = np.nan
    values[2, 2::6] = np.nan  # 5 frames left where all three are finite
    with pytest.raises(InputError, match="only 5 frames where every usable neuron is finite"):
        population_coupling(values)


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_coupling_change_is_found_at_the_planted_times(seed):
    # Cell 7 follows the population from 100 s to 200 s of a 300 s recording with assemblies.
    sim = population(100, 9000, 30.0, n_assemblies=3, coupling_changes=((7, 100.0, 200.0),),
                     seed=seed)
    coupling = coupling_over_time(sim.spikes, window=300)  # 10 s
    assert np.nanmean(coupling[7, 3150:5850]) > 0.3
    assert abs(np.nanmean(np.r_[coupling[7, 150:2850], coupling[7, 6150:-150]])) < 0.05
    # when: cell 7's coupling, averaged over 10 s, above the 99th percentile of that of the
    # cells outside any assembly
    members = np.concatenate(sim.members)
    independent = np.setdiff1d(np.arange(100), np.r_[members, 7])
    smooth = uniform_filter1d(np.nan_to_num(coupling), 300, axis=1)
    found = np.flatnonzero(smooth[7] > np.quantile(smooth[independent], 0.99)) / 30.0
    assert abs(found.min() - 100.0) < 10 and abs(found.max() - 200.0) < 10
