"""ISI-shuffle surrogates (`calscope.population.isi_surrogates`) and ``correlations(...,
surrogates="isi")``: what a shuffle keeps and loses, p against a brute-force test built from the
same draws, p uniform under independence, planted correlations found, and the stricter null
for neurons sharing a slow rate drift."""

import numpy as np
import pytest

from by_hand import assert_p_uniform, pair_r
from calscope.errors import InputError
from calscope.population.correlation import correlations, pairs_to_test
from calscope.population.isi_surrogates import PairCorrelator, event_thresholds, isi_shuffle
from calscope.population.surrogates import fdr_bh, surrogate_p


def _circular_intervals(row):
    onsets = np.flatnonzero((row > 0) & ~np.roll(row > 0, 1))
    return np.sort(np.diff(np.r_[onsets, onsets[0] + row.size]))


def _events(row):
    """Each event (a run above 0) as a tuple of its values, read circularly from an onset."""
    above = row > 0
    start = np.flatnonzero(above & ~np.roll(above, 1))[0]
    rolled, runs, current = np.roll(row, -start), [], []
    for value in rolled:
        if value > 0:
            current.append(value)
        elif current:
            runs.append(tuple(current))
            current = []
    return sorted(runs + ([tuple(current)] if current else []))


def _spike_trains(n_cells, n_frames, seed, rate=0.05):
    rng = np.random.default_rng(seed)
    return rng.poisson(rate, size=(n_cells, n_frames)).astype(float)


def test_shuffle_keeps_values_intervals_and_events():
    rng = np.random.default_rng(0)
    values = _spike_trains(6, 1000, seed=1, rate=0.08)
    values[:, 1::2] *= 0.5  # events of several frames and shapes
    values[2, 100:103] = [0.3, 0.9, 0.4]
    values[5] = 0.0
    values[5, 300] = 1.0  # one event: only rolled
    thresholds = event_thresholds(values)
    assert (thresholds == 0).all()  # sparse trains: median and MAD 0
    shuffled = isi_shuffle(values, thresholds, rng)
    assert shuffled.shape == values.shape and shuffled.dtype == values.dtype
    for before, after in zip(values[:5], shuffled[:5]):
        np.testing.assert_array_equal(np.sort(after), np.sort(before))
        np.testing.assert_array_equal(_circular_intervals(after), _circular_intervals(before))
        assert _events(after) == _events(before)
        assert not np.array_equal(after, before)
    assert np.flatnonzero(shuffled[5]).size == 1
    again = isi_shuffle(values, thresholds, np.random.default_rng(0))
    np.testing.assert_array_equal(again, shuffled)


def test_shuffle_moves_missing_frames_with_their_segment():
    values = _spike_trains(1, 500, seed=2, rate=0.1)
    values[0, 200:220] = np.nan
    shuffled = isi_shuffle(values, event_thresholds(values), np.random.default_rng(1))
    gap = np.isnan(shuffled[0])
    assert gap.sum() == 20
    runs = np.flatnonzero(np.diff(np.r_[0, gap.astype(int), 0]))
    assert len(runs) in (2, 4)  # one run of 20, or two when it wraps around the end
    np.testing.assert_array_equal(np.sort(shuffled[0][~gap]), np.sort(values[0][~np.isnan(values[0])]))


def test_thresholds_of_continuous_activity():
    rng = np.random.default_rng(3)
    row = rng.standard_normal(5000)
    expected = np.median(row) + 3 * 1.4826 * np.median(np.abs(row - np.median(row)))
    values = np.vstack([row, np.full(5000, np.nan)])
    thresholds = event_thresholds(values)
    assert thresholds[0] == pytest.approx(expected) and thresholds[0] == pytest.approx(3.0, abs=0.2)
    assert thresholds[1] == np.inf


@pytest.mark.parametrize("gaps", [False, True])
def test_pair_correlator_matches_corrcoef(gaps):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 300)), rng.standard_normal((4, 300))
    y[0] += x[1]
    y[2] = 1.0  # constant: undefined
    if gaps:
        x[2, 50:120] = np.nan
        y[3, ::4] = np.nan
    correlator = PairCorrelator(x)
    a, b = np.array([1, 2, 2, 4, 0]), np.array([0, 3, 1, 2, 3])  # gathered pair by pair
    np.testing.assert_allclose(correlator(y, a, b), [pair_r(x[i], y[j]) for i, j in zip(a, b)],
                               atol=1e-6)
    many_a, many_b = np.repeat(np.arange(5), 4), np.tile(np.arange(4), 5)  # matrix product
    np.testing.assert_allclose(correlator(y, many_a, many_b),
                               [pair_r(x[i], y[j]) for i, j in zip(many_a, many_b)], atol=1e-6)
    y[1, 7] = np.nan  # x complete, y not: the masked sums
    np.testing.assert_allclose(correlator(y, a, b), [pair_r(x[i], y[j]) for i, j in zip(a, b)],
                               atol=1e-6)


def test_p_matches_brute_force_with_the_same_draws():
    values = _spike_trains(7, 600, seed=5, rate=0.1)
    values[1] += values[0]
    values[3, 100:140] = np.nan
    res = correlations(values, 30.0, surrogates="isi", n_surrogates=60, seed=9)
    # the same draws: the pairs, then one shuffle of the second rows per surrogate
    rng = np.random.default_rng(9)
    pairs = pairs_to_test(7, 200_000, rng)[0]
    second = np.unique(pairs[:, 1])
    local = np.searchsorted(second, pairs[:, 1])
    thresholds = event_thresholds(values[second])
    null = np.empty((60, len(pairs)))
    for k in range(60):
        shuffled = isi_shuffle(values[second], thresholds, rng)
        null[k] = [pair_r(values[a], shuffled[j]) for a, j in zip(pairs[:, 0], local)]
    observed = np.array([pair_r(values[a], values[b]) for a, b in pairs])
    expected = surrogate_p(observed, null, tolerance=1e-5)
    np.testing.assert_allclose(res.p[pairs[:, 0], pairs[:, 1]], expected, rtol=1e-6)
    np.testing.assert_array_equal(res.significant[pairs[:, 0], pairs[:, 1]], fdr_bh(expected))
    assert res.n_surrogates == 60 and "ISI-shuffle surrogates" in res.test
    assert res.p[0, 1] == pytest.approx(1 / 61)


def test_p_uniform_under_independence():
    res = correlations(_spike_trains(30, 3000, seed=6), 30.0, smooth_s=0.1, surrogates="isi",
                       n_surrogates=199, seed=2)
    assert_p_uniform(res.p, res.significant, 0.025)


def test_planted_correlation_is_found():
    values = _spike_trains(20, 4000, seed=7)
    members = [2, 5, 9, 11, 15, 18]  # 15 of 190 pairs: BH needs >= 190 / (0.05 · 1001) at p's floor
    shared = _spike_trains(1, 4000, seed=8, rate=0.03)[0]
    values[members] += shared
    res = correlations(values, 30.0, smooth_s=0.1, surrogates="isi", seed=1)
    assert res.n_surrogates == 1000
    is_member = np.isin(np.arange(20), members)
    planted = is_member[:, None] & is_member[None, :] & ~np.eye(20, dtype=bool)
    assert res.significant[planted].all() and not res.significant[~planted].any()


def test_shared_slow_drift_counts_under_isi_shuffles_not_under_shifts():
    # Independent spikes whose rates follow one slow up-down drift. Circular shifts keep each
    # neuron's drift, and shifts that line the states up again give r as large as observed;
    # ISI shuffles spread each neuron's events over the recording, so the drift is a
    # correlation beyond the interval statistics.
    rng = np.random.default_rng(10)
    n_frames = 6000
    states = np.sin(np.linspace(0, 16 * np.pi, n_frames, endpoint=False)) > 0  # 8 up-down cycles
    values = rng.poisson(np.where(states, 0.2, 0.02), size=(12, n_frames)).astype(float)
    shift = correlations(values, 30.0, bin_s=1.0, n_surrogates=500, seed=3)
    isi = correlations(values, 30.0, bin_s=1.0, surrogates="isi", n_surrogates=500, seed=3)
    upper = np.triu_indices(12, k=1)
    assert np.median(shift.r[upper]) > 0.5  # the drift correlates every pair
    assert isi.significant[upper].all() and isi.p[upper].max() == pytest.approx(1 / 501)
    assert np.median(shift.p[upper]) > 5 * np.median(isi.p[upper])


def test_bad_surrogate_kind():
    with pytest.raises(InputError, match="surrogates='poisson'"):
        correlations(np.random.default_rng(0).random((3, 50)), 30.0, surrogates="poisson")
