"""`calscope.population.correlation.correlations`: r against np.corrcoef, p against a brute-force
surrogate test, the null distribution of p, planted correlations, the subset path, the
preprocessing options and bad input."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from by_hand import assert_p_uniform, pair_r
from calscope.errors import InputError
from calscope.population.correlation import correlations, pairs_to_test
from calscope.population.surrogates import circular_shifts, fdr_bh, min_shift_frames, surrogate_p


def _r_reference(values):
    n = len(values)
    r = np.array([[pair_r(values[i], values[j]) for j in range(n)] for i in range(n)])
    usable = np.isfinite(r).any(axis=1)
    r[np.diag_indices(n)] = np.where(usable, 1.0, np.nan)
    return r


def _autocorrelated(n_cells, n_frames, seed, g=0.9):
    """Independent AR(1) noise: neighbouring frames correlated, neurons independent."""
    noise = np.random.default_rng(seed).standard_normal((n_cells, n_frames))
    return lfilter([1.0], [1.0, -g], noise, axis=1)


def test_r_matches_corrcoef_without_nan():
    values = _autocorrelated(12, 400, seed=0)
    values[3] += values[5]
    res = correlations(values, 30.0, n_surrogates=0)
    assert res.r.dtype == np.float32 and res.r.shape == (12, 12)
    np.testing.assert_allclose(res.r, np.corrcoef(values), atol=1e-6)
    assert np.isnan(res.p).all() and not res.significant.any()
    assert "no surrogate test" in res.test


@pytest.mark.parametrize("shared_gaps", [False, True])
def test_r_with_nan_matches_pairwise_corrcoef(shared_gaps):
    values = _autocorrelated(8, 300, seed=1)
    values[2] += values[1]
    values[4] = np.nan  # unusable: all NaN
    values[6] = 2.0  # unusable: constant
    if shared_gaps:  # the same frames missing in every usable row
        values[:, 50:80] = np.nan
    else:
        values[0, 10:60] = np.nan
        values[1, ::5] = np.nan
        values[7, 100:295] = np.nan  # 105 frames left
        values[3, 200:290] = 1.5  # constant while row 7 is finite → with row 7 partly flat
    res = correlations(values, 30.0, n_surrogates=0)
    expected = _r_reference(values)
    np.testing.assert_array_equal(np.isnan(res.r), np.isnan(expected))
    np.testing.assert_allclose(res.r, expected, atol=2e-6, equal_nan=True)


def _p_reference(values, pairs, lags):
    """Surrogate p of each pair by hand: roll the second row by each lag, recompute r."""
    observed = np.array([pair_r(values[a], values[b]) for a, b in pairs])
    null = np.array([[pair_r(values[a], np.roll(values[b], lag)) for lag in row]
                     for (a, b), row in zip(pairs, lags)])
    return surrogate_p(observed, null.T, tolerance=1e-5)


@pytest.mark.parametrize("max_pairs", [200_000, 20])
def test_p_matches_brute_force_surrogates(max_pairs):
    # The same seeded draws as `correlations` (the pairs to test, then one lag per pair and
    # surrogate), then every surrogate made by rolling a row and r recomputed by hand.
    values = _autocorrelated(12, 300, seed=2)
    values[1] += 0.5 * values[0]
    values[2, 40:90] = np.nan
    values[5, ::7] = np.nan
    values[9] = np.nan
    res = correlations(values, 30.0, n_surrogates=80, max_pairs=max_pairs, seed=11)
    rng = np.random.default_rng(11)
    usable = np.flatnonzero(np.arange(12) != 9)
    pairs = usable[pairs_to_test(11, max_pairs, rng)[0]]
    lags = circular_shifts(len(pairs), 300, 80, rng, min_shift_frames(30.0, 300)).T
    expected = _p_reference(values, pairs, lags)
    np.testing.assert_allclose(res.p[pairs[:, 0], pairs[:, 1]], expected, rtol=1e-6)
    np.testing.assert_array_equal(res.p, res.p.T)
    assert np.isfinite(res.p).sum() == 2 * len(pairs)
    np.testing.assert_array_equal(res.significant[pairs[:, 0], pairs[:, 1]],
                                  fdr_bh(expected, 0.05))
    np.testing.assert_array_equal(res.significant, res.significant.T)
    scope = "all 55 pairs" if max_pairs > 55 else "a random 20 of 55 pairs; other pairs untested"
    assert scope in res.test


def test_p_with_every_shift_matches_brute_force():
    values = _autocorrelated(6, 200, seed=7)
    values[2] += 0.7 * values[4]
    values[3, 50:70] = np.nan
    res = correlations(values, 30.0, seed=1)
    pairs = np.array([(a, b) for a in range(6) for b in range(a + 1, 6)])
    lags = np.tile(np.arange(30, 200 - 30 + 1), (len(pairs), 1))  # min shift: 1 s = 30 frames
    np.testing.assert_allclose(res.p[pairs[:, 0], pairs[:, 1]],
                               _p_reference(values, pairs, lags), rtol=1e-6)
    assert res.n_surrogates == 141 and res.p[2, 4] == pytest.approx(1 / 142)


@pytest.mark.parametrize("n_surrogates", [199, None])
def test_p_uniform_under_independence(n_surrogates):
    # Autocorrelated but independent neurons: a test ignoring autocorrelation would reject far
    # too often; circular shifts keep it and p stays uniform.
    res = correlations(_autocorrelated(40, 3000, seed=3, g=0.95), 30.0,
                       n_surrogates=n_surrogates, seed=3)
    assert_p_uniform(res.p, res.significant, 0.02)


def test_planted_pair_is_significant():
    # p >= 1 / (n + 1) = 1/201, so BH at 0.05 can pass one lone pair only among <= 10 pairs.
    values = _autocorrelated(5, 2000, seed=4)
    values[4] += 0.6 * values[1]
    res = correlations(values, 30.0, n_surrogates=200)
    assert res.p[1, 4] == pytest.approx(1 / 201)
    assert res.significant[1, 4] and res.significant[4, 1]
    assert res.significant.sum() == 2


def test_planted_assembly_found_among_many_neurons():
    # 60 neurons, an assembly of 12 sharing a signal: its 66 pairs stand out of 1,770. With n
    # surrogates p >= 1 / (n + 1), so BH over m pairs needs >= m / (α (n + 1)) pairs at that
    # floor: 176 with 200 surrogates (none would pass), 18 with every shift (the default).
    values = _autocorrelated(60, 3000, seed=5)
    members = np.arange(0, 60, 5)
    values[members] += _autocorrelated(1, 3000, seed=6)
    assert not correlations(values, 30.0, n_surrogates=200).significant.any()
    res = correlations(values, 30.0)  # every shift: 2,941 surrogates per pair
    assert res.n_surrogates == 3000 - 2 * 30 + 1 and "every shift" in res.test
    is_member = np.isin(np.arange(60), members)
    in_assembly = is_member[:, None] & is_member[None, :] & ~np.eye(60, dtype=bool)
    assert res.significant[in_assembly].all()
    assert res.significant[~in_assembly].mean() < 0.01


def test_subset_of_pairs_when_too_many():
    values = _autocorrelated(30, 500, seed=7)
    full = correlations(values, 30.0, n_surrogates=50, seed=1)
    part = correlations(values, 30.0, n_surrogates=50, max_pairs=60, seed=1)
    assert "a random 60 of 435 pairs; other pairs untested (p = NaN)" in part.test
    assert "all 435 pairs" in full.test and np.isfinite(full.p).sum() == 870
    tested = np.isfinite(part.p)
    assert tested.sum() == 120 and (tested == tested.T).all()
    assert not part.significant[~tested].any()
    np.testing.assert_array_equal(part.r, full.r)


def test_pair_sampling_covers_the_upper_triangle():
    rng = np.random.default_rng(0)
    pairs, n_all = pairs_to_test(400, 79_799, rng)  # all but one of 79,800
    assert n_all == 79_800 and len(np.unique(pairs[:, 0] * 400 + pairs[:, 1])) == 79_799
    assert (pairs[:, 0] < pairs[:, 1]).all() and pairs.min() >= 0 and pairs.max() < 400
    everything, _ = pairs_to_test(400, 79_800, rng)
    np.testing.assert_array_equal(everything, np.stack(np.triu_indices(400, k=1), axis=1))


def test_noise_correlations_remove_shared_tuning():
    rng = np.random.default_rng(8)
    stimulus = np.repeat(rng.integers(0, 6, size=100), 20)  # 100 trials of 20 frames
    tuning = np.linspace(0.0, 4.0, 6)  # every neuron tuned alike: signal correlations
    values = tuning[stimulus] + rng.standard_normal((5, 2000))
    values[0, 100:130] = np.nan
    signal = correlations(values, 30.0, n_surrogates=0)
    noise = correlations(values, 30.0, stimulus=stimulus, n_surrogates=0)
    expected = values.copy()
    for label in np.unique(stimulus):
        frames = stimulus == label
        expected[:, frames] -= np.nanmean(values[:, frames], axis=1, keepdims=True)
    assert np.nanmin(signal.r) > 0.5
    np.testing.assert_allclose(noise.r, _r_reference(expected), atol=2e-6)
    assert np.abs(noise.r[np.triu_indices(5, k=1)]).max() < 0.1


def test_binning_and_smoothing():
    values = _autocorrelated(5, 1000, seed=9)
    binned = correlations(values, 30.0, bin_s=0.1, n_surrogates=0)  # 3 frames per bin
    by_hand = values[:, :999].reshape(5, 333, 3).sum(axis=2)
    np.testing.assert_allclose(binned.r, np.corrcoef(by_hand), atol=1e-6)
    smoothed = correlations(values, 30.0, smooth_s=0.2, n_surrogates=0)  # σ = 6 frames
    blurred = gaussian_filter1d(values, 6.0, axis=1, mode="constant") / gaussian_filter1d(
        np.ones(1000), 6.0, mode="constant")
    np.testing.assert_allclose(smoothed.r, np.corrcoef(blurred), atol=1e-6)
    assert smoothed.fs == 30.0


@pytest.mark.parametrize("activity, kwargs, message", [
    (np.zeros((4, 5, 6)), {}, "expected a \\(cells, T\\) array"),
    (np.vstack([np.arange(50.0), np.full(50, np.nan)]), {}, "1 usable neuron"),
    (np.random.default_rng(0).random((3, 50)), {"bin_s": 1.0, "smooth_s": 1.0}, "not both"),
    (np.random.default_rng(0).random((3, 50)), {"bin_s": 1.0}, "bins"),
    (np.random.default_rng(0).random((3, 50)), {"stimulus": np.zeros(49, int)}, "stimulus"),
    (np.random.default_rng(0).random((3, 50)), {"stimulus": np.full(50, 0.5)}, "not whole numbers"),
    (np.random.default_rng(0).random((3, 50)), {"alpha": 0.0}, "alpha"),
    (np.random.default_rng(0).random((3, 50)), {"fs": -1.0}, "sampling rate"),
])
def test_bad_input(activity, kwargs, message):
    kwargs = {"fs": 30.0, **kwargs}
    with pytest.raises(InputError, match=message):
        correlations(activity, **kwargs)
