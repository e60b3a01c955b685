"""`calscope.population.surrogates`: shifts, p-values, BH-FDR and shifted-pair correlations,
each against a direct computation."""

import numpy as np
import pytest
from scipy import stats

from by_hand import pair_r
from calscope.errors import InputError
from calscope.population.surrogates import (ShiftedCorrelator, circular_shifts, fdr_bh,
                                            min_shift_frames, shift_rows, surrogate_p)


def _bh_reference(p, alpha):
    """Benjamini–Hochberg by its textbook steps, in a Python loop over the ranks."""
    flat = np.asarray(p, dtype=float).ravel()
    tested = [i for i in range(flat.size) if np.isfinite(flat[i])]
    ranked = sorted(tested, key=lambda i: flat[i])
    m, k = len(ranked), 0
    for rank, i in enumerate(ranked, start=1):
        if flat[i] <= alpha * rank / m:
            k = rank
    out = np.zeros(flat.size, dtype=bool)
    out[ranked[:k]] = True
    return out.reshape(np.shape(p))


def test_circular_shifts_range_shape_and_seed():
    shifts = circular_shifts(40, 500, 300, np.random.default_rng(1), min_shift=30)
    assert shifts.shape == (300, 40)
    assert shifts.min() == 30 and shifts.max() == 470  # both ends drawn with 12,000 draws
    again = circular_shifts(40, 500, 300, np.random.default_rng(1), min_shift=30)
    np.testing.assert_array_equal(shifts, again)


def test_circular_shifts_bad_min_shift():
    with pytest.raises(InputError, match="min_shift=300"):
        circular_shifts(4, 500, 10, np.random.default_rng(0), min_shift=300)


def test_min_shift_frames():
    assert min_shift_frames(30.0, 10_000) == 30
    assert min_shift_frames(2.0, 10_000) == 10
    assert min_shift_frames(30.0, 40) == 10


def test_shift_rows_is_np_roll_per_row():
    values = np.random.default_rng(0).standard_normal((5, 37))
    shifts = np.array([0, 1, 36, 37, -3])
    expected = np.stack([np.roll(row, s) for row, s in zip(values, shifts)])
    np.testing.assert_array_equal(shift_rows(values, shifts), expected)
    with pytest.raises(InputError, match="shifts"):
        shift_rows(values, shifts[:3])


def test_surrogate_p_formula():
    null = np.array([[0.1, -0.5], [-0.3, 0.2], [0.25, np.nan], [0.05, 0.6]])
    p = surrogate_p(np.array([-0.2, 0.5]), null)
    # column 0: |null| >= 0.2 for 0.3 and 0.25 → (1 + 2) / (1 + 4);
    # column 1: NaN left out, |null| >= 0.5 for 0.5 and 0.6 → (1 + 2) / (1 + 3)
    np.testing.assert_allclose(p, [3 / 5, 3 / 4])
    assert np.isnan(surrogate_p(np.array([np.nan]), null[:, :1]))[0]
    # a surrogate equal to the observation up to rounding counts with a tolerance
    assert surrogate_p(np.array([0.3]), np.array([[0.3 - 1e-9]]), tolerance=1e-6)[0] == 1.0


def test_fdr_matches_reference_and_scipy():
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 1e-3, size=40)])
    p[rng.choice(p.size, 25, replace=False)] = np.nan
    p = p.reshape(20, 17)
    for alpha in (0.01, 0.05, 0.2):
        significant = fdr_bh(p, alpha)
        np.testing.assert_array_equal(significant, _bh_reference(p, alpha))
        finite = np.isfinite(p)
        adjusted = stats.false_discovery_control(p[finite], method="bh")
        np.testing.assert_array_equal(significant[finite], adjusted <= alpha)
        assert not significant[~finite].any()
    assert 30 <= fdr_bh(p, 0.05).sum() <= 40


def test_fdr_bad_alpha():
    with pytest.raises(InputError, match="alpha"):
        fdr_bh(np.array([0.1]), alpha=1.5)


@pytest.mark.parametrize("with_nan", [False, True])
def test_shifted_correlator_matches_rolling_the_rows(with_nan):
    rng = np.random.default_rng(4)
    values = rng.standard_normal((5, 240))
    values[1] += 0.7 * values[0]
    if with_nan:
        values[0, 20:60] = np.nan
        values[2, ::9] = np.nan
        values[3, 40:] = np.nan  # rows 3 and 4: 40 and 20 finite frames, so some shifts
        values[4, :220] = np.nan  # leave fewer than 10 frames shared (r undefined)
    pairs = np.array([[0, 1], [1, 2], [0, 3], [3, 4], [2, 4]])
    lags = circular_shifts(5, 240, 40, rng, min_shift=0).T  # 0 and 240: the pair unshifted
    got = ShiftedCorrelator(values)(pairs, lags)
    expected = np.array([[pair_r(values[a], np.roll(values[b], lag)) for lag in row]
                         for (a, b), row in zip(pairs, lags)])
    assert got.shape == (5, 40)
    if with_nan:
        assert np.isnan(expected[3]).any() and np.isfinite(expected[3]).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=2e-6, equal_nan=True)


def test_rolling_both_rows_is_rolling_one_by_the_difference():
    # what lets a pair's surrogates be read off one cross-correlation
    rng = np.random.default_rng(5)
    values = rng.standard_normal((2, 100))
    shifts = np.array([17, 62])
    both = shift_rows(values, shifts)
    np.testing.assert_allclose(pair_r(*both), pair_r(values[0], np.roll(values[1], 45)))
