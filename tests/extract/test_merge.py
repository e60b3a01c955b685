"""Merging split cells."""

from __future__ import annotations

import numpy as np

from calscope.extract.merge import merge_components


def test_two_halves_of_a_cell_merge_and_separate_cells_do_not():
    rng = np.random.default_rng(0)
    trace = rng.exponential(1.0, 200)
    other = rng.exponential(1.0, 200)
    cell = np.zeros(100)
    cell[10:30] = 1.0
    left, right = cell.copy(), cell.copy()
    left[20:30], right[10:18] = 0.0, 0.0  # overlapping halves (18–19 shared)
    far = np.zeros(100)
    far[60:80] = 1.0
    a = np.stack([left, far, right], axis=1)
    c = np.stack([trace, other, 0.5 * trace + 0.01 * rng.standard_normal(200)])
    merged_a, merged_c, n_merged = merge_components(a, c, 0.8)
    assert n_merged == 1 and merged_a.shape == (100, 2)
    np.testing.assert_array_equal(merged_a[:, 1], far)  # untouched, order kept
    model = merged_a[:, :1] @ merged_c[:1]
    target = a[:, [0, 2]] @ c[[0, 2]]
    assert np.linalg.norm(model - target) < 0.1 * np.linalg.norm(target)


def test_correlated_but_disjoint_cells_stay_apart():
    rng = np.random.default_rng(1)
    trace = rng.exponential(1.0, 100)
    a = np.zeros((50, 2))
    a[:10, 0], a[30:40, 1] = 1.0, 1.0
    _, _, n_merged = merge_components(a, np.stack([trace, trace]), 0.8)
    assert n_merged == 0
